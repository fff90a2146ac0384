-- backup_import refuses what it cannot apply faithfully, with a SQLSTATE
-- and a message naming what is wrong, before it changes anything: for each
-- refusal no row of any table changed (same rows, same row versions) and,
-- for the checks made before the changes, no write was even attempted
-- (the transaction's write counters of the tables did not move).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(40);

CREATE TEMP TABLE acme AS SELECT backup_export('1') AS d;
CREATE TEMP TABLE globex AS SELECT backup_export('2') AS d;

-- Writes attempted on the application's tables in this transaction, rolled
-- back or not.
CREATE FUNCTION pg_temp.writes() RETURNS bigint LANGUAGE sql AS $$
  SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_xact_user_tables
   WHERE schemaname IN ('public', 'types') AND relname <> 'backup_logs' $$;
-- Every row of every table, with its row version.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (
              SELECT 'tenants' || x::text || x.xmin AS r FROM tenants x
    UNION ALL SELECT 'countries' || x::text || x.xmin FROM countries x
    UNION ALL SELECT 'customers' || x::text || x.xmin FROM customers x
    UNION ALL SELECT 'orders' || x::text || x.xmin FROM orders x
    UNION ALL SELECT 'order_lines' || x::text || x.xmin FROM order_lines x
    UNION ALL SELECT 'line_notes' || x::text || x.xmin FROM line_notes x
    UNION ALL SELECT 'returns' || x::text || x.xmin FROM returns x
    UNION ALL SELECT 'notes' || x::text || x.xmin FROM "Order ""Notes""; --" x
    UNION ALL SELECT 'events' || x::text || x.xmin FROM events x
    UNION ALL SELECT 'audit_logs' || x::text || x.xmin FROM audit_logs x
    UNION ALL SELECT 'all_types' || x::text || x.xmin FROM types.all_types x) rows $$;
-- The error of a statement, with "writes" attempted and whether "unchanged".
CREATE FUNCTION pg_temp.refusal(statement text, as_role text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  w0 bigint := pg_temp.writes();
  s0 text := pg_temp.state();
  e jsonb;
BEGIN
  e := tap.error_of(statement, as_role);
  RETURN COALESCE(e, '{}') || jsonb_build_object('writes', pg_temp.writes() - w0,
                                                 'unchanged', pg_temp.state() = s0);
END $$;
CREATE TEMP TABLE r (name text PRIMARY KEY, e jsonb);
CREATE FUNCTION pg_temp.refuse(name text, statement text, as_role text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$ INSERT INTO r VALUES (name, pg_temp.refusal(statement, as_role)) $$;

-- The document.
SELECT pg_temp.refuse('null', $$SELECT backup_import(NULL)$$);
SELECT pg_temp.refuse('format', $$SELECT backup_import(jsonb_set(d, '{format}', '"other"')) FROM acme$$);
SELECT pg_temp.refuse('version', $$SELECT backup_import(jsonb_set(d, '{format_version}', '2'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('shape', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,0}', '[10, 1]'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('statistics', $$SELECT backup_import(d #- '{data,3,rows,1}', 'replace') FROM acme$$);
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'null'), '22004', 'a NULL document: 22004');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'format'),
          '22023 not a pg_tenant_backup snapshot (format "other")', 'another format: 22023');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'version'), '0A000', 'an unknown format_version: 0A000');
SELECT matches((SELECT e ->> 'message' FROM r WHERE name = 'version'), 'format version 2 is not supported',
               'the message names the version');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'shape'), '22023', 'a row of the wrong length: 22023');
SELECT matches((SELECT e ->> 'message' FROM r WHERE name = 'shape'), '"public"\."customers".*row 1 has 2 values',
               'the message names the table and the row');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'statistics'), 'XX001',
          'a section whose row count disagrees with its statistics: XX001');

-- The call.
SELECT pg_temp.refuse('mode', $$SELECT backup_import(d, 'upsert') FROM acme$$);
SELECT pg_temp.refuse('target', $$SELECT backup_import(d, 'merge', '{"target_tenant": "2"}') FROM acme$$);
SELECT pg_temp.refuse('option', $$SELECT backup_import(d, 'merge', '{"dryrun": true}') FROM acme$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'detail') FROM r WHERE name = 'mode'),
          '22023 Valid modes are: insert_only, merge, replace.', 'an unknown mode lists the valid ones');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'target'), '0A000', 'target_tenant: 0A000');
