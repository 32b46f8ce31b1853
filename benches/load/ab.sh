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
# Env: DUR (seconds per run, default 4), ROUNDS (default 3), CONNS (default 32).
# phrase: the built-in phrase guard only; rpa: rules + Rego + async audit.
set -euo pipefail
OLD="$1"; NEW="$2"; CFG="${3:-phrase}"
DUR="${DUR:-4}"; ROUNDS="${ROUNDS:-3}"; CONNS="${CONNS:-32}"
W="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
UP=18601; NGX=18602; A=18603; B=18604
REPLY='{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France. It is known for the Eiffel Tower, museums such as the Louvre, and its cafes."},"finish_reason":"stop"}],"usage":{"prompt_tokens":200,"completion_tokens":30,"total_tokens":230}}'
mkdir -p "$W/up" "$W/ngx"
cat >"$W/up/nginx.conf" <<NGINX
worker_processes 1; error_log $W/up/error.log warn; pid $W/up/nginx.pid; daemon off;
events { worker_connections 4096; }
http { access_log off; client_body_buffer_size 64k; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP; location / { default_type application/json; return 200 '$REPLY'; } } }
NGINX
cat >"$W/ngx/nginx.conf" <<NGINX
worker_processes 2; error_log $W/ngx/error.log warn; pid $W/ngx/nginx.pid; daemon off;
events { worker_connections 4096; }
http { access_log off; client_body_buffer_size 64k; keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP; keepalive 256; }
  server { listen 127.0.0.1:$NGX; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGINX
nginx -p "$W/up" -c "$W/up/nginx.conf" -e "$W/up/error.log" & PIDS+=($!)
nginx -p "$W/ngx" -c "$W/ngx/nginx.conf" -e "$W/ngx/error.log" & PIDS+=($!)
case "$CFG" in
  phrase) EXTRA='[guards.rules]
enabled = false
[guards.pii]
enabled = false
[guards.secrets]
enabled = false
[policy]
engine = "threshold"
[audit]
enabled = false
[guards.onnx]
enabled = false' ;;
  rpa) EXTRA='[audit]
mode = "async"
[guards.onnx]
enabled = false' ;;
  *) echo "ab.sh: config must be phrase or rpa" >&2; exit 2 ;;
esac
start() { # name port binary
  mkdir -p "$W/$1"
  printf 'data_dir = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n[[upstreams]]\nname = "up"\nurl = "http://127.0.0.1:%s"\n[[routes]]\nname = "default"\nupstream = "up"\n%s\n' \
    "$W/$1/data" "$2" "$UP" "$EXTRA" >"$W/$1/menshen.toml"
  (cd "$W/$1" && MENSHEN_LOG=warn exec "$3" serve --config "$W/$1/menshen.toml" 2>"$W/$1/log") &
  PIDS+=($!)
  echo $! >"$W/$1/pid"
}
start old "$A" "$OLD"
start new "$B" "$NEW"
python3 - "$W" <<'PY'
import json, sys
ctx = ("You are a helpful assistant for a travel company. Answer briefly and cite sources. " * 8)[:700]
body = {"model": "m", "messages": [{"role": "system", "content": ctx},
        {"role": "user", "content": "What is the capital of France, and what should I see there in two days? Please keep it short."}]}
open(sys.argv[1] + "/clean.lua", "w").write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ' + json.dumps(json.dumps(body)) + "\n")
PY
for port in $UP $NGX $A $B; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
rps() { wrk -t1 -c"$2" -d"${DUR}s" -s "$W/clean.lua" "http://127.0.0.1:$1/v1/chat/completions" | awk '/Requests\/sec/ {print $2}'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ="$(getconf CLK_TCK)"
printf '%-6s %5s %-6s %10s %12s %8s\n' round conns binary "req/s" "CPU µs/req" "÷ nginx"
for c in 1 "$CONNS"; do
  for r in $(seq "$ROUNDS"); do
    base="$(rps "$NGX" "$c")"
    printf '%-6s %5s %-6s %10s %12s %8s\n' "$r" "$c" nginx "$base" - 1.00
    for name in old new; do
      port=$A; [[ $name == new ]] && port=$B
      pid="$(cat "$W/$name/pid")"
      t0="$(ticks "$pid")"; got="$(rps "$port" "$c")"; t1="$(ticks "$pid")"
      awk -v n="$name" -v c="$c" -v r="$r" -v q="$got" -v t="$((t1 - t0))" -v hz="$HZ" -v d="$DUR" -v b="$base" \
        'BEGIN { printf "%-6s %5s %-6s %10.0f %12.0f %8.2f\n", r, c, n, q, t / hz * 1e6 / (q * d), q / b }'
    done
  done
done
