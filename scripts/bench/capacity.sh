#!/usr/bin/env bash
# Step 8 of scripts/bench.sh, also runnable alone: issue #13's capacity figures from
# server/examples/capacity.rs (DetectAuth latency at 200 concurrent calls on SQLite and on a
# PostgreSQL cluster it starts; verifications/s of one faceid-server pinned to core 0 against two
# pinned to cores 0 and 1 sharing one PostgreSQL database and one media directory).
#
#   scripts/bench/capacity.sh <run-dir>
#
# Writes <run-dir>/capacity.txt (the example's output, with its BENCH_JSON line) or, when it cannot
# measure, <run-dir>/capacity.json {"error": …}; appends capacity_* facts to <run-dir>/machine.env
# (created if absent, with the date, commit and load, so that report.mjs can run on this step alone:
# `node scripts/bench/report.mjs <run-dir>` then writes §8 with the other sections not measured).
#
# Environment: FACEID_BENCH_QUICK=1 (fewer requests and uploads), FACEID_POSTGRES_BIN (as for the
# tests), CARGO_TARGET_DIR.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
RUN=${1:?usage: $0 <run-dir>}
mkdir -p "$RUN/logs"
LOGS=$RUN/logs
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "${FACEID_BENCH_QUICK:-0}" = 1 ]; then
  ARGS=(--requests 4000 --concurrency 200 --uploads 8 --clients 4)
else
  ARGS=(--requests 20000 --concurrency 200 --uploads 40 --clients 4)
fi

not_measured() {
  node -e 'process.stdout.write(JSON.stringify({ error: process.argv[1] }))' "$1" > "$RUN/capacity.json"
  echo "   not measured: $1"
}
first_error() {
  { grep -m1 -E '^(error(\[|:)|Error:)|panicked|FAILED|not found|No such file' "$1" || tail -n1 "$1"; } \
    | tr -d '\r' | cut -c1-180
}

if [ ! -f "$RUN/machine.env" ]; then
  {
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores=$(nproc)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  } > "$RUN/machine.env"
fi
echo "load_capacity=$(cut -d' ' -f1 /proc/loadavg)" >> "$RUN/machine.env"

if ! command -v taskset >/dev/null 2>&1; then
  not_measured "taskset (util-linux) is missing: the instances cannot be pinned to cores"
  exit 0
fi
if ! timeout 1500 cargo build --release -q -p faceid-server --bin faceid-server --example capacity \
  > "$LOGS/capacity-build.log" 2>&1; then
  not_measured "server/examples/capacity.rs did not build: $(first_error "$LOGS/capacity-build.log")"
  exit 0
fi
echo "capacity_command=target/release/examples/capacity ${ARGS[*]}" >> "$RUN/machine.env"
timeout 1800 "$TARGET/release/examples/capacity" "${ARGS[@]}" > "$RUN/capacity.txt" 2> "$LOGS/capacity.log"
rc=$?
echo "load_capacity_end=$(cut -d' ' -f1 /proc/loadavg)" >> "$RUN/machine.env"
if grep -q '^BENCH_JSON ' "$RUN/capacity.txt"; then
  echo "   ok"
else
  not_measured "capacity exited $rc without BENCH_JSON: $(first_error "$LOGS/capacity.log")"
fi