SELECT matches((SELECT e ->> 'message' FROM r WHERE name = 'target'), 'not supported yet', 'refused clearly for now');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'option'), '22023', 'an unknown option: 22023');
SELECT matches((SELECT e ->> 'detail' FROM r WHERE name = 'option'), 'dry_run.*fire_triggers.*key_columns',
               'the detail lists the valid options, the import''s included');

-- The tenant and the schema.
SELECT pg_temp.refuse('tenant', $$SELECT backup_import(jsonb_set(d, '{metadata,tenant,id}', '"77"'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('column', $$SELECT backup_import(jsonb_set(d, '{data,3,columns,2}', '"nickname"'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('type', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,1,4}', '1.5'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('kind', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,1,4}', '"ten"'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('bytea', $$SELECT backup_import(jsonb_set(d, '{data,1,rows,0,15}', '"not base64!"'), 'replace',
                                                         '{"schemas": ["types"], "exclude_tables": ["public.events"]}')
                                   FROM (SELECT backup_export('7', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') AS d) t$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'tenant'),
          '42704 tenant "77" does not exist', 'a tenant this database does not have: 42704');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || split_part(e ->> 'detail', E'\n', 1) FROM r WHERE name = 'column'),
          '42703 public.customers.nickname: no such column here (dropped or renamed), and the snapshot has values for it',
          'a column the table lacks: 42703 naming table and column');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'type'),
          '22P02 invalid input syntax for type integer: "1.5"', 'a value that does not parse: the type''s own error');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'kind'),
          '22023 a value of integer encoding cannot be a string (table public.customers, column referred_by, row 2 of the snapshot)',
          'a value of a kind its column''s encoding never writes (a string for an integer): 22023 naming table, column and row');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'bytea'), '22P02', 'bytea that is not base64: 22P02');
SELECT matches((SELECT e ->> 'message' FROM r WHERE name = 'bytea'), 'table types\.all_types, column c_bytea, row 1',
               'it names the table, the column and the row');
SELECT is((SELECT backup_import(jsonb_set(d, '{data,3,columns,2}', '"nickname"'), 'replace',
                                '{"ignore_unknown_columns": true}') -> 'totals' -> 'updated' FROM acme), '0'::jsonb,
          'ignore_unknown_columns leaves the unknown column''s values out (the others are equal)');

-- Rows the tenant's rows point at.
SELECT pg_temp.refuse('master', $$SELECT backup_import(jsonb_set(d, '{master_data,1,rows,0,0}', '"XX"'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('reference', $$SELECT backup_import(jsonb_set(d, '{master_data,2,rows,0,0}', '999'), 'replace') FROM globex$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'master'),
          '23503 master row public.countries (code)=(XX) of the snapshot does not exist in this database',
          'a missing master row: 23503 naming the table and the key');
SELECT matches((SELECT e ->> 'hint' FROM r WHERE name = 'master'), '^Create the missing master rows first',
               'and telling to create it');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'reference'),
          '23503 row public.customers (id)=(999), which the snapshot''s rows reference, does not exist in this database',
          'a missing row of another tenant that the snapshot references: 23503');

-- Keys.
SELECT pg_temp.refuse('owner', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,0,0}', '20'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('duplicate', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,1,0}', '10'), 'replace') FROM acme$$);
SELECT pg_temp.refuse('nokey', $$SELECT backup_import(d, 'merge') FROM acme$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'owner'),
          '23505 row public.customers (id)=(20) of the snapshot belongs to another tenant in this database',
          'a snapshot row whose key is another tenant''s row: 23505');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'duplicate'),
          '23505 the snapshot has more than one row of public.customers with (id)=(10)', 'a key twice in the snapshot: 23505');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'hint') FROM r WHERE name = 'nokey'),
          '22023 Name a unique key in opts, {"key_columns": {"events": ["column"]}}, add a primary key, or use mode replace.',
          'merge into a table without a key: 22023 telling to name key_columns');

