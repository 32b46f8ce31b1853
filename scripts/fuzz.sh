#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 20): the request
# and response decoders of every API, the SSE parser, the normalizer, the
# rule scanner and the audit bundle verifier (issue 7, "Hostile input").
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs only the pinned stable toolchain and crates.io: the targets are
# built with plain cargo and the coverage instrumentation `cargo fuzz` uses
# (no sanitizer: the crates forbid unsafe code), then run as libFuzzer
# binaries. Each run starts from the committed seeds (fuzz/corpus/TARGET)
# and first replays every crash input found so far (fuzz/regressions/TARGET);
# new corpus entries go to a scratch directory under the target dir, so the
# tree stays clean. A panic, hang (10 s per input), memory blow-up or broken
# invariant fails the script and leaves the input in fuzz/artifacts/TARGET/.
#
# Longer runs by hand, with cargo-fuzz installed (`cargo install cargo-fuzz`):
#   cargo fuzz run -s none TARGET -- -max_total_time=600
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"

SECS="${1:-20}"
shift || true
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  TARGET_DIR="$CARGO_TARGET_DIR/menshen-fuzz"
else
  TARGET_DIR="$ROOT/fuzz/target"
fi

if [[ $# -gt 0 ]]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -vx 'menshen-fuzz')
fi

# `cargo fuzz build -s none -a`'s flags, minus codegen-units=1 (it only makes
# the build slower). `--target` keeps them off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions"
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
echo "== fuzz: build ${TARGETS[*]}"
start=$SECONDS
# The fuzz crate is its own workspace; start its lock file from the main
# one, so it builds the very versions the main workspace pins (cargo only
# adds the fuzz-only packages) and never goes stale when a dependency moves.
cp "$ROOT/Cargo.lock" Cargo.lock
cargo build --release --target "$TRIPLE" --target-dir "$TARGET_DIR" "${bins[@]}"
echo "   built in $((SECONDS - start)) s"

for t in "${TARGETS[@]}"; do
  scratch="$TARGET_DIR/corpus/$t"
  mkdir -p "$scratch" "corpus/$t" "regressions/$t" "artifacts/$t"
  echo "== fuzz: $t for ${SECS} s"
  log="$TARGET_DIR/$t.log"
  set +e
  "$TARGET_DIR/$TRIPLE/release/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    "$scratch" "corpus/$t" "regressions/$t" >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
  if [[ $status -ne 0 ]]; then
    tail -n 60 "$log" >&2
    echo "fuzz target $t failed (exit $status); the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "== fuzz: all ${#TARGETS[@]} targets ran ${SECS} s without a finding"
