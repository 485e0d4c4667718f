# Sourced by scripts/test and bench/run: a throwaway PostgreSQL cluster.
#
# start_postgres installs the Debian package 'postgresql' if no server binaries
# are found, then runs initdb and pg_ctl as an unprivileged user (initdb refuses
# root) in a temporary directory on a free loopback port, and sets
# POSTGRES_URL to a superuser URL. POSTGRES_EXTRA_OPTIONS adds server settings.
# stop_postgres stops the cluster and removes its directory.

log() { printf '\n== %s\n' "$*" >&2; }

find_pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return
  fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

start_postgres() {
  local pg_bin
  pg_bin=$(find_pg_bin || true)
  if [ -z "$pg_bin" ]; then
    log "PostgreSQL server binaries not found: installing the Debian package 'postgresql'"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(find_pg_bin || true)
    [ -n "$pg_bin" ] || { echo "PostgreSQL installation failed: no initdb found." >&2; exit 1; }
    log "Installed $("$pg_bin/postgres" --version)"
  fi

  # initdb refuses to run as root: run the cluster as an unprivileged user.
  local run_as=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    run_as=(runuser -u postgres --)
  fi

  PG_DIR=$(mktemp -d /tmp/wharf-test-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)

  log "Starting a throwaway PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$port"
  "${run_as[@]}" "$pg_bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --no-locale -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 ${POSTGRES_EXTRA_OPTIONS:-}" \
    start >/dev/null || { cat "$PG_DIR/server.log" >&2; exit 1; }
  STOP_CMD=("${run_as[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
  "${STOP_CMD[@]}" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}

