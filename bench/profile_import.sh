#!/usr/bin/env bash
# Where an import's time goes: one backup_import_stored 'replace' of tenant
# 1 (its rows deleted first) on the bench dataset, with auto_explain logging
# every nested statement over MIN_MS with its actual times. Prints the
# statements, slowest first, and their plans' top lines.
#   ROWS=200000 bash bench/profile_import.sh
# MODE=merge profiles run.sh's merge instead: the tenant loaded back, 10% of
# its items changed, then a 'merge' of the snapshot.
#   MODE=merge ROWS=1000000 WORK_MEM=4MB bash bench/profile_import.sh
# PERF=1: perf samples the backend during the import instead (cycles,
# with call graphs); prints the functions where most time is spent, by
# their own samples and with their callees.
#   PERF=1 MODE=merge ROWS=1000000 bash bench/profile_import.sh
# STALE_STATS=1: autovacuum off and ANALYZE while the tenant's rows are
# deleted, so the import is planned from statistics that say the tenant
# has no rows (as right after a restore into an emptied tenant).
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
ROWS=${ROWS:-200000}
MIN_MS=${MIN_MS:-50}
MODE=${MODE:-replace}
work=$(mktemp -d /tmp/ptb-profile.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-54363} cluster_start "$work/cluster" \
  "shared_buffers = 512MB" "work_mem = ${WORK_MEM:-64MB}" "max_wal_size = 8GB" "log_min_messages = log" \
  "autovacuum = $([ "${STALE_STATS:-0}" = 1 ] && echo off || echo on)" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -v rows="$ROWS" -v tenants=5 -v other_rows=$((ROWS / 20)) \
  -c "CREATE EXTENSION pg_tenant_backup" -f bench/dataset.sql >/dev/null
id=$(psql -qXAt -c "SELECT backup_create('1', '{\"verify_after_backup\": false}')")
psql -qX -c "SET session_replication_role = replica;
  DELETE FROM order_items i USING orders o, accounts a WHERE i.order_id = o.id AND o.account_id = a.id AND a.tenant_id = 1;
  DELETE FROM orders o USING accounts a WHERE o.account_id = a.id AND a.tenant_id = 1;
  DELETE FROM accounts WHERE tenant_id = 1; RESET session_replication_role; CHECKPOINT" >/dev/null
[ "${STALE_STATS:-0}" = 1 ] && psql -qX -c "ANALYZE" >/dev/null
if [ "$MODE" = merge ]; then
  psql -qXAt -c "SELECT backup_import_stored($id, 'replace') -> 'totals'" >/dev/null
  psql -qX -c "UPDATE order_items i SET qty = qty + 1 FROM orders o, accounts a
    WHERE i.order_id = o.id AND o.account_id = a.id AND a.tenant_id = 1 AND i.id % 10 = 0; CHECKPOINT" >/dev/null
fi
log=$(cluster_log "$work/cluster")
: >"$log"
if [ "${PERF:-0}" = 1 ]; then
  # The import waits a second for perf to attach to its backend.
  psql -qXAt -c "SET application_name = 'ptb_profile'" -c "SELECT pg_sleep(1)" -c "\\timing on" \
    -c "SELECT backup_import_stored($id, '$MODE') -> 'totals'" &
  import=$!
  sleep 0.5
  pid=$(psql -qXAt -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ptb_profile'")
  perf record -q -F 999 -g -p "$pid" -o "$work/perf.data" >/dev/null 2>&1 &
  sampler=$!
  wait $import
  kill -INT $sampler
  wait $sampler || true
  echo "== by own samples"
  perf report -q -i "$work/perf.data" --no-children --sort symbol --percent-limit 1.5 2>/dev/null | grep -E '^ +[0-9]' | head -25
  echo "== with callees"
  perf report -q -i "$work/perf.data" --children --sort symbol --percent-limit 2 2>/dev/null | grep -E "^ +[0-9]" | grep -v "] 0x" | head -60
  exit 0
fi
psql -qXAt -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = $MIN_MS" \
  -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" \
  -c "\\timing on" -c "SELECT backup_import_stored($id, '$MODE') -> 'totals'"
# One line per statement: its time and the start of its text.
awk '/duration: .* ms  plan:/ { ms = $0; sub(/.*duration: /, "", ms); sub(/ ms.*/, "", ms); next }
     /Query Text:/ && ms != "" { q = $0; sub(/.*Query Text: /, "", q); printf "%10.1f  %s\n", ms, substr(q, 1, 150); ms = "" }' \
  "$log" | sort -rn
