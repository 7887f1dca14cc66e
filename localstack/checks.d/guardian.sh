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

# The SARIF of every rule's fixtures (and a suppressed finding) is valid
# SARIF 2.1.0, with jsonschema-rs from the schemathesis venv.
schema="$REPO_ROOT/../shared/reference/sarif/sarif-schema-2.1.0.json"
if [[ -f "$schema" && -x "$SCHEMATHESIS_VENV/bin/python" ]]; then
  sarif="$(mktemp "${TMPDIR:-/tmp}/guardian-sarif.XXXXXX")"
  (cd "$REPO_ROOT" && "$hive" guardian check functions/guardian-engine/tests/fixtures functions/guardian/tests \
    --format sarif --config /dev/null >"$sarif") || [[ $? == 1 ]] || fail "hive guardian check --format sarif failed"
  "$SCHEMATHESIS_VENV/bin/python" - "$sarif" "$schema" <<'PY' || fail "the SARIF is not valid SARIF 2.1.0 (above)"
import json, sys, jsonschema_rs
log = json.load(open(sys.argv[1]))
errors = list(jsonschema_rs.validator_for(json.load(open(sys.argv[2]))).iter_errors(log))
for error in errors[:10]:
    print("/".join(map(str, error.instance_path)), error.message[:300], file=sys.stderr)
print(f"[guardian] SARIF: {len(log['runs'][0]['results'])} results, {len(errors)} schema errors", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
  rm -f "$sarif"
else
  log "skipping the SARIF schema check: $schema or the schemathesis venv is missing"
fi

if [[ ! -f "$ORACLES_VENV/.complete" ]]; then
  log "installing ruff $RUFF_VERSION and radon $RADON_VERSION into $ORACLES_VENV"
  python3 -m venv "$ORACLES_VENV" && "$ORACLES_VENV/bin/pip" install --quiet "ruff==$RUFF_VERSION" "radon==$RADON_VERSION" \
    && touch "$ORACLES_VENV/.complete" || fail "could not install the oracles"
fi
oracles="$REPO_ROOT/functions/guardian-engine/oracles"
python3 "$oracles/ruff_compare.py" --ruff "$ORACLES_VENV/bin/ruff" --hive "$hive" || fail "Guardian and ruff disagree (above)"
python3 "$oracles/radon_compare.py" --radon "$ORACLES_VENV/bin/radon" --hive "$hive" --show 5 || fail "Guardian and radon disagree (above)"
log "OK: ruff and radon agree"
