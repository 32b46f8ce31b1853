#!/usr/bin/env bash
# Installs ONNX Runtime for the `onnx` feature of menshen-classifiers and makes
# sure the classifier models exist. Idempotent: re-running does nothing that
# is already done.
#
#   scripts/setup-onnx.sh            # CPU runtime + models
#   scripts/setup-onnx.sh --gpu      # also the CUDA build into vendor/onnxruntime-gpu
#   scripts/setup-onnx.sh --retrain  # rebuild models/artifacts from ../shared/data
#
# What it does:
# 1. `pip download` the pinned `onnxruntime` wheel from PyPI (no install) and
#    copies its libonnxruntime.so into vendor/onnxruntime/lib/ (gitignored).
#    The Rust side loads it from there, or from ORT_DYLIB_PATH.
# 2. Creates models/.venv with the pinned Python deps (models/requirements.txt)
#    used to train/export/evaluate the models.
# 3. The int8 models are committed under models/artifacts/ (a few MB each);
#    they are rebuilt only with --retrain or when missing.
set -euo pipefail

ORT_VERSION="1.32.0"
ORT_GPU_VERSION="1.31.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GPU=0
RETRAIN=0
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    --retrain) RETRAIN=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

PY="${PYTHON:-python3}"

fetch_lib() { # package version destdir
  local pkg="$1" ver="$2" dest="$3"
  local marker="$dest/.version"
  if [[ -f "$dest/lib/libonnxruntime.so" && -f "$marker" && "$(cat "$marker")" == "$pkg==$ver" ]]; then
    echo "setup-onnx: $pkg $ver already in $dest"
    return
  fi
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --implementation cp \
    -d "$tmp" "$pkg==$ver"
  local whl
  whl="$(ls "$tmp"/*.whl | head -n1)"
  "$PY" - "$whl" "$tmp/x" <<'EOF'
import sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
for n in zf.namelist():
    if "/capi/lib" in n and ".so" in n:
        zf.extract(n, sys.argv[2])
EOF
  mkdir -p "$dest/lib"
  cp "$tmp"/x/onnxruntime/capi/lib*.so* "$dest/lib/"
  local main
  main="$(cd "$dest/lib" && ls libonnxruntime.so.* | head -n1)"
  ln -sf "$main" "$dest/lib/libonnxruntime.so"
  echo "$pkg==$ver" > "$marker"
  echo "setup-onnx: installed $pkg $ver -> $dest/lib/libonnxruntime.so"
}

fetch_lib onnxruntime "$ORT_VERSION" "$ROOT/vendor/onnxruntime"
if [[ "$GPU" == 1 ]]; then
  # The CUDA provider also needs the CUDA 12 runtime, cuBLAS and cuDNN 9 on
  # the loader path (e.g. from the nvidia-*-cu12 wheels or the system).
  fetch_lib onnxruntime-gpu "$ORT_GPU_VERSION" "$ROOT/vendor/onnxruntime-gpu"
fi

VENV="$ROOT/models/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
if ! cmp -s "$ROOT/models/requirements.txt" "$VENV/.requirements" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet -r "$ROOT/models/requirements.txt"
  cp "$ROOT/models/requirements.txt" "$VENV/.requirements"
fi

need_train=0
for m in injection harm; do
  for f in model.onnx tokenizer.json config.json; do
    [[ -f "$ROOT/models/artifacts/$m/$f" ]] || need_train=1
  done
done
if [[ "$RETRAIN" == 1 || "$need_train" == 1 ]]; then
  DATA="${MENSHEN_DATA:-$ROOT/../shared/data}"
  (cd "$ROOT" && OMP_NUM_THREADS=1 "$VENV/bin/python" models/train.py --data "$DATA" --out models/artifacts)
fi
echo "setup-onnx: done. export ORT_DYLIB_PATH=$ROOT/vendor/onnxruntime/lib/libonnxruntime.so"
