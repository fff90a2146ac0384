#!/usr/bin/env bash
# An import planned from statistics autovacuum has not caught up with (a
# tenant just emptied or restored: they say it has no rows) runs its
# checks and changes without nested loops, which on such statistics read
# the tenant's rows once per staged row (docs/import.md, step 5;
# docs/performance.md, "A plan from stale statistics"). On fresh
# statistics the planner chooses as it likes. Either way the import's
# result is the same, and the setting is the caller's again afterwards.
#
# The plans are read from auto_explain (log_settings lists the planner
# settings that differ from their defaults), not timed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
if ! [ -f "$("${PG_CONFIG:-pg_config}" --pkglibdir)/auto_explain.so" ]; then
  echo "auto_explain is not installed for this server"
  exit 77
fi
work=$(mktemp -d /tmp/ptb-stale-stats.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
# autovacuum off: the statistics stay as the test leaves them.
PGPORT_FOR_TESTS=54447 cluster_start "$work/cluster" "autovacuum = off" "log_min_messages = log"
log=$(cluster_log "$work/cluster")
q -v rows=20000 -v tenants=4 -v other_rows=2000 -c "SET client_min_messages = warning" \
  -c "CREATE EXTENSION pg_tenant_backup" -f bench/dataset.sql >/dev/null
q -c "ANALYZE" >/dev/null
id=$(q -c "SELECT backup_create('1', '{\"verify_after_backup\": false}')")
in_tenant_items="order_id IN (SELECT o.id FROM orders o JOIN accounts a ON a.id = o.account_id WHERE a.tenant_id = 1)"

# The planner settings of the import's statements that read a stage, as
# auto_explain logged them for one call: "stale" when nested loops were
# off for every one of them, "fresh" when for none, "mixed" otherwise. The
# call's own result goes to $work/result.
planned_with() {  # SQL
  : >"$log"
  q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
    -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_settings = on" \
    -c "$1" >"$work/result"
  # One line per logged plan: whether its statement reads a stage, and its settings.
  awk '/duration: .* ms  plan:/ { if (q != "") print q "|" s; q = ""; s = ""; next }
       /Query Text:/ { q = ($0 ~ /ptb_stage_/) ? "stage" : "other"; next }
       /Settings:/ { s = $0 }
       END { if (q != "") print q "|" s }' "$log" >"$work/plans"
  local stage off
  stage=$(grep -c '^stage|' "$work/plans" || true)
  off=$(grep -c "^stage|.*enable_nestloop = 'off'" "$work/plans" || true)
  if [ "$stage" -gt 0 ] && [ "$off" = "$stage" ]; then echo stale
  elif [ "$off" = 0 ]; then echo "fresh ($stage statements)"
  else echo "mixed ($off of $stage)"; fi
}
merge_totals="SELECT backup_import_stored($id, 'merge') -> 'totals'"

# Fresh statistics: the planner's own choice.
q -c "UPDATE order_items SET qty = qty + 1 WHERE $in_tenant_items AND id % 10 = 0" -c "ANALYZE" >/dev/null
check_match "fresh statistics: the merge's statements are planned as the planner likes" '^fresh \([1-9][0-9]* statements\)$' \
  "$(planned_with "$merge_totals")"
check "and the merge put back the 10% changed items" '{"deleted": 0, "updated": 1200, "inserted": 0, "unchanged": 18801}' \
  "$(cat "$work/result")"

# Stale statistics: the tenant emptied and analyzed, then restored by a
# replace (its rows loaded straight into the tables) and 10% changed.
q -c "SET session_replication_role = replica" -c "DELETE FROM order_items WHERE $in_tenant_items" \
  -c "DELETE FROM orders WHERE account_id IN (SELECT id FROM accounts WHERE tenant_id = 1)" \
  -c "DELETE FROM accounts WHERE tenant_id = 1" -c "ANALYZE" >/dev/null
check "the replace into the emptied tenant (its tenants row stays)" '{"deleted": 0, "updated": 0, "inserted": 20000, "unchanged": 1}' \
  "$(q -c "SELECT backup_import_stored($id, 'replace') -> 'totals'")"
q -c "UPDATE order_items SET qty = qty + 1 WHERE $in_tenant_items AND id % 10 = 0" >/dev/null
check "stale statistics: every statement of the merge that reads a stage ran without nested loops" stale \
  "$(planned_with "$merge_totals")"
check "and the merge gives the same result" '{"deleted": 0, "updated": 1200, "inserted": 0, "unchanged": 18801}' \
  "$(cat "$work/result")"
check "the caller's enable_nestloop is on again after the import" on \
  "$(q -c "SELECT backup_import_stored($id, 'merge') IS NOT NULL" -c "SHOW enable_nestloop" | tail -n 1)"
check "and a caller's off stays off" off \
  "$(q -c "SET enable_nestloop = off" -c "SELECT backup_import_stored($id, 'merge') IS NOT NULL" -c "SHOW enable_nestloop" | tail -n 1)"
# Once analyzed, the statistics are fresh again.
q -c "ANALYZE" >/dev/null
check_match "after ANALYZE the planner chooses again" '^fresh ' "$(planned_with "$merge_totals")"

finish
