#!/usr/bin/env bash
# ALTER EXTENSION pg_tenant_backup UPDATE from the released 0.1.0 to the
# control file's default_version, on a database that used 0.1.0 (backups of
# two tenants, an export, a schedule), with the scheduler preloaded:
# - extversion is then the default_version (read from the server, not hard-coded);
# - the old log rows and schedules are intact (same ids, checksums, files);
# - the old snapshots verify, restore, and import; new backups work; the
#   scheduler runs an old schedule against the updated tables;
# - an admin's grant on backup_create, whose signature 0.2.0 changes, is
#   kept, and 0.1.0 calls of it still work;
# - the extension's member objects and their definitions (functions with
#   ACLs and settings, initial privileges (pg_init_privs), columns, defaults, constraints, indexes, policies,
#   grants, comments, config dump registration) are IDENTICAL to a fresh
#   CREATE EXTENSION in another database, and so is pg_dump --schema-only;
# - the members move from public, where 0.1.0 lived, into the schema
#   tenant_backup; a tenant_backup schema a non-superuser owns is refused;
# - DROP EXTENSION after the update leaves no error, no job worker, no
#   member object, and keeps the stored files (test/system/dump_restore.sh
#   checks the scheduler carries on after DROP EXTENSION; not repeated here).
# Generic: it checks whatever sql/pg_tenant_backup--0.1.0--*.sql contains.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-upgrade.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54395 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'app'" \
  "pg_tenant_backup.allow_restore = on"
storage="$work/cluster/data/pg_tenant_backup"
q -c "CREATE DATABASE app" -c "CREATE DATABASE fresh" >/dev/null
cluster_restart "$work/cluster"   # the scheduler connects to app at once

default_version=$(q -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_tenant_backup'")
echo "# 0.1.0 -> $default_version"
check "0.1.0 is an available version" 1 \
  "$(q -c "SELECT count(*) FROM pg_available_extension_versions WHERE name = 'pg_tenant_backup' AND version = '0.1.0'")"
if [ "$default_version" != 0.1.0 ]; then
  check "there is an update path from 0.1.0 to $default_version" t \
    "$(q -c "SELECT path IS NOT NULL FROM pg_extension_update_paths('pg_tenant_backup') WHERE source = '0.1.0' AND target = '$default_version'")"
fi

echo "# use 0.1.0"
# 0.1.0 had no schema in its control file: it went into the first schema of
# the search_path, public. A secondary control file for that version, for
# this test only, puts it there again (the control file names
# tenant_backup for every version otherwise).
aux_control="$("${PG_CONFIG:-pg_config}" --sharedir)/extension/pg_tenant_backup--0.1.0.control"
trap 'rm -f "$aux_control"; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
echo "schema = public" >"$aux_control"
q -d app -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup VERSION '0.1.0'" \
  -f test/fixtures/shop.sql >/dev/null
rm -f "$aux_control"
check "0.1.0 is in public" "public|22" \
  "$(q -d app -c "SELECT extnamespace::regnamespace, (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'backup\_%') FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
check "the app database runs 0.1.0" 0.1.0 "$(q -d app -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
q -d app >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT backup_create('1', name => 'acme before update');
SELECT backup_create('2', '{"compression": "none"}', 'globex before update');
-- A stored snapshot holds soft-deleted rows (include_deleted defaults to true for it).
CREATE TABLE saved_export AS SELECT backup_export('1') AS doc, backup_export('1', '{"include_deleted": true}') AS complete;
SELECT backup_schedule_create('nightly', '*', '0 3 * * *', '{"timezone": "Europe/Berlin", "max_backups": 7}', 'every tenant at night');
-- An admin's grant on a function whose signature 0.2.0 changes.
CREATE ROLE ptb_upgrade_admin;
GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text) TO ptb_upgrade_admin;
SQL
logs_sql="SELECT string_agg(concat_ws(':', id, operation, trigger, tenant, name, status, file_name, size_bytes, checksum, row_count, table_counts, created_by), ',' ORDER BY id) FROM backup_logs"
schedules_sql="SELECT string_agg(concat_ws(':', id, name, tenant, schedule, timezone, is_active, options, max_backups, description, created_by, next_run_at), ',' ORDER BY id) FROM backup_schedules"
tenant1_sql="SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (SELECT c::text AS x FROM customers c WHERE tenant_id = 1 UNION ALL SELECT o::text FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1) s"
logs_before=$(q -d app -c "$logs_sql")
schedules_before=$(q -d app -c "$schedules_sql")
tenant1_before=$(q -d app -c "$tenant1_sql")
files_before=$(cd "$storage" && find . -type f | sort | tr '\n' ' ')
check "0.1.0 made two completed backups" 2 "$(q -d app -c "SELECT count(*) FROM backup_logs WHERE operation = 'backup' AND status = 'completed'")"

