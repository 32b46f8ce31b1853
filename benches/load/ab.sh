#!/usr/bin/env bash
# A/B of two menshen binaries in one sitting: the same wrk load against an
# nginx pass-through and both binaries in turn, ROUNDS times, at 1 and
# CONNS connections, printing req/s, CPU time per request of each proxy
# process (utime+stime from /proc over the run) and the ratio to nginx of
# the same round. On a shared machine absolute figures drift between
# sittings; alternating runs in one sitting is the comparison to trust.
#
#   benches/load/ab.sh OLD_BIN NEW_BIN [phrase|rpa]
#
# Env: DUR (seconds per run, default 4), ROUNDS (default 3), CONNS (default 32),
# STREAM=1 (the request asks for a stream and the upstream answers 15 SSE
# events; nginx passes them through unbuffered).
# BODY_USER=ID: the requests name an end user (OpenAI's "user").
# phrase: the built-in phrase guard only; rpa: rules + Rego + async audit.
set -euo pipefail
OLD="$1"; NEW="$2"; CFG="${3:-phrase}"
DUR="${DUR:-4}"; ROUNDS="${ROUNDS:-3}"; CONNS="${CONNS:-32}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$ROOT/benches/load/common.sh"
UP=18601; NGX=18602; A=18603; B=18604
BODY=clean
if [[ -n "${STREAM:-}" ]]; then
  # Everything talks to the SSE port instead.
  start_upstream 18605 "$UP"
  start_passthrough "$NGX" "$UP" ngx off
  BODY=clean-stream
else
  start_upstream "$UP"
  start_passthrough "$NGX" "$UP"
fi
case "$CFG" in
  phrase) EXTRA="$PHRASE_TOML" ;;
  rpa) EXTRA="$RPA_TOML" ;;
  *) echo "ab.sh: config must be phrase or rpa" >&2; exit 2 ;;
esac
start() { # name port binary
  mkdir -p "$WORK/$1"
  printf 'data_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n[[upstreams]]\nname = "up"\nurl = "http://127.0.0.1:%s"\n[[routes]]\nname = "default"\nupstream = "up"\n%s\n' \
    "$WORK/$1/data" "$2" "$UP" "$EXTRA" >"$WORK/$1/menshen.toml"
  (cd "$WORK/$1" && MENSHEN_LOG=warn exec "$3" serve --config "$WORK/$1/menshen.toml" 2>"$WORK/$1/log") &
  PIDS+=($!)
  echo $! >"$WORK/$1/pid"
}
start old "$A" "$OLD"
start new "$B" "$NEW"
write_bodies 2>/dev/null
wait_ports $UP $NGX $A $B
rps() { wrk -t1 -c"$2" -d"${DUR}s" -s "$WORK/$BODY.lua" "http://127.0.0.1:$1/v1/chat/completions" | awk '/Requests\/sec/ {print $2}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"
printf '%-6s %5s %-6s %10s %12s %8s\n' round conns binary "req/s" "CPU µs/req" "÷ nginx"
for c in 1 "$CONNS"; do
  for r in $(seq "$ROUNDS"); do
    base="$(rps "$NGX" "$c")"
    printf '%-6s %5s %-6s %10s %12s %8s\n' "$r" "$c" nginx "$base" - 1.00
    for name in old new; do
      port=$A; [[ $name == new ]] && port=$B
      pid="$(cat "$WORK/$name/pid")"
      t0="$(ticks "$pid")"; got="$(rps "$port" "$c")"; t1="$(ticks "$pid")"
      awk -v n="$name" -v c="$c" -v r="$r" -v q="$got" -v t="$((t1 - t0))" -v hz="$HZ" -v d="$DUR" -v b="$base" \
        'BEGIN { printf "%-6s %5s %-6s %10.0f %12.0f %8.2f\n", r, c, n, q, t / hz * 1e6 / (q * d), q / b }'
    done
  done
done
