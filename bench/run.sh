#!/usr/bin/env bash
# pg_tenant_backup benchmark: one run, side by side on the same rows, on a
# throwaway cluster. Prints a table (time, ratio to COPY, MB/s, backend
# memory, output size) and writes it as CSV.
#
#   ROWS=1000000 bash bench/run.sh            # the measured tenant's rows
#   ROWS=20000 CSV=/tmp/smoke.csv bash bench/run.sh   # CI smoke size
#   ROWS=5000000 SKIP_IMPORT=1 bash bench/run.sh      # export side only (memory at 5M rows)
#
# Memory is the backend's anonymous resident memory (RssAnon in
# /proc/PID/status: palloc and C++ heap, not shared buffers), sampled every
# 20 ms: "peak" is the highest sample, "growth" the peak minus the first.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

ROWS=${ROWS:-1000000}
TENANTS=${TENANTS:-10}
OTHER_ROWS=${OTHER_ROWS:-$((ROWS / 20))}
CSV=${CSV:-bench/results.csv}
work=$(mktemp -d /tmp/ptb-bench.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-54360} cluster_start "$work/cluster" \
  "shared_buffers = 1GB" "work_mem = ${BENCH_WORK_MEM:-64MB}" "maintenance_work_mem = 256MB" "max_wal_size = 8GB" \
  "checkpoint_timeout = 30min"
out="$work/out"
mkdir -p "$out"
[ "$(id -u)" = 0 ] && chown postgres: "$out"

echo "== dataset: tenant 1 has $ROWS rows, $((TENANTS - 1)) other tenants $OTHER_ROWS rows each"
t0=$(date +%s.%N)
psql -qX -v ON_ERROR_STOP=1 -v rows="$ROWS" -v tenants="$TENANTS" -v other_rows="$OTHER_ROWS" \
  -c "CREATE EXTENSION pg_tenant_backup" -f bench/dataset.sql
echo "   loaded in $(echo "$(date +%s.%N) - $t0" | bc) s"
# Tenant 1's rows alone, for pg_dump (which cannot filter rows).
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
CREATE SCHEMA tenant1_copy;
CREATE TABLE tenant1_copy.accounts AS SELECT * FROM accounts WHERE tenant_id = 1;
CREATE TABLE tenant1_copy.orders AS SELECT o.* FROM orders o JOIN accounts a ON a.id = o.account_id WHERE a.tenant_id = 1;
CREATE TABLE tenant1_copy.order_items AS SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id JOIN accounts a ON a.id = o.account_id WHERE a.tenant_id = 1;
-- The copy has the tenant column but no key, outside the scanned schema:
-- snapshots would refuse it (docs/tenancy.md); it is the bench's, not the tenant's.
ALTER DATABASE postgres SET pg_tenant_backup.exclude_tables =
  'audit_logs, backup_logs, tenant1_copy.accounts, tenant1_copy.orders, tenant1_copy.order_items';
CHECKPOINT;
SQL

declare -a names times peaks growths sizes
measure() {  # name sql [output file for size]
  local name=$1 sql=$2 file=${3:-} pid="" peak=0 base="" anon start end
  # ONLY: a regular expression of the operations to run (copy_to is needed
  # by copy_from), e.g. for a memory run at 5M rows without the jsonb ones.
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  start=$(date +%s.%N)
  psql -qXAt -v ON_ERROR_STOP=1 -c "SELECT pg_backend_pid()" -c "$sql" >"$work/$name.log" 2>&1 &
  local client=$!
  while kill -0 "$client" 2>/dev/null; do
    [ -n "$pid" ] || pid=$(head -n 1 "$work/$name.log" 2>/dev/null | grep -E '^[0-9]+$' || true)
    if [ -n "$pid" ] && anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$anon" ]; then
      [ -n "$base" ] || base=$anon
      [ "$anon" -gt "$peak" ] && peak=$anon
    fi
    sleep 0.02
  done
  if ! wait "$client"; then
    echo "   $name failed: $(grep -m1 ERROR "$work/$name.log")"
    return 0
  fi
  end=$(date +%s.%N)
  names+=("$name")
  times+=("$(echo "$end - $start" | bc)")
  peaks+=("$(echo "scale=1; $peak / 1024" | bc)")
  growths+=("$(echo "scale=1; ($peak - ${base:-0}) / 1024" | bc)")
  if [ -n "$file" ]; then sizes+=("$(du -cb $file | tail -n 1 | cut -f1)"); else sizes+=(""); fi
  echo "   $name: ${times[-1]} s, peak ${peaks[-1]} MB (+${growths[-1]} MB)"
}

