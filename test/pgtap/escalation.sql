-- No role gains rights through the extension (docs/security.md, "Threat
-- model"). Every function of the privilege matrix is called by three
-- attacking roles, each granted as the docs say (an admin, a role that may
-- only schedule backups, a plain application role), with two techniques:
--   operators  the role owns a schema with its own = < <= > || operators
--              (text, bigint, integer, timestamptz, interval, oid, name)
--              and puts it first on its search_path;
--              Its schema also holds functions named as those of the
--              extension that the extension's SQL functions call
--              (backup_check_options, ...): they record it when reached;
--   temp_types the role (TEMP is PUBLIC's) creates pg_temp.text, jsonb,
--              timestamptz, bool, int8, int4, name, interval as domains
--              whose CHECK calls its function; pg_temp is then searched
--              first for types.
-- Each trap records the role it runs as and tries to make the attacker a
-- superuser. The test asserts that every trap only ever ran as the
-- attacker itself, that no attacker became superuser, and that tenant 2's
-- rows are untouched. Positive controls show each trap fires when the
-- attacker's own SQL uses an unqualified name. The third technique (role
-- settings reaching scheduled jobs and background workers) needs a running
-- scheduler: test/system/escalation.sh.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = error;
BEGIN;
LOAD 'pg_tenant_backup';

CREATE TABLE public.ptb_trap_log (attack text, ran_as name, attacker text);
GRANT INSERT, SELECT ON public.ptb_trap_log TO PUBLIC;

-- The roles, granted as docs/security.md and docs/scheduler.md say.
CREATE ROLE ptb_esc_admin;
GRANT EXECUTE ON FUNCTION
  backup_stats(text, jsonb), backup_coverage(text, jsonb), backup_export(text, jsonb),
  backup_create(text, jsonb, text, text, boolean), backup_verify(bigint), backup_read(bigint),
  backup_download(bigint), backup_upload(bytea, text, text),
  backup_delete(bigint), backup_prune(text, integer, integer), backup_keep(bigint, boolean),
  backup_import(jsonb, text, jsonb), backup_import_stored(bigint, text, jsonb),
  backup_restore(bigint, jsonb), backup_tenant_busy(text), backup_restore_to(text, timestamptz, jsonb),
  backup_recovery_window(text), backup_progress()
  TO ptb_esc_admin;
GRANT SELECT ON backup_logs, backup_list, backup_progress TO ptb_esc_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_esc_admin;
CREATE ROLE ptb_esc_scheduler;
GRANT SELECT, INSERT, UPDATE, DELETE ON backup_schedules TO ptb_esc_scheduler;
GRANT USAGE ON SEQUENCE backup_schedules_id_seq TO ptb_esc_scheduler;
GRANT EXECUTE ON FUNCTION
  backup_schedule_create(text, text, text, jsonb, text), backup_schedule_update(text, text, text, jsonb, text),
  backup_schedule_enable(text), backup_schedule_disable(text), backup_schedule_drop(text),
  backup_schedule_next(text, text, timestamptz, timestamptz), backup_scheduler_status(),
  backup_check_options(jsonb), backup_check_tenant(text, jsonb), backup_scheduler_pid()
  TO ptb_esc_scheduler;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_esc_scheduler;
CREATE ROLE ptb_esc_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_esc_app;
REVOKE ALL ON backup_logs, backup_list, backup_schedules FROM ptb_esc_app;
GRANT USAGE ON SCHEMA tap TO ptb_esc_admin, ptb_esc_scheduler, ptb_esc_app;
GRANT INSERT, SELECT ON public.ptb_trap_log TO ptb_esc_admin, ptb_esc_scheduler, ptb_esc_app;

-- Each attacker's schema: the trap and the operators. The trap records who
-- runs it and, run by a superuser, makes the attacker one.
CREATE FUNCTION pg_temp.make_traps(attacker text) RETURNS void LANGUAGE plpgsql AS $make$
DECLARE
  s text := attacker || '_evil';
  op record;
  f record;
BEGIN
  EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s, attacker);
  EXECUTE format($f$
    CREATE FUNCTION %I.trap() RETURNS pg_catalog.bool LANGUAGE plpgsql AS $t$
    BEGIN
      IF pg_catalog.current_setting('ptb.trap_armed', true) OPERATOR(pg_catalog.=) 'on' THEN
        INSERT INTO public.ptb_trap_log
          VALUES (pg_catalog.current_setting('ptb.attack', true), CURRENT_USER, %L);
        BEGIN
          EXECUTE pg_catalog.format('ALTER ROLE %%I SUPERUSER', %L);
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
      END IF;
      RETURN true;
    END $t$ $f$, s, attacker, attacker);
  EXECUTE format('ALTER FUNCTION %I.trap() OWNER TO %I', s, attacker);
  FOR op IN SELECT * FROM (VALUES
      ('=', 'text', 'texteq'), ('=', 'int8', 'int8eq'), ('=', 'int4', 'int4eq'), ('=', 'oid', 'oideq'),
      ('=', 'name', 'nameeq'), ('=', 'jsonb', 'jsonb_eq'),
      ('<', 'timestamptz', 'timestamptz_lt'), ('<=', 'timestamptz', 'timestamptz_le'),
      ('>', 'interval', 'interval_gt'), ('||', 'text', 'textcat')) AS v(sym, typ, impl)
  LOOP
    EXECUTE format($f$
      CREATE FUNCTION %1$I.%2$I(a pg_catalog.%3$I, b pg_catalog.%3$I) RETURNS %4$s LANGUAGE sql
        AS 'SELECT CASE WHEN %1$I.trap() THEN pg_catalog.%5$I(a, b) END' $f$,
      s, 'op_' || op.impl, op.typ, CASE op.sym WHEN '||' THEN 'pg_catalog.text' ELSE 'pg_catalog.bool' END,
      op.impl);
    EXECUTE format('ALTER FUNCTION %1$I.%2$I(pg_catalog.%3$I, pg_catalog.%3$I) OWNER TO %4$I',
                   s, 'op_' || op.impl, op.typ, attacker);
    EXECUTE format('CREATE OPERATOR %1$I.%2$s (LEFTARG = pg_catalog.%3$I, RIGHTARG = pg_catalog.%3$I, FUNCTION = %1$I.%4$I)',
                   s, op.sym, op.typ, 'op_' || op.impl);
    EXECUTE format('ALTER OPERATOR %1$I.%2$s (pg_catalog.%3$I, pg_catalog.%3$I) OWNER TO %4$I',
                   s, op.sym, op.typ, attacker);
  END LOOP;
  -- Look-alikes of the functions the extension's SQL calls: each records
  -- that it was reached, then does what the real one does.
  EXECUTE format($f$
    CREATE FUNCTION %I.shadow_reached() RETURNS pg_catalog.bool LANGUAGE plpgsql AS $t$
    BEGIN
      INSERT INTO public.ptb_trap_log
        VALUES ('shadow ' OPERATOR(pg_catalog.||) pg_catalog.current_setting('ptb.attack', true), CURRENT_USER, %L);
      RETURN true;
    END $t$ $f$, s, attacker);
  EXECUTE format('ALTER FUNCTION %I.shadow_reached() OWNER TO %I', s, attacker);
  FOR f IN SELECT p.oid, p.proname, pg_catalog.pg_get_function_arguments(p.oid) AS args,
                  pg_catalog.pg_get_function_identity_arguments(p.oid) AS identity,
                  pg_catalog.pg_get_function_result(p.oid) AS result,
                  (SELECT pg_catalog.string_agg('$' || i, ', ') FROM pg_catalog.generate_series(1, p.pronargs) i) AS params
             FROM pg_catalog.pg_proc p
            WHERE p.pronamespace = 'tenant_backup'::regnamespace
              AND p.proname IN ('backup_check_options', 'backup_check_tenant', 'backup_schedule_next',
                                'backup_scheduler_pid')
  LOOP
    EXECUTE format('CREATE FUNCTION %I.%I(%s) RETURNS %s LANGUAGE sql AS %L', s, f.proname, f.args, f.result,
                   format('SELECT tenant_backup.%I(%s) WHERE %I.shadow_reached()', f.proname, coalesce(f.params, ''), s));
    EXECUTE format('ALTER FUNCTION %I.%I(%s) OWNER TO %I', s, f.proname, f.identity, attacker);
  END LOOP;
