#!/usr/bin/env bash
# What a crash leaves, with no operation run afterwards: the
# scheduler's recovery at start is all that runs.
#   - kill -9 of backup_create mid-write: after the restart its temporary
#     file is gone (removed by the scheduler's recovery, not by a next
#     backup); a temporary file in a folder that is not this database's is
#     left alone;
#   - kill -9 of backup_import_stored and of backup_restore mid-operation:
#     each has a backup_logs row, 'running' while it runs, failed
#     (interrupted, 57P01) after recovery;
#   - an import that succeeds in a transaction the caller rolls back: its
#     row ends failed (rolled back, 40000) at the next recovery pass, one
#     committed ends completed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-crash-recovery.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54437 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "pg_tenant_backup.allow_restore = on" "restart_after_crash = on"
storage="$work/cluster/data/pg_tenant_backup"

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -c "INSERT INTO customers SELECT 1000 + g, 1, 'bulk ' || g, 'DE', NULL, NULL FROM generate_series(1, 300000) g" >/dev/null
small=$(q -c "SELECT backup_create('2')")
big=$(q -c "SELECT backup_create('1', '{\"compression\": \"none\"}')")

# Waits until the server accepts connections again after a kill -9 and
# the scheduler has run its recovery (its process is up).
await_recovery() {
  for i in $(seq 300); do
    [ -n "$(q -c "SELECT backup_scheduler_pid()" 2>/dev/null || true)" ] && return 0
    sleep 0.2
  done
  echo "the server did not come back" >&2
  return 1
}

# Waits until `sql` returns `want` (at most 30 s); prints the last value.
await_value() {
  local sql=$1 want=$2 got=""
  for i in $(seq 150); do
    got=$(q -c "$sql" 2>/dev/null || true)
    [ "$got" = "$want" ] && break
    sleep 0.2
  done
  echo "$got"
}

# --- kill -9 of backup_create mid-write ----------------------------------------
folder=$(ls "$storage" | grep -- "-$(q -c "SELECT oid FROM pg_database WHERE datname = 'postgres'")\$")
# Another database's folder (by its name's OID) with a temporary file of a
# backend that does not exist: not this database's to clean.
mkdir "$storage/elsewhere-999999"
touch "$storage/elsewhere-999999/x.999999.tmp"
chown -R --reference="$storage" "$storage/elsewhere-999999" 2>/dev/null || true

