#!/usr/bin/env bash
# Settings an attacker controls never reach SQL the extension runs with
# other rights (docs/security.md, "Threat model"), on a server with the
# scheduler running. The attacker, "mallory", owns the application's
# database, is granted the admin and the scheduling functions as the docs
# say, and owns a schema of operators (= < <= > || on text, bigint,
# integer, oid, name, jsonb, timestamptz, interval) whose function records
# who runs it and, run by a superuser, makes mallory one. It then sets
#   ALTER ROLE mallory SET search_path = evil, ...      (reaches its jobs)
#   ALTER DATABASE app SET search_path = evil, ...      (reaches every
#       background worker connected to app: the scheduler, which runs as
#       the bootstrap superuser, and the log writer, which runs as the
#       extension's owner)
# and uses every path: scheduled backups with retention (one tenant and
# '*'), backup_create, verify, read, delete, prune, import, restore. The
# traps fire only as mallory (a positive control shows they fire).
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
# The test's own superuser queries: with mallory's search_path they would
# run its operators as a superuser themselves.
qs() { PGOPTIONS="-c search_path=pg_catalog,public,tenant_backup" q "$@"; }
work=$(mktemp -d /tmp/ptb-escalation.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54402 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'app'" \
  "max_worker_processes = 16" "pg_tenant_backup.allow_restore = on"

q >/dev/null <<'SQL'
CREATE ROLE mallory LOGIN;
CREATE DATABASE app OWNER mallory;
SQL
export PGDATABASE=app
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q >/dev/null <<'SQL'
GRANT EXECUTE ON FUNCTION
  backup_stats(text, jsonb), backup_export(text, jsonb),
  backup_create(text, jsonb, text, text, boolean), backup_verify(bigint), backup_read(bigint),
  backup_download(bigint), backup_upload(bytea, text, text),
  backup_delete(bigint), backup_prune(text, integer, integer), backup_keep(bigint, boolean),
  backup_import(jsonb, text, jsonb), backup_import_stored(bigint, text, jsonb),
  backup_restore(bigint, jsonb), backup_tenant_busy(text),
  backup_schedule_create(text, text, text, jsonb, text), backup_schedule_update(text, text, text, jsonb, text),
  backup_schedule_enable(text), backup_schedule_disable(text), backup_schedule_drop(text),
  backup_schedule_next(text, text, timestamptz, timestamptz), backup_scheduler_status(),
  backup_check_options(jsonb), backup_check_tenant(text, jsonb), backup_scheduler_pid()
  TO mallory;
GRANT SELECT ON backup_logs, backup_list TO mallory;
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_schedules TO mallory;
GRANT USAGE ON SEQUENCE backup_schedules_id_seq TO mallory;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mallory;
CREATE TABLE public.trap_log (ran_as name, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT, SELECT ON public.trap_log TO PUBLIC;
SQL

echo "# mallory's operators and settings"
q -U mallory >/dev/null <<'SQL'
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap() RETURNS pg_catalog.bool LANGUAGE plpgsql AS $t$
BEGIN
  INSERT INTO public.trap_log (ran_as) VALUES (CURRENT_USER);
  BEGIN
    ALTER ROLE mallory SUPERUSER;
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN true;
END $t$;
DO $$
DECLARE op record;
BEGIN
  FOR op IN SELECT * FROM (VALUES
      ('=', 'text', 'texteq'), ('=', 'int8', 'int8eq'), ('=', 'int4', 'int4eq'), ('=', 'oid', 'oideq'),
      ('=', 'name', 'nameeq'), ('=', 'jsonb', 'jsonb_eq'),
      ('<', 'timestamptz', 'timestamptz_lt'), ('<=', 'timestamptz', 'timestamptz_le'),
      ('>', 'interval', 'interval_gt'), ('||', 'text', 'textcat')) AS v(sym, typ, impl)
  LOOP
    EXECUTE format($f$
      CREATE FUNCTION evil.%1$I(a pg_catalog.%2$I, b pg_catalog.%2$I) RETURNS %3$s LANGUAGE sql
        AS 'SELECT CASE WHEN evil.trap() THEN pg_catalog.%4$I(a, b) END' $f$,
      'op_' || op.impl, op.typ, CASE op.sym WHEN '||' THEN 'pg_catalog.text' ELSE 'pg_catalog.bool' END, op.impl);
    EXECUTE format('CREATE OPERATOR evil.%1$s (LEFTARG = pg_catalog.%2$I, RIGHTARG = pg_catalog.%2$I, FUNCTION = evil.%3$I)',
                   op.sym, op.typ, 'op_' || op.impl);
  END LOOP;
END $$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
ALTER ROLE mallory SET search_path = evil, pg_catalog, public, tenant_backup;
ALTER DATABASE app SET search_path = evil, pg_catalog, public, tenant_backup;
SQL
# The workers connect again with the new settings.
cluster_restart "$work/cluster"
check "a new superuser session of app gets mallory's search_path" "evil, pg_catalog, public, tenant_backup" "$(q -c "SHOW search_path")"
q -U mallory -c "SELECT 'a'::text = 'b'::text" >/dev/null
check "control: mallory's own unqualified = runs its trap" mallory "$(qs -c "SELECT string_agg(DISTINCT ran_as::text, ',') FROM trap_log")"
qs -c "TRUNCATE trap_log"

echo "# scheduled backups with retention, and every function, as mallory"
q -U mallory >/dev/null <<'SQL'
SELECT backup_schedule_create('mallory-fast', '1', '1 second', '{"max_backups": 2}');
SELECT backup_schedule_create('mallory-all', '*', '2 seconds', '{"max_backups": 1}');
SELECT backup_stats('1');
SELECT backup_export('1');
SELECT backup_create('2', name => 'mallory manual');
SELECT backup_verify(id), backup_read(id) FROM backup_list WHERE name = 'mallory manual';
SELECT count(*) FROM backup_list l, backup_download(l.id) WHERE l.name = 'mallory manual';
SELECT backup_import(backup_export('2'), 'replace');
SELECT backup_import_stored(id, 'replace') FROM backup_list WHERE name = 'mallory manual';
SELECT backup_restore(id) FROM backup_list WHERE name = 'mallory manual';
SELECT backup_upload(string_agg(chunk, ''::bytea ORDER BY n), 'mallory upload')
  FROM (SELECT chunk, row_number() OVER () AS n FROM backup_list l, backup_download(l.id) AS chunk
         WHERE l.name = 'mallory manual') c;
SELECT backup_delete(id) FROM backup_list WHERE name = 'mallory upload';
SELECT backup_keep(id) FROM backup_list WHERE name = 'mallory manual';
SELECT backup_prune('2', 1);
SELECT backup_tenant_busy('1');
SELECT backup_scheduler_status();
SQL
wait_for() {  # seconds sql expected
  local i
  for i in $(seq $(($1 * 5))); do
    [ "$(qs -c "$2")" = "$3" ] && return 0
    sleep 0.2
  done
  return 1
}
wait_for 30 "SELECT count(*) >= 4 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')
               AND schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mallory-fast')" t || true
wait_for 30 "SELECT count(DISTINCT tenant) = 3 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired')
               AND schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mallory-all')" t || true
q -U mallory -c "SELECT backup_schedule_disable('mallory-fast'), backup_schedule_disable('mallory-all')" >/dev/null
sleep 2

check "mallory's one-tenant schedule ran (at least 4 snapshots)" t \
  "$(qs -c "SELECT count(*) >= 4 FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mallory-fast')")"
check "mallory's '*' schedule backed up every tenant" 3 \
  "$(qs -c "SELECT count(DISTINCT tenant) FROM backup_logs WHERE trigger = 'scheduled' AND status IN ('completed', 'expired') AND schedule_id = (SELECT id FROM backup_schedules WHERE name = 'mallory-all')")"
check "retention ran for them (expired snapshots)" t \
  "$(qs -c "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status = 'expired'")"
check "no scheduled job failed" 0 "$(qs -c "SELECT count(*) FROM backup_logs WHERE trigger = 'scheduled' AND status = 'failed'")"
check "mallory's manual calls completed (backup, verify, restore, upload, delete, prune rows)" "backup|delete|export|import|prune|restore|verify" \
  "$(qs -c "SELECT string_agg(DISTINCT operation, '|' ORDER BY operation) FROM backup_logs WHERE created_by = 'mallory' AND status IN ('completed', 'restored', 'deleted', 'expired')")"
check "every trap ran as mallory only" "" \
  "$(qs -c "SELECT string_agg(DISTINCT ran_as::text, ',') FROM trap_log WHERE ran_as <> 'mallory'")"
check "mallory is not a superuser" f "$(qs -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'")"
check "the scheduler is still running" 1 "$(qs -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler'")"
check "no backend crashed" 0 "$(grep -c 'terminated by signal' "$(cluster_log "$work/cluster")" || true)"
finish
