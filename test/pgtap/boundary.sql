-- The C++/PostgreSQL boundary: C++ exceptions become clean ERRORs, server
-- ERRORs raised under C++ code come back intact, nothing leaks.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT plan(26);

-- A C++ exception (core::Error) becomes an ERROR with its SQLSTATE, detail
-- and hint; a server ERROR inside guarded code keeps its own SQLSTATE.
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"x": 1}')$$)->>'sqlstate', '22023',
          'C++ exception -> ERROR with the intended SQLSTATE');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_boundary') - 'detail' - 'hint',
          '{"sqlstate": "42501", "message": "permission denied for table tenants"}'::jsonb,
          'server ERROR under C++ code -> same ERROR at the caller');

-- The failed statement's transaction can be rolled back to a savepoint and
-- goes on; no relation lock of the failed call is still held.
BEGIN;
SAVEPOINT before_error;
SELECT tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_boundary') IS NOT NULL AS failed \gset
ROLLBACK TO SAVEPOINT before_error;
SELECT ok(:'failed', 'the call as a role without SELECT failed');
SELECT is((SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'public'::regnamespace)::int, 0,
          'no lock on a tenant table is left after the server ERROR');
SELECT is((SELECT sum(row_count) FROM backup_stats('2'))::int, 25, 'the same transaction goes on working');
COMMIT;

-- An error outside any savepoint aborts the statement; the next one works.
\set ON_ERROR_STOP 0
SELECT * FROM backup_stats('1', '{"tables": ["nothing"]}');
\set ON_ERROR_STOP 1
SELECT is((SELECT count(*) FROM backup_stats('1'))::int, 10, 'the next statement works');

-- Destructors run on the error path: thousands of failing calls of both
-- kinds do not grow the backend (each call copies the catalog in C++).
DO $$ BEGIN
  FOR i IN 1..150 LOOP
    PERFORM tap.error_of($q$SELECT * FROM backup_stats('1', '{"tables": ["nothing"]}')$q$);
    PERFORM tap.error_of($q$SELECT * FROM backup_stats('abc')$q$);
  END LOOP;
END $$;
SELECT tap.backend_rss_kb() AS rss_before \gset
DO $$ BEGIN
  FOR i IN 1..1500 LOOP
    PERFORM tap.error_of($q$SELECT * FROM backup_stats('1', '{"tables": ["nothing"]}')$q$);
    PERFORM tap.error_of($q$SELECT * FROM backup_stats('abc')$q$);
  END LOOP;
END $$;
SELECT cmp_ok(tap.backend_rss_kb() - :rss_before, '<', 3072::bigint,
              '3000 failing calls grow the backend by less than 3 MB');

-- A crash would end this session (and pg_prove's file) here; the test
-- runner also checks the server log for "terminated by signal".
SELECT is((SELECT count(*) FROM backup_stats('3'))::int, 10, 'backend alive after the error storm');

-- NULL where a value is required, in every function the server calls even
-- on NULL input (not STRICT): 22004 naming the argument, before anything
-- runs; where NULL means "the whole database" or "no value", the call works.
-- backup_upload(NULL) ended the backend with SIGSEGV (and restarted the
-- server) before every argument was read through pg/entry_point.hpp.
CREATE TEMP TABLE null_calls(fn text, call text, expect jsonb);
INSERT INTO null_calls VALUES
  ('backup_upload(bytea,text,text)', 'SELECT backup_upload(NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "the snapshot file must not be NULL"}'),
  ('backup_keep(bigint,boolean)', 'SELECT backup_keep(NULL, NULL)',
   '{"sqlstate": "22004", "message": "the backup id must not be NULL"}'),
  ('backup_create(text,jsonb,text,text,boolean)', $$SELECT backup_create('1', NULL, NULL, NULL, NULL)$$,
   '{"sqlstate": "22004", "message": "keep must not be NULL"}'),
  ('backup_import(jsonb,text,jsonb)', 'SELECT backup_import(NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "the snapshot document must not be NULL"}'),
  ('backup_import_stored(bigint,text,jsonb)', 'SELECT backup_import_stored(NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "the backup id must not be NULL"}'),
  ('backup_restore(bigint,jsonb)', 'SELECT backup_restore(NULL, NULL)',
   '{"sqlstate": "22004", "message": "the backup id must not be NULL"}'),
  ('backup_restore_to(text,timestamp with time zone,jsonb)', 'SELECT backup_restore_to(NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "the target moment must not be NULL"}'),
  ('backup_schedule_next(text,text,timestamp with time zone,timestamp with time zone)',
   'SELECT backup_schedule_next(NULL, NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "schedule must not be NULL"}'),
  ('backup_schedule_preview(text,integer,text)', 'SELECT * FROM backup_schedule_preview(NULL, NULL, NULL)',
   '{"sqlstate": "22004", "message": "schedule must not be NULL"}'),
  ('backup_prune(text,integer,integer)', 'SELECT backup_prune(NULL, 0, NULL)',
   '{"sqlstate": "22023", "message": "max_backups must be at least 1"}'),
  ('backup_export(text,jsonb)', 'SELECT backup_export(NULL, NULL)', NULL),
  ('backup_stats(text,jsonb)', 'SELECT * FROM backup_stats(NULL, NULL)', NULL),
  ('backup_coverage(text,jsonb)', 'SELECT * FROM backup_coverage(NULL, NULL)', NULL),
  ('backup_recovery_window(text)', 'SELECT * FROM backup_recovery_window(NULL)', NULL),
  ('backup_check_tenant(text,jsonb)', 'SELECT backup_check_tenant(NULL, NULL)', NULL),
  ('backup_scheduler_pid()', 'SELECT backup_scheduler_pid()', NULL);

SELECT is(tap.error_of(call) - 'detail' - 'hint', expect, fn || ' with NULL arguments')
  FROM null_calls ORDER BY fn;

-- Every such function is in the list above: a new one needs its NULL test.
SELECT set_eq(
  $$SELECT replace(p.oid::regprocedure::text, 'tenant_backup.', '')
      FROM pg_proc p
      JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_tenant_backup'
     WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AND NOT p.proisstrict
       AND p.pronargs > 0$$,
  $$SELECT fn FROM null_calls WHERE fn <> 'backup_scheduler_pid()'$$,
  'every C function called on NULL input has a NULL-argument check here');
SELECT is((SELECT count(*) FROM backup_stats('3'))::int, 10, 'backend alive after the NULL calls');

SELECT * FROM finish();
