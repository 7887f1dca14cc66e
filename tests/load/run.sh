#!/usr/bin/env bash
# Load test: starts `hive serve` on 127.0.0.1 (a free port, a fresh data
# directory, no environment: SQLite, files, the in-process bus), mints a
# token, runs the studies-load binary against it, and stops the server.
# Usage: tests/load/run.sh [REQUESTS=600] [CONCURRENCY=16] [MAX_SECONDS=60]
# Builds in release (the numbers mean little in debug); set PROFILE=dev to skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
profile="${PROFILE:-release}"
cargo build --profile "$profile" -p hive -p tests --bin hive --bin studies-load
dir="target/$([[ $profile == dev ]] && echo debug || echo "$profile")"
data="$(mktemp -d)"
log="$data/serve.log"
# Rate limits off: this measures throughput, not throttling.
env -i PATH="$PATH" HOME="$HOME" HIVE_DATA_DIR="$data" HIVE_RATE_LIMIT_PER_MINUTE=0 RUST_LOG=warn "$dir/hive" serve --port 0 >"$data/stdout" 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  base="$(sed -n 's/^hive listening on //p' "$data/stdout")"
  [[ -n "$base" ]] && break
  sleep 0.1
done
[[ -n "${base:-}" ]] || { cat "$log"; echo "hive serve did not start" >&2; exit 1; }
token="$(env -i PATH="$PATH" HIVE_DATA_DIR="$data" "$dir/hive" token --tenant load --scopes studies:read,studies:write --ttl 10m)"
"$dir/studies-load" "$base" "$token" "${1:-600}" "${2:-16}" "${3:-60}"