END $make$;
SELECT pg_temp.make_traps('ptb_esc_admin'), pg_temp.make_traps('ptb_esc_scheduler'),
       pg_temp.make_traps('ptb_esc_app');

-- Runs `call` as `attacker` with one technique; returns the SQLSTATE it
-- ended with ('ok' when it succeeded). Written with qualified names only:
-- it runs while the attacker's temporary types exist.
CREATE FUNCTION pg_temp.attack(attacker pg_catalog.text, technique pg_catalog.text, label pg_catalog.text,
                               call pg_catalog.text)
RETURNS pg_catalog.text LANGUAGE plpgsql AS $a$
DECLARE
  state pg_catalog.text := 'ok';
  message pg_catalog.text;
  typ pg_catalog.text;
  s pg_catalog.text := attacker OPERATOR(pg_catalog.||) '_evil';
BEGIN
  EXECUTE pg_catalog.format('SET ROLE %I', attacker);
  IF technique OPERATOR(pg_catalog.=) 'operators' THEN
    EXECUTE pg_catalog.format('SET search_path = %I, pg_catalog, public, tenant_backup, tap', s);
  ELSE
    PERFORM pg_catalog.set_config('search_path', 'public, tenant_backup, tap', false);  -- pg_temp implicitly first
    FOREACH typ IN ARRAY '{text,jsonb,timestamptz,bool,int8,int4,name,interval}'::pg_catalog.text[] LOOP
      EXECUTE pg_catalog.format('CREATE DOMAIN pg_temp.%1$I AS pg_catalog.%1$I CHECK (%2$I.trap())', typ, s);
    END LOOP;
  END IF;
  PERFORM pg_catalog.set_config('ptb.attack', label, false);
  PERFORM pg_catalog.set_config('ptb.trap_armed', 'on', false);
  BEGIN
    EXECUTE call;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
    PERFORM pg_catalog.set_config('ptb.last_error', message, false);
  END;
  PERFORM pg_catalog.set_config('ptb.trap_armed', 'off', false);
  IF technique OPERATOR(pg_catalog.=) 'temp_types' THEN
    FOREACH typ IN ARRAY '{text,jsonb,timestamptz,bool,int8,int4,name,interval}'::pg_catalog.text[] LOOP
      EXECUTE pg_catalog.format('DROP DOMAIN pg_temp.%I', typ);
    END LOOP;
  END IF;
  RESET search_path;
  RESET ROLE;
  RETURN state;
