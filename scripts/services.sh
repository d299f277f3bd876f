#!/usr/bin/env bash
# Local services for development, tests, CI and the demo (SPEC §9):
#   PostgreSQL on 127.0.0.1:5432 (role postgres / password postgres; databases crm, ferretdb)
#   Redis      on 127.0.0.1:6379
#   FerretDB   on 127.0.0.1:27017 (v1.24.2, PostgreSQL handler, built from the Go module proxy)
#
# Usage: scripts/services.sh up|down|status|stop postgres|redis|ferretdb
# `up` installs what is missing and starts what is not running; it is idempotent and
# returns in about a second when everything already runs. All data lives in .data/.
# `stop SERVICE` stops one service (Redis saves its data first, as a restart would keep
# it); `up` starts it again. SERVICES_PG_PORT, SERVICES_REDIS_PORT, SERVICES_FERRET_PORT
# and CRM_NOTES_DATA_DIR run a second, private stack (the fault tests do).
#
# SERVICES_BIND=127.0.0.1,10.1.2.3 makes every service listen on these addresses too (for
# workers on other machines, docs/SCALING.md); loopback is always one of them. PostgreSQL
# then accepts password logins from SERVICES_PG_ALLOW (a CIDR; default samenet). Both
# take effect when a service starts: `down` then `up` to change them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${CRM_NOTES_DATA_DIR:-$ROOT/.data}"
PG_PORT="${SERVICES_PG_PORT:-5432}"
REDIS_PORT="${SERVICES_REDIS_PORT:-6379}"
FERRET_PORT="${SERVICES_FERRET_PORT:-27017}"
FERRET_BIN="$ROOT/ferretdb/bin/ferretdb"
BIND="127.0.0.1"
BIND_ASKED="${SERVICES_BIND:-127.0.0.1}"
for addr in ${BIND_ASKED//,/ }; do
  [ "$addr" = 127.0.0.1 ] || BIND="$BIND,$addr"
done
PG_ALLOW="${SERVICES_PG_ALLOW:-samenet}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name, seconds, command...
  local name=$1 secs=$2; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$name did not answer within ${secs}s (logs in $DATA)"
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && echo "$d"
}

pg_ok() { PGPASSWORD=postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; }

ensure_packages() {
  local missing=()
  [ -n "$(pg_bindir)" ] && command -v psql >/dev/null || missing+=(postgresql postgresql-client)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server redis-tools)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
    # Debian's package may start its default cluster on our port; we run our own in .data/.
    if command -v pg_lsclusters >/dev/null; then
      pg_lsclusters --no-header 2>/dev/null | awk -v p="$PG_PORT" '$3 == p && $4 == "online" {print $1, $2}' |
        while read -r ver name; do
          log "stopping Debian's default cluster $ver/$name that the install started on port $PG_PORT"
          pg_ctlcluster "$ver" "$name" stop || true
          echo manual >"/etc/postgresql/$ver/$name/start.conf" 2>/dev/null || true
        done
    fi
  fi
}

# PostgreSQL refuses to run as root, and the postgres user may not be able to reach a
# checkout under a private folder (a CI clone in a mode-700 temp dir): then the cluster
# lives under /var/lib/postgresql and .data/postgres is a link to it.
pg_datadir() {
  if [ -L "$DATA/postgres" ] || { [ ! -e "$DATA/postgres" ] && ! su postgres -s /bin/sh -c "test -w '$DATA'" 2>/dev/null; }; then
    if [ ! -e "$DATA/postgres" ]; then
      local alt="/var/lib/postgresql/crm-notes-migration-$(printf '%s' "$DATA" | cksum | cut -d' ' -f1)"
      mkdir -p "$alt"; chown postgres:postgres "$alt"; chmod 700 "$alt"
      ln -s "$alt" "$DATA/postgres"
    fi
    readlink -f "$DATA/postgres"
  else
    echo "$DATA/postgres"
  fi
}

postgres_up() {
  if pg_ok; then return 0; fi
  if port_open "$PG_PORT"; then
    die "port $PG_PORT is held by something that is not a PostgreSQL accepting postgres/postgres; stop it or free the port"
  fi
  local bin pgdata
  bin=$(pg_bindir)
  mkdir -p "$DATA"
  pgdata=$(pg_datadir)
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    log "initialising PostgreSQL in $pgdata"
    mkdir -p "$pgdata"
    chown postgres:postgres "$pgdata"; chmod 700 "$pgdata"
    local pw; pw=$(mktemp); echo postgres >"$pw"; chown postgres "$pw"
    su postgres -s /bin/sh -c "cd / && '$bin/initdb' -D '$pgdata' -U postgres --pwfile='$pw' -A scram-sha-256 -E UTF8 --locale=C.UTF-8" >/dev/null
    rm -f "$pw"
    cat >>"$pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pgdata'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
max_connections = 200
CONF
  fi
  pg_bind "$pgdata"
  log "starting PostgreSQL"
  su postgres -s /bin/sh -c "cd / && '$bin/pg_ctl' -D '$pgdata' -l '$pgdata/server.log' -w -t 60 start" >/dev/null
  wait_for PostgreSQL 60 pg_ok
}

# listen_addresses from SERVICES_BIND, and password logins from SERVICES_PG_ALLOW when
# it listens beyond loopback (the line marked "services.sh bind" is rewritten each start).
pg_bind() {
  local pgdata=$1
  sed -i "s/^listen_addresses = .*/listen_addresses = '$BIND'/" "$pgdata/postgresql.conf"
  sed -i '/# services.sh bind$/d' "$pgdata/pg_hba.conf"
  if [ "$BIND" != 127.0.0.1 ]; then
    echo "host all all $PG_ALLOW scram-sha-256 # services.sh bind" >>"$pgdata/pg_hba.conf"
  fi
}

