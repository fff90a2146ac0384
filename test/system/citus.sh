#!/usr/bin/env bash
# Tenant backup and restore on a Citus cluster (docs/citus.md): a
# coordinator and two workers on this machine, Citus built from
# ../shared/vendor/citus by scripts/build-citus.sh (skipped without it).
#   - no backend of any node crashes (server logs, postmaster start times),
#     also for statements without parameters (a NULL tenant);
#   - row-based sharding: backup_create, damage, backup_restore gives every
#     table of tenant 1 back by fingerprint, tenants 2 and 3 byte-identical,
#     with the pre_restore snapshot; merge, insert_only, dry run and
#     import_stored behave as on one node;
#   - a restore of tenant 1 touches only tenant 1's shard group (and the
#     reference table), read from Citus' own log of the commands it sends;
#   - triggers: skipped on the workers for a superuser, fired when asked,
#     fired for a non-superuser with the reason said; the workers are back
#     to checking foreign keys after the import, in the same transaction;
#   - failures change nothing: a dangling reference, a row of another tenant;
#   - the whole database: a replace round trip over every shard, and the
#     refusal to change a reference table's rows (which Citus cannot do);
#   - schema-based sharding: a tenant schema restored, the other untouched.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/citus.sh
source test/lib/assert.sh

citus_require citus

work=$(mktemp -d /tmp/ptb-citus.XXXXXX)
chmod 755 "$work"
trap 'citus_stop "$work"; rm -rf "$work"' EXIT
citus_start "$work" 54470 "pg_tenant_backup.database = 'postgres'" >/dev/null
q -f test/fixtures/citus_shop.sql >/dev/null
started=$(q -c "SELECT pg_postmaster_start_time()")$(citus_worker_psql "$work" 1 -XAt -c "SELECT pg_postmaster_start_time()")$(citus_worker_psql "$work" 2 -XAt -c "SELECT pg_postmaster_start_time()")

# Every row of every tenant table, by table and tenant, as one md5 each.
q >/dev/null <<'SQL'
CREATE FUNCTION fingerprint(which int) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN (
  SELECT string_agg(t || ':' || md5(r), ' ' ORDER BY t) FROM (
    SELECT t, string_agg(r, '|' ORDER BY r) r FROM (
      SELECT 'tenants' t, x::text r FROM tenants x WHERE id = which UNION ALL
      SELECT 'customers', x::text FROM customers x WHERE tenant_id = which UNION ALL
      SELECT 'orders', x::text FROM orders x WHERE tenant_id = which UNION ALL
      SELECT 'order_lines', x::text FROM order_lines x WHERE tenant_id = which UNION ALL
      SELECT 'notes', x::text FROM notes x WHERE tenant_id = which) y GROUP BY t) z); END $$;
SQL
fp() { q -c "SELECT fingerprint($1)"; }
# Snapshots of Citus tables need a REPEATABLE READ transaction block (docs/citus.md).
rr() { q -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "$1" -c "COMMIT"; }
damage() {
  q >/dev/null <<'SQL'
DELETE FROM order_lines WHERE tenant_id = 1 AND order_id < 50;
DELETE FROM orders WHERE tenant_id = 1 AND id BETWEEN 10 AND 40;
UPDATE customers SET name = 'changed', country = 'JP' WHERE tenant_id = 1 AND id < 5;
INSERT INTO orders VALUES (1, 1000, 1, 5, '2026-06-01');
INSERT INTO order_lines VALUES (1, 1000, 1, 'new', 1);
UPDATE tenants SET name = 'Acme renamed' WHERE id = 1;
DELETE FROM notes WHERE tenant_id = 1 AND id < 10;
SQL
}
one=$(fp 1)
two=$(fp 2)
three=$(fp 3)

# --- Statements without parameters: the coordinator must plan them too.
check "whole-database export (NULL tenant): all six tables" "6" \
  "$(rr "SELECT count(*) FROM jsonb_array_elements(backup_export(NULL) -> 'data')")"
check "backup_stats of the whole database" "t" "$(q -c "SELECT count(*) >= 5 FROM backup_stats(NULL)")"

# --- Row-based sharding: the round trip.
id=$(rr "SELECT backup_create('1')")
check "backup_verify of a Citus tenant's snapshot" "true" "$(q -c "SELECT backup_verify($id) ->> 'ok'")"
damage
check "damage changed tenant 1" "t" "$(q -c "SELECT fingerprint(1) <> '$one'")"
damaged_once=$(fp 1)
check "a restore outside a REPEATABLE READ block is refused (its pre_restore snapshot would be torn)" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block" \
  "$(PGOPTIONS="-c pg_tenant_backup.allow_restore=on" q_error "SELECT backup_restore($id)")"
