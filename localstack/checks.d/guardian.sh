#!/usr/bin/env bash
# Guardian on Hive itself, and Guardian against its oracles.
# 1. `hive guardian check .` with the repository's guardian.toml: fails on
#    any error-level finding that is not in guardian-baseline.json (the
#    findings in code older than Guardian).
# 2. The six ruff-mirroring rules against ruff, and the complexity metric
#    against radon, on this Python's standard library (both pinned, in their
#    own venv); each fails below 99 %.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUFF_VERSION=0.17.5
RADON_VERSION=6.0.1
ORACLES_VENV="${HIVE_GUARDIAN_ORACLES_VENV:-$HOME/.cache/hive/guardian-oracles-ruff$RUFF_VERSION-radon$RADON_VERSION}"

log() { printf '[guardian] %s\n' "$*" >&2; }
fail() { printf '[guardian] FAILED: %s\n' "$*" >&2; exit 1; }

log "building hive"
cargo build --quiet -p hive --manifest-path "$REPO_ROOT/Cargo.toml" || fail "cargo build -p hive failed"
hive="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/hive"

(cd "$REPO_ROOT" && "$hive" guardian check . --baseline guardian-baseline.json --fail-level error) \
  || fail "hive guardian check . found errors outside the baseline (above)"
log "OK: Hive passes its own golden rules"

if [[ ! -f "$ORACLES_VENV/.complete" ]]; then
  log "installing ruff $RUFF_VERSION and radon $RADON_VERSION into $ORACLES_VENV"
  python3 -m venv "$ORACLES_VENV" && "$ORACLES_VENV/bin/pip" install --quiet "ruff==$RUFF_VERSION" "radon==$RADON_VERSION" \
    && touch "$ORACLES_VENV/.complete" || fail "could not install the oracles"
fi
oracles="$REPO_ROOT/functions/guardian-engine/oracles"
python3 "$oracles/ruff_compare.py" --ruff "$ORACLES_VENV/bin/ruff" --hive "$hive" || fail "Guardian and ruff disagree (above)"
python3 "$oracles/radon_compare.py" --radon "$ORACLES_VENV/bin/radon" --hive "$hive" --show 5 || fail "Guardian and radon disagree (above)"
log "OK: ruff and radon agree"
