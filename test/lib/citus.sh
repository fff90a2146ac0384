# A throwaway Citus cluster on this machine: a coordinator and two workers,
# three PostgreSQL servers talking over TCP on localhost. Source after
# test/lib/cluster.sh.
#
#   citus_require NAME                 builds and installs Citus into the server
#       of $PG_CONFIG (scripts/build-citus.sh, cached), or exits the test
#       with 77 (skipped) saying why: no Citus source, or a server version
#       Citus 13.2 does not support (15 to 17)
#   citus_start DIR PORT [postgresql.conf lines...]
#       coordinator on PORT (its socket in DIR/coordinator, PG* exported for
#       it), workers on PORT+1 and PORT+2; the lines go to every node
#   citus_stop DIR
#   citus_worker_psql DIR N ARGS...   psql on worker N (1 or 2)
#   citus_crashed DIR                 true when a backend of any node died by signal

citus_require() {
  local name=$1 major rc=0
  major=$("${PG_CONFIG:-pg_config}" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
  if [ "$major" -lt 15 ] || [ "$major" -gt 17 ]; then
    echo "$name: Citus 13.2 supports PostgreSQL 15 to 17, this server is $major: skipped"
    exit 77
  fi
  bash scripts/build-citus.sh || rc=$?
  [ "$rc" = 77 ] && { echo "$name: no Citus source: skipped"; exit 77; }
  [ "$rc" = 0 ] || { echo "$name: Citus could not be built"; exit 1; }
}

citus_start() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  chmod 755 "$dir"
  local conf=(
    "listen_addresses = 'localhost'"
    # Citus first, as it requires; the extension's scheduler after it.
    "shared_preload_libraries = 'citus,pg_tenant_backup'"
    # Citus commits work that touches several nodes with two-phase commit.
    "max_prepared_transactions = 20"
    "max_connections = 60"
    "citus.log_remote_commands = off"
  )
  local i
  for i in 1 2; do
    PGPORT_FOR_TESTS=$((port + i)) cluster_start "$dir/worker$i" "${conf[@]}" "$@" || return 1
    psql -qX -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus" || return 1
  done
  PGPORT_FOR_TESTS=$port cluster_start "$dir/coordinator" "${conf[@]}" "$@" || return 1
  psql -qX -v ON_ERROR_STOP=1 <<SQL || return 1
SET client_min_messages = warning;
CREATE EXTENSION citus;
SELECT citus_set_coordinator_host('localhost', $port);
SELECT citus_add_node('localhost', $((port + 1)));
SELECT citus_add_node('localhost', $((port + 2)));
SQL
  export CITUS_PORT=$port
}

citus_stop() {
  cluster_stop "$1/coordinator"
  cluster_stop "$1/worker1"
  cluster_stop "$1/worker2"
}

citus_worker_psql() {
  local dir=$1 n=$2
  shift 2
  PGHOST=$dir/worker$n PGPORT=$((CITUS_PORT + n)) psql "$@"
}

citus_crashed() {
  cluster_crashed "$1/coordinator" || cluster_crashed "$1/worker1" || cluster_crashed "$1/worker2"
}
