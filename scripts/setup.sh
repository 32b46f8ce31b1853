#!/usr/bin/env bash
# One-time set-up on a fresh machine: everything Menshen needs, installed by
# the project's own files.
#
#   scripts/setup.sh
#
# 1. ONNX Runtime (from the `onnxruntime` PyPI wheel) into vendor/onnxruntime/
#    and the classifier models (scripts/setup-onnx.sh).
# 2. Release build of the `menshen` and `menshen-audit` binaries (--locked).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -x scripts/setup-onnx.sh ]]; then
  bash scripts/setup-onnx.sh
fi

cargo build --locked --release -p menshen-proxy -p menshen-audit
# Where cargo put them: ./target, or CARGO_TARGET_DIR / build.target-dir.
BIN="$(bash scripts/target-dir.sh)/release"
[[ "$BIN" == "$ROOT/target/release" ]] && BIN=target/release
echo
echo "setup: done. Run the proxy on its embedded defaults with:"
echo "  MENSHEN_UPSTREAM=http://127.0.0.1:11434 $BIN/menshen serve"
