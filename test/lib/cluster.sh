# Throwaway PostgreSQL clusters for tests and the demo. Source this file.
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# postgres user; as a normal user it runs as that user. Clients connect
# through a Unix socket in the cluster directory as the superuser
# "postgres", with trust authentication (the socket is private to the
# cluster directory).
#
#   cluster_start DIR [postgresql.conf lines...]   initdb + start, exports PG*
#   cluster_stop DIR                               fast shutdown
#   cluster_log DIR                                path of the server log
#   cluster_crashed DIR                            true when a backend died by signal

PG_BINDIR=${PG_BINDIR:-$("${PG_CONFIG:-pg_config}" --bindir)}

cluster__as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cluster_log() { echo "$1/server.log"; }

cluster_start() {
  local dir=$1
  shift
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  cluster__as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres -A trust \
    --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$dir'"
    echo "port = ${PGPORT_FOR_TESTS:-54329}"
    echo "fsync = off"
    echo "log_min_messages = warning"
    # The extension's objects live in the schema tenant_backup: tests call
    # them unqualified, as an application whose search_path names that
    # schema does (docs/reference.md). CLUSTER_PLAIN_SEARCH_PATH=1 keeps
    # the server's default, where only qualified calls work.
    [ "${CLUSTER_PLAIN_SEARCH_PATH:-0}" = 1 ] || echo "search_path = '\"\$user\", public, tenant_backup'"
    for line in "$@"; do echo "$line"; done
  } | cluster__as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
    cat "$dir/server.log" >&2
    return 1
  }
  export PGHOST=$dir PGPORT=${PGPORT_FOR_TESTS:-54329} PGUSER=postgres PGDATABASE=postgres
}

cluster_restart() {
  cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 -m fast restart >/dev/null
}

cluster_stop() {
  [ -d "$1/data" ] || return 0
  cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$1/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
}

cluster_crashed() {
  grep -qE "terminated by signal|server process .* was terminated|PANIC" "$(cluster_log "$1")"
}