check "the refused restore changed nothing and left no pre_restore row" "$damaged_once 0" \
  "$(fp 1) $(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")"
report=$(PGOPTIONS="-c pg_tenant_backup.allow_restore=on" rr "SELECT backup_restore($id)")
check "restore: every table of tenant 1 is back" "$one" "$(fp 1)"
check "restore: tenant 2 untouched" "$two" "$(fp 2)"
check "restore: tenant 3 untouched" "$three" "$(fp 3)"
check_match "restore reports its changes" '"totals": \{"deleted": 2, "updated": 5, "inserted": 181, "unchanged": 1475\}' "$report"
check "restore took a pre_restore snapshot first" "1" \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore' AND tenant = '1' AND status = 'completed'")"
check "the pre_restore snapshot holds the damaged state" "1054" \
  "$(q -c "SELECT table_counts ->> 'public.order_lines' FROM backup_logs WHERE trigger = 'pre_restore'")"

# --- The other modes.
rr "CREATE TABLE snap AS SELECT backup_export('1') AS doc" >/dev/null
damage
damaged=$(fp 1)
dry=$(q -c "SELECT backup_import(doc, 'replace', '{\"dry_run\": true}') -> 'totals' FROM snap")
check "dry run reports the changes" '{"deleted": 2, "updated": 5, "inserted": 181, "unchanged": 1475}' "$dry"
check "dry run changes nothing" "$damaged" "$(fp 1)"
check "insert_only adds the missing rows only" '{"deleted": 0, "updated": 0, "inserted": 181, "unchanged": 1480}' \
  "$(q -c "SELECT backup_import(doc, 'insert_only') -> 'totals' FROM snap")"
check "merge updates the changed rows, keeps the extra ones" '{"deleted": 0, "updated": 5, "inserted": 0, "unchanged": 1656}' \
  "$(q -c "SELECT backup_import(doc, 'merge') -> 'totals' FROM snap")"
check "the extra order is still there after merge" "1" "$(q -c "SELECT count(*) FROM orders WHERE tenant_id = 1 AND id = 1000")"
check "import_stored replace removes it" '{"deleted": 2, "updated": 0, "inserted": 0, "unchanged": 1661}' \
  "$(q -c "SELECT backup_import_stored($id, 'replace') -> 'totals'")"
check "import_stored: tenant 1 is back" "$one" "$(fp 1)"
check "tenants 2 and 3 untouched by all of it" "$two $three" "$(fp 2) $(fp 3)"

# --- One shard group: Citus logs every command it sends to a shard.
damage
touched=$(psql -qXAt -v ON_ERROR_STOP=1 2>&1 >/dev/null <<'SQL' | grep -oE '\b(tenants|customers|orders|order_lines|countries)_[0-9]+\b' | sort -u | tr '\n' ' '
SET citus.log_remote_commands = on;
SET citus.log_local_commands = on;
SET client_min_messages = log;
SELECT backup_import(doc, 'replace') FROM snap;
SQL
)
expected=$(q -c "SELECT string_agg(s, ' ' ORDER BY s) || ' ' FROM (
  SELECT logicalrelid::text || '_' || get_shard_id_for_distribution_column(logicalrelid, 1) s
    FROM pg_dist_partition WHERE partmethod = 'h'
  UNION ALL SELECT 'countries_' || shardid FROM pg_dist_shard WHERE logicalrelid = 'countries'::regclass) x")
check "a restore of tenant 1 touches tenant 1's shard group and the reference table only" "$expected" "$touched"
check "and gives tenant 1 back" "$one" "$(fp 1)"

# --- Triggers and foreign keys on the workers.
q >/dev/null <<'SQL'
SET citus.enable_unsafe_triggers = on;
CREATE FUNCTION mark_line() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.sku := 'TRIGGERED'; RETURN NEW; END$$;
CREATE TRIGGER mark BEFORE INSERT ON order_lines FOR EACH ROW EXECUTE FUNCTION mark_line();
DELETE FROM order_lines WHERE tenant_id = 1 AND order_id = 7;
SQL
check "a superuser's import: the trigger is skipped on the workers" "false 0" \
  "$(q -c "SELECT backup_import(doc, 'replace') -> 'triggers' ->> 'fired' FROM snap" | tr '\n' ' ')$(q -c "SELECT count(*) FROM order_lines WHERE sku = 'TRIGGERED'")"
