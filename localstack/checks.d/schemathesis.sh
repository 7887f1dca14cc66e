#!/usr/bin/env bash
# The HTTP contract: runs schemathesis, with every check and its stateful
# phase, against GET /v1/openapi.json of a fresh `hive serve` (embedded
# ports, a temporary data directory, a free port) with a token that has every
# scope, and stops the server. First it checks that every example system
# the engine ships is valid against the document's System schema. Exits
# non-zero on any failure. schemathesis comes from the venv
# localstack/install.sh makes.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# Test cases per operation and phase come from schemathesis.toml;
# HIVE_SCHEMATHESIS_MAX_EXAMPLES overrides them for every phase.
depth=()
if [[ -n "${HIVE_SCHEMATHESIS_MAX_EXAMPLES:-}" ]]; then depth=(--max-examples "$HIVE_SCHEMATHESIS_MAX_EXAMPLES"); fi
SEED="${HIVE_SCHEMATHESIS_SEED:-1}"
CONFIG="$REPO_ROOT/localstack/checks.d/schemathesis.toml"

log() { printf '[schemathesis] %s\n' "$*" >&2; }
fail() { printf '[schemathesis] FAILED: %s\n' "$*" >&2; exit 1; }

[[ -x "$SCHEMATHESIS_VENV/bin/schemathesis" && -f "$SCHEMATHESIS_VENV/.complete" ]] \
  || fail "schemathesis $SCHEMATHESIS_VERSION is not installed at $SCHEMATHESIS_VENV; run localstack/install.sh"

log "building hive"
cargo build --quiet -p hive --manifest-path "$REPO_ROOT/Cargo.toml" || fail "cargo build -p hive failed"
hive="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/hive"

work="$(mktemp -d "${TMPDIR:-/tmp}/hive-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ -n "${HIVE_SCHEMATHESIS_KEEP:-}" ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Only the embedded ports: no HIVE_* variable from the caller reaches the server.
unset_hive=()
while IFS= read -r name; do unset_hive+=(-u "$name"); done < <(compgen -e | grep '^HIVE_' || true)
# No submission rate limit: schemathesis submits faster than any tenant may,
# and 429s would keep the stateful phase from ever reaching a study.
hive_env=(env "${unset_hive[@]}" HIVE_DATA_DIR="$work/data" HIVE_EVENTS_STREAM_FOR=1s HIVE_LOG_FORMAT=json HIVE_RATE_LIMIT_PER_MINUTE=0)

# Started directly, not through a function (whose subshell $! would name),
# so that the cleanup stops the server itself.
"${hive_env[@]}" "$hive" serve --port 0 >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
base=""
for _ in $(seq 1 120); do
  base="$(sed -n 's/^hive listening on \(http:[^ ]*\).*/\1/p' "$work/stdout")"
  [[ -n "$base" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/stderr" >&2; fail "hive serve exited"; }
  sleep 0.25
done
[[ -n "$base" ]] || { tail -20 "$work/stderr" >&2; fail "hive serve did not start in 30 s"; }
log "hive serve at $base"
# A token with every scope the document names, so each app that joins is
# tested past its 403; less HIVE_SCHEMATHESIS_EXCLUDE_SCOPES (none by default),
# to look at one app's routes at a time.
exclude="${HIVE_SCHEMATHESIS_EXCLUDE_SCOPES-}"
scopes="$("$SCHEMATHESIS_VENV/bin/python" -c '
import json, sys, urllib.request
document = json.load(urllib.request.urlopen(sys.argv[1]))
scopes = {scope for item in document["paths"].values() for operation in item.values()
          for requirement in operation.get("security", []) for scope in requirement.get("bearer", [])}
print(",".join(sorted(scopes - set(sys.argv[2].split(",")))))' "$base/v1/openapi.json" "$exclude")" \
  || fail "could not read the scopes of $base/v1/openapi.json"
[[ -n "$scopes" ]] || fail "the document names no scope"
log "token scopes: $scopes"
token="$("${hive_env[@]}" "$hive" token --tenant t --scopes "$scopes")" || fail "hive token failed"

# The schema never refuses what the parser accepts: every example system the
# engine ships (and the reference cases beside the repo, where present), and
# the studies tests' systems of every component type (which a test shows the
# API accepts), are valid against the document's System schema.
"$SCHEMATHESIS_VENV/bin/python" - "$base/v1/openapi.json" "$REPO_ROOT/functions/ecosystemiser/tests/fixtures/systems.json" \
  "$REPO_ROOT/functions/ecosystemiser-engine/examples" "$REPO_ROOT/../shared/reference" <<'PY' \
  || fail "an example system is refused by the System schema (above)"
import glob, json, sys, urllib.request
import jsonschema_rs, yaml
document = json.load(urllib.request.urlopen(sys.argv[1]))
validator = jsonschema_rs.Draft4Validator({"$ref": "#/components/schemas/System", "components": document["components"]})
systems = [(f"{sys.argv[2]}[{i}]", system) for i, system in enumerate(json.load(open(sys.argv[2])))]
systems += [(path, yaml.safe_load(open(path))) for root in sys.argv[3:] for path in sorted(glob.glob(root + "/*/*.yaml"))]
refused = 0
for name, system in systems:
    for error in list(validator.iter_errors(system))[:3]:
        refused += 1
        print(f"{name}: {'/'.join(map(str, error.instance_path))}: {error.message[:300]}", file=sys.stderr)
print(f"[schemathesis] {len(systems)} example systems checked against the System schema", file=sys.stderr)
sys.exit(1 if refused else 0)
PY

started=$SECONDS
set +e
(cd "$work" && "$SCHEMATHESIS_VENV/bin/schemathesis" --config-file "$CONFIG" run "$base/v1/openapi.json" \
  --checks all --phases examples,coverage,fuzzing,stateful \
  --header "Authorization: Bearer $token" \
  "${depth[@]}" --seed "$SEED" --workers 2 --no-color \
  --request-timeout 25)
status=$?
set -e
log "schemathesis took $((SECONDS - started)) s"
if ((status != 0)); then
  log "the server's log: $work/stderr (last lines below)"
  tail -5 "$work/stderr" >&2
  fail "schemathesis found failures (exit $status); each is above, with a curl line to reproduce it"
fi
log "OK: 0 failures against $base/v1/openapi.json"
