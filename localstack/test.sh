#!/usr/bin/env bash
# THE test command (README, CI): installs what is missing, starts the local
# cloud, seeds it, runs every Rust test in the workspace against it, then the
# extra checks in localstack/checks.d/, and stops what this run started.
# Exits non-zero if anything failed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started_file="$STATE_DIR/started-by-test.$$"
: >"$started_file"
passed=0
failed=0
cleanup() {
  local status=$?
  # Only what this run started: stop.sh without names would stop everything
  # start.sh ever started, including services a developer had running.
  local mine=()
  mapfile -t mine <"$started_file"
  if ((${#mine[@]} > 0)); then bash "$REPO_ROOT/localstack/stop.sh" "${mine[@]}" || true; fi
  rm -f "$started_file"
  # The closing line CI reads: Rust tests and checks together. A run that
  # died before counting anything still reports itself as failed.
  if ((status != 0 && failed == 0)); then failed=1; fi
  echo "summary: $passed passed, $failed failed"
  exit "$status"
}
trap cleanup EXIT
# A signal (CI's time limit, Ctrl-C) becomes an ordinary exit, so the EXIT
# trap still stops the services.
trap 'exit 143' TERM HUP
trap 'exit 130' INT

bash "$REPO_ROOT/localstack/install.sh"
HIVE_STARTED_FILE="$started_file" bash "$REPO_ROOT/localstack/start.sh"
bash "$REPO_ROOT/localstack/seed.sh"

export HIVE_TEST_POSTGRES_URL="${HIVE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export HIVE_TEST_REDIS_URL="${HIVE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
export HIVE_TEST_AMQP_URL="${HIVE_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export HIVE_TEST_LOCALSTACK_URL="${HIVE_TEST_LOCALSTACK_URL:-http://$LOCALSTACK_HOST:$LOCALSTACK_PORT}"
export HIVE_TEST_S3_URL="${HIVE_TEST_S3_URL:-http://127.0.0.1:$S3S_PORT}"
export HIVE_TEST_SMTP_URL="${HIVE_TEST_SMTP_URL:-smtp://127.0.0.1:$SMTP_PORT}"
export HIVE_TEST_SMTP_MAILDIR="${HIVE_TEST_SMTP_MAILDIR:-$SMTP_MAILDIR}"
# The SDK must never wander off to the EC2 metadata service on a dev box.
export AWS_EC2_METADATA_DISABLED=true

failures=()
cd "$REPO_ROOT"
test_log="$STATE_DIR/test-output.log"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$test_log" || failures+=("cargo nextest")
  # "Summary [ 26.3s] 245 tests run: 243 passed, 2 failed, 0 skipped"
  summary="$(grep -E '^ *Summary .* tests? run:' "$test_log" | tail -1 || true)"
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
else
  log "cargo-nextest not installed; using cargo test"
  cargo test --workspace --no-fail-fast 2>&1 | tee "$test_log" || failures+=("cargo test")
  # One "test result: ok. 12 passed; 0 failed; …" line per test binary.
  passed=$(grep -oE '[0-9]+ passed;' "$test_log" | awk '{ sum += $1 } END { print sum + 0 }')
  failed=$(grep -oE '[0-9]+ failed;' "$test_log" | awk '{ sum += $1 } END { print sum + 0 }')
fi

# Extra checks other parts of the repo register: every executable *.sh in
# checks.d runs with the environment above; any non-zero exit fails the run.
for check in "$REPO_ROOT"/localstack/checks.d/*.sh; do
  [[ -x "$check" ]] || continue
  log "check: ${check#"$REPO_ROOT"/}"
  if "$check"; then passed=$((passed + 1)); else
    failures+=("${check#"$REPO_ROOT"/}")
    failed=$((failed + 1))
  fi
done

if ((${#failures[@]} > 0)); then
  log "FAILED: ${failures[*]}"
  exit 1
fi
log "all tests and checks passed"
