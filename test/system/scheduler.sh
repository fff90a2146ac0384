#!/usr/bin/env bash
# The background worker on a real server: interval schedules produce
# scheduled snapshots, max_backups keeps exactly that many, '*' backs up
# every tenant, disable stops runs, a job whose tenant is gone fails alone,
# jobs run as the schedule's owner, and SIGHUP and a restart keep it all.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-scheduler.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; cp "$work/cluster/server.log" /tmp/sched-server.log; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54345 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "max_worker_processes = 16"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null


check "the scheduler shows in pg_stat_activity" 1 "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
check "backup_scheduler_status says it runs" "true|postgres" "$(q -c "SELECT backup_scheduler_status() -> 'running', backup_scheduler_status() ->> 'database'")"
scheduler_pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")

echo "# an interval schedule with max_backups 2"
q -c "SELECT backup_schedule_create('fast', '1', '2 seconds', '{\"max_backups\": 2, \"compression\": \"none\"}')" >/dev/null
wait_for 20 "SELECT count(*) >= 3 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND tenant = '1'" t || true
check "scheduled snapshots complete" t "$(q -c "SELECT count(*) >= 3 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND tenant = '1'")"
check "they carry the schedule id" t "$(q -c "SELECT bool_and(schedule_id = (SELECT id FROM backup_schedules WHERE name = 'fast')) FROM backup_logs WHERE trigger = 'scheduled' AND tenant = '1'")"
check "the newest is never lost" t "$(q -c "SELECT max(id) = (SELECT max(id) FROM backup_logs WHERE operation = 'backup' AND tenant = '1' AND status IN ('completed', 'expired')) FROM backup_list WHERE tenant = '1'")"
check "the schedule records its last run" completed "$(q -c "SELECT last_status FROM backup_schedules WHERE name = 'fast'")"
q -c "SELECT backup_schedule_disable('fast')" >/dev/null
sleep 1
count=$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'scheduled' AND tenant = '1'")
sleep 4
check "disable stops runs" "$count" "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'scheduled' AND tenant = '1'")"
check "max_backups keeps exactly 2 stored" 2 "$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '1'")"

echo "# a schedule of a tenant that does not exist is refused at once"
check_match "backup_schedule_create of a missing tenant: 42704" 'ERROR:  42704: tenant "77" does not exist' \
  "$(q_error "SELECT backup_schedule_create('ghost', '77', '3 seconds')")"
check "and nothing is scheduled" 0 "$(q -c "SELECT count(*) FROM backup_schedules WHERE name = 'ghost'")"
q -c "SELECT backup_schedule_create('moved', '1', '@daily')" >/dev/null
check_match "nor can a schedule be moved to a missing tenant: 42704" 'ERROR:  42704: tenant "77" does not exist' \
  "$(q_error "SELECT backup_schedule_update('moved', tenant => '77')")"
check "it keeps its tenant" 1 "$(q -c "SELECT tenant FROM backup_schedules WHERE name = 'moved'")"
q -c "SELECT backup_schedule_drop('moved')" >/dev/null

echo "# '*' backs up every tenant; a schedule for a tenant deleted since fails alone"
q -c "INSERT INTO tenants (id, name) VALUES (77, 'Ghost')" -c "SELECT backup_schedule_create('ghost', '77', '3 seconds')" \
  -c "DELETE FROM tenants WHERE id = 77" >/dev/null
q -c "SELECT backup_schedule_create('all', '*', '3 seconds')" >/dev/null
wait_for 20 "SELECT count(DISTINCT tenant) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'all') AND status = 'completed'" 3 || true
check "every tenant of the '*' schedule is backed up" "1,2,3" "$(q -c "SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'all') AND status = 'completed'")"
wait_for 10 "SELECT count(*) > 0 FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'ghost')" t || true
check "the missing tenant's job leaves a failed row" "failed|42704" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'ghost') LIMIT 1")"
check_match "and its schedule says failed" '^failed' "$(q -c "SELECT last_status FROM backup_schedules WHERE name = 'ghost'")"
q -c "SELECT backup_schedule_drop('ghost')" -c "SELECT backup_schedule_disable('all')" >/dev/null

echo "# jobs run as the schedule's owner, who sees only its own schedules"
q >/dev/null <<'SQL'
CREATE ROLE scheduler_app LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO scheduler_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_schedules TO scheduler_app;
GRANT USAGE ON SEQUENCE backup_schedules_id_seq TO scheduler_app;
GRANT EXECUTE ON FUNCTION backup_schedule_create(text, text, text, jsonb, text), backup_schedule_next(text, text, timestamptz, timestamptz),
  backup_check_options(jsonb), backup_check_tenant(text, jsonb), backup_schedule_drop(text), backup_scheduler_pid() TO scheduler_app;