psql -qXAt -c "SELECT backup_create('1', '{\"compression\": \"none\"}')" >/dev/null 2>&1 &
pid=""
for i in $(seq 300); do
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT backup_create(%' AND pid <> pg_backend_pid()")
  [ -n "$pid" ] && find "$storage/$folder" -name "*.$pid.tmp" | grep -q . && break
  sleep 0.05
done
check "backup_create is writing its temporary file" yes \
  "$([ -n "$pid" ] && find "$storage/$folder" -name "*.$pid.tmp" | grep -q . && echo yes || echo no)"
kill -9 "$pid"
wait || true
await_recovery
for i in $(seq 50); do
  [ "$(find "$storage/$folder" -name '*.tmp' | wc -l)" = 0 ] && break
  sleep 0.2
done
left=$(find "$storage/$folder" -name '*.tmp' | wc -l)
check "after recovery, with no backup since, no temporary file is left in the database's folder" 0 "$left"
check "the killed backup's row is failed (interrupted)" "failed|57P01" \
  "$(await_value "SELECT status || '|' || (error ->> 'sqlstate') FROM backup_logs WHERE pid = $pid" "failed|57P01")"
check "a temporary file in another database's folder is left alone" yes \
  "$([ -e "$storage/elsewhere-999999/x.999999.tmp" ] && echo yes || echo no)"
check "the log says which file was removed" yes \
  "$(grep -q "removed temporary file .*\.$pid\.tmp" "$(cluster_log "$work/cluster")" && echo yes || echo no)"
check "storage holds only completed snapshots' files" \
  "$(q -c "SELECT string_agg(file_name, ' ' ORDER BY file_name) FROM backup_logs WHERE operation = 'backup' AND status = 'completed'")" \
  "$(cd "$storage" && find "$folder" -type f ! -name '.*' ! -name DATABASE | sort | paste -sd' ')"

# --- kill -9 of an import and of a restore mid-operation ---------------------------
kill_midway() {  # OPERATION SQL
  local operation=$1 sql=$2 pid="" row=""
  psql -qXAt -c "$sql" >/dev/null 2>&1 &
  for i in $(seq 300); do
    row=$(q -c "SELECT pid || '|' || status FROM backup_logs WHERE operation = '$operation' ORDER BY id DESC LIMIT 1")
    [ "${row#*|}" = running ] && break
    sleep 0.02
  done
  check "$operation: a running row is there while it runs" running "${row#*|}"
  pid=${row%%|*}
  sleep 0.3
  check "$operation: still running when killed" running \
    "$(q -c "SELECT status FROM backup_logs WHERE operation = '$operation' AND pid = $pid")"
  kill -9 "$pid"
  wait || true
  await_recovery
  check "$operation: after recovery, with nothing run since, its row is failed (interrupted)" \
    "failed|57P01|interrupted" \
    "$(await_value "SELECT status || '|' || (error ->> 'sqlstate') || '|' || split_part(error ->> 'message', ':', 1)
                      FROM backup_logs WHERE operation = '$operation' AND pid = $pid" "failed|57P01|interrupted")"
  check "$operation: one row for the killed call" 1 \
    "$(q -c "SELECT count(*) FROM backup_logs WHERE operation = '$operation' AND pid = $pid")"
}
kill_midway import "SELECT backup_import_stored($big, 'replace')"
kill_midway restore "SELECT backup_restore($big)"

# --- an import rolled back after it succeeded --------------------------------------
# In one session: its backend lives on, so the row is told apart from a
# killed one by its transaction.
last_import="SELECT id FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1"
out=$(q -c "BEGIN" -c "SELECT backup_import_stored($small, 'replace') IS NOT NULL" -c "ROLLBACK" \
        -c "SELECT status FROM backup_logs WHERE id = ($last_import)" \
        -c "SELECT backup_create('2') IS NOT NULL" \
        -c "SELECT status || '|' || (error ->> 'sqlstate') FROM backup_logs WHERE id = ($last_import)" | paste -sd' ')
check "rolled back: running until a recovery pass (the next backup's), then failed (40000)" \
  "t running t failed|40000" "$out"
out=$(q -c "BEGIN" -c "SAVEPOINT s" -c "SELECT backup_import_stored($small, 'replace') IS NOT NULL" \
        -c "ROLLBACK TO s" -c "COMMIT" -c "SELECT backup_create('2') IS NOT NULL" \
        -c "SELECT status || '|' || (error ->> 'sqlstate') FROM backup_logs WHERE id = ($last_import)" | paste -sd' ')
check "rolled back to a savepoint: failed (40000) too" "t t failed|40000" "$out"
# Rolled back in a session that then ends: the backend is gone, which is
# all recovery can see.
q -c "BEGIN" -c "SELECT backup_import_stored($small, 'replace') IS NOT NULL" -c "ROLLBACK" >/dev/null
rolled=$(q -c "$last_import")
q -c "SELECT backup_create('2')" >/dev/null
check "rolled back, session ended: failed (57P01)" "failed|57P01" \
  "$(q -c "SELECT status || '|' || (error ->> 'sqlstate') FROM backup_logs WHERE id = $rolled")"
q -c "SELECT backup_import_stored($small, 'replace')" >/dev/null
done_id=$(q -c "SELECT id FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1")
q -c "SELECT backup_create('2')" >/dev/null
check "committed: completed, with its tenant, counts and options" "completed|2|true|replace" \
  "$(q -c "SELECT status || '|' || tenant || '|' || (row_count > 0) || '|' || (options ->> 'mode') FROM backup_logs WHERE id = $done_id")"
check "no server process crashed other than the ones killed" 3 \
  "$(grep -c "was terminated by signal 9" "$(cluster_log "$work/cluster")")"
finish
