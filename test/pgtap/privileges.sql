-- Who may do what (docs/security.md, "Privilege matrix"):
--  * for EVERY function of the extension (read from pg_depend, so a new
--    function without an entry in the matrix below fails this file), which
--    of superuser, an admin role granted as docs/security.md says, an
--    auditor granted as it says, a plain application role and PUBLIC may
--    EXECUTE it, and that calling it as each role works or fails with 42501;
--  * the tables and the view: PUBLIC has no right on them;
--  * only a superuser can change the superuser settings (pg_settings);
--  * a role sees and changes only its own schedules (row level security);
--  * no function is SECURITY DEFINER (none is justified by security.md),
--    and a SECURITY DEFINER one would need search_path pinned.
-- That an export or a stats call reads with the caller's table privileges
-- and row level security is tested in export_privileges.sql and
-- stats_errors.sql; that a scheduled job runs as the schedule's owner in
-- test/system/scheduler.sh.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
LOAD 'pg_tenant_backup';

-- The roles. The admin and the auditor get exactly the grants of
-- docs/security.md (the admin also SELECT on the tenant tables, which the
-- document says its members need).
CREATE ROLE ptb_priv_admin;
GRANT EXECUTE ON FUNCTION
  backup_stats(text, jsonb), backup_coverage(text, jsonb), backup_export(text, jsonb),
  backup_create(text, jsonb, text, text, boolean), backup_verify(bigint), backup_read(bigint),
  backup_download(bigint), backup_upload(bytea, text, text),
  backup_delete(bigint), backup_prune(text, integer, integer), backup_keep(bigint, boolean),
  backup_progress()
  TO ptb_priv_admin;
GRANT SELECT ON backup_logs, backup_list, backup_progress TO ptb_priv_admin;
GRANT EXECUTE ON FUNCTION backup_import(jsonb, text, jsonb), backup_import_stored(bigint, text, jsonb),
  backup_restore(bigint, jsonb), backup_tenant_busy(text), backup_restore_to(text, timestamptz, jsonb),
  backup_recovery_window(text) TO ptb_priv_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_priv_admin;
CREATE ROLE ptb_priv_auditor;
GRANT SELECT ON backup_logs, backup_list, backup_progress TO ptb_priv_auditor;
GRANT EXECUTE ON FUNCTION backup_progress() TO ptb_priv_auditor;
CREATE ROLE ptb_priv_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_priv_app;
REVOKE ALL ON backup_logs, backup_list, backup_schedules, backup_progress FROM ptb_priv_app;
GRANT USAGE ON SCHEMA tap TO ptb_priv_admin, ptb_priv_auditor, ptb_priv_app;

-- The matrix: per function, a harmless call (one that fails, when allowed,
-- for a reason other than privileges or changes nothing outside this
-- transaction), and who may execute it: superuser, admin, auditor, app, PUBLIC.
CREATE TEMP TABLE matrix (fn regprocedure PRIMARY KEY, call text NOT NULL,
                          su bool, admin bool, auditor bool, app bool, pub bool,
                          expect text);  -- the SQLSTATE of the call when allowed, NULL: it succeeds