q -c "DELETE FROM order_lines WHERE tenant_id = 1 AND order_id = 7" >/dev/null
check "fire_triggers: the trigger runs on the workers" "true 3" \
  "$(q -c "SELECT backup_import(doc, 'replace', '{\"fire_triggers\": true}') -> 'triggers' ->> 'fired' FROM snap" | tr '\n' ' ')$(q -c "SELECT count(*) FROM order_lines WHERE sku = 'TRIGGERED'")"
after=$(psql -qXAt -v VERBOSITY=verbose 2>&1 <<'SQL' | grep -m1 -oE 'ERROR:  [0-9A-Z]{5}' || true
BEGIN;
SELECT backup_import(doc, 'replace') FROM snap;
INSERT INTO order_lines VALUES (1, 99999, 1, 'dangling', 1);
SQL
)
check "after the import the workers check foreign keys again (same transaction)" "ERROR:  23503" "$after"
q -c "SET citus.enable_unsafe_triggers = on" -c "DROP TRIGGER mark ON order_lines" -c "SELECT backup_import(doc, 'replace') FROM snap" >/dev/null
q >/dev/null <<'SQL'
CREATE ROLE shop_admin LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO shop_admin;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO shop_admin;
GRANT EXECUTE ON FUNCTION backup_import(jsonb, text, jsonb) TO shop_admin;
SQL
check_match "a non-superuser's import fires triggers on Citus, and says why" \
  'fired: the import writes Citus tables' \
  "$(PGUSER=shop_admin q -c "SELECT backup_import(doc, 'merge') -> 'triggers' ->> 'reason' FROM snap")"
check "tenant 1 as it was" "$one" "$(fp 1)"

# --- Failures change nothing.
check "a snapshot with a dangling reference is refused" "ERROR:  23503" \
  "$(q_error "SELECT backup_import(jsonb_set(doc, '{data}', (SELECT jsonb_agg(CASE WHEN d ->> 'name' = 'order_lines'
     THEN jsonb_set(d, '{rows,0,1}', '99999') ELSE d END) FROM jsonb_array_elements(doc -> 'data') d)), 'replace')
     FROM snap" | grep -oE '^ERROR:  [0-9A-Z]{5}')"
check "a row of tenant 2 in tenant 1's snapshot is refused" "ERROR:  22023" \
  "$(q_error "SELECT backup_import(jsonb_set(doc, '{data}', (SELECT jsonb_agg(CASE WHEN d ->> 'name' = 'notes'
     THEN jsonb_set(d, '{rows,0,1}', '2') ELSE d END) FROM jsonb_array_elements(doc -> 'data') d)), 'replace')
     FROM snap" | grep -oE '^ERROR:  [0-9A-Z]{5}')"
check "after the refusals every tenant is as it was" "$one $two $three" "$(fp 1) $(fp 2) $(fp 3)"

# --- The whole database (tenant NULL): every shard, the reference table as data.
fp_all() {
  q -c "SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
    SELECT x::text r FROM customers x UNION ALL SELECT x::text FROM orders x UNION ALL
    SELECT x::text FROM order_lines x UNION ALL SELECT x::text FROM notes x UNION ALL
    SELECT x::text FROM tenants x UNION ALL SELECT x::text FROM countries x) y"
}
all_before=$(fp_all)
rr "CREATE TABLE snap_all AS SELECT backup_export(NULL) AS doc" >/dev/null
q -c "DELETE FROM order_lines WHERE order_id < 5" -c "UPDATE customers SET name = 'x' WHERE id = 3" \
  -c "INSERT INTO orders VALUES (2, 5000, 1, 1, '2026-06-01')" >/dev/null
check "whole database: replace (one shard at a time, reference table unchanged) gives every row back" \
  "$all_before" "$(q -c "SELECT backup_import(doc, 'replace') FROM snap_all" >/dev/null; fp_all)"
q -c "UPDATE countries SET name = 'Deutschland' WHERE code = 'DE'" -c "DELETE FROM order_lines WHERE order_id = 9" >/dev/null
changed=$(fp_all)
check "whole database: a change to a reference table's rows is refused (Citus cannot write it from an import)" \
  "ERROR:  0A000: the import would change rows of public.countries, a Citus reference table, which Citus does not update from an import" \
  "$(q_error "SELECT backup_import(doc, 'replace') FROM snap_all")"
