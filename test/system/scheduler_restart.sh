#!/usr/bin/env bash
# The scheduler comes back after it is stopped alone: after
# pg_terminate_backend on it, a new scheduler starts within its restart
# time (10 s; polled with a generous deadline), says so in the log, and due
# schedules run again (a scheduler that exits with code 0 on SIGTERM is
# never restarted by the postmaster). Its database missing at server start:
# it tries again every 10 s, saying so once, and runs once the database
# exists. Its database dropped (DROP DATABASE ... WITH (FORCE)) while it
# ran: it stops for good after one FATAL line with a hint, not a failure
# every 10 seconds; the server stays fine.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-scheduler-restart.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54641 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'app'" \
  "max_worker_processes = 16" "log_min_messages = log"
log=$(cluster_log "$work/cluster")
wait_for() {  # seconds sql expected [database]
  local i
  for i in $(seq $(($1 * 10))); do
    [ "$(q -d "${4:-app}" -c "$2" 2>/dev/null || true)" = "$3" ] && return 0
    sleep 0.1
  done
  return 1
}
scheduler_pid() { q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'"; }
missing() { grep -c 'FATAL:  database "app" does not exist' "$log" || true; }

echo "# the server starts before database app exists"
# Each failed attempt ends with the server's "exited with exit code 1" line.
failures() { grep -c 'background worker "pg_tenant_backup scheduler" (PID [0-9]*) exited with exit code 1' "$log" || true; }
for i in $(seq 400); do [ "$(failures)" -ge 2 ] && break; sleep 0.1; done
check "the scheduler tries again while its database is missing" yes "$([ "$(failures)" -ge 2 ] && echo yes || echo no)"
check "it says once that its database does not exist" 1 "$(missing)"
check "with a hint saying it tries again until the database exists" 1 \
  "$(grep -c 'HINT:  The pg_tenant_backup scheduler tries again every 10 seconds until the database exists (this message is not repeated)' "$log" || true)"
q -d postgres -c "CREATE DATABASE app" >/dev/null
q -d app -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
for i in $(seq 300); do [ -n "$(scheduler_pid)" ] && break; sleep 0.1; done
first=$(scheduler_pid)
check_match "once the database exists the scheduler runs, without a server restart" '^[0-9]+$' "$first"
check "its log line is the first start's" 1 "$(grep -c 'LOG:  pg_tenant_backup scheduler started in database "app"$' "$log" || true)"

q -d app -c "SELECT backup_schedule_create('fast', '1', '2 seconds', '{\"compression\": \"none\"}')" >/dev/null
wait_for 30 "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')" t || true
check "a scheduled backup runs" t "$(q -d app -c "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')")"

echo "# pg_terminate_backend on the scheduler"
check "pg_terminate_backend stops it" t "$(q -d app -c "SELECT pg_terminate_backend($first)")"
second=""
for i in $(seq 600); do  # deadline 60 s; the restart time is 10 s
  second=$(scheduler_pid 2>/dev/null || true)
  [ -n "$second" ] && [ "$second" != "$first" ] && break
  sleep 0.1
done
check_match "a new scheduler starts" '^[0-9]+$' "$second"
check "with another process" yes "$([ "$second" != "$first" ] && echo yes || echo no)"
check "the log says it stops and is started again in 10 seconds" 1 \
  "$(grep -c 'LOG:  pg_tenant_backup scheduler stopping on SIGTERM; it is started again in 10 seconds unless the server is shutting down' "$log" || true)"
check "and that it started again" 1 \
  "$(grep -c 'LOG:  pg_tenant_backup scheduler started again in database "app" after it was stopped' "$log" || true)"
restarted_at=$(q -d app -c "SELECT backend_start FROM pg_stat_activity WHERE pid = ${second:-0}" 2>/dev/null || true)
restarted_at=${restarted_at:-infinity}
wait_for 30 "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND started_at > '$restarted_at'" t || true
check "due schedules run again" t \
  "$(q -d app -c "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND started_at > '$restarted_at'")"

echo "# DROP DATABASE app WITH (FORCE)"
q -d app -c "SELECT backup_schedule_disable('fast')" >/dev/null
q -d postgres -c "DROP DATABASE app WITH (FORCE)" >/dev/null
check "the database is gone" 0 "$(q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'app'")"
for i in $(seq 400); do [ "$(missing)" -ge 2 ] && break; sleep 0.1; done
check "the scheduler tried its database once more" 2 "$(missing)"
check "and said it stops for good" 1 \
  "$(grep -c 'HINT:  It was dropped while the server ran: the pg_tenant_backup scheduler stops and is not started again until the server restarts' "$log" || true)"
failed=$(failures)
sleep 25  # more than two restart times: a crash loop would fail twice more
check "then stopped: no failure since" "$failed" "$(failures)"
check "and no FATAL line since" 2 "$(missing)"
check "no scheduler runs" "" "$(scheduler_pid)"
check "the server answers" 1 "$(q -d postgres -c "SELECT 1")"
cluster_crashed "$work/cluster" && check "no process crashed" no yes || check "no process crashed" no no
finish