echo "# ALTER EXTENSION pg_tenant_backup UPDATE"
update=$(psql -qXAt -v ON_ERROR_STOP=1 -d app -c "ALTER EXTENSION pg_tenant_backup UPDATE" 2>&1) || true
check "the update succeeds without a message" "" "$update"
check "extversion is the control file's default_version" "$default_version" \
  "$(q -d app -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
check "the log rows are intact (ids, files, checksums, counts)" "$logs_before" "$(q -d app -c "$logs_sql")"
check "the schedules are intact" "$schedules_before" "$(q -d app -c "$schedules_sql")"
check "the stored files are untouched" "$files_before" "$(cd "$storage" && find . -type f | sort | tr '\n' ' ')"
check "the extension is in the schema tenant_backup" tenant_backup \
  "$(q -d app -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
check "nothing of it is left in public (functions, tables, views, sequences)" "0|0" \
  "$(q -d app -c "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'backup\_%'), (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname LIKE 'backup\_%')")"
check "no function body names public any more" 0 \
  "$(q -d app -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'tenant_backup'::regnamespace AND prosrc LIKE '%public.%'")"
check "the extension depends on its new schema, not on public" "tenant_backup" \
  "$(q -d app -c "SELECT string_agg(refobjid::regnamespace::text, ',') FROM pg_depend WHERE classid = 'pg_extension'::regclass AND objid = (SELECT oid FROM pg_extension WHERE extname = 'pg_tenant_backup') AND refclassid = 'pg_namespace'::regclass")"
check "a plain role may look names up in it (each object keeps its own grants)" "t|f" \
  "$(q -d app -c "SELECT has_schema_privilege('public', 'tenant_backup', 'USAGE'), has_function_privilege('public', 'tenant_backup.backup_export(text, jsonb)', 'EXECUTE')")"
id1=$(q -d app -c "SELECT id FROM backup_logs WHERE name = 'acme before update'")
id2=$(q -d app -c "SELECT id FROM backup_logs WHERE name = 'globex before update'")
check "the old zstd snapshot verifies" true "$(q -d app -c "SELECT backup_verify($id1) -> 'ok'")"
check "the old uncompressed snapshot verifies" true "$(q -d app -c "SELECT backup_verify($id2) -> 'ok'")"
check "the old snapshot reads back as the old export's data" t \
  "$(q -d app -c "SELECT backup_read($id1) -> 'data' = complete -> 'data' FROM saved_export")"

echo "# old snapshots restore and import after the update"
q -d app -c "UPDATE customers SET name = 'Ann (typo)' WHERE id = 10" -c "DELETE FROM orders WHERE id = 101" >/dev/null
check "the old snapshot restores" 1 \
  "$(q -d app -c "SELECT backup_restore($id1) -> 'totals' -> 'updated'")"
check "the tenant's rows are those of before the update" "$tenant1_before" "$(q -d app -c "$tenant1_sql")"
# A dry run of the old document reports what one of a new export does
# (events has no primary key: its rows are always deleted and inserted).
check "the old export document imports as a new one would (dry run)" \
  "$(q -d app -c "SELECT backup_import(backup_export('1'), 'replace', '{\"dry_run\": true}') -> 'totals'")" \
  "$(q -d app -c "SELECT backup_import(doc, 'replace', '{\"dry_run\": true}') -> 'totals' FROM saved_export")"
