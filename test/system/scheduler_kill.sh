#!/usr/bin/env bash
# kill -9 of a scheduled job: the server restarts its processes, the job's
# row ends failed (interrupted), no file is left behind, and the schedule's
# next run succeeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-scheduler-kill.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54347 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "max_worker_processes = 16"
storage="$work/cluster/data/pg_tenant_backup"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -c "INSERT INTO customers SELECT 1000 + g, 1, 'bulk ' || g, 'DE', NULL, NULL FROM generate_series(1, 400000) g" >/dev/null
for i in $(seq 50); do [ -n "$(q -c "SELECT backup_scheduler_pid()")" ] && break; sleep 0.2; done

q -c "SELECT backup_schedule_create('big', '1', '4 seconds', '{\"compression\": \"none\"}')" >/dev/null
job=""
for i in $(seq 200); do
  job=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup job'" 2>/dev/null || true)
  [ -n "$job" ] && find "$storage" -name '*.tmp' 2>/dev/null | grep -q . && break
  sleep 0.05
done
check "a job is writing its temporary file" yes "$([ -n "$job" ] && find "$storage" -name '*.tmp' | grep -q . && echo yes || echo no)"
check_match "pg_stat_activity shows what the job does" 'schedule big: backup of tenant 1' "$(q -c "SELECT query FROM pg_stat_activity WHERE pid = $job")"
kill -9 "$job"
killed_row=""
for i in $(seq 150); do
  killed_row=$(q -c "SELECT status || '|' || coalesce(error ->> 'sqlstate', '') FROM backup_logs WHERE pid = $job" 2>/dev/null || true)
  [ "${killed_row%%|*}" = failed ] && break
  sleep 0.2
done
check "the killed job's row ends failed (interrupted)" "failed|57P01" "$killed_row"
for i in $(seq 150); do
  [ "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'completed' AND trigger = 'scheduled'" 2>/dev/null || echo 0)" -gt 0 ] && break
  sleep 0.2
done
check "the next run succeeds" t "$(q -c "SELECT count(*) > 0 FROM backup_logs WHERE status = 'completed' AND trigger = 'scheduled'")"
q -c "SELECT backup_schedule_disable('big')" >/dev/null
# A run started before the disable may still be writing its file.
for i in $(seq 300); do
  [ "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running'" 2>/dev/null || echo 1)" = 0 ] && break
  sleep 0.2
done
check "no temporary file is left" 0 "$(find "$storage" -name '*.tmp' | wc -l)"
check "every stored file has a completed row" "$(find "$storage" -name '*.json' | wc -l)" "$(q -c "SELECT count(*) FROM backup_list")"
finish
