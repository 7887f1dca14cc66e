#!/usr/bin/env bash
# Seeds the running local cloud with the platform's buckets and queues.
# Idempotent: rerunning changes nothing that is already in place.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -x "$LOCALSTACK_VENV/bin/python" ]] || die "LocalStack venv missing at $LOCALSTACK_VENV; run localstack/install.sh"
LOCALSTACK_URL="http://$LOCALSTACK_HOST:$LOCALSTACK_PORT" \
S3S_URL="http://127.0.0.1:$S3S_PORT" \
S3S_ACCESS_KEY="$S3S_ACCESS_KEY" S3S_SECRET_KEY="$S3S_SECRET_KEY" \
AWS_REGION="$AWS_TEST_REGION" \
  "$LOCALSTACK_VENV/bin/python" "$REPO_ROOT/localstack/seed.py"
