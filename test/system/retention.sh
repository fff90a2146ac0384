#!/usr/bin/env bash
# Who removes which stored snapshot (docs/operations.md, "Retention"), and
# backups that hold soft-deleted rows, on a real server with the scheduler:
# - a schedule with max_backups = 1 firing every second keeps exactly one of
#   its own, and leaves a manual snapshot, a kept one, a pre_restore one and
#   a second schedule's snapshots of the same tenant alone;
# - a manual backup_create prunes nothing unless a superuser turned
#   pg_tenant_backup.prune_manual on, and then only manual and pre_restore
#   snapshots;
# - backup_keep: a kept snapshot survives backup_prune and every retention,
#   backup_list shows it, backup_delete removes it; unknown ids, NULLs and
#   snapshots without a file are clear errors with their SQLSTATE;
# - a pre_restore snapshot stays while its restore can be undone
#   (restore_window), and backup_prune may take it after;
# - backup_create holds soft-deleted rows by default: a soft-deleted row
#   damaged after the backup is put back exactly by backup_restore, and the
#   restore of a snapshot without them is undone exactly by its pre_restore.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-retention.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54398 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "max_worker_processes = 16" "pg_tenant_backup.allow_restore = on" \
  "pg_tenant_backup.compression = none"
storage="$work/cluster/data/pg_tenant_backup"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
# backup_list with the schedule that took each snapshot.
q -c "CREATE VIEW listed AS SELECT l.*, g.schedule_id FROM backup_list l JOIN backup_logs g USING (id)" >/dev/null

file_exists() { [ -f "$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $1")" ] && echo yes || echo no; }
# Every row of tenant 1, soft-deleted ones and those owned through them included.
tenant1_sql="SELECT string_agg(x, ';' ORDER BY x) FROM (
  SELECT c::text AS x FROM customers c WHERE tenant_id = 1
  UNION ALL SELECT o::text FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1
  UNION ALL SELECT l::text FROM order_lines l JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1) s"

echo "# a backup holds soft-deleted rows by default"
full=$(q -c "SELECT backup_create('1', name => 'complete')")
check "backup_create records include_deleted true by default" true "$(q -c "SELECT options ->> 'include_deleted' FROM backup_logs WHERE id = $full")"
check "its file holds the soft-deleted customer 12" 1 \
  "$(q -c "SELECT count(*) FROM jsonb_array_elements(backup_read($full) -> 'data') t, jsonb_array_elements(t -> 'rows') r WHERE t ->> 'name' = 'customers' AND r -> 0 = '12'")"
check "backup_export keeps its default: no soft-deleted rows" 0 \
  "$(q -c "SELECT count(*) FROM jsonb_array_elements(backup_export('1') -> 'data') t, jsonb_array_elements(t -> 'rows') r WHERE t ->> 'name' = 'customers' AND r -> 0 = '12'")"
partial=$(q -c "SELECT backup_create('1', '{\"include_deleted\": false}', 'without deleted rows')")
check "include_deleted false is still honoured by backup_create" "false|0" \
  "$(q -c "SELECT options ->> 'include_deleted', (SELECT count(*) FROM jsonb_array_elements(backup_read($partial) -> 'data') t, jsonb_array_elements(t -> 'rows') r WHERE t ->> 'name' = 'customers' AND r -> 0 = '12') FROM backup_logs WHERE id = $partial")"
before=$(q -c "$tenant1_sql")
check_match "the soft-deleted row and its order are in the comparison" "\(102,12,5.00\).*\(12,1,Gone,FR,,\"2026-01-01" "$before"
q -c "UPDATE customers SET name = 'Damaged', country_code = 'US', deleted_at = '2026-11-30' WHERE id = 12" \
  -c "DELETE FROM order_lines WHERE order_id = 102" -c "UPDATE orders SET total = 0 WHERE id = 102" >/dev/null
check "the soft-deleted row is damaged" f "$(q -c "SELECT '$before' = ($tenant1_sql)")"
q -c "SELECT backup_restore($full)" >/dev/null
check "backup_restore puts the damaged soft-deleted row (and its order and line) back exactly" "$before" "$(q -c "$tenant1_sql")"

echo "# the restore of a snapshot without soft-deleted rows is undone exactly"
q -c "UPDATE customers SET name = 'Changed since' WHERE id = 12" -c "UPDATE customers SET name = 'Ann 2' WHERE id = 10" >/dev/null
state=$(q -c "$tenant1_sql")
pre=$(q -c "SELECT backup_restore($partial) ->> 'pre_restore_id'")
check "the pre_restore snapshot holds soft-deleted rows whatever the restored one held" true \
  "$(q -c "SELECT options ->> 'include_deleted' FROM backup_logs WHERE id = $pre")"
