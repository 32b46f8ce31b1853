#!/usr/bin/env bash
# The test command (README, CI): formatting, lints, and every test in the
# workspace (unit, property, Rego pack tests, end-to-end over real sockets,
# real ONNX Runtime and SQLite).
#
#   scripts/test.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -z "${ORT_DYLIB_PATH:-}" && -f vendor/onnxruntime/lib/libonnxruntime.so ]]; then
  export ORT_DYLIB_PATH="$ROOT/vendor/onnxruntime/lib/libonnxruntime.so"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, all features, -D warnings)"
cargo clippy --locked --workspace --all-targets --all-features -- -D warnings
echo "== cargo test"
cargo test --locked --workspace --all-features
