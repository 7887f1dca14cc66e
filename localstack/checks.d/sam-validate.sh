#!/usr/bin/env bash
# Lints infra/template.yaml with `sam validate --lint` (SAM's transform, then
# cfn-lint), offline. The pinned SAM CLI is installed from PyPI, once, into a
# venv outside the repo, so fresh clones reuse it. Exits non-zero, with a line
# that says so, when the template has any error or warning.
set -euo pipefail

SAM_CLI_VERSION="1.170.0"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TEMPLATE="$REPO_ROOT/infra/template.yaml"
# The venv's name carries the version, so a pin change builds a new venv
# instead of mutating the old one.
SAM_VENV="${HIVE_SAM_VENV:-$HOME/.cache/hive/sam-venv-$SAM_CLI_VERSION}"

log() { printf '[sam-validate] %s\n' "$*" >&2; }
fail() { printf '[sam-validate] FAILED: %s\n' "$*" >&2; exit 1; }

install_sam() {
  if [[ -x "$SAM_VENV/bin/sam" && -f "$SAM_VENV/.complete" ]]; then return 0; fi
  local python="${HIVE_SAM_PYTHON:-python3}"
  command -v "$python" >/dev/null || fail "$python not found; the SAM CLI needs Python 3.9 or newer"
  log "installing aws-sam-cli==$SAM_CLI_VERSION from PyPI into $SAM_VENV (about a minute, once)"
  rm -rf "$SAM_VENV"
  mkdir -p "$(dirname "$SAM_VENV")"
  "$python" -m venv "$SAM_VENV" || fail "could not create the venv $SAM_VENV"
  "$SAM_VENV/bin/pip" install --quiet --no-input --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION" \
    || fail "could not install aws-sam-cli==$SAM_CLI_VERSION from PyPI"
  touch "$SAM_VENV/.complete"
}

[[ -f "$TEMPLATE" ]] || fail "no template at $TEMPLATE"
install_sam

# A clean environment: a fixed region, dummy static credentials (so no real
# profile is ever read), no endpoint override left over from the local cloud,
# and no telemetry. Where the machine allows it, the linter runs in a network
# namespace with no interfaces, which proves it needs no network.
validate=(
  env -i
  PATH="$SAM_VENV/bin:/usr/local/bin:/usr/bin:/bin"
  HOME="$HOME"
  LANG=C.UTF-8
  AWS_DEFAULT_REGION=eu-west-1
  AWS_REGION=eu-west-1
  AWS_ACCESS_KEY_ID=hive-dummy-access-key
  AWS_SECRET_ACCESS_KEY=hive-dummy-secret-key
  AWS_EC2_METADATA_DISABLED=true
  SAM_CLI_TELEMETRY=0
  "$SAM_VENV/bin/sam" validate --lint --template "$TEMPLATE"
)
if unshare --net true 2>/dev/null; then
  validate=(unshare --net "${validate[@]}")
fi

set +e
output="$("${validate[@]}" 2>&1)"
status=$?
set -e
printf '%s\n' "$output"
if ((status != 0)); then
  fail "sam validate --lint rejected infra/template.yaml (exit $status); the lines above name each rule and line"
fi
log "OK: infra/template.yaml passes sam validate --lint (SAM CLI $SAM_CLI_VERSION)"
