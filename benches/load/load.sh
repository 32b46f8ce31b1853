#!/usr/bin/env bash
# Load benchmark: the same load against the upstream directly, nginx as a
# plain reverse proxy, and menshen in front of the same upstream, in one run,
# on loopback. Prints requests/s, p50, p99, peak RSS, and each row's ratio to
# the nginx pass-through. Machines here are shared and noisy: read ratios.
#
#   benches/load/load.sh [DURATION_S] [CONNECTIONS]
#
# ROUNDS=N (default 1) repeats every block N times, all targets once per
# round in turn, and prints for each target the round whose ratio to nginx
# (same round) is the median, with the min-max of that ratio over the
# rounds: on a shared machine one round can land on a burst of other work.
#
# BODY_USER=ID sends an OpenAI "user" in every body (the per-subject
# counters are consulted then).
#
# Needs nginx and wrk (Debian packages; installed if missing and root).
# Everything listens on 127.0.0.1 only and is stopped by PID at exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DUR="${1:-10}"
CONNS="${2:-32}"
source "$ROOT/benches/load/common.sh"

cd "$ROOT"
cargo build --release --locked -p menshen-proxy >&2
BIN="$("$ROOT/scripts/target-dir.sh")/release/menshen"

UP=18401; NGX=18402; MEN=18403; MEN_FULL=18404
# The stream rows: an upstream answering SSE, nginx passing it through
# unbuffered, and menshen's phrase and rules+Rego+audit setups in front of it.
UP_SSE=18408; NGX_SSE=18409; MEN_SSE=18410; MEN_RPA_SSE=18411
start_upstream "$UP" "$UP_SSE"
start_passthrough "$NGX" "$UP"
start_passthrough "$NGX_SSE" "$UP_SSE" ngx-sse off

# Three menshen configurations in front of the same upstream.
start_menshen() { # name port extra-toml [upstream-port]
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/menshen.toml" <<TOML
data_dir = "$WORK/$1/data"
[server]
listen = "127.0.0.1:$2"
[[upstreams]]
name = "up"
url = "http://127.0.0.1:${4:-$UP}"
[[routes]]
name = "default"
upstream = "up"
$3
TOML
  (cd "$WORK/$1" && MENSHEN_LOG=warn exec "$BIN" serve --config "$WORK/$1/menshen.toml" 2>"$WORK/$1/menshen.log") &
  PIDS+=($!)
  echo $! > "$WORK/$1/pid"
}
ORT_LIB="${ORT_DYLIB_PATH:-$ROOT/vendor/onnxruntime/lib/libonnxruntime.so}"
NO_ONNX='
[guards.onnx]
enabled = false'
WITH_ONNX="
[guards.onnx]
library = \"$ORT_LIB\"
models_dir = \"$ROOT/models/artifacts\""
# 1. the built-in banned-phrase guard only (issue #2's target row)
start_menshen phrase $MEN "$PHRASE_TOML"
# 2. every rule detector, threshold decision, no audit
MEN_RULES=18406
start_menshen rules $MEN_RULES "
[policy]
engine = \"threshold\"
[audit]
enabled = false
$NO_ONNX"
# 3. rules + Rego policy + async audit (issue #7's target row)
MEN_RPA=18407
start_menshen rpa $MEN_RPA "$RPA_TOML"
# 4./5. the full pipeline: rules + ONNX classifier + Rego + audit
start_menshen full $MEN_FULL "
[audit]
mode = \"async\"
$WITH_ONNX"
MEN_SYNC=18405
start_menshen sync $MEN_SYNC "
[audit]
mode = \"sync\"
$WITH_ONNX"

start_menshen phrase-sse $MEN_SSE "$PHRASE_TOML" "$UP_SSE"
start_menshen rpa-sse $MEN_RPA_SSE "$RPA_TOML" "$UP_SSE"

write_bodies
wait_ports $UP $NGX $MEN $MEN_RULES $MEN_RPA $MEN_FULL $MEN_SYNC $UP_SSE $NGX_SSE $MEN_SSE $MEN_RPA_SSE

run() { # label url script conns
  local out
  out="$(wrk -t1 -c"$4" -d"${DUR}s" --latency -s "$3" "$2" 2>&1)"
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  local non2xx
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  echo "$1|$rps|$p50|$p99|${non2xx:-0}"
}
to_ms() { # wrk latency like 1.23ms / 850.00us / 1.02s
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'
}
rss() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "-"; }

