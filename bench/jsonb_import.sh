#!/usr/bin/env bash
# Where backup_import(backup_read(id)) spends the time backup_import_stored
# does not: on bench/dataset.sql, tenant 1 of ROWS rows, each step timed
# alone. The tenant's rows are deleted, vacuumed and analyzed before each
# import, so every import starts from the same state.
#   ROWS=1000000 bash bench/jsonb_import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
ROWS=${ROWS:-1000000}
work=$(mktemp -d /tmp/ptb-jsonb-import.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-54364} cluster_start "$work/cluster" \
  "shared_buffers = 1GB" "work_mem = 64MB" "maintenance_work_mem = 256MB" "max_wal_size = 8GB" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -v rows="$ROWS" -v tenants=10 -v other_rows=$((ROWS / 20)) \
  -c "CREATE EXTENSION pg_tenant_backup" -f bench/dataset.sql >/dev/null
id=$(psql -qXAt -c "SELECT backup_create('1', '{\"compression\": \"zstd\", \"verify_after_backup\": false}')")
delete_tenant1="SET session_replication_role = replica;
  DELETE FROM order_items i USING orders o, accounts a WHERE i.order_id = o.id AND o.account_id = a.id AND a.tenant_id = 1;
  DELETE FROM orders o USING accounts a WHERE o.account_id = a.id AND a.tenant_id = 1;
  DELETE FROM accounts WHERE tenant_id = 1; RESET session_replication_role"
emptied() { psql -qX -c "$delete_tenant1" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null; }
timed() {  # name sql
  local t0
  t0=$(date +%s.%N)
  psql -qXAt -v ON_ERROR_STOP=1 -c "$2" >/dev/null
  printf '%-52s %6.2f s\n' "$1" "$(echo "$(date +%s.%N) - $t0" | bc)"
}
echo "== tenant 1: $ROWS rows, snapshot $id"
timed "backup_read: the file as one jsonb value" "SELECT backup_read($id) IS NOT NULL"
psql -qX -c "CREATE TABLE doc AS SELECT backup_read($id) AS d"
timed "that value written out as text (jsonb_out)" "SELECT pg_catalog.length(d::text) FROM doc"
emptied
timed "backup_import_stored replace" "SELECT backup_import_stored($id, 'replace') -> 'totals'"
emptied
timed "backup_import of the value, held in a table" "SELECT backup_import(d, 'replace') -> 'totals' FROM doc"
emptied
timed "backup_import(backup_read(id)) replace" "SELECT backup_import(backup_read($id), 'replace') -> 'totals'"
