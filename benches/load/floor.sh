#!/usr/bin/env bash
# Where a proxied request's CPU goes: the same wrk load against nginx as a
# plain reverse proxy, a bare hyper proxy (benches/examples/bare_proxy.rs:
# body read whole, forwarded, answer read whole, nothing else), menshen
# with every guard off, and menshen with the built-in phrase guard. Prints
# req/s, the proxy's CPU time per request (utime+stime from /proc), the
# upstream's, and the ratio to nginx of the same round.
#
#   benches/load/floor.sh [MENSHEN_BIN] [CONNS]
#
# Env: DUR (seconds per run, default 4), ROUNDS (default 3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET="$("$ROOT/scripts/target-dir.sh")"
BIN="${1:-$TARGET/release/menshen}"; CONNS="${2:-32}"
DUR="${DUR:-4}"; ROUNDS="${ROUNDS:-3}"
(cd "$ROOT" && cargo build --release -q -p menshen-benches --example bare_proxy)
BARE="$TARGET/release/examples/bare_proxy"
source "$ROOT/benches/load/common.sh"
UP=18671; NGX=18672; HY=18673; NG=18674; PH=18675
start_upstream "$UP"
start_passthrough "$NGX" "$UP"
"$BARE" "127.0.0.1:$HY" "http://127.0.0.1:$UP" 2 & PIDS+=($!); echo $! >"$WORK/hy.pid"
start() { # name port extra-config
  mkdir -p "$WORK/$1"
  printf 'data_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n[[upstreams]]\nname = "up"\nurl = "http://127.0.0.1:%s"\n[[routes]]\nname = "default"\nupstream = "up"\n%s\n%s\n' \
    "$WORK/$1/data" "$2" "$UP" "$PHRASE_TOML" "$3" >"$WORK/$1/menshen.toml"
  (cd "$WORK/$1" && MENSHEN_LOG=warn exec "$BIN" serve --config "$WORK/$1/menshen.toml" 2>"$WORK/$1/log") &
  PIDS+=($!); echo $! >"$WORK/$1.pid"
}
start none "$NG" '[guards.phrases]
enabled = false'
start phrase "$PH" ''
write_bodies 2>/dev/null
wait_ports $UP $NGX $HY $NG $PH
HZ="$(getconf CLK_TCK)"
ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$s"; }
UPP="$(pgrep -P "$(cat "$WORK/up/nginx.pid")" | tr '\n' ' ')"
NGXP="$(pgrep -P "$(cat "$WORK/ngx/nginx.pid")" | tr '\n' ' ')"
printf '%-6s %-14s %9s %16s %19s %8s\n' round proxy "req/s" "proxy CPU µs/req" "upstream CPU µs/req" "÷ nginx"
for r in $(seq "$ROUNDS"); do
  base=""
  for row in nginx bare-hyper menshen-none menshen-phrase; do
    case $row in
      nginx) port=$NGX; pids="$NGXP" ;;
      bare-hyper) port=$HY; pids="$(cat "$WORK/hy.pid")" ;;
      menshen-none) port=$NG; pids="$(cat "$WORK/none.pid")" ;;
      menshen-phrase) port=$PH; pids="$(cat "$WORK/phrase.pid")" ;;
    esac
    # shellcheck disable=SC2086
    t0="$(ticks $pids)"; u0="$(ticks $UPP)"
    q="$(wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$WORK/clean.lua" "http://127.0.0.1:$port/v1/chat/completions" | awk '/Requests\/sec/ {print $2}')"
    # shellcheck disable=SC2086
    t1="$(ticks $pids)"; u1="$(ticks $UPP)"
    base="${base:-$q}"
    awk -v r="$r" -v n="$row" -v q="$q" -v t="$((t1 - t0))" -v u="$((u1 - u0))" -v hz="$HZ" -v d="$DUR" -v b="$base" \
      'BEGIN { printf "%-6s %-14s %9.0f %16.1f %19.1f %8.2f\n", r, n, q, t / hz * 1e6 / (q * d), u / hz * 1e6 / (q * d), q / b }'
  done
done