END $a$;

-- What the calls act on: stored snapshots of tenant 1 and their bytes.
SET pg_tenant_backup.allow_restore = on;
CREATE TEMP TABLE ids AS SELECT backup_create('1') AS stored, backup_create('1') AS for_import;
SELECT backup_create('1', name => 'esc delete') FROM generate_series(1, 2);
GRANT SELECT ON ids TO PUBLIC;
CREATE TEMP TABLE upload_bytes AS SELECT string_agg(chunk, ''::bytea) AS b FROM ids, backup_download(ids.stored) AS chunk;
GRANT SELECT ON upload_bytes TO PUBLIC;
-- Tenant 2's rows, to compare afterwards.
CREATE TEMP TABLE tenant2_before AS SELECT * FROM tap.tenant_fingerprint('2') AS f;

-- Every function of the matrix, with a call that reaches its SQL.
CREATE TEMP TABLE calls (seq serial, fn regprocedure, call text);
INSERT INTO calls (fn, call) VALUES
  ('backup_stats(text, jsonb)', $$SELECT tenant_backup.backup_stats('1')$$),
  ('backup_coverage(text, jsonb)', $$SELECT tenant_backup.backup_coverage('1')$$),
  ('backup_export(text, jsonb)', $$SELECT tenant_backup.backup_export('1')$$),
  ('backup_create(text, jsonb, text, text, boolean)', $$SELECT tenant_backup.backup_create('1')$$),
  ('backup_keep(bigint, boolean)', $$SELECT tenant_backup.backup_keep(for_import, true), tenant_backup.backup_keep(for_import, false) FROM ids$$),
  ('backup_verify(bigint)', $$SELECT tenant_backup.backup_verify(stored) FROM ids$$),
  ('backup_read(bigint)', $$SELECT tenant_backup.backup_read(stored) FROM ids$$),
  ('backup_download(bigint)', $$SELECT count(*) FROM ids, tenant_backup.backup_download(stored)$$),
  ('backup_upload(bytea, text, text)', $$SELECT tenant_backup.backup_upload(b) FROM upload_bytes$$),
  ('backup_delete(bigint)', $$SELECT tenant_backup.backup_delete(id) FROM tenant_backup.backup_list WHERE name = 'esc delete' ORDER BY id LIMIT 1$$),
  ('backup_prune(text, integer, integer)', $$SELECT tenant_backup.backup_prune('1', 1000)$$),
  ('backup_import(jsonb, text, jsonb)', $$SELECT tenant_backup.backup_import(tenant_backup.backup_export('1'), 'replace')$$),
  ('backup_import_stored(bigint, text, jsonb)', $$SELECT tenant_backup.backup_import_stored(for_import, 'replace') FROM ids$$),
  ('backup_restore(bigint, jsonb)', $$SELECT tenant_backup.backup_restore(stored) FROM ids$$),
  ('backup_tenant_busy(text)', $$SELECT tenant_backup.backup_tenant_busy('1')$$),
  ('backup_restore_to(text, timestamptz, jsonb)', $$SELECT tenant_backup.backup_restore_to('1', now())$$),
  ('backup_recovery_window(text)', $$SELECT * FROM tenant_backup.backup_recovery_window('1')$$),
  ('backup_schedule_next(text, text, timestamptz, timestamptz)', $$SELECT tenant_backup.backup_schedule_next('@daily', 'UTC', now(), now())$$),
  ('backup_schedule_preview(text, integer, text)', $$SELECT * FROM tenant_backup.backup_schedule_preview('@daily', 2, 'UTC')$$),
  ('backup_scheduler_pid()', $$SELECT tenant_backup.backup_scheduler_pid()$$),
  ('backup_check_options(jsonb)', $$SELECT tenant_backup.backup_check_options('{"tables": ["orders"]}')$$),
  ('backup_check_tenant(text, jsonb)', $$SELECT tenant_backup.backup_check_tenant('1')$$),
  ('backup_schedule_create(text, text, text, jsonb, text)', $$SELECT tenant_backup.backup_schedule_create('esc_' || current_user, '1', '@daily')$$),
  ('backup_schedule_update(text, text, text, jsonb, text)', $$SELECT tenant_backup.backup_schedule_update('esc_' || current_user, schedule => '@hourly')$$),
  ('backup_schedule_disable(text)', $$SELECT tenant_backup.backup_schedule_disable('esc_' || current_user)$$),
  ('backup_schedule_enable(text)', $$SELECT tenant_backup.backup_schedule_enable('esc_' || current_user)$$),
  ('backup_scheduler_status()', $$SELECT tenant_backup.backup_scheduler_status()$$),
  ('backup_capture_status()', $$SELECT * FROM tenant_backup.backup_capture_status()$$),
  ('backup_progress()', $$SELECT * FROM tenant_backup.backup_progress$$),
  ('backup_schedule_drop(text)', $$SELECT tenant_backup.backup_schedule_drop('esc_' || current_user)$$);