SQL
created=$(psql -qXAt -U scheduler_app -c "SELECT backup_schedule_create('mine', '2', '2 seconds')" 2>&1)
check "a role creates a schedule without a warning when the scheduler runs" 0 "$(echo "$created" | grep -c WARNING || true)"
check "a role sees only its own schedules" mine "$(q -U scheduler_app -c "SELECT string_agg(name, ',') FROM backup_schedules")"
check_match "and cannot drop another's" '42704' "$(psql -qXAt -U scheduler_app -v VERBOSITY=verbose -c "SELECT backup_schedule_drop('fast')" 2>&1 | grep ERROR || true)"
wait_for 15 "SELECT count(*) > 0 FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mine') AND status = 'completed'" t || true
check "the job ran as the owner" scheduler_app "$(q -c "SELECT created_by FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mine') AND status = 'completed' LIMIT 1")"
q -c "REVOKE SELECT ON customers FROM scheduler_app" >/dev/null
wait_for 15 "SELECT count(*) > 0 FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mine') AND status = 'failed'" t || true
check "with the owner's privileges: no SELECT, a failed row" "failed|42501" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mine') AND status = 'failed' LIMIT 1")"
q -U scheduler_app -c "SELECT backup_schedule_drop('mine')" >/dev/null

echo "# SIGHUP and a restart keep the schedules and the scheduler"
q -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
check "after SIGHUP the same scheduler runs" "$scheduler_pid" "$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
q -c "SELECT backup_schedule_enable('fast')" >/dev/null
cluster_restart "$work/cluster"
wait_for 20 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'" 1 || true
check "after a restart the scheduler runs again" 1 "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
check "the schedules are kept" "all,fast" "$(q -c "SELECT string_agg(name, ',' ORDER BY name) FROM backup_schedules")"
before=$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')")
wait_for 20 "SELECT count(*) > $before FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')" t || true
check "and keep running" t "$(q -c "SELECT count(*) > $before FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')")"

echo "# a schedule whose owner was dropped is skipped and logged, never a crash loop"
q >/dev/null <<'SQL'
SELECT backup_schedule_disable('fast');
SELECT backup_schedule_disable('all');
CREATE ROLE short_lived;
INSERT INTO backup_schedules (name, tenant, schedule, timezone, created_by, next_run_at)
VALUES ('orphan', '1', '2 seconds', 'UTC', 'short_lived', now());
DROP ROLE short_lived;
SQL
wait_for 15 "SELECT count(*) > 0 FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'orphan')" t || true
check "the orphaned schedule leaves a failed row" "failed|42704" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'orphan') LIMIT 1")"
check_match "its schedule says why" '^failed: role short_lived does not exist' "$(q -c "SELECT last_status FROM backup_schedules WHERE name = 'orphan'")"
check "the scheduler keeps running" 1 "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
q -c "SELECT backup_schedule_drop('orphan')" >/dev/null

echo "# missed runs: catch_up = skip waits for the next fire time, once runs at start"
q -c "CREATE DATABASE elsewhere" >/dev/null
q -c "SELECT backup_schedule_create('daily', '2', '0 3 * * *')" >/dev/null 2>&1
# Point the scheduler elsewhere while the schedule is made overdue.
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'elsewhere'" >/dev/null
cluster_restart "$work/cluster"
q -c "UPDATE backup_schedules SET next_run_at = now() - interval '1 hour' WHERE name = 'daily'" >/dev/null
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'postgres'" -c "ALTER SYSTEM SET pg_tenant_backup.catch_up = 'skip'" >/dev/null
cluster_restart "$work/cluster"
wait_for 20 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler' AND datname = 'postgres'" 1 || true
sleep 3
check "skip: the missed run does not run at start" 0 "$(q -c "SELECT count(*) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'daily')")"
check "skip: the next run is the next fire time" t "$(q -c "SELECT next_run_at > now() FROM backup_schedules WHERE name = 'daily'")"
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'elsewhere'" >/dev/null
cluster_restart "$work/cluster"
q -c "UPDATE backup_schedules SET next_run_at = now() - interval '1 hour' WHERE name = 'daily'" >/dev/null
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'postgres'" -c "ALTER SYSTEM SET pg_tenant_backup.catch_up = 'once'" >/dev/null
cluster_restart "$work/cluster"
wait_for 20 "SELECT count(*) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'daily') AND status = 'completed'" 1 || true
sleep 2
check "once: the missed run runs once at start" 1 "$(q -c "SELECT count(*) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'daily')")"
check "once: then it waits for the next fire time" t "$(q -c "SELECT next_run_at > now() FROM backup_schedules WHERE name = 'daily'")"
check "no scheduled row is left running" 0 "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running' AND finished_at IS NULL AND started_at < now() - interval '10 seconds'")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