in_tenant_orders="account_id IN (SELECT id FROM accounts WHERE tenant_id = 1)"
in_tenant_items="order_id IN (SELECT o.id FROM orders o JOIN accounts a ON a.id = o.account_id WHERE a.tenant_id = 1)"
storage="$work/cluster/data/pg_tenant_backup"

echo "== export side"
measure copy_to "COPY (SELECT * FROM accounts WHERE tenant_id = 1) TO '$out/accounts.copy';
  COPY (SELECT * FROM orders WHERE $in_tenant_orders) TO '$out/orders.copy';
  COPY (SELECT * FROM order_items WHERE $in_tenant_items) TO '$out/items.copy'" "$out/*.copy"
# The same COPY text through zstd at the snapshots' level (one process per
# table, as COPY TO PROGRAM runs it): the size a snapshot file is held to.
ZSTD_LEVEL=${ZSTD_LEVEL:-1}
measure copy_to_zstd "COPY (SELECT * FROM accounts WHERE tenant_id = 1) TO PROGRAM 'zstd -q -$ZSTD_LEVEL -o $out/accounts.copy.zst';
  COPY (SELECT * FROM orders WHERE $in_tenant_orders) TO PROGRAM 'zstd -q -$ZSTD_LEVEL -o $out/orders.copy.zst';
  COPY (SELECT * FROM order_items WHERE $in_tenant_items) TO PROGRAM 'zstd -q -$ZSTD_LEVEL -o $out/items.copy.zst'" "$out/*.copy.zst"
measure json_agg "COPY (SELECT json_agg(t) FROM (SELECT * FROM accounts WHERE tenant_id = 1) t) TO '$out/accounts.json';
  COPY (SELECT json_agg(t) FROM (SELECT * FROM orders WHERE $in_tenant_orders) t) TO '$out/orders.json';
  COPY (SELECT json_agg(t) FROM (SELECT * FROM order_items WHERE $in_tenant_items) t) TO '$out/items.json'" "$out/*.json"
measure backup_export "SELECT backup_export('1') IS NOT NULL"
measure backup_create_zstd "SELECT backup_create('1', '{\"compression\": \"zstd\", \"verify_after_backup\": false}')" "$storage/*/*.zst"
rm -f "$storage"/*/*.json*  # the files, not the database folder and its DATABASE file
measure backup_create_zstd_verified "SELECT backup_create('1', '{\"compression\": \"zstd\"}')" "$storage/*/*.zst"
rm -f "$storage"/*/*.json*  # the files, not the database folder and its DATABASE file
measure backup_create_none "SELECT backup_create('1', '{\"compression\": \"none\", \"verify_after_backup\": false}')" "$storage/*/*.json"
if [ -z "${ONLY:-}" ] || [[ pg_dump_custom =~ $ONLY ]]; then
  t0=$(date +%s.%N)
  "$PG_BINDIR/pg_dump" -Fc -n tenant1_copy -f "$out/tenant1.dump" postgres
  names+=(pg_dump_custom); times+=("$(echo "$(date +%s.%N) - $t0" | bc)"); peaks+=(""); growths+=("")
  sizes+=("$(stat -c %s "$out/tenant1.dump")")
  echo "   pg_dump_custom: ${times[-1]} s"
fi

