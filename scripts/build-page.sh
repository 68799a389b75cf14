#!/usr/bin/env bash
# Builds the page the server hosts: wasm-pack (the `page` profile of Cargo.toml, --target web) into
# OUT_DIR, then wasm-opt on its wasm (scripts/wasm-opt.sh) and terser on its JavaScript glue. The one
# build for scripts/run.sh, scripts/test.sh and scripts/bench.sh.
#
#   scripts/build-page.sh [OUT_DIR]      # default: pkg/ at the repository root
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${1:-$ROOT/pkg}
case "$OUT_DIR" in /*) ;; *) OUT_DIR=$PWD/$OUT_DIR ;; esac # wasm-pack reads --out-dir from the crate

# wasm-pack's own wasm-opt step is off (Cargo.toml: package.metadata.wasm-pack); ours follows.
wasm-pack build --target web --profile page --no-pack --out-dir "$OUT_DIR" "$ROOT"
bash "$ROOT/scripts/wasm-opt.sh" "$OUT_DIR/faceid_h5_bg.wasm"

# The wasm-bindgen glue, minified: terser from npm (scripts/setup.sh installs it into .tools/terser).
# --module: an ES module (strict, top-level names are private, so they are mangled too); exports and
# the wasm import object's property names are kept as they are. Measured on the page's glue (node's
# zlib gzip -9, as scripts/bench/sizes.mjs counts): 57,516 bytes, 10,150 gzip as wasm-bindgen writes
# it; --mangle alone 7,889; --compress --mangle 7,761 (kept); adding --ecma 2020 the same bytes;
# compress passes=2 7,766.
TERSER=$ROOT/.tools/terser/node_modules/.bin/terser
[ -x "$TERSER" ] || { echo "build-page.sh: $TERSER is missing: run scripts/setup.sh" >&2; exit 1; }
glue=$OUT_DIR/faceid_h5.js
before=$(stat -c %s "$glue")
"$TERSER" "$glue" --module --compress --mangle -o "$glue.min.tmp"
mv "$glue.min.tmp" "$glue"
echo "terser --module --compress --mangle: $glue $before -> $(stat -c %s "$glue") bytes"
