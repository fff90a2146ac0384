#!/usr/bin/env bash
# backup_progress, seen from a second session while operations run. Each
# operation is held at a known point by a lock another session holds (never
# by timing): a restore and an import wait to update a table, a backup to
# read its last one, a scheduled backup likewise. Checked: the row of each (operation,
# tenant, phase, table and row counts, bytes, started_at, its backup_logs
# row 'running'), that it goes when the operation ends (and that row is
# completed), that a failed import leaves no row behind in a session that
# goes on, that a role without pg_read_all_stats sees only the outline of
# another role's row, and that without shared_preload_libraries the view
# has no rows and raises no error.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-progress.XXXXXX)
chmod 755 "$work"
holder=""
cleanup() {
  [ -n "$holder" ] && { exec 3>&- 2>/dev/null || true; kill "$holder" 2>/dev/null || true; }
  cluster_stop "$work/cluster"
  rm -rf "$work"
}
trap cleanup EXIT
PGPORT_FOR_TESTS=${PROGRESS_TEST_PORT:-56310} cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "pg_tenant_backup.allow_restore = on" "max_worker_processes = 16"

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, name text NOT NULL);
CREATE TABLE tasks (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                    project_id int NOT NULL REFERENCES projects, title text NOT NULL);
-- Last in load order, and not read before its own section (no key of it
-- may point outside the tenant): a backup held on it has written the others.
CREATE TABLE worklog (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, hours int NOT NULL);
INSERT INTO tenants VALUES (1, 'Acme'), (2, 'Globex');
INSERT INTO projects SELECT i, CASE WHEN i <= 200 THEN 1 ELSE 2 END, 'project ' || i FROM generate_series(1, 250) i;
INSERT INTO tasks SELECT i, CASE WHEN i <= 20000 THEN 1 ELSE 2 END, CASE WHEN i <= 20000 THEN 1 + i % 200 ELSE 201 END,
                         'task ' || i FROM generate_series(1, 21000) i;
INSERT INTO worklog SELECT i, CASE WHEN i <= 500 THEN 1 ELSE 2 END, i % 8 FROM generate_series(1, 510) i;
-- Watchers: one with only the grants docs/security.md gives an auditor,
-- one that may also read all statistics.
CREATE ROLE watcher LOGIN;
CREATE ROLE stats_watcher LOGIN IN ROLE pg_read_all_stats;
GRANT EXECUTE ON FUNCTION backup_progress() TO watcher, stats_watcher;
GRANT SELECT ON backup_progress TO watcher, stats_watcher;
SQL

# A session that holds a lock until told to let go: psql reading a fifo.
hold() {
  mkfifo "$work/hold"
  q <"$work/hold" >"$work/hold.out" 2>&1 &
  holder=$!
  exec 3>"$work/hold"
  echo "BEGIN; LOCK TABLE $1 IN $2 MODE;" >&3
  wait_for 30 "SELECT count(*) FROM pg_locks WHERE relation = '$1'::regclass AND mode = '$3' AND granted" 1 \
    || { echo "the lock was not taken"; cat "$work/hold.out"; exit 1; }
}
release() {
  echo "COMMIT;" >&3
  exec 3>&-
  wait "$holder"
  holder=""
  rm -f "$work/hold"
}
# The pid of the backend running a statement like $1, once it waits for a lock.
waiting_pid() {
  wait_for 60 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '$1%' AND wait_event_type = 'Lock'" 1 \
    || { echo "no backend waits: $1"; exit 1; }
  q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE '$1%' AND wait_event_type = 'Lock'"
}

echo "# nothing runs: no rows"
check "the view is empty when nothing runs" 0 "$(q -c "SELECT count(*) FROM backup_progress")"

echo "# a restore, held before it updates its last table"
id=$(q -c "SELECT backup_create('1')")
q -c "UPDATE projects SET name = name || ' (changed)' WHERE tenant_id = 1 AND id <= 10" >/dev/null
hold tasks SHARE ShareLock
q -c "SELECT backup_restore($id)" >"$work/restore.out" 2>&1 &
restore_job=$!
pid=$(waiting_pid "SELECT backup_restore(")
check "one row for the restore's backend" 1 "$(q -c "SELECT count(*) FROM backup_progress WHERE pid = $pid")"
check "it is a manual restore of tenant 1 in this database, updating its tables" \
  "restore|f|1|postgres|updating" \
  "$(q -c "SELECT operation, scheduled, tenant, datname, phase FROM backup_progress WHERE pid = $pid")"
