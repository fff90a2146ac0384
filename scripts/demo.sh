#!/usr/bin/env bash
# The main job end to end on a throwaway cluster: install the packages,
# build and install the extension, load a sample multi-tenant schema, and
# show what each tenant's snapshot holds. The cluster is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
source scripts/step.sh

bash scripts/install-deps.sh
echo "== build and install"
step "make (a minute or two the first time)" make -s -j2 >/dev/null
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
step "make install into $("${PG_CONFIG:-pg_config}" --pkglibdir)" "${sudo[@]}" make -s install >/dev/null

work=$(mktemp -d /tmp/ptb-demo.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
CLUSTER_PLAIN_SEARCH_PATH=1 PGPORT_FOR_TESTS=54330 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'demo'"
echo "== throwaway cluster on $PGHOST, port $PGPORT"

run() { psql -X -v ON_ERROR_STOP=1 -d demo "$@"; }
psql -qX -c "CREATE DATABASE demo"
run -q -f examples/demo-schema.sql
run -q -c "CREATE EXTENSION pg_tenant_backup"

echo "== what the snapshot of tenant 1 (Acme GmbH) contains"
run -c "SELECT * FROM tenant_backup.backup_stats('1')"
echo "== tenant 2 (Globex Inc), without its soft-deleted users"
run -c "SELECT table_name, role, row_count FROM tenant_backup.backup_stats('2') ORDER BY role, table_name"
echo "== tenant 1's snapshot document: sections and statistics"
run -c "SELECT key AS section, CASE jsonb_typeof(value) WHEN 'array' THEN jsonb_array_length(value)::text ELSE left(value::text, 60) END AS content
          FROM jsonb_each((SELECT tenant_backup.backup_export('1')))"
run -c "SELECT x ->> 'name' AS table_name, x ->> 'role' AS role, jsonb_array_length(x -> 'rows') AS rows, left((x -> 'rows' -> 0)::text, 70) AS first_row
          FROM jsonb_array_elements((SELECT tenant_backup.backup_export('1')) -> 'data') x"
echo "== store snapshots of tenants 1 and 2, verify one"
run -c "SELECT tenant_backup.backup_create('1', name => 'demo') AS acme_backup, tenant_backup.backup_create('2') AS globex_backup"
run -c "SELECT id, tenant, name, size_mb, compression, table_count, row_count, restorable FROM tenant_backup.backup_list"
run -c "SELECT tenant_backup.backup_verify(id) ->> 'ok' AS verified, tenant_backup.backup_verify(id) -> 'checks' AS checks FROM tenant_backup.backup_list WHERE tenant = '1'"
echo "== a mistake in tenant 1, then a restore of tenant 1 only"
run -c "DELETE FROM comments WHERE task_id IN (SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.tenant_id = 1)"
run -c "UPDATE users SET profile = '{}' WHERE tenant_id = 1"
run -c "SELECT tenant_id, count(*) AS comments FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id GROUP BY 1 ORDER BY 1"
run -c "SELECT jsonb_pretty(tenant_backup.backup_import(tenant_backup.backup_read(3), 'replace', '{\"dry_run\": true}') -> 'totals') AS \"dry run: what a restore would do\""
run -c "SET pg_tenant_backup.allow_restore = on" \
    -c "SELECT r -> 'totals' AS restored, r -> 'pre_restore_id' AS undo_with FROM tenant_backup.backup_restore(3) r"
run -c "SELECT tenant_id, count(*) AS comments FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id GROUP BY 1 ORDER BY 1"
echo "== a schedule: every tenant, every 3 seconds, keeping 2 snapshots each"
# The scheduler retries every 10 s until its database (created above) exists.
for i in $(seq 60); do
  [ -n "$(psql -qXAt -d demo -c "SELECT tenant_backup.backup_scheduler_pid()")" ] && break
  sleep 0.5
done
run -c "SELECT tenant_backup.backup_schedule_create('demo-every-tenant', '*', '3 seconds', '{\"max_backups\": 2}')"
run -c "SELECT * FROM tenant_backup.backup_schedule_preview('0 3 * * MON-FRI', 3, 'Europe/Berlin') AS \"next 3 runs of '0 3 * * MON-FRI' in Berlin\""
sleep 7
run -c "SELECT tenant_backup.backup_schedule_disable('demo-every-tenant')"
run -c "SELECT tenant, count(*) FILTER (WHERE status = 'completed') AS stored, count(*) FILTER (WHERE status = 'expired') AS pruned
          FROM tenant_backup.backup_logs WHERE trigger = 'scheduled' GROUP BY tenant ORDER BY tenant"
run -c "SELECT jsonb_pretty(tenant_backup.backup_scheduler_status() - 'schedules') AS scheduler"
echo "== every operation is logged"
run -c "SELECT id, operation, trigger, tenant, status, row_count, created_by, duration FROM tenant_backup.backup_logs ORDER BY id DESC LIMIT 12"
echo "== the whole database (tenant NULL)"
run -c "SELECT * FROM tenant_backup.backup_stats(NULL)"