check "the restore changed the tenant" f "$(q -c "SELECT '$state' = ($tenant1_sql)")"
q -c "SELECT backup_restore($pre)" >/dev/null
check "restoring the pre_restore snapshot gives back every row, soft-deleted ones included" "$state" "$(q -c "$tenant1_sql")"

echo "# backup_keep"
k=$(q -c "SELECT backup_create('3', name => 'pinned at birth', keep => true)")
a=$(q -c "SELECT backup_create('3', name => 'a')")
b=$(q -c "SELECT backup_create('3', name => 'b')")
c=$(q -c "SELECT backup_create('3', name => 'c')")
check "backup_list shows keep" "$k:true,$a:false,$b:false,$c:false" "$(q -c "SELECT string_agg(id || ':' || keep, ',' ORDER BY id) FROM backup_list WHERE tenant = '3'")"
q -c "SELECT backup_keep($a)" >/dev/null
check "backup_keep(id) pins a snapshot" t "$(q -c "SELECT keep FROM backup_list WHERE id = $a")"
check "backup_prune with the tightest limits expires only the unpinned older one" 1 "$(q -c "SELECT backup_prune('3', 1, 0)")"
check "the pinned snapshots and the newest stay" "$k,$a,$c" "$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM backup_list WHERE tenant = '3'")"
check "the unpinned one is expired and its file gone" "expired|no" "$(q -c "SELECT status FROM backup_logs WHERE id = $b")|$(file_exists $b)"
check "backup_prune of every tenant leaves them too" "$k,$a,$c" \
  "$(q -c "SELECT backup_prune(NULL, 1, 0)" >/dev/null; q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM backup_list WHERE tenant = '3'")"
q -c "SELECT backup_keep($a, false)" >/dev/null
check "backup_keep(id, false) hands it back to retention" "f|1" "$(q -c "SELECT keep FROM backup_list WHERE id = $a")|$(q -c "SELECT backup_prune('3', 1)")"
check "then backup_prune expires it" expired "$(q -c "SELECT status FROM backup_logs WHERE id = $a")"
check "a kept snapshot's file stays" yes "$(file_exists $k)"
q -c "SELECT backup_delete($k)" >/dev/null
check "backup_delete removes a kept snapshot" "deleted|no" "$(q -c "SELECT status FROM backup_logs WHERE id = $k")|$(file_exists $k)"
check "an unknown id" "ERROR:  42704: backup 999999 does not exist" "$(q_error "SELECT backup_keep(999999)")"
check "an expired snapshot has nothing to keep" "ERROR:  55000: backup $b is expired: it has no stored snapshot to keep" "$(q_error "SELECT backup_keep($b)")"
check "a deleted one neither" "ERROR:  55000: backup $k is deleted: it has no stored snapshot to keep" "$(q_error "SELECT backup_keep($k, false)")"
check "a NULL id" "ERROR:  22004: the backup id must not be NULL" "$(q_error "SELECT backup_keep(NULL)")"
check "a NULL keep" "ERROR:  22004: keep must not be NULL" "$(q_error "SELECT backup_keep($c, NULL)")"
check "a NULL keep for backup_create" "ERROR:  22004: keep must not be NULL" "$(q_error "SELECT backup_create('3', keep => NULL)")"
rid=$(q -c "SELECT max(id) FROM backup_logs WHERE operation = 'restore'")
check "the id of another operation's row is not a backup" "ERROR:  42704: backup $rid does not exist" "$(q_error "SELECT backup_keep($rid)")"
check "backup_keep commits at once, whatever the caller's transaction does" t \
  "$(q -c "BEGIN" -c "SELECT backup_keep($c)" -c "ROLLBACK" >/dev/null; q -c "SELECT keep FROM backup_list WHERE id = $c")"

echo "# a manual backup_create prunes nothing unless prune_manual is on"
for i in 1 2 3; do q -c "SET pg_tenant_backup.max_backups = 1" -c "SELECT backup_create('2', name => 'manual $i')" >/dev/null; done
check "max_backups = 1 does not touch manual snapshots" 3 "$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '2' AND name LIKE 'manual %'")"
q -c "SELECT backup_keep(id) FROM backup_list WHERE name = 'manual 1'" >/dev/null
q -c "SET pg_tenant_backup.prune_manual = on" -c "SET pg_tenant_backup.max_backups = 1" -c "SELECT backup_create('2', name => 'manual 4')" >/dev/null
check "prune_manual on: the next manual backup keeps one unpinned, and the pinned one" "manual 1,manual 4" \
  "$(q -c "SELECT string_agg(name, ',' ORDER BY id) FROM backup_list WHERE tenant = '2'")"
