#!/usr/bin/env bash
# Optimises wasm files in place for size with wasm-opt from npm's binaryen, which scripts/setup.sh
# installs into .tools/binaryen (Debian 12's binaryen 108 cannot read what rustc >= 1.82 with
# wasm-bindgen 0.2.130 emits). Used on the page by scripts/build-page.sh and on the bench's analysis
# module by scripts/bench.sh, so that the bench times the code the page runs.
#
#   scripts/wasm-opt.sh FILE.wasm...
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WASM_OPT=$ROOT/.tools/binaryen/node_modules/.bin/wasm-opt

# -Oz: measured on the page (gzip -9 bytes of the wasm; binaryen 132, rustc 1.95). Built with the
# `page` profile (Cargo.toml): 456,878 as built; -O3 366,802; -Os 365,303; -Oz 365,170; -Oz --converge
# 364,508, 0.2 % less for twice the time (~40 s here). With opt-level 3 everywhere:
# 451,037 as built, 396,054 with no pass at all (wasm-opt drops the 208 KB `name` section unless -g),
# -O3 391,812, -Os 391,379, -Oz 390,929. -Oz did not slow the per-frame analysis (scripts/bench/wasm-bench
# in headless Chromium, minimum of runs within the run-to-run noise of the module as built).
# Features (simd128, reference types, bulk memory, ...) come from the module's own target_features
# section (wasm-opt's default --detect-features; naming them with --enable-* gives the same bytes); a
# feature it did not declare fails validation loudly. Without the name section, stack traces of a panic
# in the page show wasm-function[N] rather than Rust names (build with -g added for those).
#
# Issue #10 (everything before the first analysed frame <= 350 KB gzip) made the last KB count; on
# the page at the lossless-f16 model files (node's zlib gzip -9, as scripts/bench/sizes.mjs counts):
# -Oz 350,411; adding --converge 349,708 (-703); --strip-producers and --strip-target-features
# 349,490 (-218: the toolchain names, and the feature list that only wasm-opt reads, here, before it
# strips it); --low-memory-unused 348,031 (-1,459). All of it took ~60 s here (-Oz --converge ~40 s).
# --low-memory-unused lets wasm-opt fold `x + C` (C < 1024) into a load's or store's offset, which differs from the add only
# when x + C wraps past 4 GiB onto an address below 1024. Rust's wasm32 layout puts the 1 MiB stack
# first, growing down from 0x100000 toward 0, then the data and the heap, and no pointer the code
# computes wraps; the lowest KiB would only be reached by a stack 1023 KiB deep, one KiB before the
# overflow that already traps. Tried and left out (same build): -Oz --gufa 350,671 and -Os 350,584
# (both more than -Oz), -Oz -Oz 349,767 (more than --converge), --merge-similar-functions and
# --zero-filled-memory on top of the kept flags (the same bytes).
FLAGS=(-Oz --converge --strip-producers --strip-target-features --low-memory-unused)

[ -x "$WASM_OPT" ] || { echo "wasm-opt.sh: $WASM_OPT is missing: run scripts/setup.sh" >&2; exit 1; }
for wasm in "$@"; do
  before=$(stat -c %s "$wasm")
  "$WASM_OPT" "${FLAGS[@]}" "$wasm" -o "$wasm.opt.tmp"
  mv "$wasm.opt.tmp" "$wasm"
  echo "wasm-opt ${FLAGS[*]}: $wasm $before -> $(stat -c %s "$wasm") bytes"
done
