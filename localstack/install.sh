#!/usr/bin/env bash
# Installs what the local cloud and the tests need, idempotently: the
# LocalStack and schemathesis venvs (from PyPI), s3s-fs (from crates.io) and
# Chromium (from Debian, for the report's headless screenshot test). Safe to
# run again; does nothing when everything is already there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

install_localstack() {
  if [[ -x "$LOCALSTACK_VENV/bin/python" && -f "$LOCALSTACK_VENV/.complete" ]]; then
    log "LocalStack venv present: $LOCALSTACK_VENV"; return 0
  fi
  local python
  python="$(find_python313)" || die "Python 3.13 not found (looked in pyenv's versions/3.13*, pyenv, PATH); LocalStack 2026.3 needs it. Install it, e.g. 'pyenv install 3.13'."
  log "creating LocalStack venv with $python at $LOCALSTACK_VENV"
  rm -rf "$LOCALSTACK_VENV"
  mkdir -p "$(dirname "$LOCALSTACK_VENV")"
  "$python" -m venv "$LOCALSTACK_VENV"
  "$LOCALSTACK_VENV/bin/pip" install --quiet --no-input "${LOCALSTACK_PIP_PINS[@]}" \
    || die "pip could not install ${LOCALSTACK_PIP_PINS[*]} from PyPI"
  touch "$LOCALSTACK_VENV/.complete"
}

install_s3s_fs() {
  local bin="$HOME/.cargo/bin/s3s-fs"
  if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
    log "s3s-fs $S3S_FS_VERSION present"; return 0
  fi
  log "installing s3s-fs $S3S_FS_VERSION from crates.io (a few minutes, once)"
  cargo install "s3s-fs@$S3S_FS_VERSION" --features binary --locked --quiet \
    || die "cargo could not install s3s-fs $S3S_FS_VERSION from crates.io"
}

# The engine's report test renders report.html in headless Chromium and fails
# when it is missing, so it is installed here rather than skipped there.
install_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    log "chromium present: $(command -v chromium)"; return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "chromium is missing and apt-get is not available; install Chromium so that 'chromium' is on PATH"
  local sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  log "installing chromium from Debian (once)"
  "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium \
    || die "apt-get could not install chromium"
}

# schemathesis checks the HTTP API against its OpenAPI document
# (checks.d/schemathesis.sh).
install_schemathesis() {
  if [[ -x "$SCHEMATHESIS_VENV/bin/schemathesis" && -f "$SCHEMATHESIS_VENV/.complete" ]]; then
    log "schemathesis venv present: $SCHEMATHESIS_VENV"; return 0
  fi
  local python
  python="$(find_python39)" || die "Python 3.9 or newer not found (looked in pyenv's versions and PATH); schemathesis needs it"
  log "creating the schemathesis $SCHEMATHESIS_VERSION venv with $python at $SCHEMATHESIS_VENV"
  rm -rf "$SCHEMATHESIS_VENV"
  mkdir -p "$(dirname "$SCHEMATHESIS_VENV")"
  "$python" -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --no-input --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || die "pip could not install schemathesis==$SCHEMATHESIS_VERSION from PyPI"
  touch "$SCHEMATHESIS_VENV/.complete"
}

# aiosmtpd serves the notifications tests' SMTP (smtp_sink.py).
install_aiosmtpd() {
  if [[ -x "$SMTP_VENV/bin/python" && -f "$SMTP_VENV/.complete" ]]; then
    log "aiosmtpd venv present: $SMTP_VENV"; return 0
  fi
  local python
  python="$(find_python39)" || die "Python 3.9 or newer not found (looked in pyenv's versions and PATH); aiosmtpd needs it"
  log "creating the aiosmtpd $AIOSMTPD_VERSION venv with $python at $SMTP_VENV"
  rm -rf "$SMTP_VENV"
  mkdir -p "$(dirname "$SMTP_VENV")"
  "$python" -m venv "$SMTP_VENV"
  "$SMTP_VENV/bin/pip" install --quiet --no-input --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" \
    || die "pip could not install aiosmtpd==$AIOSMTPD_VERSION from PyPI"
  touch "$SMTP_VENV/.complete"
}

install_localstack
install_s3s_fs
install_schemathesis
install_aiosmtpd
install_chromium
