#!/usr/bin/env bash
# backup_restore on a real server: refused unless a superuser allows it;
# takes a pre_restore snapshot first, replaces the tenant's data with the
# stored snapshot, marks the source restored and logs a restore row;
# restoring the pre_restore snapshot undoes it; a deleted tenant comes back
# whole and its sequences let the application insert at once; corrupt,
# deleted or too old snapshots are refused with nothing changed; a failed
# import stays logged after the caller's ROLLBACK.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-import-restore.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54351 cluster_start "$work/cluster"
storage="$work/cluster/data/pg_tenant_backup"
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q >/dev/null <<'SQL'
CREATE TABLE tickets (id serial PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                      n bigint GENERATED ALWAYS AS IDENTITY, subject text);
INSERT INTO tickets (tenant_id, subject) VALUES (2, 'x'), (1, 'a'), (1, 'b');
CREATE ROLE app LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA public TO app;
GRANT EXECUTE ON FUNCTION backup_restore(bigint, jsonb), backup_import(jsonb, text, jsonb),
  backup_create(text, jsonb, text, text, boolean), backup_tenant_busy(text) TO app;
-- The tenant's rows as sorted text, and every other row with its row version.
CREATE FUNCTION tenant1() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(r, ' | ' ORDER BY r) FROM (
    SELECT 'c' || x::text AS r FROM customers x WHERE tenant_id = 1
    UNION ALL SELECT 'o' || o::text FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1
    UNION ALL SELECT 'l' || l::text FROM order_lines l JOIN orders o ON o.id = l.order_id
                                    JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1
    UNION ALL SELECT 't' || x::text FROM tickets x WHERE tenant_id = 1
    UNION ALL SELECT 'n' || x::text FROM tenants x WHERE id = 1) s $$;
CREATE FUNCTION others() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(r, ',' ORDER BY r)) FROM (
    SELECT x::text || x.xmin AS r FROM customers x WHERE tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM tickets x WHERE tenant_id <> 1
    UNION ALL SELECT o::text || o.xmin FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM returns x JOIN orders o ON o.id = x.order_id
                                          JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM countries x) s $$;
GRANT EXECUTE ON FUNCTION tenant1(), others() TO app;
SQL

echo "# refused unless a superuser allows it"
id=$(q -c "SELECT backup_create('1', '{\"include_deleted\": true}')")
check_match "restore is off by default: 42501" 'ERROR:  42501: backup_restore is not allowed on this server' \
  "$(q_error "SELECT backup_restore($id)")"
check_match "only a superuser may turn it on" '42501' \
  "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SET pg_tenant_backup.allow_restore = on")"
check "the refusal is logged" "restore|failed|42501|$id" \
  "$(q -c "SELECT operation, status, error ->> 'sqlstate', source_id FROM backup_logs WHERE operation = 'restore'")"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.allow_restore = on" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

echo "# a mistake, then the restore"
snapshot=$(q -c "SELECT tenant1()")
others=$(q -c "SELECT others()")
q >/dev/null <<'SQL'
UPDATE customers SET name = 'Ann (typo)' WHERE id = 10;
DELETE FROM order_lines WHERE order_id = 100 AND line_no = 2;
INSERT INTO customers VALUES (13, 1, 'Added later', 'DE', NULL, NULL);
INSERT INTO tickets (tenant_id, subject) VALUES (1, 'c');
SQL
mistake=$(q -c "SELECT tenant1()")
report=$(PGUSER=app q -c "SELECT backup_restore($id, '{\"tenant\": \"1\"}')")
pre=$(q -c "SELECT ('$report'::jsonb ->> 'pre_restore_id')::bigint")
check "the report names the source and the pre_restore snapshot" "$id|replace|f" \
  "$(q -c "SELECT r ->> 'source_id', r ->> 'mode', (r -> 'pre_restore_id') = 'null' FROM (SELECT '$report'::jsonb r) s")"
check "the report counts the changes" '{"deleted": 4, "updated": 1, "inserted": 3, "unchanged": 13}' \
  "$(q -c "SELECT '$report'::jsonb -> 'totals'")"
check "the tenant's rows equal the snapshot again" "$snapshot" "$(q -c "SELECT tenant1()")"
check "no row of another tenant was touched" "$others" "$(q -c "SELECT others()")"
check "a pre_restore snapshot was taken first, as the caller" "backup|pre_restore|completed|app|1" \
  "$(q -c "SELECT operation, trigger, status, created_by, tenant FROM backup_logs WHERE id = $pre")"
