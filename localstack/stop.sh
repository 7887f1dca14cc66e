#!/usr/bin/env bash
# Stops what start.sh started, and nothing else. With arguments, stops only
# the named services (test.sh passes the ones its own run started).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_process_group() {
  local name="$1" pid_file="$STATE_DIR/$1.pid" pid
  [[ -f "$pid_file" ]] || return 0
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

stop_service() {
  local name="$1"
  [[ -f "$STATE_DIR/$name.started" ]] || return 0
  case "$name" in
    localstack | s3s-fs | smtp) stop_process_group "$name" ;;
    postgres)
      log "stopping PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main stop || true ;;
    redis) log "stopping Redis"; redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
    rabbitmq) log "stopping RabbitMQ"; rabbitmqctl stop >/dev/null 2>&1 || true ;;
    *) log "unknown service $name" ;;
  esac
  rm -f "$STATE_DIR/$name.started"
}

if (($# > 0)); then services=("$@"); else services=(smtp s3s-fs localstack rabbitmq redis postgres); fi
for service in "${services[@]}"; do stop_service "$service"; done