check "tables: two of four updated (tasks waits), rows: the 10 changed projects" "2|4|10" \
  "$(q -c "SELECT tables_done, tables_total, rows_done FROM backup_progress WHERE pid = $pid")"
check "it read the stored file, started before now, and wrote nothing" "t|t|0" \
  "$(q -c "SELECT bytes_read > 0, started_at <= now(), bytes_written FROM backup_progress WHERE pid = $pid")"
check "log_id is its backup_logs row, running" "restore|running|$id|$pid" \
  "$(q -c "SELECT l.operation, l.status, l.source_id, l.pid FROM backup_progress p JOIN backup_logs l ON l.id = p.log_id WHERE p.pid = $pid")"
check "its pre_restore backup shows as the restore's own (no second row), and is completed" \
  "1|completed" \
  "$(q -c "SELECT (SELECT count(*) FROM backup_progress), (SELECT status FROM backup_logs WHERE trigger = 'pre_restore')")"
check "a role without pg_read_all_stats sees only the outline of another role's row" \
  "restore|postgres|f|t|t|t|t|t|t|t|t|t" \
  "$(PGUSER=watcher q -c "SELECT operation, datname, scheduled, tenant IS NULL, phase IS NULL, tables_done IS NULL,
                                 tables_total IS NULL, rows_done IS NULL, bytes_written IS NULL, bytes_read IS NULL,
                                 started_at IS NULL, log_id IS NULL
                            FROM backup_progress WHERE pid = $pid")"
check "a member of pg_read_all_stats sees the details" "1|updating|2" \
  "$(PGUSER=stats_watcher q -c "SELECT tenant, phase, tables_done FROM backup_progress WHERE pid = $pid")"
check_match "a role without the grant may not read the view" "42501" \
  "$(PGUSER=postgres q_error "SET ROLE pg_monitor; SELECT * FROM backup_progress")"
log_id=$(q -c "SELECT log_id FROM backup_progress WHERE pid = $pid")
release
wait "$restore_job" || { cat "$work/restore.out"; exit 1; }
check "the restore's row is gone once it ended" 0 "$(q -c "SELECT count(*) FROM backup_progress WHERE pid = $pid")"
check "its backup_logs row is completed" "completed" "$(q -c "SELECT status FROM backup_logs WHERE id = $log_id")"
check "the changed projects are back" 0 "$(q -c "SELECT count(*) FROM projects WHERE name LIKE '%(changed)'")"

echo "# an import of a stored snapshot, held the same way"
q -c "UPDATE projects SET name = name || ' (changed)' WHERE tenant_id = 1 AND id <= 5" >/dev/null
hold tasks SHARE ShareLock
q -c "SELECT backup_import_stored($id, 'merge')" >"$work/import.out" 2>&1 &
import_job=$!
pid=$(waiting_pid "SELECT backup_import_stored(")
check "an import of tenant 1, updating: two of four tables, the 5 changed projects" "import|1|updating|2|4|5" \
  "$(q -c "SELECT operation, tenant, phase, tables_done, tables_total, rows_done FROM backup_progress WHERE pid = $pid")"
check "its backup_logs row is running, visible from this session" "import|running|$id" \
  "$(q -c "SELECT l.operation, l.status, l.source_id FROM backup_progress p JOIN backup_logs l ON l.id = p.log_id WHERE p.pid = $pid")"
log_id=$(q -c "SELECT log_id FROM backup_progress WHERE pid = $pid")
release
wait "$import_job" || { cat "$work/import.out"; exit 1; }
check "the import's row is gone once it ended, its backup_logs row completed" "0|completed" \
  "$(q -c "SELECT (SELECT count(*) FROM backup_progress WHERE pid = $pid), (SELECT status FROM backup_logs WHERE id = $log_id)")"

echo "# a backup, held before it reads its last table"
hold worklog 'ACCESS EXCLUSIVE' AccessExclusiveLock
q -c "SELECT backup_create('1', '{\"compression\": \"none\"}', 'held')" >"$work/backup.out" 2>&1 &
backup_job=$!
pid=$(waiting_pid "SELECT backup_create(")
check "a manual backup of tenant 1, writing: three of four tables, their 20201 rows" \
  "backup|f|1|writing|3|4|20201" \
  "$(q -c "SELECT operation, scheduled, tenant, phase, tables_done, tables_total, rows_done FROM backup_progress WHERE pid = $pid")"