INSERT INTO matrix VALUES
  ('backup_stats(text, jsonb)',           $$SELECT backup_stats('1')$$,                       true, true,  false, false, false),
  ('backup_coverage(text, jsonb)',        $$SELECT backup_coverage('1')$$,                    true, true,  false, false, false),
  ('backup_export(text, jsonb)',          $$SELECT backup_export('1')$$,                      true, true,  false, false, false),
  ('backup_create(text, jsonb, text, text, boolean)', $$SELECT backup_create('no such tenant')$$,      true, true,  false, false, false),
  ('backup_verify(bigint)',               $$SELECT backup_verify(-1)$$,                       true, true,  false, false, false),
  ('backup_read(bigint)',                 $$SELECT backup_read(-1)$$,                         true, true,  false, false, false),
  ('backup_download(bigint)',             $$SELECT * FROM backup_download(-1)$$,              true, true,  false, false, false),
  ('backup_upload(bytea, text, text)',    $$SELECT backup_upload('\x7b'::bytea)$$,            true, true,  false, false, false),
  ('backup_delete(bigint)',               $$SELECT backup_delete(-1)$$,                       true, true,  false, false, false),
  ('backup_prune(text, integer, integer)', $$SELECT backup_prune('no such tenant')$$,         true, true,  false, false, false),
  ('backup_keep(bigint, boolean)',        $$SELECT backup_keep(-1)$$,                         true, true,  false, false, false),
  ('backup_import(jsonb, text, jsonb)',   $$SELECT backup_import('{}', 'no such mode')$$,     true, true,  false, false, false),
  ('backup_import_stored(bigint, text, jsonb)', $$SELECT backup_import_stored(-1)$$,      true, true,  false, false, false),
  ('backup_restore(bigint, jsonb)',       $$SELECT backup_restore(-1)$$,                      true, true,  false, false, false),
  ('backup_tenant_busy(text)',            $$SELECT backup_tenant_busy('1')$$,                 true, true,  false, false, false),
  ('backup_restore_to(text, timestamptz, jsonb)', $$SELECT backup_restore_to('1', now())$$, true, true,  false, false, false),
  ('backup_recovery_window(text)',        $$SELECT * FROM backup_recovery_window('1')$$,     true, true,  false, false, false),
  ('backup_schedule_next(text, text, timestamptz, timestamptz)',
                                          $$SELECT backup_schedule_next('@daily', 'UTC', NULL)$$, true, false, false, false, false),
  ('backup_schedule_preview(text, integer, text)', $$SELECT * FROM backup_schedule_preview('@daily', 1, 'UTC')$$,
                                                                                              true, true,  true,  true,  true),
  ('backup_scheduler_pid()',              $$SELECT backup_scheduler_pid()$$,                  true, false, false, false, false),
  ('backup_check_options(jsonb)',         $$SELECT backup_check_options('{}')$$,              true, false, false, false, false),
  ('backup_check_tenant(text, jsonb)',    $$SELECT backup_check_tenant('1')$$,                true, false, false, false, false),
  ('backup_schedule_create(text, text, text, jsonb, text)',
                                          $$SELECT backup_schedule_create('ptb_priv', '1', 'not a schedule')$$,
                                                                                              true, false, false, false, false),
  ('backup_schedule_update(text, text, text, jsonb, text)', $$SELECT backup_schedule_update('no such schedule')$$,
                                                                                              true, false, false, false, false),
  ('backup_schedule_enable(text)',        $$SELECT backup_schedule_enable('no such schedule')$$,  true, false, false, false, false),
  ('backup_schedule_disable(text)',       $$SELECT backup_schedule_disable('no such schedule')$$, true, false, false, false, false),
  ('backup_schedule_drop(text)',          $$SELECT backup_schedule_drop('no such schedule')$$,    true, false, false, false, false),
  ('backup_scheduler_status()',           $$SELECT backup_scheduler_status()$$,               true, false, false, false, false),
  ('backup_capture_status()',             $$SELECT * FROM backup_capture_status()$$,         true, false, false, false, false),
  ('backup_progress()',                   $$SELECT * FROM backup_progress()$$,               true, true,  true,  false, false);

UPDATE matrix SET expect = '22P02' WHERE fn IN ('backup_create(text, jsonb, text, text, boolean)', 'backup_upload(bytea, text, text)');
UPDATE matrix SET expect = '42704'
 WHERE fn IN ('backup_verify(bigint)', 'backup_read(bigint)', 'backup_download(bigint)', 'backup_delete(bigint)',
              'backup_keep(bigint, boolean)',
              'backup_schedule_update(text, text, text, jsonb, text)', 'backup_schedule_enable(text)',
              'backup_schedule_disable(text)', 'backup_schedule_drop(text)',
              'backup_import_stored(bigint, text, jsonb)');
UPDATE matrix SET expect = '22023'
 WHERE fn IN ('backup_import(jsonb, text, jsonb)', 'backup_schedule_create(text, text, text, jsonb, text)');