CREATE TEMP TABLE attackers (role text);
INSERT INTO attackers VALUES ('ptb_esc_admin'), ('ptb_esc_scheduler'), ('ptb_esc_app');
CREATE TEMP TABLE techniques (technique text);
INSERT INTO techniques VALUES ('operators'), ('temp_types');

SELECT plan(1 + 6 + 1 + 1 + (SELECT count(*)::int FROM calls) * 6 + 1 + 1 + 6 + 3 + 1);

SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                 JOIN pg_extension e ON e.oid = d.refobjid
                WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
                  AND e.extname = 'pg_tenant_backup' AND d.deptype = 'e'$$,
              $$SELECT fn::text FROM calls$$,
              'every function of the extension is attacked');

-- Positive controls: each trap fires when the attacker's own SQL uses an
-- unqualified operator or type.
SELECT is(pg_temp.attack(a.role, t.technique, 'control ' || a.role || ' ' || t.technique,
                         $$SELECT 'a'::text = 'a'::text, '1'::int8 = 1::int8$$), 'ok',
          format('control: %s runs its own SQL under %s', a.role, t.technique))
  FROM attackers a, techniques t ORDER BY 1;
SELECT is((SELECT count(DISTINCT attack)::int FROM public.ptb_trap_log
            WHERE attack LIKE 'control %' AND ran_as::text = attacker), 6,
          'control: every trap fired as its attacker (the traps work)');