check "and nothing was changed" "$changed" "$(fp_all)"
q -c "UPDATE countries SET name = 'Germany' WHERE code = 'DE'" -c "SELECT backup_import(doc, 'replace') FROM snap_all" >/dev/null
check "with the reference row put back by hand, the replace goes through" "$all_before" "$(fp_all)"

# --- Schema-based sharding: one distributed schema per tenant.
q >/dev/null <<'SQL'
SET client_min_messages = warning;
SET citus.enable_schema_based_sharding = on;
CREATE SCHEMA shop_a;
CREATE SCHEMA shop_b;
RESET citus.enable_schema_based_sharding;
CREATE TABLE shop_a.items (id int PRIMARY KEY, name text, country text REFERENCES public.countries);
CREATE TABLE shop_a.item_tags (item_id int REFERENCES shop_a.items ON DELETE CASCADE, tag text,
                               PRIMARY KEY (item_id, tag));
CREATE TABLE shop_b.items (id int PRIMARY KEY, name text, country text REFERENCES public.countries);
INSERT INTO shop_a.items SELECT g, 'a' || g, 'DE' FROM generate_series(1, 100) g;
INSERT INTO shop_a.item_tags SELECT g, 't' || k FROM generate_series(1, 100) g, generate_series(1, 2) k;
INSERT INTO shop_b.items SELECT g, 'b' || g, 'FR' FROM generate_series(1, 100) g;
SQL
schema_fp() { q -c "SELECT md5(string_agg(x::text, '|' ORDER BY x::text)) FROM $1 x"; }
a_items=$(schema_fp shop_a.items)
a_tags=$(schema_fp shop_a.item_tags)
b_items=$(schema_fp shop_b.items)
export PGOPTIONS="-c pg_tenant_backup.tenancy=schema -c pg_tenant_backup.allow_restore=on"
check "schema tenancy: a tenant schema's tables" "public.countries master|shop_a.item_tags tenant|shop_a.items tenant" \
  "$(q -c "SELECT string_agg(table_name || ' ' || role, '|' ORDER BY table_name) FROM backup_stats('shop_a')")"
sid=$(rr "SELECT backup_create('shop_a')")
q -c "DELETE FROM shop_a.items WHERE id < 20" -c "UPDATE shop_a.item_tags SET tag = 'zz' WHERE item_id = 50 AND tag = 't1'" \
  -c "UPDATE shop_b.items SET name = 'b changed' WHERE id = 1" >/dev/null
b_changed=$(schema_fp shop_b.items)
rr "SELECT backup_restore($sid)" >/dev/null
check "schema tenancy: the tenant schema is back" "$a_items $a_tags" "$(schema_fp shop_a.items) $(schema_fp shop_a.item_tags)"
check "schema tenancy: the other schema keeps its own change" "$b_changed" "$(schema_fp shop_b.items)"
check "schema tenancy: merge of an export is a no-op" '{"deleted": 0, "updated": 0, "inserted": 0, "unchanged": 300}' \
  "$(rr "SELECT backup_import(backup_export('shop_a'), 'merge') -> 'totals'")"
unset PGOPTIONS
[ "$b_items" != "$b_changed" ] || check "shop_b was really changed" "different" "same"

# --- Imports and restores run on the coordinator only (its lock is the tenant's lock).
worker_error=$(citus_worker_psql "$work" 1 -qXAt -v VERBOSITY=verbose -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
  -c "SELECT backup_import(backup_export('1'), 'merge')" 2>&1 | grep -m1 '^ERROR:' || true)
check "an import on a worker node is refused" "ERROR:  0A000: an import or restore cannot run on a Citus worker node" "$worker_error"

# --- Point-in-time restore needs the changes of the workers: refused.
check "backup_restore_to is refused on a Citus cluster" \
  "ERROR:  0A000: backup_restore_to is not supported on a Citus cluster" \
  "$(PGOPTIONS="-c pg_tenant_backup.allow_restore=on" q_error "SELECT backup_restore_to('1', now())")"

# --- Nothing crashed anywhere.
now=$(q -c "SELECT pg_postmaster_start_time()")$(citus_worker_psql "$work" 1 -XAt -c "SELECT pg_postmaster_start_time()")$(citus_worker_psql "$work" 2 -XAt -c "SELECT pg_postmaster_start_time()")
check "no node restarted" "$started" "$now"
check "no backend died on any node" "no" "$(citus_crashed "$work" && echo yes || echo no)"
finish