UPDATE matrix SET expect = '42501'
 WHERE fn IN ('backup_restore(bigint, jsonb)', 'backup_restore_to(text, timestamptz, jsonb)');  -- allow_restore is off

CREATE TEMP VIEW extension_functions AS
  SELECT p.oid::regprocedure AS fn, p.prosecdef, p.proconfig
    FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid AND d.classid = 'pg_proc'::regclass
    JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
   WHERE e.extname = 'pg_tenant_backup' AND d.deptype = 'e';
CREATE TEMP TABLE roles (role text, col text, login_role text);
INSERT INTO roles VALUES (current_user, 'su', NULL), ('ptb_priv_admin', 'admin', 'ptb_priv_admin'),
  ('ptb_priv_auditor', 'auditor', 'ptb_priv_auditor'), ('ptb_priv_app', 'app', 'ptb_priv_app'),
  ('public', 'pub', NULL);
-- Expected and actual EXECUTE right, and the outcome of calling, per function and role.
CREATE TEMP VIEW cells AS
  SELECT m.fn, r.role, r.login_role, m.call, m.expect,
         CASE r.col WHEN 'su' THEN m.su WHEN 'admin' THEN m.admin WHEN 'auditor' THEN m.auditor
                    WHEN 'app' THEN m.app ELSE m.pub END AS allowed
    FROM matrix m CROSS JOIN roles r;

SELECT plan((SELECT count(*)::int FROM cells) + (SELECT count(*)::int FROM cells WHERE login_role IS NOT NULL OR role = current_user)
            + 1 + 10 + 1 + 1 + 1 + (SELECT count(*)::int * 3 FROM pg_settings WHERE name LIKE 'pg_tenant_backup.%' AND context = 'superuser')
            + 12 + 2 + 3);

SELECT set_eq($$SELECT fn::text FROM extension_functions$$, $$SELECT fn::text FROM matrix$$,
              'every function of the extension has a row in the privilege matrix, and only those');

-- has_function_privilege, per function and role.
SELECT is(has_function_privilege(role, fn, 'EXECUTE'), allowed,
          format('%s %s EXECUTE %s', role, CASE WHEN allowed THEN 'may' ELSE 'may not' END, fn))
  FROM cells ORDER BY fn::text, role;

