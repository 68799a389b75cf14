#!/usr/bin/env bash
# Soak of issue #13's kill -9 scenario: runs server/tests/multi_instance.rs N times (default 100)
# and counts what went wrong. Each run starts its own PostgreSQL, moto S3 server and two
# faceid-server processes, kills one with kill -9 mid-verification, and has the test print
#   multi-instance outcome: … lost=X doubled=Y
# (lost: the page's retry unanswered or answered 1001 "timed out", no stored answer, objects the
# purges missed; doubled: a second verification, an answer other than the stored one, deletes
# beyond the objects). At the end:
#   runs=N lost=X doubled=Y failed=Z
# where failed counts runs that failed without such a count (or failed on another assertion);
# their logs are kept and listed. A report, not a test: scripts/test.sh does not run it (about 33 s
# a run on 2 cores, 20 s of it the page's retry waiting out the default 18 s lease).
#
#   scripts/soak-multi-instance.sh [N]
#
# Environment:
#   FACEID_SERVER_BIN   the faceid-server binary the runs start (default: built here, debug)
#   FACEID_SOAK_TEST_BIN  the multi_instance test binary (default: built here)
#   FACEID_MOTO_SERVER, FACEID_POSTGRES_BIN  as for the tests (scripts/setup.sh installs both)
#   FACEID_SOAK_LOGS    where run logs go (default: a temp dir; removed unless a run failed)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

RUNS=${1:-100}
case "$RUNS" in
  '' | *[!0-9]*) echo "usage: $0 [runs]   (runs: a positive number, default 100)" >&2; exit 2 ;;
esac
[ "$RUNS" -ge 1 ] || { echo "$0: runs must be at least 1" >&2; exit 2; }
TEST_NAME=an_instance_killed_mid_verification_is_taken_over_and_answered_once
# One run's bound: a hang ends as a failed run, not a stuck soak.
RUN_BOUND_SECS=600

if [ -z "${FACEID_SERVER_BIN:-}" ]; then
  cargo build -q -p faceid-server --bin faceid-server || { echo "$0: building faceid-server failed" >&2; exit 1; }
  FACEID_SERVER_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/faceid-server
fi
[ -x "$FACEID_SERVER_BIN" ] || { echo "$0: FACEID_SERVER_BIN=$FACEID_SERVER_BIN is not an executable" >&2; exit 2; }
export FACEID_SERVER_BIN

if [ -z "${FACEID_SOAK_TEST_BIN:-}" ]; then
  FACEID_SOAK_TEST_BIN=$(cargo test -q -p faceid-server --test multi_instance --no-run --message-format=json \
    | jq -r 'select(.reason == "compiler-artifact" and .target.name == "multi_instance") | .executable // empty' \
    | tail -1)
fi
[ -x "${FACEID_SOAK_TEST_BIN:-}" ] || { echo "$0: no multi_instance test binary (${FACEID_SOAK_TEST_BIN:-not built})" >&2; exit 1; }

LOGS=${FACEID_SOAK_LOGS:-$(mktemp -d -t faceid-soak.XXXXXX)}
mkdir -p "$LOGS"
echo "soak: $RUNS runs of $TEST_NAME; server $FACEID_SERVER_BIN; logs in $LOGS" >&2

# Each run in a process group of its own, so an interrupted soak takes the run's servers with it.
RUN_PID=
stop_run() {
  [ -n "$RUN_PID" ] && kill -TERM -- "-$RUN_PID" 2>/dev/null
  exit 130
}
trap stop_run INT TERM

lost=0 doubled=0 failed=0 split_purges=0 failed_logs=()
for ((i = 1; i <= RUNS; i++)); do
  log="$LOGS/run-$i.log"
  setsid timeout --kill-after=10 "$RUN_BOUND_SECS" \
    "$FACEID_SOAK_TEST_BIN" --exact "$TEST_NAME" --nocapture --test-threads 1 >"$log" 2>&1 &
  RUN_PID=$!
  wait "$RUN_PID"
  rc=$?
  RUN_PID=
  outcome=$(grep -o -m1 'multi-instance outcome:.*' "$log" || true)
  field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$outcome"; }
  run_lost=$(field lost) run_doubled=$(field doubled)
  if [ -z "$run_lost" ] || [ -z "$run_doubled" ]; then
    failed=$((failed + 1)); failed_logs+=("$log")
    echo "run $i: failed without an outcome (exit $rc)" >&2
    continue
  fi
  lost=$((lost + run_lost)) doubled=$((doubled + run_doubled))
  if [ "$rc" -ne 0 ] && [ "$run_lost" -eq 0 ] && [ "$run_doubled" -eq 0 ]; then
    failed=$((failed + 1))
  fi
  [ "$rc" -ne 0 ] && failed_logs+=("$log")
  # Both instances' purges deleted some of the objects in this run.
  if [ "$(field deleted_by_a)" -gt 0 ] 2>/dev/null && [ "$(field deleted_by_b)" -gt 0 ] 2>/dev/null; then
    split_purges=$((split_purges + 1))
  fi
  echo "run $i: exit $rc, ${outcome#multi-instance outcome: }" >&2
done

echo "soak: runs in which both instances' purges deleted objects: $split_purges of $RUNS" >&2
if [ "${#failed_logs[@]}" -gt 0 ]; then
  echo "soak: logs of runs that failed: ${failed_logs[*]}" >&2
elif [ -z "${FACEID_SOAK_LOGS:-}" ]; then
  rm -rf "$LOGS"
fi
echo "runs=$RUNS lost=$lost doubled=$doubled failed=$failed"
