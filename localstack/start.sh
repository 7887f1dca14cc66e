#!/usr/bin/env bash
# Starts whatever the tests need that is not already running, and waits until
# each service answers. Idempotent: a service already up is left alone and is
# not recorded, so stop.sh never stops what someone else started.
#
# What this run started is recorded as $STATE_DIR/<service>.started (plus a
# .pid for the processes it spawns) and, if HIVE_STARTED_FILE is set, appended
# to that file so the caller (test.sh) can stop exactly those.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

record_started() {
  touch "$STATE_DIR/$1.started"
  if [[ -n "${HIVE_STARTED_FILE:-}" ]]; then echo "$1" >>"$HIVE_STARTED_FILE"; fi
}

postgres_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }
rabbitmq_ready() { port_open 127.0.0.1 5672; }
http_get() {
  if command -v curl >/dev/null 2>&1; then curl -fsS --max-time 2 "$1"
  else "$LOCALSTACK_VENV/bin/python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' "$1"
  fi
}
localstack_ready() {
  local health
  health="$(http_get "http://$LOCALSTACK_HOST:$LOCALSTACK_PORT/_localstack/health" 2>/dev/null)" || return 1
  # Both services the tests use must report available or running.
  grep -Eq '"s3": *"(available|running)"' <<<"$health" && grep -Eq '"sqs": *"(available|running)"' <<<"$health"
}
s3s_ready() { port_open 127.0.0.1 "$S3S_PORT"; }
smtp_ready() { port_open 127.0.0.1 "$SMTP_PORT"; }

start_postgres() {
  if postgres_ready; then log "PostgreSQL already running"; else
    command -v pg_ctlcluster >/dev/null || die "PostgreSQL is not running and pg_ctlcluster is missing"
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    record_started postgres
    wait_until 60 PostgreSQL postgres_ready
  fi
  # The tests share one database, `test`; each test makes its own schema in it.
  if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    log "creating database test"
    psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
  fi
}

start_redis() {
  if redis_ready; then log "Redis already running"; return; fi
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  record_started redis
  wait_until 30 Redis redis_ready
}

start_rabbitmq() {
  if rabbitmq_ready; then log "RabbitMQ already running"; return; fi
  log "starting RabbitMQ"
  rabbitmq-server -detached
  record_started rabbitmq
  wait_until 120 RabbitMQ rabbitmq_ready
}

# spawn NAME COMMAND...: runs COMMAND in its own session (its pid is its
# process group), so stop.sh can end it and its children by that one id.
spawn() {
  local name="$1"; shift
  setsid nohup "$@" >"$STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/$name.pid"
  record_started "$name"
}

start_localstack() {
  if localstack_ready; then log "LocalStack already running"; return; fi
  [[ -x "$LOCALSTACK_VENV/bin/python" ]] || die "LocalStack venv missing at $LOCALSTACK_VENV; run localstack/install.sh"
  log "starting LocalStack (log: $STATE_DIR/localstack.log)"
  mkdir -p "$STATE_DIR/localstack-volume"
  spawn localstack env \
    GATEWAY_LISTEN="$LOCALSTACK_HOST:$LOCALSTACK_PORT" \
    SERVICES=s3,sqs,sns,events \
    SQS_ENDPOINT_STRATEGY=path \
    LOCALSTACK_HOST="$LOCALSTACK_HOST:$LOCALSTACK_PORT" \
    LOCALSTACK_VOLUME_DIR="$STATE_DIR/localstack-volume" \
    DISABLE_EVENTS=1 \
    "$LOCALSTACK_VENV/bin/python" -m localstack.runtime.main
  wait_until 120 LocalStack localstack_ready
}

start_s3s() {
  if s3s_ready; then log "s3s-fs already running on :$S3S_PORT"; return; fi
  local bin="$HOME/.cargo/bin/s3s-fs"
  [[ -x "$bin" ]] || die "s3s-fs missing at $bin; run localstack/install.sh"
  mkdir -p "$STATE_DIR/s3s-data"
  log "starting s3s-fs (log: $STATE_DIR/s3s-fs.log)"
  spawn s3s-fs "$bin" --host 127.0.0.1 --port "$S3S_PORT" \
    --access-key "$S3S_ACCESS_KEY" --secret-key "$S3S_SECRET_KEY" "$STATE_DIR/s3s-data"
  wait_until 30 s3s-fs s3s_ready
}

start_smtp() {
  if smtp_ready; then log "SMTP sink already running on :$SMTP_PORT"; return; fi
  [[ -x "$SMTP_VENV/bin/python" ]] || die "aiosmtpd venv missing at $SMTP_VENV; run localstack/install.sh"
  mkdir -p "$SMTP_MAILDIR"
  log "starting the SMTP sink (log: $STATE_DIR/smtp.log, mail: $SMTP_MAILDIR)"
  spawn smtp "$SMTP_VENV/bin/python" "$REPO_ROOT/localstack/smtp_sink.py" 127.0.0.1 "$SMTP_PORT" "$SMTP_MAILDIR"
  wait_until 30 "SMTP sink" smtp_ready
}

start_postgres
start_redis
start_rabbitmq
start_localstack
start_s3s
start_smtp
