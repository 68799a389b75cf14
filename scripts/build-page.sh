#!/usr/bin/env bash
# Builds the page the server hosts: wasm-pack (the `page` profile of Cargo.toml, --target web) into
# OUT_DIR, then wasm-opt on its wasm (scripts/wasm-opt.sh). The one build for scripts/run.sh,
# scripts/test.sh and scripts/bench.sh.
#
#   scripts/build-page.sh [OUT_DIR]      # default: pkg/ at the repository root
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${1:-$ROOT/pkg}
case "$OUT_DIR" in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac # wasm-pack reads --out-dir from the crate

# wasm-pack's own wasm-opt step is off (Cargo.toml: package.metadata.wasm-pack); ours follows.
wasm-pack build --target web --profile page --no-pack --out-dir "$OUT_DIR" "$ROOT"
bash "$ROOT/scripts/wasm-opt.sh" "$OUT_DIR/faceid_h5_bg.wasm"
