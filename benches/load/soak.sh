#!/usr/bin/env bash
# Soak: the proxy (release, full pipeline, async audit) under constant wrk
# load for N minutes against a local nginx upstream, as in load.sh. Samples
# the proxy's RSS every 10 s into a CSV and prints first/last/max RSS and the
# growth between the first sample taken after warm-up and the last.
#
#   benches/load/soak.sh [MINUTES] [CONNECTIONS]
#
# Env: MENSHEN_BIN (skip the release build and use this binary),
#      SOAK_CSV (where the samples go; default $TMPDIR/menshen-soak.csv),
#      SOAK_BODY (clean | hostile; default hostile: PII + injection, so the
#      redaction, block and audit paths all run).
# Everything listens on 127.0.0.1 only and is stopped by PID at exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MINUTES="${1:-10}"
CONNS="${2:-32}"
BODY="${SOAK_BODY:-hostile}"
CSV="${SOAK_CSV:-${TMPDIR:-/tmp}/menshen-soak.csv}"
source "$ROOT/benches/load/common.sh"

cd "$ROOT"
if [[ -n "${MENSHEN_BIN:-}" ]]; then
  BIN="$MENSHEN_BIN"
else
  cargo build --release --locked -p menshen-proxy >&2
  BIN="$("$ROOT/scripts/target-dir.sh")/release/menshen"
fi

UP=18411; MEN=18413
mkdir -p "$WORK/men"
start_upstream "$UP"

cat > "$WORK/men/menshen.toml" <<TOML
data_dir = "$WORK/men/data"
[server]
listen = "127.0.0.1:$MEN"
[[upstreams]]
name = "up"
url = "http://127.0.0.1:$UP"
[[routes]]
name = "default"
upstream = "up"
[audit]
mode = "async"
TOML
(cd "$WORK/men" && MENSHEN_LOG=warn exec "$BIN" serve --config "$WORK/men/menshen.toml" 2>"$WORK/men/menshen.log") &
MPID=$!
PIDS+=("$MPID")

write_bodies
wait_ports $UP $MEN

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

DUR=$((MINUTES * 60))
echo "soak: $MINUTES min, $CONNS connections, $BODY body, proxy pid $MPID; samples in $CSV" >&2
wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/$BODY.lua" "http://127.0.0.1:$MEN/v1/chat/completions" >"$WORK/wrk.out" 2>&1 &
WRK=$!
PIDS+=("$WRK")
echo "elapsed_s,rss_kib" >"$CSV"
START=$(date +%s)
while kill -0 "$WRK" 2>/dev/null; do
  now=$(( $(date +%s) - START ))
  echo "$now,$(rss_kib "$MPID")" >>"$CSV"
  sleep 10
done
echo "$(( $(date +%s) - START )),$(rss_kib "$MPID")" >>"$CSV"
if ! kill -0 "$MPID" 2>/dev/null; then
  echo "soak: the proxy died during the run" >&2
  tail -20 "$WORK/men/menshen.log" >&2
  exit 1
fi

cat "$WORK/wrk.out"
# Growth is measured from the first sample after 60 s (allocator and pool
# warm-up) to the last one.
awk -F, 'NR > 1 {
    n++; v[n] = $2; t[n] = $1
    if (n == 1) first = $2
    if ($2 > max) max = $2
    if (!warm && $1 >= 60) { warm = $2; warm_t = $1 }
    last = $2
  }
  END {
    if (!warm) { warm = first; warm_t = t[1] }
    printf "\nRSS samples: %d\n", n
    printf "first  %8.1f MiB\n", first / 1024
    printf "warm   %8.1f MiB (at %d s)\n", warm / 1024, warm_t
    printf "last   %8.1f MiB\n", last / 1024
    printf "max    %8.1f MiB\n", max / 1024
    printf "growth %+8.1f MiB after warm-up (%+.1f%%)\n", (last - warm) / 1024, warm ? 100 * (last - warm) / warm : 0
  }' "$CSV"