check "which changes nothing" 0 "$(q -d app -c "SELECT backup_import(doc, 'replace', '{\"dry_run\": true}') -> 'totals' -> 'updated' FROM saved_export")"

echo "# backup_create's new signature keeps the grants and the old calls"
check "the admin's EXECUTE grant on backup_create is kept" t \
  "$(q -d app -c "SELECT has_function_privilege('ptb_upgrade_admin', 'backup_create(text, jsonb, text, text, boolean)', 'EXECUTE')")"
check "and it is the only backup_create" 1 "$(q -d app -c "SELECT count(*) FROM pg_proc WHERE proname = 'backup_create'")"
old_call=$(q -d app -c "SELECT backup_create('1', '{}', 'old call', 'notes')")
check "a 0.1.0 call with four positional arguments works" "completed|old call|f" \
  "$(q -d app -c "SELECT status, name, keep FROM backup_logs WHERE id = $old_call")"
kept=$(q -d app -c "SELECT backup_create('1', name => 'kept', keep => true)")
check "keep => true pins the new snapshot" t "$(q -d app -c "SELECT keep FROM backup_list WHERE id = $kept")"

echo "# new backups after the update"
new=$(q -d app -c "SELECT backup_create('2', name => 'after update')")
check "a new backup completes" completed "$(q -d app -c "SELECT status FROM backup_logs WHERE id = $new")"
check "and verifies" true "$(q -d app -c "SELECT backup_verify($new) -> 'ok'")"
check "its id follows the old ones" t "$(q -d app -c "SELECT $new > $id2")"
check "an old schedule changes with the new functions" "30 2 * * *" \
  "$(q -d app -c "SELECT backup_schedule_update('nightly', schedule => '30 2 * * *')" >/dev/null; q -d app -c "SELECT schedule FROM backup_schedules WHERE name = 'nightly'")"
schedule_id=$(q -d app -c "SELECT id FROM backup_schedules WHERE name = 'nightly'")
q -d app -c "UPDATE backup_schedules SET next_run_at = now() WHERE id = $schedule_id" >/dev/null
for i in $(seq 150); do
  [ "$(q -d app -c "SELECT count(*) FROM backup_logs WHERE schedule_id = $schedule_id AND status <> 'running'")" -ge 3 ] && break
  sleep 0.2
done
check "the scheduler runs the old schedule on the updated tables (every tenant, completed)" "1:completed,2:completed,3:completed" \
  "$(q -d app -c "SELECT string_agg(tenant || ':' || status, ',' ORDER BY tenant) FROM backup_logs WHERE schedule_id = $schedule_id")"

echo "# the updated extension is the same as a fresh CREATE EXTENSION"
q -d fresh -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
# The same admin grant as in app, made on the new signature.
q -d fresh -c "GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text, boolean) TO ptb_upgrade_admin" >/dev/null
check "the fresh database runs the default_version" "$default_version" \
  "$(q -d fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