-- Calling: refused with 42501 "permission denied for function" when not
-- allowed (PUBLIC is the application role's case: it has no grant), else
-- it runs: it succeeds, or fails as the harmless arguments make it fail.
SELECT is(CASE WHEN e IS NULL THEN 'succeeds'
               WHEN e ->> 'sqlstate' = '42501' AND e ->> 'message' LIKE 'permission denied for function%' THEN 'denied'
               ELSE 'fails with ' || (e ->> 'sqlstate') END,
          CASE WHEN NOT allowed THEN 'denied' WHEN expect IS NULL THEN 'succeeds' ELSE 'fails with ' || expect END,
          format('as %s, %s %s', role, call,
                 CASE WHEN NOT allowed THEN 'is denied (42501)' WHEN expect IS NULL THEN 'succeeds'
                      ELSE 'runs and fails with ' || expect END))
  FROM (SELECT c.*, tap.error_of(c.call, c.login_role) AS e FROM cells c
         WHERE c.login_role IS NOT NULL OR c.role = current_user ORDER BY fn::text, role) s;

-- The tables and the view.
SELECT is(has_table_privilege('public', t, p), false, format('PUBLIC has no %s on %s', p, t))
  FROM unnest(ARRAY['backup_logs', 'backup_list', 'backup_schedules', 'backup_change_segments', 'backup_progress']) t,
       unnest(ARRAY['SELECT', 'INSERT']) p
 ORDER BY t, p;
SELECT is(tap.error_of($$SELECT count(*) FROM backup_list$$, 'ptb_priv_auditor'), NULL,
          'the auditor reads backup_list');
SELECT is(tap.error_of($$SELECT count(*) FROM backup_progress$$, 'ptb_priv_auditor'), NULL,
          'the auditor reads backup_progress');

-- Superuser settings: nobody else may set them, for the session or the transaction.
SELECT set_eq($$SELECT name FROM pg_settings WHERE name LIKE 'pg_tenant_backup.%' AND context = 'superuser'$$,
              ARRAY['pg_tenant_backup.allow_restore', 'pg_tenant_backup.restore_window',
                    'pg_tenant_backup.storage_path', 'pg_tenant_backup.max_backups',
                    'pg_tenant_backup.retention_days', 'pg_tenant_backup.prune_manual',
                    'pg_tenant_backup.archive_command',
                    'pg_tenant_backup.encryption', 'pg_tenant_backup.encryption_key_file',
                    'pg_tenant_backup.encryption_old_key_files'],
              'the superuser settings are those docs/security.md lists');
SELECT is(tap.error_of(format('SELECT set_config(%L, %L, true)', s.name, s.setting), r) ->> 'sqlstate', '42501',
          format('%s may not set %s', r, s.name))
  FROM pg_settings s, unnest(ARRAY['ptb_priv_admin', 'ptb_priv_app']) r
 WHERE s.name LIKE 'pg_tenant_backup.%' AND s.context = 'superuser' ORDER BY s.name, r;
SELECT is(tap.error_of(format('SELECT set_config(%L, %L, true)', s.name, s.setting)), NULL,
          format('a superuser may set %s', s.name))
  FROM pg_settings s WHERE s.name LIKE 'pg_tenant_backup.%' AND s.context = 'superuser' ORDER BY s.name;

-- Schedules: two roles granted as docs/scheduler.md says see and change
-- only their own.
CREATE ROLE ptb_priv_sched_a;
CREATE ROLE ptb_priv_sched_b;
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_schedules TO ptb_priv_sched_a, ptb_priv_sched_b;
GRANT USAGE ON SEQUENCE backup_schedules_id_seq TO ptb_priv_sched_a, ptb_priv_sched_b;
GRANT EXECUTE ON FUNCTION backup_schedule_next(text, text, timestamptz, timestamptz), backup_scheduler_pid(),
  backup_check_options(jsonb), backup_check_tenant(text, jsonb), backup_schedule_create(text, text, text, jsonb, text),
  backup_schedule_update(text, text, text, jsonb, text), backup_schedule_enable(text),
  backup_schedule_disable(text), backup_schedule_drop(text), backup_scheduler_status()
  TO ptb_priv_sched_a, ptb_priv_sched_b;
GRANT USAGE ON SCHEMA tap TO ptb_priv_sched_a, ptb_priv_sched_b;
SET client_min_messages = error;  -- "no scheduler is running"
-- A schedule is refused at once when its owner could not read the tenant
-- (its jobs run as the owner), and when the tenant does not exist.
SELECT is(tap.error_of($$SELECT backup_schedule_create('ptb_priv_x', '1', '@daily')$$, 'ptb_priv_sched_a')
            - 'detail',
          '{"sqlstate": "42501", "message": "role \"ptb_priv_sched_a\" cannot look up tenant \"1\": permission denied for table tenants",
            "hint": "A scheduled backup runs as the schedule''s owner: grant the role SELECT on the tenant''s tables (docs/scheduler.md), then create the schedule."}'::jsonb,
          'a role that may not read the tenant tables cannot schedule the tenant: 42501 saying so');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_priv_sched_a, ptb_priv_sched_b;
SELECT is(tap.error_of($$SELECT backup_schedule_create('ptb_priv_x', '999', '@daily')$$, 'ptb_priv_sched_a')
            - 'hint',
          '{"sqlstate": "42704", "message": "tenant \"999\" does not exist", "detail": "No row of public.tenants has id = 999."}'::jsonb,
          'a tenant that does not exist cannot be scheduled: 42704, as a backup would fail');
