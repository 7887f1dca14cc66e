#!/usr/bin/env bash
# Installs what the local cloud needs, idempotently: the LocalStack venv
# (from PyPI) and s3s-fs (from crates.io). Safe to run again; does nothing
# when everything is already there.
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

install_localstack
install_s3s_fs