q -c "SELECT backup_delete(id) FROM backup_list WHERE tenant = '2'" >/dev/null

echo "# a pre_restore snapshot stays while its restore can be undone"
pres="SELECT count(*) FROM backup_list WHERE tenant = '1' AND trigger = 'pre_restore'"
check "the three restores of tenant 1 took three pre_restore snapshots" 3 "$(q -c "$pres")"
check "restore_window 0 (no limit): backup_prune with the tightest limits leaves them all" "0|3" \
  "$(q -c "SELECT backup_prune('1', 1, 0)")|$(q -c "$pres")"
old_pre=$(q -c "SELECT min(id) FROM backup_list WHERE tenant = '1' AND trigger = 'pre_restore'")
q -c "UPDATE backup_logs SET finished_at = now() - interval '2 days' WHERE id = $old_pre" >/dev/null
check "within restore_window (3 days) it stays" 0 \
  "$(q -c "SET pg_tenant_backup.restore_window = '3 days'" -c "SELECT backup_prune('1', 1, 0)")"
check "beyond restore_window (1 day) backup_prune takes it, and only it" "1|$old_pre" \
  "$(q -c "SET pg_tenant_backup.restore_window = '1 day'" -c "SELECT backup_prune('1', 1, 0)")|$(q -c "SELECT id FROM backup_logs WHERE tenant = '1' AND trigger = 'pre_restore' AND status = 'expired'")"
check "which backup_restore would have refused anyway" "ERROR:  55000: backup $old_pre is expired: it has no stored snapshot" \
  "$(q_error "SELECT backup_restore($old_pre)" | sed 's/ snapshot.*/ snapshot/')"

echo "# a schedule with max_backups = 1 firing every second"
q -c "SELECT backup_create('2', name => 'before migration')" >/dev/null
q -c "SELECT backup_create('2', name => 'pinned', keep => true)" >/dev/null
target=$(q -c "SELECT backup_create('2', name => 'to restore')")
pre2=$(q -c "SELECT backup_restore($target) ->> 'pre_restore_id'")
q -c "SELECT backup_schedule_create('other', '2', '1 second', '{\"max_backups\": 5}')" >/dev/null
wait_for 20 "SELECT count(*) >= 2 FROM listed WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'other')" t || true
q -c "SELECT backup_schedule_disable('other')" >/dev/null
sleep 2
others=$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM listed WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'other')")
check_match "the second schedule made snapshots" '^[0-9]+,[0-9]+' "$others"
survivors="SELECT string_agg(coalesce(name, trigger), ',' ORDER BY id) FROM listed WHERE tenant = '2' AND schedule_id IS NULL"
manual_before=$(q -c "$survivors")
check "the tenant has a manual, a pinned, a restored and a pre_restore snapshot" "before migration,pinned,to restore,pre_restore" "$manual_before"
q -c "SELECT backup_schedule_create('fast', '2', '1 second', '{\"max_backups\": 1}')" >/dev/null
fast="SELECT id FROM backup_schedules WHERE name = 'fast'"
wait_for 30 "SELECT count(*) >= 5 FROM backup_logs WHERE schedule_id = ($fast) AND status IN ('completed', 'expired')" t || true
q -c "SELECT backup_schedule_disable('fast')" >/dev/null
sleep 2
check "the schedule fired at least five times" t "$(q -c "SELECT count(*) >= 5 FROM backup_logs WHERE schedule_id = ($fast) AND status IN ('completed', 'expired')")"
check "it keeps exactly one of its own" 1 "$(q -c "SELECT count(*) FROM listed WHERE schedule_id = ($fast)")"
check "its newest" "$(q -c "SELECT max(id) FROM backup_logs WHERE schedule_id = ($fast) AND status IN ('completed', 'expired')")" \
  "$(q -c "SELECT id FROM listed WHERE schedule_id = ($fast)")"
check "the manual, pinned, restored and pre_restore snapshots survive it" "$manual_before" "$(q -c "$survivors")"
check "the pre_restore snapshot is still there" completed "$(q -c "SELECT status FROM backup_logs WHERE id = $pre2")"
check "the second schedule's snapshots survive it" "$others" \
  "$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM listed WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'other')")"
check "nothing of another tenant was expired by it" 0 \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'expired' AND tenant <> '2' AND id > $target")"
check "every expired row is the schedule's own" t \
  "$(q -c "SELECT bool_and(schedule_id = ($fast)) FROM backup_logs WHERE status = 'expired' AND id > $target")"
check "no file is left of an expired snapshot" 0 \
  "$(for f in $(q -c "SELECT file_name FROM backup_logs WHERE status = 'expired'"); do [ -f "$storage/$f" ] && echo "$f"; done | wc -l)"

cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