check "its file is stored" yes "$([ -f "$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $pre")" ] && echo yes || echo no)"
check "the source snapshot is marked restored" restored "$(q -c "SELECT status FROM backup_logs WHERE id = $id")"
check "a restore row records who, the source, the counts and the pre_restore id" \
  "completed|app|$id|1|17|replace: 3 inserted, 1 updated, 13 unchanged, 4 deleted; pre_restore snapshot $pre" \
  "$(q -c "SELECT status, created_by, source_id, tenant, row_count, notes FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"
check "the restore row has its times" t \
  "$(q -c "SELECT finished_at >= started_at FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"

echo "# restoring the pre_restore snapshot undoes the restore"
q -c "SELECT backup_restore($pre)" >/dev/null
check "the tenant is back in the state before the restore" "$mistake" "$(q -c "SELECT tenant1()")"
check "which itself took a pre_restore snapshot" 2 "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")"
q -c "SELECT backup_restore($id)" >/dev/null
check "a snapshot already restored can be restored again" "$snapshot" "$(q -c "SELECT tenant1()")"

echo "# a deleted tenant comes back whole, and the application can insert at once"
q >/dev/null <<'SQL'
DELETE FROM line_notes WHERE order_id IN (100, 101, 102);
DELETE FROM order_lines WHERE order_id IN (100, 101, 102);
DELETE FROM returns WHERE order_id IN (100, 101, 102);
DELETE FROM orders WHERE id IN (100, 101, 102);
UPDATE returns SET handled_by = NULL WHERE handled_by IN (10, 11);
DELETE FROM customers WHERE tenant_id = 1;
DELETE FROM "Order ""Notes""; --" WHERE tenant_id = 1;
DELETE FROM events WHERE tenant_id = 1;
DELETE FROM audit_logs WHERE tenant_id = 1;
DELETE FROM tickets WHERE tenant_id = 1;
DELETE FROM tenants WHERE id = 1;
SELECT setval('tickets_id_seq', 1);
SELECT setval(pg_get_serial_sequence('tickets', 'n'), 1);
SQL
others=$(q -c "SELECT others()")
check "the restore of a tenant that does not exist takes no pre_restore snapshot" "null" \
  "$(q -c "SELECT backup_restore($id) -> 'pre_restore_id'")"
check "and says so" "; no pre_restore snapshot: the tenant did not exist" \
  "$(q -c "SELECT substring(notes from ';.*') FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"
check "the deleted tenant's rows are back" "$snapshot" "$(q -c "SELECT tenant1()")"
check "an INSERT through the sequences works after the restore" "4|4" \
  "$(PGUSER=app q -c "INSERT INTO tickets (tenant_id, subject) VALUES (1, 'new') RETURNING id, n")"
check "no row of another tenant was touched" "$others" "$(q -c "SELECT others()")"

echo "# refused snapshots change nothing"
state=$(q -c "SELECT tenant1()")
pre_count=$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")
bad=$(q -c "SELECT backup_create('1')")
f="$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $bad")"
printf '\xff' | as_owner dd of="$f" bs=1 seek=40 conv=notrunc status=none
check_match "a corrupted file does not pass verification: 55000" \
  "ERROR:  55000: backup $bad does not pass verification: snapshot file of backup $bad is corrupted" \
  "$(q_error "SELECT backup_restore($bad)")"
check_match "backup_import_stored refuses it too: 55000" \
  "ERROR:  55000: backup $bad does not pass verification: snapshot file of backup $bad is corrupted" \
  "$(q_error "SELECT backup_import_stored($bad, 'replace')")"
check_match "backup_import_stored of an unknown id: 42704" "42704: backup 999 does not exist" \
  "$(q_error "SELECT backup_import_stored(999)")"
check_match "backup_import_stored needs EXECUTE: 42501" "42501: permission denied for function backup_import_stored" \
  "$(PGUSER=app q_error "SELECT backup_import_stored($bad)")"
q -c "SELECT backup_delete($bad)" >/dev/null
check_match "a snapshot of another tenant than opts.tenant: 22023, naming both" \
  "ERROR:  22023: backup $id is of tenant \"1\", not of tenant \"2\" as opts.tenant expects" \
  "$(q_error "SELECT backup_restore($id, '{\"tenant\": \"2\"}')")"
check "its restore row says failed, with the error" "failed|1|22023|$id" \
  "$(q -c "SELECT status, tenant, error ->> 'sqlstate', source_id FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"
check_match "opts.tenant null expects the whole database: 22023" \
  "22023: backup $id is of tenant \"1\", not of the whole database as opts.tenant expects" \
  "$(q_error "SELECT backup_restore($id, '{\"tenant\": null}')")"