# One line per fact about the extension and its members, sorted.
canonical() {
  q -d "$1" >"$2" <<'SQL'
WITH ext AS (SELECT * FROM pg_extension WHERE extname = 'pg_tenant_backup'),
members AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT c.* FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid),
procs AS (SELECT p.* FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid),
facts(line) AS (
  SELECT 'extension: ' || concat_ws(' ', extversion, extrelocatable, extnamespace::regnamespace) FROM ext
  UNION ALL SELECT 'config: ' || c.rel::regclass || ' condition ' || quote_literal(coalesce(ext.extcondition[c.i], '<none>'))
    FROM ext, unnest(ext.extconfig) WITH ORDINALITY c(rel, i)
  UNION ALL SELECT 'member: ' || pg_describe_object(classid, objid, objsubid) FROM members
  UNION ALL SELECT 'comment: ' || pg_describe_object(m.classid, m.objid, m.objsubid) || ': ' || d.description
    FROM members m JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid
  UNION ALL SELECT 'function: ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
         || E'\n  acl ' || coalesce(p.proacl::text, '<default>') || ' secdef ' || p.prosecdef
         || ' config ' || coalesce(p.proconfig::text, '<none>') || ' owner ' || p.proowner::regrole
    FROM procs p WHERE p.prokind <> 'a'
  UNION ALL SELECT 'relation: ' || c.oid::regclass || ' kind ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, '<default>')
         || ' rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity || ' options ' || coalesce(c.reloptions::text, '<none>')
         || ' owner ' || c.relowner::regrole || ' persistence ' || c.relpersistence::text
    FROM rels c
  UNION ALL SELECT 'column: ' || c.oid::regclass || '.' || quote_ident(a.attname) || ' #' ||
         (SELECT count(*) FROM pg_attribute b WHERE b.attrelid = a.attrelid AND b.attnum > 0 AND NOT b.attisdropped AND b.attnum <= a.attnum)
         || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull ' || a.attnotnull
         || ' default ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '<none>')
         || ' generated ' || quote_literal(a.attgenerated::text) || ' identity ' || quote_literal(a.attidentity::text)
         || ' collation ' || coalesce(nullif(a.attcollation, 0)::regcollation::text, '<none>')
         || ' acl ' || coalesce(a.attacl::text, '<default>')
         || ' comment ' || coalesce(col_description(c.oid, a.attnum), '<none>')
    FROM rels c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  UNION ALL SELECT 'constraint: ' || c.oid::regclass || ' ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
    FROM rels c JOIN pg_constraint k ON k.conrelid = c.oid
  UNION ALL SELECT 'index: ' || pg_get_indexdef(i.indexrelid)
    FROM rels c JOIN pg_index i ON i.indrelid = c.oid
  UNION ALL SELECT 'policy: ' || c.oid::regclass || ' ' || quote_ident(p.polname) || ' cmd ' || p.polcmd::text || ' permissive ' || p.polpermissive
         || ' roles ' || p.polroles::regrole[]::text || ' using ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '<none>')
         || ' check ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '<none>')
    FROM rels c JOIN pg_policy p ON p.polrelid = c.oid
  UNION ALL SELECT 'trigger: ' || pg_get_triggerdef(t.oid)
    FROM rels c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
  UNION ALL SELECT 'view: ' || c.oid::regclass || E'\n' || pg_get_viewdef(c.oid)
    FROM rels c WHERE c.relkind IN ('v', 'm')
  UNION ALL SELECT 'sequence: ' || c.oid::regclass || ' ' || concat_ws(' ', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin, s.seqcache, s.seqcycle)
         || ' owned by ' || coalesce((SELECT pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) FROM pg_depend d
                                       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')
                                         AND d.refclassid = 'pg_class'::regclass), '<none>')
    FROM rels c JOIN pg_sequence s ON s.seqrelid = c.oid
  UNION ALL SELECT 'initprivs: ' || pg_describe_object(i.classoid, i.objoid, i.objsubid) || ' ' || i.privtype::text
         || ' ' || i.initprivs::text
    FROM pg_init_privs i JOIN members m ON m.classid = i.classoid AND m.objid = i.objoid AND i.objsubid IN (0, m.objsubid)
  UNION ALL SELECT 'type: ' || t.oid::regtype || ' ' || t.typtype::text || ' ' || coalesce(t.typacl::text, '<default>')
    FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid)
SELECT line FROM facts ORDER BY line COLLATE "C";
SQL
}
canonical app "$work/upgraded.txt"
canonical fresh "$work/fresh.txt"
check_match "the canonical description is not empty (functions, tables, config)" \
  '^[1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' \
  "$(grep -c '^function: ' "$work/fresh.txt" || true) $(grep -c '^column: ' "$work/fresh.txt" || true) $(grep -c '^config: ' "$work/fresh.txt" || true)"
