#!/usr/bin/env bash
# pg_dump / pg_restore of a database using the extension keeps its schedules
# and its log (extension configuration tables), and the log's id sequence
# goes on after them. DROP EXTENSION leaves no error and keeps the files.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-dump.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54348 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'app'"
storage="$work/cluster/data/pg_tenant_backup"
q -c "CREATE DATABASE app" >/dev/null
q -d app -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -d app >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT backup_create('1', name => 'kept');
SELECT backup_export('2');
SELECT backup_schedule_create('nightly', '*', '0 3 * * *', '{"timezone": "Europe/Berlin", "max_backups": 7}', 'every tenant at night');
SELECT backup_schedule_disable('nightly');
SQL
log_before=$(q -d app -c "SELECT string_agg(id || ':' || operation || ':' || status || ':' || coalesce(checksum, ''), ',' ORDER BY id) FROM backup_logs")
schedules_before=$(q -d app -c "SELECT string_agg(name || ':' || coalesce(tenant, '') || ':' || schedule || ':' || timezone || ':' || is_active || ':' || max_backups, ',') FROM backup_schedules")

"$PG_BINDIR/pg_dump" -Fc -f "$work/app.dump" app
q -c "CREATE DATABASE app_restored" >/dev/null
"$PG_BINDIR/pg_restore" -d app_restored "$work/app.dump" 2>"$work/restore.err" || true
check "pg_restore reports no error" "" "$(cat "$work/restore.err")"
check "the log is restored" "$log_before" "$(q -d app_restored -c "SELECT string_agg(id || ':' || operation || ':' || status || ':' || coalesce(checksum, ''), ',' ORDER BY id) FROM backup_logs")"
check "the schedules are restored" "$schedules_before" "$(q -d app_restored -c "SELECT string_agg(name || ':' || coalesce(tenant, '') || ':' || schedule || ':' || timezone || ':' || is_active || ':' || max_backups, ',') FROM backup_schedules")"
check "row level security on schedules is restored" t "$(q -d app_restored -c "SELECT relrowsecurity FROM pg_class WHERE relname = 'backup_schedules'")"
next=$(q -d app_restored -c "SELECT backup_create('2')")
check "the log's sequence goes on after the restored rows" t "$(q -d app_restored -c "SELECT $next > max(id) FROM backup_logs WHERE id <> $next")"
# The restored rows point at app's file: another database's, never followed.
check_match "the restored database refuses app's file, naming app" \
  '^ERROR:  55000: cannot read backup 1: its file belongs to database "app" \(OID [0-9]+\), not to this database$' \
  "$(PGDATABASE=app_restored q_error "SELECT backup_verify(1)")"
check "the file still verifies in app" true "$(q -d app -c "SELECT backup_verify(1) -> 'ok'")"

# The scheduler retries every 10 s until its database exists.
for i in $(seq 75); do
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")" = 1 ] && break
  sleep 0.2
done
scheduler=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")
files=$(find "$storage" -type f | wc -l)
drop=$(psql -qXAt -d app -c "DROP EXTENSION pg_tenant_backup" 2>&1)
check "DROP EXTENSION succeeds without a message" "" "$drop"
check "the stored files are kept" "$files" "$(find "$storage" -type f | wc -l)"
sleep 2
check "the scheduler carries on, the same process" "$scheduler" "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
q -d app -c "CREATE EXTENSION pg_tenant_backup" >/dev/null
check "CREATE EXTENSION again works" 0 "$(q -d app -c "SELECT count(*) FROM backup_logs")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