check "it has written the file (uncompressed: past the first 256 kB of JSON), read nothing" "t|0" \
  "$(q -c "SELECT bytes_written >= 262144, bytes_read FROM backup_progress WHERE pid = $pid")"
check "log_id is its backup_logs row, running" "backup|running|held" \
  "$(q -c "SELECT l.operation, l.status, l.name FROM backup_progress p JOIN backup_logs l ON l.id = p.log_id WHERE p.pid = $pid")"
release
wait "$backup_job" || { cat "$work/backup.out"; exit 1; }
check "the backup's row is gone once it ended" 0 "$(q -c "SELECT count(*) FROM backup_progress WHERE pid = $pid")"
check "and its backup_logs row is completed" completed "$(q -c "SELECT status FROM backup_logs WHERE name = 'held'")"

echo "# an export, held the same way"
hold worklog 'ACCESS EXCLUSIVE' AccessExclusiveLock
q -c "SELECT backup_export('1') IS NOT NULL" >"$work/export.out" 2>&1 &
export_job=$!
pid=$(waiting_pid "SELECT backup_export(")
check "an export of tenant 1, writing three of four tables, no backup_logs row yet" "export|1|writing|3|4|20201|t" \
  "$(q -c "SELECT operation, tenant, phase, tables_done, tables_total, rows_done, log_id IS NULL FROM backup_progress WHERE pid = $pid")"
release
wait "$export_job" || { cat "$work/export.out"; exit 1; }
check "the export's row is gone once it ended" 0 "$(q -c "SELECT count(*) FROM backup_progress WHERE pid = $pid")"

echo "# a scheduled backup, held the same way"
hold worklog 'ACCESS EXCLUSIVE' AccessExclusiveLock
q >/dev/null <<'SQL'
SET client_min_messages = error;
SELECT backup_schedule_create('progress', '1', '@daily');
UPDATE backup_schedules SET next_run_at = now() - interval '1 minute' WHERE name = 'progress';
SQL
wait_for 60 "SELECT count(*) FROM backup_progress WHERE scheduled AND phase = 'writing' AND tables_done = 3" 1 \
  || { echo "no scheduled backup in progress"; }
check "the scheduled job shows as a scheduled backup, from the job's backend, with its running row" \
  "backup|1|pg_tenant_backup job|running|scheduled" \
  "$(q -c "SELECT p.operation, p.tenant, a.backend_type, l.status, l.trigger
             FROM backup_progress p JOIN backup_logs l ON l.id = p.log_id JOIN pg_stat_activity a ON a.pid = p.pid
            WHERE p.scheduled")"
release
wait_for 60 "SELECT count(*) FROM backup_progress" 0 || true
check "the job's row is gone once it ended" 0 "$(q -c "SELECT count(*) FROM backup_progress")"
check "its backup_logs row is completed" completed \
  "$(q -c "SELECT status FROM backup_logs WHERE trigger = 'scheduled'")"
q -c "SELECT backup_schedule_drop('progress')" >/dev/null

echo "# a failed import leaves no row in a session that goes on"
check "an import that fails, caught by a savepoint: failed row, no progress row in the session" "failed|0" \
  "$(q <<'SQL'
BEGIN;
DO $$ BEGIN
  PERFORM backup_import('{"format": "pg_tenant_backup"}', 'merge');
EXCEPTION WHEN others THEN NULL;
END $$;
SELECT (SELECT status FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1),
       (SELECT count(*) FROM backup_progress WHERE pid = pg_backend_pid());
COMMIT;
SQL
)"
check "the same after an error that aborts the transaction" "failed|0" \
  "$(psql -qXAt -c "SELECT backup_import('{\"format\": \"pg_tenant_backup\"}', 'merge')" \
       -c "SELECT (SELECT status FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1),
                  (SELECT count(*) FROM backup_progress WHERE pid = pg_backend_pid())" 2>/dev/null)"

echo "# without shared_preload_libraries"
cluster__as_owner sed -i "/^shared_preload_libraries/d" "$work/cluster/data/postgresql.conf"
cluster_restart "$work/cluster"
hold worklog 'ACCESS EXCLUSIVE' AccessExclusiveLock
q -c "SELECT backup_create('1')" >"$work/backup2.out" 2>&1 &
backup_job=$!
pid=$(waiting_pid "SELECT backup_create(")
check "the view has no rows, even while a backup runs, and raises no error" 0 \
  "$(q -c "SELECT count(*) FROM backup_progress")"
release
wait "$backup_job" || { cat "$work/backup2.out"; exit 1; }

cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
