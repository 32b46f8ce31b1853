#!/usr/bin/env bash
# Prints cargo's target directory for this workspace: CARGO_TARGET_DIR, a
# `build.target-dir` in a cargo config, or ./target, as cargo itself
# resolves it (the bench scripts run the binaries it builds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
