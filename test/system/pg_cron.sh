#!/usr/bin/env bash
# pg_cron calling the extension, on a server with Debian's default
# pg_hba.conf (peer on the socket, scram-sha-256 over TCP), set up with the
# postgresql.conf lines of docs/scheduler.md's pg_cron recipe (read from the
# doc, so the two cannot drift):
# - without cron.use_background_workers, pg_cron's TCP login has no
#   password: the run fails with 'connection failed', as the doc says;
# - with the recipe, the jobs' runs succeed and every backup_logs row they
#   write says trigger pg_cron (a pre_restore snapshot keeps pre_restore)
#   and names the job (cron_job_id, cron_job_name as in cron.job), with the
#   job's role as created_by;
# - a call from psql with application_name 'pg_cron' is a manual call;
# - over connections again, with a password file (the doc's alternative),
#   a job's run is told apart by cron.job_run_details alone.
# pg_cron 1.4 fires at minute boundaries: each of the three phases waits up
# to two minutes.
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

# The recipe: the first ```ini block of the "## pg_cron" section.
recipe=$(awk '/^## pg_cron/ {in_section = 1} in_section && /^```ini/ {in_block = 1; next}
              in_block && /^```/ {exit} in_block' docs/scheduler.md | sed -e 's/#.*//' -e 's/[[:space:]]*$//' | grep -v '^$')
check_match "the recipe turns background workers on" "cron.use_background_workers = on" "$recipe"
check_match "the recipe names the database" "cron.database_name = 'app'" "$recipe"

# Port in 56200-56299: the cluster listens on localhost, where pg_cron connects.
PGPORT_FOR_TESTS=56231 cluster_start "$work/cluster" "listen_addresses = 'localhost'"
conf="$work/cluster/data/postgresql.conf"
q -c "CREATE DATABASE app" >/dev/null
q -d app >/dev/null <<'SQL'
SET client_min_messages = warning;
\i test/fixtures/shop.sql
CREATE ROLE cron_app LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO cron_app;
SQL
# Debian's default pg_hba.conf. The server's operating-system user logs in
# by peer as its own role (postgres when the tests run as root).
os_user=postgres
if [ "$(id -u)" != 0 ]; then
  os_user=$(id -un)
  q -c "CREATE ROLE \"$os_user\" SUPERUSER LOGIN" >/dev/null
fi
cluster__as_owner tee "$work/cluster/data/pg_hba.conf" >/dev/null <<'HBA'
local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
HBA
grep -v "^cron.use_background_workers" <<<"$recipe" | cluster__as_owner tee -a "$conf" >/dev/null
echo "pg_tenant_backup.allow_restore = on" | cluster__as_owner tee -a "$conf" >/dev/null
cluster_restart "$work/cluster"
q() { cluster__as_owner psql -qXAt -v ON_ERROR_STOP=1 -U "$os_user" -d app "$@"; }
check "psql as postgres over TCP is refused without a password" "no password" \
  "$(psql -XAt -h localhost -U postgres -d app -c 'SELECT 1' </dev/null 2>&1 | grep -o 'no password' | head -1 || true)"

q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION pg_tenant_backup;
GRANT USAGE ON SCHEMA cron TO cron_app;
GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text, boolean), backup_export(text, jsonb) TO cron_app;
SELECT backup_create('1', name => 'to restore');
SELECT backup_create('2', name => 'to delete');
SQL
restore_id=$(q -c "SELECT id FROM backup_logs WHERE name = 'to restore'")
delete_id=$(q -c "SELECT id FROM backup_logs WHERE name = 'to delete'")
q -c "SET ROLE cron_app" \
  -c "SELECT cron.schedule('acme-backup', '* * * * *', \$\$SELECT backup_create('1', name => 'from pg_cron'); SELECT backup_export('1') IS NOT NULL\$\$)" >/dev/null
q -c "SELECT cron.schedule('acme-restore', '* * * * *', \$\$SELECT backup_restore($restore_id); SELECT backup_delete($delete_id)\$\$)" >/dev/null
backup_job=$(q -c "SELECT jobid FROM cron.job WHERE jobname = 'acme-backup'")
restore_job=$(q -c "SELECT jobid FROM cron.job WHERE jobname = 'acme-restore'")

echo "# Debian's pg_hba.conf, cron.use_background_workers off"
wait_for 130 "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status = 'failed'" 2 || true
check "each job's run failed as the doc says" "acme-backup|failed|connection failed,acme-restore|failed|connection failed" \
  "$(q -c "SELECT string_agg(DISTINCT concat_ws('|', j.jobname, r.status, r.return_message), ',') FROM cron.job_run_details r JOIN cron.job j USING (jobid) WHERE r.status IN ('failed', 'succeeded')")"
check "no job's call reached backup_logs" 0 \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE name = 'from pg_cron' OR operation IN ('verify', 'restore', 'delete')")"

echo "# the recipe: cron.use_background_workers on"
grep "^cron.use_background_workers" <<<"$recipe" | cluster__as_owner tee -a "$conf" >/dev/null
cluster_restart "$work/cluster"
wait_for 130 "SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status = 'succeeded'" 2 || true
check "both jobs' runs succeeded" "acme-backup|succeeded,acme-restore|succeeded" \
  "$(q -c "SELECT string_agg(DISTINCT concat_ws('|', j.jobname, r.status), ',') FROM cron.job_run_details r JOIN cron.job j USING (jobid) WHERE r.status = 'succeeded'")"
q -c "SELECT cron.unschedule('acme-restore')" >/dev/null
q -c "SET ROLE cron_app" -c "SELECT cron.unschedule('acme-backup')" >/dev/null
backup_id=$(q -c "SELECT min(id) FROM backup_logs WHERE name = 'from pg_cron'")
check "the backup job's rows: backup and export, trigger pg_cron, its job, its role" \
  "backup|completed|pg_cron|$backup_job|acme-backup|cron_app,export|completed|pg_cron|$backup_job|acme-backup|cron_app" \
  "$(q -c "SELECT string_agg(concat_ws('|', operation, status, trigger, cron_job_id, cron_job_name, created_by), ',' ORDER BY operation) FROM backup_logs WHERE pid = (SELECT pid FROM backup_logs WHERE id = $backup_id)")"
check "the stored snapshot verifies" true "$(q -c "SELECT backup_verify($backup_id) -> 'ok'")"
first_restore=$(q -c "SELECT min(id) FROM backup_logs WHERE operation = 'restore'")
check "the restore job's rows: pre_restore snapshot, delete, restore, each naming the job" \
  "backup|pre_restore|$restore_job|acme-restore,delete|pg_cron|$restore_job|acme-restore,restore|pg_cron|$restore_job|acme-restore" \
  "$(q -c "SELECT string_agg(concat_ws('|', operation, trigger, cron_job_id, cron_job_name), ',' ORDER BY operation) FROM backup_logs WHERE pid = (SELECT pid FROM backup_logs WHERE id = $first_restore)")"
check "the rows written before, from psql, are manual, without a job" "manual|-,manual|-" \
  "$(q -c "SELECT string_agg(concat_ws('|', trigger, coalesce(cron_job_id::text, '-')), ',' ORDER BY id) FROM backup_logs WHERE id IN ($restore_id, $delete_id)")"

echo "# application_name pg_cron is not a pg_cron run"
out=$(PGAPPNAME=pg_cron q -c "SELECT current_setting('application_name') || '|' || backup_create('1', name => 'psql as pg_cron')")
check_match "the call ran with application_name pg_cron" '^pg_cron\|[0-9]+$' "$out"
id=${out#*|}
check "its row is manual, without a job" "manual||" \
  "$(q -c "SELECT concat_ws('|', trigger, coalesce(cron_job_id::text, ''), coalesce(cron_job_name, '')) FROM backup_logs WHERE id = $id")"

echo "# over connections (cron.use_background_workers off again), with a password file"
# The doc's other way: pg_cron logs in over TCP with a password that the
# server's environment provides (PGPASSFILE instead of ~/.pgpass here, to
# leave the machine's postgres user alone). The run is then an ordinary
# client: cron.job_run_details alone names it.
q -c "ALTER ROLE cron_app PASSWORD 'cron-app-secret'" >/dev/null
echo "localhost:56231:app:cron_app:cron-app-secret" | cluster__as_owner tee "$work/cluster/pgpass" >/dev/null
cluster__as_owner chmod 600 "$work/cluster/pgpass"
echo "cron.use_background_workers = off" | cluster__as_owner tee -a "$conf" >/dev/null
PGPASSFILE="$work/cluster/pgpass" cluster_restart "$work/cluster"
q -c "SET ROLE cron_app" \
  -c "SELECT cron.schedule('acme-over-tcp', '* * * * *', \$\$SELECT backup_create('1', name => 'over a connection')\$\$)" >/dev/null
tcp_job=$(q -c "SELECT jobid FROM cron.job WHERE jobname = 'acme-over-tcp'")
wait_for 130 "SELECT count(*) > 0 FROM cron.job_run_details WHERE jobid = $tcp_job AND status = 'succeeded'" t || true
check "the job's run over a connection succeeded" succeeded \
  "$(q -c "SELECT status FROM cron.job_run_details WHERE jobid = $tcp_job AND status IN ('failed', 'succeeded') ORDER BY runid LIMIT 1")"
q -c "SET ROLE cron_app" -c "SELECT cron.unschedule('acme-over-tcp')" >/dev/null
check "its backup row says pg_cron and names the job" "completed|pg_cron|$tcp_job|acme-over-tcp|cron_app" \
  "$(q -c "SELECT concat_ws('|', status, trigger, cron_job_id, cron_job_name, created_by) FROM backup_logs WHERE name = 'over a connection' ORDER BY id LIMIT 1")"
finish
