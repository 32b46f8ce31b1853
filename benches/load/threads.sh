#!/usr/bin/env bash
# CPU per request of each menshen thread: one wrk run against one menshen
# configuration, then utime+stime of every thread of the process (from
# /proc/PID/task/*/stat) over the run, divided by the requests served.
# Shows where a configuration's CPU goes (request workers, the audit
# writer, the blocking pool) without a profiler.
#
#   benches/load/threads.sh [phrase|rules|rpa] [CONNECTIONS] [DURATION_S]
#
# Env: MENSHEN_BIN (default: the release build), BODY_USER=ID (requests
# name an end user, which consults the per-subject counters).
set -euo pipefail
CFG="${1:-rpa}"; CONNS="${2:-32}"; DUR="${3:-5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/benches/load/common.sh"
BIN="${MENSHEN_BIN:-$("$ROOT/scripts/target-dir.sh")/release/menshen}"
[[ -x "$BIN" ]] || { echo "threads.sh: no binary at $BIN (cargo build --release -p menshen-proxy)" >&2; exit 2; }
case "$CFG" in
  phrase) EXTRA="$PHRASE_TOML" ;;
  rules) EXTRA=$'[policy]\nengine = "threshold"\n[audit]\nenabled = false\n[guards.onnx]\nenabled = false' ;;
  rpa) EXTRA="$RPA_TOML" ;;
  *) echo "threads.sh: config must be phrase, rules or rpa" >&2; exit 2 ;;
esac
UP=18701; MEN=18703
start_upstream "$UP"
mkdir -p "$WORK/m"
printf 'data_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n[[upstreams]]\nname = "up"\nurl = "http://127.0.0.1:%s"\n[[routes]]\nname = "default"\nupstream = "up"\n%s\n' \
  "$WORK/m/data" "$MEN" "$UP" "$EXTRA" >"$WORK/m/menshen.toml"
(cd "$WORK/m" && MENSHEN_LOG=warn exec "$BIN" serve --config "$WORK/m/menshen.toml" 2>"$WORK/m/log") &
PIDS+=($!); PID=$!
write_bodies 2>/dev/null
wait_ports "$UP" "$MEN"
URL="http://127.0.0.1:$MEN/v1/chat/completions"
wrk -t1 -c"$CONNS" -d2s -s "$WORK/clean.lua" "$URL" >/dev/null # warm-up
snap() { for t in /proc/"$PID"/task/*; do echo "$(basename "$t") $(tr ' ' _ <"$t/comm") $(awk '{print $14, $15}' "$t/stat")"; done; }
snap >"$WORK/before"
N="$(wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$WORK/clean.lua" "$URL" | awk '/requests in/ {print $1}')"
snap >"$WORK/after"
echo "config $CFG, $CONNS connections, ${DUR} s: $N requests${BODY_USER:+ (user $BODY_USER)}"
# Threads that started during the run count from zero.
awk -v n="$N" -v hz="$(getconf CLK_TCK)" '
  NR == FNR { u[$1] = $3; s[$1] = $4; next }
  { du = $3 - u[$1]; ds = $4 - s[$1]; if (du + ds > 0) {
      printf "%-20s user %7.1f  sys %7.1f  us/request\n", $2, du / hz * 1e6 / n, ds / hz * 1e6 / n
      tu += du; ts += ds } }
  END { printf "%-20s user %7.1f  sys %7.1f  us/request\n", "(process)", tu / hz * 1e6 / n, ts / hz * 1e6 / n }
' "$WORK/before" "$WORK/after"
