# Shared settings and helpers for the local cloud scripts. Sourced, not run.
# Everything here is pinned: a fresh clone installs exactly these versions.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${HIVE_LOCALSTACK_STATE:-$REPO_ROOT/.localstack}"

LOCALSTACK_PIP_PINS=(
  "localstack-core[runtime]==2026.3.0"
  "cbor2<6"
  "pyopenssl<25"
  "cryptography<45"
  "service-identity"
)
S3S_FS_VERSION="0.14.1"

# The venv lives outside the repo so a fresh clone reuses it; its name carries
# a hash of the pins so a pin change builds a new one instead of mutating.
PINS_HASH="$(printf '%s\n' "${LOCALSTACK_PIP_PINS[@]}" | sha256sum | cut -c1-12)"
LOCALSTACK_VENV="${HIVE_LOCALSTACK_VENV:-$HOME/.cache/hive/localstack-venv-$PINS_HASH}"

# schemathesis, for the HTTP contract check (checks.d/schemathesis.sh), in its
# own venv beside LocalStack's; any Python 3.9 or newer will do.
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_VENV="${HIVE_SCHEMATHESIS_VENV:-$HOME/.cache/hive/schemathesis-venv-$SCHEMATHESIS_VERSION}"

# aiosmtpd, the loopback SMTP server of the notifications tests
# (smtp_sink.py), in its own venv; any Python 3.9 or newer will do.
AIOSMTPD_VERSION="1.4.6"
SMTP_VENV="${HIVE_SMTP_VENV:-$HOME/.cache/hive/aiosmtpd-venv-$AIOSMTPD_VERSION}"
SMTP_PORT=2525
SMTP_MAILDIR="$STATE_DIR/smtp-mail"

LOCALSTACK_HOST=127.0.0.1
LOCALSTACK_PORT=4566
S3S_PORT=9000
S3S_ACCESS_KEY=hive
S3S_SECRET_KEY=hive-secret-key
AWS_TEST_REGION=us-east-1

log() { printf '[localstack] %s\n' "$*" >&2; }
die() { printf '[localstack] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every half second.
wait_until() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then die "$what not ready after ${timeout}s"; fi
    sleep 0.5
  done
  log "$what ready"
}

# Finds Python 3.13 for LocalStack: pyenv's install first, then PATH.
find_python313() {
  local candidate
  for candidate in /root/.pyenv/versions/3.13*/bin/python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return 0; fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | tail -1 || true)"
    if [[ -n "$version" && -x "$(pyenv root)/versions/$version/bin/python3.13" ]]; then
      echo "$(pyenv root)/versions/$version/bin/python3.13"; return 0
    fi
  fi
  if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
    command -v python3.13; return 0
  fi
  return 1
}

# Finds a Python 3.9 or newer, newest first: pyenv's installs, then PATH.
find_python39() {
  local candidate
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[0-9]*/bin/python3 /root/.pyenv/versions/3.1[0-9]*/bin/python3; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; fi
  done | sort -t/ -k1,1 -V -r | head -1 | grep . && return 0
  for candidate in python3.13 python3.12 python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

mkdir -p "$STATE_DIR"