SELECT is((SELECT count(*)::int FROM backup_schedules WHERE name = 'ptb_priv_x'), 0, 'neither refusal left a schedule');
SET LOCAL ROLE ptb_priv_sched_a;
SELECT backup_schedule_create('ptb_priv_a', '1', '@daily') IS NOT NULL AS created \gset
RESET ROLE;
SET LOCAL ROLE ptb_priv_sched_b;
SELECT backup_schedule_create('ptb_priv_b', '2', '@daily') IS NOT NULL AS created \gset
RESET ROLE;
SET client_min_messages = warning;

SET LOCAL ROLE ptb_priv_sched_a;
SELECT is((SELECT array_agg(name::text ORDER BY name) FROM backup_schedules), ARRAY['ptb_priv_a'],
          'a role sees only its own schedules in backup_schedules');
SELECT is((SELECT array_agg(s ->> 'name') FROM jsonb_array_elements(backup_scheduler_status() -> 'schedules') s),
          ARRAY['ptb_priv_a'], 'and in backup_scheduler_status()');
RESET ROLE;
SELECT is(tap.error_of($$SELECT backup_schedule_disable('ptb_priv_b')$$, 'ptb_priv_sched_a') ->> 'sqlstate', '42704',
          'another role''s schedule cannot be disabled: it does not exist for the role');
SELECT is(tap.error_of($$SELECT backup_schedule_enable('ptb_priv_b')$$, 'ptb_priv_sched_a') ->> 'sqlstate', '42704',
          'nor enabled');
SELECT is(tap.error_of($$SELECT backup_schedule_update('ptb_priv_b', '@hourly')$$, 'ptb_priv_sched_a') ->> 'sqlstate', '42704',
          'nor updated');
SELECT is(tap.error_of($$SELECT backup_schedule_drop('ptb_priv_b')$$, 'ptb_priv_sched_a') ->> 'sqlstate', '42704',
          'nor dropped');
SELECT is(tap.error_of($$UPDATE backup_schedules SET schedule = '@hourly' WHERE name = 'ptb_priv_b'$$, 'ptb_priv_sched_a'),
          NULL, 'a direct UPDATE of another role''s schedule runs ...');
SELECT is((SELECT schedule FROM backup_schedules WHERE name = 'ptb_priv_b'), '@daily', '... and changes nothing');
SELECT is(tap.error_of($$INSERT INTO backup_schedules (name, schedule, created_by) VALUES ('ptb_priv_forged', '@daily', 'ptb_priv_sched_b')$$,
                       'ptb_priv_sched_a') ->> 'sqlstate', '42501',
          'a role cannot create a schedule owned by another role (it would run as that role)');
SELECT is(tap.error_of($$UPDATE backup_schedules SET created_by = 'ptb_priv_sched_b' WHERE name = 'ptb_priv_a'$$,
                       'ptb_priv_sched_a') ->> 'sqlstate', '42501',
          'nor give its schedule to another role');
SELECT is(tap.error_of($$SELECT backup_schedule_disable('ptb_priv_a')$$, 'ptb_priv_sched_a'), NULL,
          'its own schedule it may disable');
SELECT is((SELECT array_agg(name::text ORDER BY name) FROM backup_schedules WHERE name LIKE 'ptb_priv_%'),
          ARRAY['ptb_priv_a', 'ptb_priv_b'], 'a superuser sees every role''s schedules');

-- SECURITY DEFINER: none (docs/security.md justifies none); any that were
-- would have to pin search_path.
SELECT is((SELECT array_agg(fn::text ORDER BY fn::text) FROM extension_functions WHERE prosecdef), NULL,
          'no function of the extension is SECURITY DEFINER');
SELECT is((SELECT array_agg(fn::text ORDER BY fn::text) FROM extension_functions
            WHERE prosecdef AND NOT coalesce(proconfig::text[] && ARRAY['search_path=pg_catalog'], false)
              AND NOT EXISTS (SELECT 1 FROM unnest(proconfig) c WHERE c LIKE 'search_path=%')),
          NULL, 'every SECURITY DEFINER function pins search_path');

SELECT * FROM finish();
ROLLBACK;
