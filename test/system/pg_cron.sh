#!/usr/bin/env bash
# The other way in: a pg_cron job that calls backup_create works, and its
# run shows in backup_logs with the role that scheduled it. pg_cron 1.4
# fires at minute boundaries, so this test waits up to 75 seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-pgcron.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
if [ ! -f "$("${PG_CONFIG:-pg_config}" --pkglibdir)/pg_cron.so" ]; then
  echo "pg_cron is not installed for $("${PG_CONFIG:-pg_config}" --version)"
  exit 77
fi
PGPORT_FOR_TESTS=54346 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_cron,pg_tenant_backup'" "cron.database_name = 'postgres'" \
  "cron.use_background_workers = on" "max_worker_processes = 20"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_tenant_backup;
\i test/fixtures/shop.sql
CREATE ROLE cron_app LOGIN;
GRANT USAGE ON SCHEMA cron TO cron_app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cron_app;
GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text, boolean) TO cron_app;
SQL
q -U cron_app -c "SELECT cron.schedule('acme-backup', '* * * * *', \$\$SELECT backup_create('1', name => 'from pg_cron')\$\$)" >/dev/null
for i in $(seq 150); do
  [ "$(q -c "SELECT count(*) FROM backup_logs WHERE name = 'from pg_cron' AND status = 'completed'")" -gt 0 ] && break
  sleep 0.5
done
check "the pg_cron job's backup completed" "completed|1|cron_app" "$(q -c "SELECT status, tenant, created_by FROM backup_logs WHERE name = 'from pg_cron' LIMIT 1")"
for i in $(seq 20); do
  [ "$(q -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded'")" -gt 0 ] && break
  sleep 0.5
done
check "pg_cron records the run as succeeded" succeeded "$(q -c "SELECT status FROM cron.job_run_details ORDER BY runid LIMIT 1")"
check "the stored snapshot verifies" true "$(q -c "SELECT backup_verify(id) -> 'ok' FROM backup_logs WHERE name = 'from pg_cron' LIMIT 1")"
q -U cron_app -c "SELECT cron.unschedule('acme-backup')" >/dev/null
finish
