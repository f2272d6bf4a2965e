#!/usr/bin/env bash
# The docker-compose.yml topology without containers, on loopback: the migration job, two
# `flask serve` replicas and nginx (deploy/nginx.conf with loopback addresses) in front of them.
#
#   deploy/local-stack.sh up              start everything; Ctrl-C (or SIGTERM) stops it all
#   deploy/local-stack.sh restart api1    drain and restart one replica of a running stack
#
# Settings (environment): DATABASE_URL (default: PostgreSQL database taskapi_local on
# 127.0.0.1, created if missing), LB_PORT (8080), API1_PORT (8001), API2_PORT (8002),
# SERVER_WORKERS (2), STACK_DIR (/tmp/taskapi-local-stack: generated config, logs, pids).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STACK_DIR="${STACK_DIR:-/tmp/taskapi-local-stack}"
LB_PORT="${LB_PORT:-8080}"
API1_PORT="${API1_PORT:-8001}"
API2_PORT="${API2_PORT:-8002}"
FLASK="${FLASK:-$ROOT/.venv/bin/flask}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export FLASK_APP=taskapi
export TASKAPI_ENV="${TASKAPI_ENV:-production}"
export JWT_SECRET_KEY="${JWT_SECRET_KEY:-local-stack-secret-$(printf 'k%.0s' {1..40})}"
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/taskapi_local}"
export SERVER_WORKERS="${SERVER_WORKERS:-2}"
export TRUSTED_PROXY=127.0.0.1
export TRUSTED_PROXY_COUNT=1

log() { printf '[local-stack] %s\n' "$*" >&2; }

port_of() { case "$1" in api1) echo "$API1_PORT" ;; api2) echo "$API2_PORT" ;; *) return 1 ;; esac; }

wait_ready() { # url, seconds
    local url="$1" deadline=$((SECONDS + $2))
    until "$PYTHON" - "$url" <<'PY' 2>/dev/null; do
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
PY
        if ((SECONDS >= deadline)); then log "$url is not ready"; return 1; fi
        sleep 0.2
    done
}

start_api() { # name
    local name="$1" port
    port="$(port_of "$name")"
    (cd "$ROOT" && exec "$FLASK" serve --host 127.0.0.1 --port "$port") \
        >>"$STACK_DIR/$name.log" 2>&1 &
    echo $! >"$STACK_DIR/$name.pid"
    wait_ready "http://127.0.0.1:$port/ready" 30
    log "$name ready on 127.0.0.1:$port (pid $(cat "$STACK_DIR/$name.pid"))"
}

stop_pid() { # pidfile: SIGTERM, then wait for the drain to finish
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

restart_api() { # name: drain (SIGTERM, wait for exit) then start again
    local name="$1" started=$SECONDS
    [[ -f "$STACK_DIR/$name.pid" ]] || { log "no running $name in $STACK_DIR"; exit 1; }
    log "draining $name"
    stop_pid "$STACK_DIR/$name.pid"
    start_api "$name"
    log "$name restarted in $((SECONDS - started))s"
}

create_database() {
    [[ "$DATABASE_URL" == postgres* ]] || return 0
    "$PYTHON" - <<'PY'
import os
import sqlalchemy as sa
from taskapi.config import normalize_database_url
url = sa.make_url(normalize_database_url(os.environ["DATABASE_URL"]))
engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    exists = connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
    if not exists:
        connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
PY
}

write_nginx_config() {
    sed -e "s/server api1:8000/server 127.0.0.1:$API1_PORT/" \
        -e "s/server api2:8000/server 127.0.0.1:$API2_PORT/" \
        -e "s/listen 80;/listen 127.0.0.1:$LB_PORT;/" \
        "$ROOT/deploy/nginx.conf" >"$STACK_DIR/site.conf"
    cat >"$STACK_DIR/nginx.conf" <<EOF
worker_processes 1;
pid $STACK_DIR/nginx.pid;
error_log $STACK_DIR/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log $STACK_DIR/nginx-access.log;
    client_body_temp_path $STACK_DIR/tmp/body;
    proxy_temp_path $STACK_DIR/tmp/proxy;
    fastcgi_temp_path $STACK_DIR/tmp/fastcgi;
    uwsgi_temp_path $STACK_DIR/tmp/uwsgi;
    scgi_temp_path $STACK_DIR/tmp/scgi;
    include $STACK_DIR/site.conf;
}
EOF
}

shutdown() {
    trap - EXIT INT TERM
    log "stopping"
    [[ -f "$STACK_DIR/nginx.pid" ]] && kill -QUIT "$(cat "$STACK_DIR/nginx.pid")" 2>/dev/null || true
    stop_pid "$STACK_DIR/api1.pid" &
    stop_pid "$STACK_DIR/api2.pid" &
    wait
    rm -rf "$STACK_DIR"
    log "stopped"
    exit 0
}

up() {
    local nginx_bin
    nginx_bin="$(command -v nginx || true)"
    [[ -n "$nginx_bin" ]] || nginx_bin=/usr/sbin/nginx
    if [[ ! -x "$nginx_bin" ]]; then
        log "nginx is not installed. On Debian/Ubuntu: apt-get update && apt-get install -y nginx"
        exit 1
    fi
    if [[ -e "$STACK_DIR/api1.pid" ]]; then
        log "$STACK_DIR is in use (another stack running?); set STACK_DIR or remove it"
        exit 1
    fi
    mkdir -p "$STACK_DIR/tmp"
    chmod 1777 "$STACK_DIR/tmp"  # nginx workers run unprivileged when started as root
    trap shutdown EXIT INT TERM
    log "migrating $DATABASE_URL"
    create_database
    (cd "$ROOT" && "$FLASK" db upgrade) >"$STACK_DIR/migrate.log" 2>&1
    start_api api1
    start_api api2
    write_nginx_config
    "$nginx_bin" -c "$STACK_DIR/nginx.conf" -g 'daemon off;' &
    echo $! >"$STACK_DIR/nginx.pid"
    wait_ready "http://127.0.0.1:$LB_PORT/ready" 10
    log "load balancer on http://127.0.0.1:$LB_PORT (replicas :$API1_PORT :$API2_PORT, logs in $STACK_DIR); Ctrl-C stops"
    while kill -0 "$(cat "$STACK_DIR/nginx.pid")" 2>/dev/null; do sleep 1; done
}

case "${1:-up}" in
    up) up ;;
    restart) restart_api "${2:?which replica: api1 or api2}" ;;
    *) echo "usage: $0 up | restart api1|api2" >&2; exit 2 ;;
esac