check_match "backup_import_stored checks opts.tenant too: 22023" \
  "22023: backup $id is of tenant \"1\", not of tenant \"2\" as opts.tenant expects" \
  "$(q_error "SELECT backup_import_stored($id, 'replace', '{\"tenant\": \"2\"}')")"
check_match "and backup_import of a document" \
  "22023: the snapshot is of tenant \"1\", not of tenant \"2\" as opts.tenant expects" \
  "$(q_error "SELECT backup_import(backup_export('1'), 'replace', '{\"tenant\": \"2\"}')")"
check_match "an opts.tenant that is not a string: 22023" '22023: invalid value for option "tenant"' \
  "$(q_error "SELECT backup_restore($id, '{\"tenant\": true}')")"
check_match "a deleted snapshot: 55000" "55000: backup $bad is deleted" "$(q_error "SELECT backup_restore($bad)")"
check_match "an unknown id: 42704" "42704: backup 999 does not exist" "$(q_error "SELECT backup_restore(999)")"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.restore_window = '1 hour'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
q -c "UPDATE backup_logs SET finished_at = now() - interval '2 hours' WHERE id = $id" >/dev/null
check_match "a snapshot older than restore_window: 55000" \
  "55000: backup $id is older than pg_tenant_backup.restore_window \(1 hour\)" "$(q_error "SELECT backup_restore($id)")"
check_match "only a superuser may change the window" '42501' \
  "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SET pg_tenant_backup.restore_window = '0'")"
check_match "a window that is not an interval is refused" '22023: invalid value for parameter "pg_tenant_backup.restore_window"' \
  "$(q_error "LOAD 'pg_tenant_backup'; SET pg_tenant_backup.restore_window = 'seven days'")"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM RESET pg_tenant_backup.restore_window" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
check "the tenant is unchanged by the refusals" "$state" "$(q -c "SELECT tenant1()")"
check "and they took no pre_restore snapshot" "$pre_count" "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")"

echo "# a dry run restores nothing"
check "the matching opts.tenant passes, as a string or a number" 'true|true' \
  "$(q -c "SELECT backup_restore($id, '{\"dry_run\": true, \"tenant\": \"1\"}') -> 'dry_run',
                  backup_import_stored($id, 'replace', '{\"dry_run\": true, \"tenant\": 1}') -> 'dry_run'")"
q -c "UPDATE customers SET name = 'Dry' WHERE id = 10" >/dev/null
check "the dry run reports the change" '1|true|null' \
  "$(q -c "SELECT r -> 'totals' -> 'updated', r -> 'dry_run', r -> 'pre_restore_id' FROM (SELECT backup_restore($id, '{\"dry_run\": true}') r) s")"
check "and makes none" Dry "$(q -c "SELECT name FROM customers WHERE id = 10")"
check "nor a pre_restore snapshot" "$pre_count" "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")"

echo "# a failed import stays logged after the caller's ROLLBACK"
psql -qXAt -c "CREATE TABLE doc AS SELECT jsonb_set(backup_export('1'), '{master_data,1,rows,0,0}', '\"XX\"') d" >/dev/null
err=$(psql -qXAt -v VERBOSITY=verbose -c "BEGIN" -c "SELECT backup_import(d, 'replace') FROM doc" -c "ROLLBACK" 2>&1 | grep -m1 ERROR || true)
check_match "the import fails" 'ERROR:  23503: master row public.countries \(code\)=\(XX\)' "$err"
check "its row says failed, with the error, after the ROLLBACK" "failed|1|23503|master row public.countries (code)=(XX) of the snapshot does not exist in this database" \
  "$(q -c "SELECT status, tenant, error ->> 'sqlstate', error ->> 'message' FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1")"
# An import's row is written 'running' at its start, autonomously; the
# caller's transaction finishes it. Rolled back, the row stays, not
# completed, until a recovery pass marks it failed.
completed=$(q -c "SELECT count(*) FROM backup_logs WHERE operation = 'import' AND status = 'completed'")
check "a successful import rolled back leaves no completed row, its row running" "$completed|running" \
  "$(psql -qXAt -c "BEGIN" -c "SELECT backup_import(backup_export('1'), 'replace') IS NOT NULL" -c "ROLLBACK" >/dev/null
     q -c "SELECT count(*) FILTER (WHERE status = 'completed') || '|' || (array_agg(status ORDER BY id DESC))[1] FROM backup_logs WHERE operation = 'import'")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
