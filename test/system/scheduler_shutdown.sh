#!/usr/bin/env bash
# Immediate shutdown (pg_ctl -m immediate stop) of the server while a
# scheduled backup runs, then a start, repeated. After each start:
#   - the job's row, left 'running', ends failed (interrupted, 57P01) or,
#     when the job had finished before the stop, completed;
#   - no temporary file and no file under a final name without a completed
#     row is left in storage_path;
#   - the scheduler runs the schedule again and its new backup completes
#     and verifies.
# The first stop comes as soon as the job writes its temporary file, the
# others after a random delay in [0, one job's duration].
# Counts: runs N, interrupted I, finished before the stop F, stale rows
# failed (interrupted) S = I, temporary files left by the stop and removed
# T, next backups completed and verified V. RUNS (default 4) sets the number of stops.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
RUNS=${RUNS:-4}
work=$(mktemp -d /tmp/ptb-scheduler-shutdown.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54386 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "max_worker_processes = 16"
storage="$work/cluster/data/pg_tenant_backup"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -c "INSERT INTO customers SELECT 1000 + g, 1, 'bulk ' || g, 'DE', NULL, NULL FROM generate_series(1, 300000) g" >/dev/null

stop_immediate() { cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$work/cluster/data" -w -t 60 -m immediate stop >/dev/null; }
start() { cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$work/cluster/data" -l "$work/cluster/server.log" -w -t 60 start >/dev/null; }
tmp_files() { find "$storage" -name '*.tmp' 2>/dev/null | wc -l; }
# Each completed row has its file and each file a completed row.
storage_mismatch() {
  local rows files
  rows=$(q -c "SELECT file_name FROM backup_logs WHERE operation = 'backup' AND status IN ('completed', 'restored') ORDER BY 1")
  files=$(cd "$storage" 2>/dev/null && find . -type f -name '*.json*' ! -name '*.tmp' | sed 's|^\./||' | sort || true)
  diff <(echo "$rows") <(echo "$files") || true
}

wait_for 20 "SELECT backup_scheduler_pid() IS NOT NULL" t || true
q -c "SELECT backup_schedule_create('big', '1', '2 seconds', '{\"compression\": \"none\", \"max_backups\": 3}')" >/dev/null
wait_for 60 "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status = 'completed'" t || true
dur=$(q -c "SELECT coalesce(max((extract(epoch FROM finished_at - started_at) * 1000)::int), 0) FROM backup_logs WHERE trigger = 'scheduled' AND status = 'completed'")
check_match "a scheduled backup completes first" '^[0-9]+$' "$dur"
echo "# one scheduled backup takes ${dur} ms; $RUNS immediate stops"

interrupted=0 finished=0 tmp_removed=0 verified=0
for i in $(seq "$RUNS"); do
  # Catch a job writing its temporary file.
  row=""
  for j in $(seq 400); do
    row=$(q -c "SELECT id FROM backup_logs WHERE trigger = 'scheduled' AND status = 'running' ORDER BY id DESC LIMIT 1" 2>/dev/null || true)
    [ -n "$row" ] && [ "$(tmp_files)" -gt 0 ] && break
    sleep 0.025
  done
  if [ -z "$row" ]; then
    check "run $i: a scheduled job is caught running" yes no
    continue
  fi
  delay=0
  [ "$i" -gt 1 ] && delay=$(((RANDOM * 32768 + RANDOM) % (dur + 1)))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  stop_immediate
  left=$(tmp_files)
  start
  wait_for 60 "SELECT NOT pg_is_in_recovery()" t || true
  # The scheduler fails the stale row at its start.
  wait_for 30 "SELECT status IN ('failed', 'completed', 'expired') FROM backup_logs WHERE id = $row" t || true
  status=$(q -c "SELECT status || '|' || coalesce(error ->> 'sqlstate', '') FROM backup_logs WHERE id = $row")
  case $status in
    "failed|57P01") interrupted=$((interrupted + 1)) ;;
    completed\|* | expired\|*) finished=$((finished + 1)) ;;
    *) check "run $i (delay $delay ms): the stale row ends failed (interrupted)" "failed|57P01" "$status" ;;
  esac
  # The schedule runs again and its new backup completes and verifies.
  if wait_for 60 "SELECT count(*) > 0 FROM backup_logs WHERE id > $row AND trigger = 'scheduled' AND status = 'completed'" t; then
    next=$(q -c "SELECT min(id) FROM backup_logs WHERE id > $row AND trigger = 'scheduled' AND status = 'completed'")
    if [ "$(q -c "SELECT backup_verify($next) -> 'ok'")" = true ]; then
      verified=$((verified + 1))
    else
      check "run $i: the next scheduled backup verifies" true "$(q -c "SELECT backup_verify($next)")"
    fi
  else
    check "run $i: the schedule runs again and completes" yes no
  fi
  # The next backup removed the stop's temporary file; no partial file.
  q -c "SELECT backup_schedule_disable('big')" >/dev/null
  wait_for 60 "SELECT count(*) FROM backup_logs WHERE status = 'running'" 0 || true
  now=$(tmp_files)
  [ "$now" = 0 ] && tmp_removed=$((tmp_removed + left)) || check "run $i: no temporary file is left" 0 "$now"
  now=$(storage_mismatch)
  [ -z "$now" ] || check "run $i: stored files and completed rows match" "" "$now"
  q -c "SELECT backup_schedule_enable('big')" >/dev/null
done
q -c "SELECT backup_schedule_disable('big')" >/dev/null
echo "# runs $RUNS, interrupted $interrupted, finished before the stop $finished, stale rows failed (interrupted) $interrupted, temporary files left by the stop and removed $tmp_removed, next backups completed and verified $verified"
check "every stale row ended failed (interrupted) or completed" "$RUNS" "$((interrupted + finished))"
check_match "at least the first stop interrupts a job" '^[1-9]' "$interrupted"
check "after every start the schedule completes a verified backup" "$RUNS" "$verified"
check "the schedule records the last run" completed "$(q -c "SELECT last_status FROM backup_schedules WHERE name = 'big'")"
check "no row is left running" 0 "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running'")"
check "no process was terminated by a signal" 0 "$(grep -c 'terminated by signal' "$(cluster_log "$work/cluster")" || true)"
finish
