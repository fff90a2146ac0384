-- The C++/PostgreSQL boundary: C++ exceptions become clean ERRORs, server
-- ERRORs raised under C++ code come back intact, nothing leaks.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT plan(8);

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

SELECT * FROM finish();