# SKIP_IMPORT=1: the export side only.
if [ "${SKIP_IMPORT:-0}" != 1 ]; then
  echo "== import side (tenant 1's rows deleted before each load)"
  delete_tenant1="SET session_replication_role = replica;
    DELETE FROM order_items WHERE $in_tenant_items; DELETE FROM orders WHERE $in_tenant_orders;
    DELETE FROM accounts WHERE tenant_id = 1; RESET session_replication_role; CHECKPOINT"
  snapshot=$(psql -qXAt -c "SELECT backup_create('1', '{\"compression\": \"zstd\", \"verify_after_backup\": false}')")
  psql -qX -c "$delete_tenant1"
  measure copy_from "COPY accounts FROM '$out/accounts.copy'; COPY orders FROM '$out/orders.copy'; COPY order_items FROM '$out/items.copy'"
  psql -qX -c "$delete_tenant1"
  measure import_replace "SELECT backup_import_stored($snapshot, 'replace') -> 'totals'"
  measure import_merge_unchanged "SELECT backup_import_stored($snapshot, 'merge') -> 'totals'"
  psql -qX -c "UPDATE order_items SET qty = qty + 1 WHERE $in_tenant_items AND id % 10 = 0"
  measure import_merge_10pct "SELECT backup_import_stored($snapshot, 'merge') -> 'totals'"
  # The full replace a merge saves: the same 10% changed again, then the
  # tenant replaced (every row staged, the changed ones updated).
  psql -qX -c "UPDATE order_items SET qty = qty + 1 WHERE $in_tenant_items AND id % 10 = 0"
  measure import_replace_10pct "SELECT backup_import_stored($snapshot, 'replace') -> 'totals'"
  # The same document as one jsonb value (backup_read), as an application
  # holding a snapshot in memory would pass it: memory grows with the tenant.
  psql -qX -c "$delete_tenant1"
  measure import_jsonb_replace "SELECT backup_import(backup_read($snapshot), 'replace') -> 'totals'"
  psql -qX -c "$delete_tenant1"
  measure backup_restore "SET pg_tenant_backup.allow_restore = on; SELECT backup_restore($snapshot) -> 'totals'"
fi

# The table: ratios against COPY TO of the same rows (export side) and
# COPY FROM (import side); sizes of zstd files against COPY TO | zstd.
copy_time=${times[0]}
data_mb=$(echo "scale=3; ${sizes[0]} / 1048576" | bc)
{
  echo "operation,rows,seconds,ratio_to_copy,mb_per_s,peak_anon_mb,anon_growth_mb,output_bytes,size_to_copy_zstd"
  copy_from_time=$copy_time
  copy_zstd_size=""
  for i in "${!names[@]}"; do [ "${names[$i]}" = copy_from ] && copy_from_time=${times[$i]}; done
  for i in "${!names[@]}"; do [ "${names[$i]}" = copy_to_zstd ] && copy_zstd_size=${sizes[$i]}; done
  for i in "${!names[@]}"; do
    size_ratio=""
    case "${names[$i]}" in copy_to_zstd|backup_create_zstd*)
      [ -n "$copy_zstd_size" ] && [ -n "${sizes[$i]}" ] && size_ratio=$(echo "scale=3; ${sizes[$i]} / $copy_zstd_size" | bc) ;;
    esac
    base=$copy_time
    case "${names[$i]}" in copy_from|import_*|backup_restore) base=$copy_from_time ;; esac
    ratio=$(echo "scale=2; ${times[$i]} / $base" | bc)
    mbps=$(echo "scale=1; $data_mb / ${times[$i]}" | bc)
    echo "${names[$i]},$ROWS,${times[$i]},$ratio,$mbps,${peaks[$i]},${growths[$i]},${sizes[$i]},$size_ratio"
  done
} >"$CSV"
echo
echo "== results ($ROWS rows; ratio: export side to copy_to, import side to copy_from; MB/s counts the COPY text size, $data_mb MB)"
column -s, -t <"$CSV"
# The targets of docs/performance.md: backup_create with its default
# verification against COPY TO, and its file against COPY TO | zstd.
target() { awk -F, -v op="$1" -v col="$2" '$1 == op {print $col}' "$CSV"; }
if [ -n "$(target backup_create_zstd_verified 4)" ]; then
  echo "backup_create (default verification) time / copy_to: $(target backup_create_zstd_verified 4)"
fi
if [ -n "$(target backup_create_zstd 9)" ]; then
  echo "backup_create zstd file size / copy_to | zstd -$ZSTD_LEVEL: $(target backup_create_zstd 9)"
fi
# The merge of 10% changes against the replace into the emptied tenant,
# and against the replace of the same tenant with the same changes.
if [ -n "$(target import_merge_10pct 3)" ]; then
  for replace in import_replace import_replace_10pct; do
    [ -n "$(target $replace 3)" ] &&
      echo "merge of 10% changed / $replace: $(echo "scale=2; $(target import_merge_10pct 3) / $(target $replace 3)" | bc)"
  done
fi
cluster_crashed "$work/cluster" && { echo "a backend crashed"; exit 1; }
echo "CSV written to $CSV"