postgres_databases() {
  local db
  for db in crm ferretdb; do
    if [ "$(PGPASSWORD=postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname='$db'")" != 1 ]; then
      PGPASSWORD=postgres psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "create database $db" >/dev/null
    fi
  done
}

redis_ok() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_up() {
  if redis_ok; then return 0; fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is held by something that is not Redis"
  mkdir -p "$DATA/redis"
  log "starting Redis"
  # Protected mode refuses every non-loopback client of a Redis without password: the
  # SERVICES_BIND addresses are the ones meant to be reached (a private network).
  local protected=yes; [ "$BIND" = 127.0.0.1 ] || protected=no
  redis-server --bind ${BIND//,/ } --protected-mode $protected --port "$REDIS_PORT" --dir "$DATA/redis" --daemonize yes \
    --logfile "$DATA/redis/redis.log" --pidfile "$DATA/redis/redis.pid" --save "" --appendonly no >/dev/null
  wait_for Redis 30 redis_ok
}

ferret_ok() {
  [ -x "$ROOT/.venv/bin/python" ] || { port_open "$FERRET_PORT"; return; }
  "$ROOT/.venv/bin/python" - "$FERRET_PORT" <<'PY'
import sys, pymongo
c = pymongo.MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/", serverSelectionTimeoutMS=800)
c.admin.command("ping")
PY
}

ferret_build() {
  if [ -x "$FERRET_BIN" ] && [ "$FERRET_BIN" -nt "$ROOT/ferretdb/main.go" ]; then return 0; fi
  command -v go >/dev/null || die "Go is needed to build FerretDB (ferretdb/); install Go 1.22+"
  log "building FerretDB v1.24.2 (first time only, about a minute)"
  (cd "$ROOT/ferretdb" && GOFLAGS=-mod=mod go build -o bin/ferretdb .)
}

ferret_up() {
  ferret_build  # always: tests start private FerretDB instances from this binary
  if port_open "$FERRET_PORT"; then
    ferret_ok && return 0
    die "port $FERRET_PORT is held by something that does not speak the MongoDB protocol"
  fi
  mkdir -p "$DATA/ferretdb"
  log "starting FerretDB"
  nohup "$FERRET_BIN" -handler postgresql \
    -postgresql-url "postgres://postgres:postgres@127.0.0.1:$PG_PORT/ferretdb" \
    -listen-addr "$(printf '%s' "$BIND" | sed "s/\([^,]*\)/\1:$FERRET_PORT/g")" >"$DATA/ferretdb/ferretdb.log" 2>&1 &
  echo $! >"$DATA/ferretdb/ferretdb.pid"
  wait_for FerretDB 60 port_open "$FERRET_PORT"
}

up() {
  ensure_packages
  postgres_up
  postgres_databases
  redis_up
  ferret_up
  log "up: PostgreSQL 127.0.0.1:$PG_PORT, Redis 127.0.0.1:$REDIS_PORT, FerretDB 127.0.0.1:$FERRET_PORT (listening on $BIND)"
}

down() {
  if [ -f "$DATA/ferretdb/ferretdb.pid" ]; then
    kill "$(cat "$DATA/ferretdb/ferretdb.pid")" 2>/dev/null || true
    rm -f "$DATA/ferretdb/ferretdb.pid"
  fi
  if [ -f "$DATA/redis/redis.pid" ]; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  local bin; bin=$(pg_bindir || true)
  if [ -n "$bin" ] && [ -f "$DATA/postgres/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "cd / && '$bin/pg_ctl' -D '$(readlink -f "$DATA/postgres")' -m fast -w stop" >/dev/null || true
  fi
  log "down"
}

stop_one() {
  case "${1:-}" in
    postgres)
      local bin; bin=$(pg_bindir || true)
      if [ -n "$bin" ] && [ -f "$DATA/postgres/postmaster.pid" ]; then
        su postgres -s /bin/sh -c "cd / && '$bin/pg_ctl' -D '$(readlink -f "$DATA/postgres")' -m fast -w stop" >/dev/null
      fi ;;
    redis)
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown save >/dev/null 2>&1 || true
      local i; for ((i = 0; i < 100; i++)); do port_open "$REDIS_PORT" || break; sleep 0.1; done ;;
    ferretdb)
      if [ -f "$DATA/ferretdb/ferretdb.pid" ]; then
        local pid; pid=$(cat "$DATA/ferretdb/ferretdb.pid")
        kill "$pid" 2>/dev/null || true
        local i; for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$DATA/ferretdb/ferretdb.pid"
      fi ;;
    *) die "stop what? postgres, redis or ferretdb" ;;
  esac
  log "stopped $1"
}

status() {
  local rc=0
  if pg_ok; then echo "postgresql: up (127.0.0.1:$PG_PORT)"; else echo "postgresql: down"; rc=1; fi
  if command -v redis-cli >/dev/null && redis_ok; then echo "redis: up (127.0.0.1:$REDIS_PORT)"; else echo "redis: down"; rc=1; fi
  if port_open "$FERRET_PORT" && ferret_ok; then echo "ferretdb: up (127.0.0.1:$FERRET_PORT)"; else echo "ferretdb: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  stop) stop_one "${2:-}" ;;
  *) echo "usage: $0 up|down|status|stop postgres|redis|ferretdb" >&2; exit 2 ;;
esac