ROUNDS="${ROUNDS:-1}"
ROWS_FILE="$WORK/rows"
: >"$ROWS_FILE"
for script in clean hostile; do
  for conns in 1 "$CONNS"; do
    for round in $(seq "$ROUNDS"); do
      {
        echo "$(run "upstream direct" "http://127.0.0.1:$UP/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|-|$round"
        echo "$(run "nginx pass-through" "http://127.0.0.1:$NGX/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|-|$round"
        echo "$(run "menshen (phrase guard)" "http://127.0.0.1:$MEN/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/phrase/pid")")|$round"
        echo "$(run "menshen (rules)" "http://127.0.0.1:$MEN_RULES/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/rules/pid")")|$round"
        echo "$(run "menshen (rules+rego+async audit)" "http://127.0.0.1:$MEN_RPA/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/rpa/pid")")|$round"
        echo "$(run "menshen (full, async audit)" "http://127.0.0.1:$MEN_FULL/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/full/pid")")|$round"
        echo "$(run "menshen (full, sync audit)" "http://127.0.0.1:$MEN_SYNC/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/sync/pid")")|$round"
      } >>"$ROWS_FILE"
    done
  done
done
for script in clean-stream hostile-stream; do
  for conns in 1 "$CONNS"; do
    for round in $(seq "$ROUNDS"); do
      {
        echo "$(run "upstream direct" "http://127.0.0.1:$UP_SSE/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|-|$round"
        echo "$(run "nginx pass-through" "http://127.0.0.1:$NGX_SSE/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|-|$round"
        echo "$(run "menshen (phrase guard)" "http://127.0.0.1:$MEN_SSE/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/phrase-sse/pid")")|$round"
        echo "$(run "menshen (rules+rego+async audit)" "http://127.0.0.1:$MEN_RPA_SSE/v1/chat/completions" "$WORK/$script.lua" "$conns")|$script|$conns|$(rss "$(cat "$WORK/rpa-sse/pid")")|$round"
      } >>"$ROWS_FILE"
    done
  done
done

python3 - "$ROWS_FILE" <<'PY'
import sys
def ms(v):
    for suffix, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(suffix):
            return float(v[: -len(suffix)]) * scale
    return float(v or "nan")
rows = []
for line in open(sys.argv[1]):
    label, rps, p50, p99, non2xx, body, conns, mem, rnd = line.rstrip("\n").split("|")
    rows.append(dict(label=label, rps=float(rps or 0), p50=ms(p50), p99=ms(p99), non2xx=non2xx,
                     body=body, conns=conns, mem=mem, round=rnd))
base = {(r["body"], r["conns"], r["round"]): r for r in rows if r["label"] == "nginx pass-through"}
direct = {(r["body"], r["conns"], r["round"]): r for r in rows if r["label"] == "upstream direct"}
for r in rows:
    k = (r["body"], r["conns"], r["round"])
    r["ratio"] = r["rps"] / base[k]["rps"] if base[k]["rps"] else float("nan")
    r["add50"] = r["p50"] - direct[k]["p50"]
    r["add99"] = r["p99"] - direct[k]["p99"]
groups = {}
for r in rows:
    groups.setdefault((r["body"], r["conns"], r["label"]), []).append(r)
multi = len({r["round"] for r in rows}) > 1
print()
print(f"{'target':32} {'body':14} {'conns':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'non-2xx':>8} {'peak RSS':>10} {'÷ nginx':>8}" + ("  ratio min-max" if multi else ""))
for (body, conns, label), rs in groups.items():
    rs = sorted(rs, key=lambda r: r["ratio"])
    m = rs[(len(rs) - 1) // 2]  # the lower middle when the count is even
    direct_row = label == "upstream direct"
    f3 = lambda v: "-" if direct_row else f"{v:.3f}"
    line = (f"{label:32} {body:14} {conns:>5} {m['rps']:>10.2f} {m['p50']:>8.3f} {m['p99']:>8.3f} "
            f"{f3(m['add50']):>8} {f3(m['add99']):>8} {m['non2xx']:>8} {m['mem']:>10} "
            f"{'-' if direct_row else format(m['ratio'], '.2f'):>8}")
    if multi and not direct_row:
        line += f"  {rs[0]['ratio']:.2f}-{rs[-1]['ratio']:.2f}"
    print(line)
PY
echo
echo "÷ nginx: requests/s over the nginx pass-through row of the same body and concurrency."
echo "+p50/+p99: the row's latency minus 'upstream direct' at the same body and concurrency (added latency)."
echo "phrase guard: the built-in banned-phrase guard only, threshold policy, no audit."
echo "rules: phrases + injection rules + PII + secrets, threshold policy, no audit."
echo "rules+rego+async audit: the rules, the Rego baseline policy and the signed audit log in async mode."
echo "*-stream bodies: the same requests with \"stream\": true against an upstream answering 15 SSE events; nginx passes them through unbuffered."
echo "full: the same plus the ONNX injection classifier, audit async or sync."
echo "hostile rows: non-2xx are the expected blocks of the injection attempt."