SELECT is(pg_temp.attack('ptb_esc_scheduler', 'operators', 'control shadow',
                         $$SELECT backup_check_options('{}'), backup_scheduler_pid()$$), 'ok',
          'control: an unqualified call of the attacker''s own reaches its look-alikes');

-- The attacks. Every call either runs or fails; what matters is as whom
-- the traps ran.
CREATE TEMP TABLE outcomes (fn regprocedure, role text, technique text, state text, message text);
DO $$
DECLARE c record; a record; t record; state text;
BEGIN
  FOR t IN SELECT * FROM techniques ORDER BY technique LOOP
    FOR a IN SELECT * FROM attackers ORDER BY role LOOP
      FOR c IN SELECT * FROM calls ORDER BY seq LOOP
        PERFORM set_config('ptb.last_error', '', false);
        state := pg_temp.attack(a.role, t.technique, c.fn::text || ' ' || a.role || ' ' || t.technique, c.call);
        INSERT INTO outcomes VALUES (c.fn, a.role, t.technique, state, current_setting('ptb.last_error'));
      END LOOP;
    END LOOP;
  END LOOP;
END $$;

SELECT is((SELECT count(*)::int FROM public.ptb_trap_log l
            WHERE l.attack = o.fn::text || ' ' || o.role || ' ' || o.technique
              AND l.ran_as::text <> l.attacker), 0,
          format('%s as %s with %s (%s): no trap ran with another role''s rights', o.fn, o.role, o.technique, o.state))
  FROM outcomes o ORDER BY o.fn::text, o.role, o.technique;

SELECT is((SELECT count(*)::int FROM public.ptb_trap_log l
            WHERE l.attack LIKE 'shadow %' AND l.attack <> 'shadow control shadow'), 0,
          'no call of the extension reached a look-alike of its functions on the caller''s search_path');
SELECT is((SELECT count(*)::int FROM public.ptb_trap_log l WHERE l.attack = 'shadow control shadow'), 2,
          'the look-alikes are reached by unqualified calls (the check above can fail)');

SELECT diag(string_agg(format('%s as %s with %s: %s %s', fn, role, technique, state, message), E'\n' ORDER BY fn::text, role, technique))
  FROM outcomes WHERE state <> 'ok' AND role <> 'ptb_esc_app';

-- The admin's calls reached the extension's SQL: they ran, they did not
-- all fail on privileges.
SELECT is((SELECT count(*)::int FROM outcomes o WHERE o.role = 'ptb_esc_admin' AND o.technique = t.technique
              AND o.fn IN ('backup_export(text, jsonb)', 'backup_create(text, jsonb, text, text, boolean)',
                           'backup_verify(bigint)', 'backup_read(bigint)', 'backup_prune(text, integer, integer)',
                           'backup_import_stored(bigint, text, jsonb)', 'backup_restore(bigint, jsonb)')
              AND o.state = 'ok'), 7,
          format('the admin''s export, create, verify, read, prune, import and restore ran under %s', t.technique))
  FROM techniques t ORDER BY 1;
SELECT is((SELECT count(*)::int FROM outcomes o WHERE o.role = 'ptb_esc_scheduler' AND o.technique = t.technique
              AND o.fn::text ~ '^(backup_schedule|backup_check_options)' AND o.state = 'ok'), 10,
          format('the scheduling role''s schedule calls all ran under %s', t.technique))
  FROM techniques t ORDER BY 1;
SELECT is((SELECT count(*)::int FROM outcomes o WHERE o.role = 'ptb_esc_app' AND o.technique = t.technique
              AND o.state = '42501'), (SELECT count(*)::int - 1 FROM calls),
          format('the application role is refused every function but backup_schedule_preview under %s', t.technique))
  FROM techniques t ORDER BY 1;

SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = a.role), false, a.role || ' is still not a superuser')
  FROM attackers a ORDER BY 1;
SELECT set_eq($$SELECT * FROM tap.tenant_fingerprint('2')$$, $$SELECT * FROM tenant2_before$$,
              'tenant 2''s rows are byte for byte what they were');

SELECT * FROM finish();
ROLLBACK;
