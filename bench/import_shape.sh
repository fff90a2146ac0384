#!/usr/bin/env bash
# Restore speed on the simplest real shape: one table with a primary key and
# a tenant index, four tenants of ROWS rows each (2.4M rows at the default).
# Side by side in one run on the same rows: COPY FROM of tenant 1's rows
# into the emptied tenant, and the import paths that restore them.
#
#   bash bench/import_shape.sh                 # 600,000 rows per tenant, best of RUNS=2
#   ROWS=50000 RUNS=1 bash bench/import_shape.sh
#
# Each measurement starts from the same state: tenant 1's rows deleted (or,
# for the merge, all there with 10% of them changed), vacuumed, checkpointed.
# The figure is the best of RUNS runs of each.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

ROWS=${ROWS:-600000}
RUNS=${RUNS:-2}
CSV=${CSV:-bench/results-import-shape.csv}
work=$(mktemp -d /tmp/ptb-shape.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-54370} cluster_start "$work/cluster" \
  "shared_buffers = 1GB" "work_mem = ${BENCH_WORK_MEM:-64MB}" "maintenance_work_mem = 256MB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min" >/dev/null
out="$work/out"
mkdir -p "$out"
[ "$(id -u)" = 0 ] && chown postgres: "$out"

echo "== dataset: 4 tenants of $ROWS rows in one table (primary key, tenant index)"
psql -qX -v ON_ERROR_STOP=1 -v rows="$ROWS" <<'SQL'
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE events (
  id bigint PRIMARY KEY,
  tenant_id int NOT NULL,
  kind text NOT NULL,
  amount numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL,
  payload jsonb
);
CREATE INDEX ON events (tenant_id);
-- Tenants interleaved by id, as rows of a busy service arrive.
INSERT INTO events
SELECT g, 1 + g % 4, 'kind ' || (g % 17), (g % 100000) / 100.0,
       timestamptz '2026-01-01' + g * interval '1 second',
       CASE WHEN g % 3 = 0 THEN NULL ELSE jsonb_build_object('n', g, 'ok', g % 2 = 0) END
  FROM generate_series(0, 4 * :rows - 1) g;
ALTER DATABASE postgres SET pg_tenant_backup.tenant_column = 'tenant_id';
VACUUM ANALYZE events;
CHECKPOINT;
SQL

snapshot=$(psql -qXAt -c "SELECT tenant_backup.backup_create('1', '{\"verify_after_backup\": false}')")
psql -qX -c "COPY (SELECT * FROM events WHERE tenant_id = 1) TO '$out/events.copy'"
emptied="DELETE FROM events WHERE tenant_id = 1; VACUUM events; CHECKPOINT"
changed="UPDATE events SET amount = amount + 1 WHERE tenant_id = 1 AND id % 40 < 4; VACUUM events; CHECKPOINT"

declare -A best
measure() {  # name setup sql: the best of RUNS runs of sql, each after setup
  local name=$1 setup=$2 sql=$3 start end s
  for _ in $(seq "$RUNS"); do
    psql -qX -v ON_ERROR_STOP=1 <<<"$setup" >/dev/null
    start=$(date +%s.%N)
    psql -qXAt -v ON_ERROR_STOP=1 -c "$sql" >"$work/$name.log"
    end=$(date +%s.%N)
    s=$(echo "$end - $start" | bc)
    echo "   $name: $s s"
    if [ -z "${best[$name]:-}" ] || [ "$(echo "$s < ${best[$name]}" | bc)" = 1 ]; then best[$name]=$s; fi
  done
}
restore="SET pg_tenant_backup.allow_restore = on; SELECT tenant_backup.backup_restore($snapshot) -> 'totals'"
# The restored rows must be the snapshot's: the same count as COPY wrote.
expect=$(wc -l <"$out/events.copy")
check_rows() {
  local n
  n=$(psql -qXAt -c "SELECT count(*) FROM events WHERE tenant_id = 1")
  [ "$n" = "$expect" ] || { echo "tenant 1 has $n rows after $1, expected $expect"; exit 1; }
}

echo "== import side (tenant 1 emptied before each run)"
measure copy_from "$emptied" "COPY events FROM '$out/events.copy'"
check_rows copy_from
measure import_stored_replace "$emptied" "SELECT tenant_backup.backup_import_stored($snapshot, 'replace') -> 'totals'"
check_rows import_stored_replace
measure import_jsonb_replace "$emptied" \
  "SELECT tenant_backup.backup_import(tenant_backup.backup_read($snapshot), 'replace') -> 'totals'"
check_rows import_jsonb_replace
measure backup_restore "$emptied" "$restore"
check_rows backup_restore
echo "== merge and replace over the tenant's rows, 10% of them changed"
measure merge_10pct "$changed" "SELECT tenant_backup.backup_import_stored($snapshot, 'merge') -> 'totals'"
grep -q '"updated": *'"$((expect / 10))" "$work/merge_10pct.log" ||
  { echo "merge_10pct did not update $((expect / 10)) rows: $(cat "$work/merge_10pct.log")"; exit 1; }
measure replace_10pct "$changed" "SELECT tenant_backup.backup_import_stored($snapshot, 'replace') -> 'totals'"
echo "== the same replace, planned from statistics taken while tenant 1 had no rows"
# (docs/performance.md, "A plan from stale statistics": it once ran for
# minutes.) The tenant's rows are put back after ANALYZE saw none.
stale="ALTER TABLE events SET (autovacuum_enabled = off);
CREATE TEMP TABLE kept AS SELECT * FROM events WHERE tenant_id = 1;
DELETE FROM events WHERE tenant_id = 1; ANALYZE events;
INSERT INTO events SELECT * FROM kept; DROP TABLE kept;
UPDATE events SET amount = amount + 1 WHERE tenant_id = 1 AND id % 40 < 4;
CHECKPOINT"
measure replace_stale_stats "$stale" \
  "SET statement_timeout = '10min'; SELECT tenant_backup.backup_import_stored($snapshot, 'replace') -> 'totals'"
check_rows replace_stale_stats

cluster_crashed "$work/cluster" && { echo "a backend crashed"; exit 1; }
{
  echo "operation,rows,seconds,ratio"
  for name in copy_from import_stored_replace import_jsonb_replace backup_restore merge_10pct replace_10pct \
              replace_stale_stats; do
    base=${best[copy_from]}
    case $name in merge_10pct) base=${best[import_stored_replace]} ;; esac
    echo "$name,$ROWS,${best[$name]},$(echo "scale=2; ${best[$name]} / $base" | bc)"
  done
} >"$CSV"
echo
echo "== best of $RUNS ($ROWS rows of tenant 1; ratio: to copy_from, merge_10pct to import_stored_replace)"
column -s, -t <"$CSV"
echo "CSV written to $CSV"