if diff -u "$work/fresh.txt" "$work/upgraded.txt" >"$work/canonical.diff"; then
  check "members and definitions after the update equal a fresh install ($(wc -l <"$work/fresh.txt") lines)" same same
else
  check "members and definitions after the update equal a fresh install (diff: - fresh, + updated)" same different
  cat "$work/canonical.diff"
fi
# pg_dump of the schema: both databases hold the same fixture and extension
# (\restrict lines carry a random key).
"$PG_BINDIR/pg_dump" --schema-only -d app -T saved_export | grep -vE '^(-- Dumped|\\(un)?restrict )' >"$work/upgraded.sql"
"$PG_BINDIR/pg_dump" --schema-only -d fresh | grep -vE '^(-- Dumped|\\(un)?restrict )' >"$work/fresh.sql"
check "pg_dump of the updated database still dumps the rows of the configuration tables" \
  "COPY tenant_backup.backup_logs COPY tenant_backup.backup_schedules" \
  "$("$PG_BINDIR/pg_dump" --data-only -d app 2>/dev/null | grep -oE '^COPY tenant_backup\.backup_(logs|schedules)' | sort | tr '\n' ' ' | sed 's/ $//')"
if diff -u "$work/fresh.sql" "$work/upgraded.sql" >"$work/dump.diff"; then
  check "pg_dump --schema-only after the update equals a fresh install's" same same
else
  check "pg_dump --schema-only after the update equals a fresh install's (diff: - fresh, + updated)" same different
  cat "$work/dump.diff"
fi

echo "# DROP EXTENSION after the update"
q -d app -c "SELECT backup_schedule_disable('nightly')" >/dev/null
for i in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup job'")" = 0 ] && break
  sleep 0.2
done
files=$(cd "$storage" && find . -type f | sort | tr '\n' ' ')
drop=$(psql -qXAt -d app -c "DROP EXTENSION pg_tenant_backup" 2>&1) || true
check "DROP EXTENSION succeeds without a message" "" "$drop"
check "no member object is left" "0|0" \
  "$(q -d app -c "SELECT (SELECT count(*) FROM pg_proc WHERE proname LIKE 'backup\_%'), (SELECT count(*) FROM pg_class WHERE relname LIKE 'backup\_%')")"
check "the stored files are kept" "$files" "$(cd "$storage" && find . -type f | sort | tr '\n' ' ')"
sleep 1
check "no job worker is left" 0 "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup job'")"
check "the app's own tables are untouched" "$tenant1_before" "$(q -d app -c "$tenant1_sql")"
check "DROP EXTENSION leaves the empty schema, as CREATE EXTENSION made it outside the extension" "t|0" \
  "$(q -d app -c "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'tenant_backup'), (SELECT count(*) FROM pg_class WHERE relnamespace = 'tenant_backup'::regnamespace)")"

echo "# a tenant_backup schema a non-superuser owns"
q -c "CREATE DATABASE squatted" -c "CREATE ROLE ptb_squatter" >/dev/null
q -d squatted -c "CREATE SCHEMA tenant_backup AUTHORIZATION ptb_squatter" >/dev/null
check_match "CREATE EXTENSION refuses a schema whose owner could replace its objects" \
  '^ERROR:  42501: the schema tenant_backup belongs to the role ptb_squatter, which is not a superuser' \
  "$(PGDATABASE=squatted q_error "CREATE EXTENSION pg_tenant_backup")"
check "and leaves nothing behind" "0|0" \
  "$(q -d squatted -c "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'pg_tenant_backup'), (SELECT count(*) FROM pg_class WHERE relnamespace = 'tenant_backup'::regnamespace)")"
q -d squatted -c "ALTER SCHEMA tenant_backup OWNER TO postgres" -c "CREATE EXTENSION pg_tenant_backup" >/dev/null
check "given to a superuser, the schema takes the extension" tenant_backup \
  "$(q -d squatted -c "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