-- Every refusal above came before any change.
SELECT is((SELECT jsonb_agg(name ORDER BY name) FROM r WHERE (e -> 'writes')::int <> 0 OR NOT (e -> 'unchanged')::boolean),
          NULL, 'none of the refusals above wrote anything, or changed any row');
SELECT is((SELECT count(*)::int FROM r), 18, 'eighteen refusals checked');

-- Checks that need the changes made: the import is undone as a whole.
SELECT pg_temp.refuse('stray', $$SELECT backup_import(jsonb_set(d, '{data,4,rows,0,1}', '20'), 'replace') FROM acme$$);
SELECT matches((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'stray'),
               '^22023 row public\.orders \(id\)=\(10[01]\) of the snapshot would not belong to tenant "1"$',
               'an order moved to another tenant''s customer in the document: 22023');
SELECT is((SELECT e -> 'unchanged' FROM r WHERE name = 'stray'), 'true'::jsonb, 'nothing changed');
INSERT INTO customers VALUES (13, 1, 'Added later', 'DE', NULL, NULL);
UPDATE returns SET handled_by = 13 WHERE id = 2;
SELECT pg_temp.refuse('blocked', $$SELECT backup_import(d, 'replace') FROM acme$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'blocked'),
          '23503 cannot remove row public.customers (id)=(13) of tenant "1": row public.returns (id)=(2) still references it',
          'a row that must go but another tenant''s row references: 23503 naming both rows');
SELECT matches((SELECT e ->> 'hint' FROM r WHERE name = 'blocked'), 'that tenant''s row must go first',
               'the hint says the other tenant''s row must go first');
SELECT is((SELECT e -> 'unchanged' FROM r WHERE name = 'blocked'), 'true'::jsonb, 'nothing changed');
UPDATE returns SET handled_by = 10 WHERE id = 2;
DELETE FROM customers WHERE id = 13;

-- Privileges: the caller's own, on every table.
CREATE ROLE ptb_tap_importer;
GRANT USAGE ON SCHEMA tap TO ptb_tap_importer;
GRANT SELECT ON acme TO ptb_tap_importer;
SELECT pg_temp.refuse('execute', $$SELECT backup_import(d, 'replace') FROM acme$$, 'ptb_tap_importer');
GRANT EXECUTE ON FUNCTION backup_import(jsonb, text, jsonb) TO ptb_tap_importer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_tap_importer;
SELECT pg_temp.refuse('insert', $$SELECT backup_import(jsonb_set(d, '{data,3,rows,1,2}', '"Bobby"'), 'replace') FROM acme$$,
                      'ptb_tap_importer');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'execute'), '42501', 'PUBLIC may not call backup_import');
SELECT matches((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'insert'),
               '^42501 permission denied for table ', 'the caller needs the rights to change the tenant''s tables');
GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_tap_importer;
SELECT is(tap.error_of($$SELECT backup_import(jsonb_set(d, '{data,3,rows,1,2}', '"Bobby"'), 'replace') FROM acme$$,
                       'ptb_tap_importer'), NULL, 'with them, and without any right on backup_logs, it works');
SELECT is((SELECT name FROM customers WHERE id = 11), 'Bobby', 'the row was changed');
SELECT is((SELECT created_by::text FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1),
          'ptb_tap_importer', 'the log names the role');
SELECT is(current_setting('session_replication_role'), 'origin', 'the role''s session_replication_role is origin again');

-- Failed imports are logged (autonomously: the rows stay after a rollback).
SELECT is((SELECT count(*)::int FROM backup_logs WHERE operation = 'import' AND status = 'failed'
              AND error ->> 'sqlstate' IN ('23503', '23505', '42703')
              AND started_at >= now()), 6, 'failed imports left failed rows with their SQLSTATE');
SELECT is((SELECT error ->> 'message' FROM backup_logs WHERE operation = 'import' AND status = 'failed'
              AND error ->> 'sqlstate' = '42704' ORDER BY id DESC LIMIT 1), 'tenant "77" does not exist',
          'with the error message');

-- That failing imports give back what they hold is checked across
-- transactions, as an application runs them: test/system/failing_imports_memory.sh.

SELECT * FROM finish();
ROLLBACK;
