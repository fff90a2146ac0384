-- backup_stats failure paths: every error has the right SQLSTATE and a
-- message that says what to do, and the session keeps working after it.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(33);

-- Unknown tenant: 42704, the tenant in the message, where we looked in the detail.
SELECT throws_ok($$SELECT * FROM backup_stats('999')$$, '42704',
                 'tenant "999" does not exist', 'unknown tenant is 42704 naming the tenant');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('999')$$)->>'detail',
          'No row of public.tenants has id = 999.', 'the detail says where the tenant was looked for');
SELECT ok(tap.error_of($$SELECT * FROM backup_stats('999')$$)->>'hint' LIKE '%tenant_column%',
          'the hint points at the tenancy settings');

-- Unknown option: 22023 with every valid option listed.
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"include_delted": true}')$$, '22023',
                 'unknown option "include_delted"', 'unknown option is 22023 naming it');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"include_delted": true}')$$)->>'detail',
          'Valid options are: audit_tables, exclude_tables, include_audit_logs, include_deleted, '
          'owning_fks, polymorphic, schemas, soft_delete_column, tables, tenancy, tenant_column.',
          'the detail lists the valid options');

-- Wrongly typed or shaped options.
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"include_deleted": "yes"}')$$, '22023',
                 'invalid value for option "include_deleted": expected true or false');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '[1, 2]')$$, '22023', 'opts must be a JSON object');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"tenancy": "rows"}')$$, '22023',
                 'invalid value for option "tenancy": "rows" is not one of column, schema');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"schemas": []}')$$, '22023',
                 'invalid value for option "schemas": at least one schema is required');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"tables": "a.b.c"}')$$, '22023');

-- A tenant id that is not a value of the tenant column's type: refused
-- before any statement casts it, naming the column and its type, with the
-- type's own message as the detail (no statement of the extension in it).
SELECT throws_ok($$SELECT * FROM backup_stats('abc')$$, '22P02',
                 'tenant "abc" is not a valid integer: the tenant column "id" of public.tenants is integer',
                 'a tenant that is not an integer: 22P02 naming the tenant column');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('abc')$$) - 'message' - 'sqlstate',
          '{"detail": "invalid input syntax for type integer: \"abc\".",
            "hint": "Check the tenant id, or the tenant_column and schemas settings."}'::jsonb,
          'its detail is the type''s message, its hint what to check');
SELECT throws_ok($$SELECT * FROM backup_stats('99999999999')$$, '22003',
                 'tenant "99999999999" is not a valid integer: the tenant column "id" of public.tenants is integer',
                 'a number out of the type''s range: 22003');
SELECT throws_ok($$SELECT backup_export('abc')$$, '22P02',
                 'tenant "abc" is not a valid integer: the tenant column "id" of public.tenants is integer',
                 'backup_export refuses it the same way');
SELECT throws_ok($$SELECT backup_create('abc')$$, '22P02',
                 'tenant "abc" is not a valid integer: the tenant column "id" of public.tenants is integer',
                 'backup_create too');
SELECT throws_ok($$SELECT * FROM backup_coverage('abc')$$, '22P02',
                 'tenant "abc" is not a valid integer: the tenant column "id" of public.tenants is integer',
                 'backup_coverage too');
SELECT throws_ok($$SELECT backup_tenant_busy('abc')$$, '22P02',
                 'tenant "abc" is not a valid integer: the tenant column "tenant_id" is integer',
                 'backup_tenant_busy too');

-- Options that name what is not there.
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"tables": ["app_settings"]}')$$, '42P01',
                 'table "app_settings" is not part of the snapshot');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"owning_fks": {"orders": "nope"}}')$$, '42704',
                 'table "orders" has no foreign key "nope"');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"owning_fks": {"countries": "x"}}')$$, '22023');
SELECT throws_ok($$SELECT * FROM backup_stats('1', '{"tenant_column": "org_id"}')$$, '42P01',
                 'no table in the scanned schemas (public) has the tenant column "org_id"');
SELECT throws_ok($$SELECT * FROM backup_stats('nowhere', '{"tenancy": "schema"}')$$, '3F000',
                 'tenant schema "nowhere" does not exist');

-- Bad settings are refused when set, naming the setting.
SELECT throws_ok($$SET pg_tenant_backup.tenancy = 'rows'$$, '22023');
SELECT throws_ok($$SET pg_tenant_backup.schemas = 'a,,b'$$, '22023');
SELECT throws_ok($$SET pg_tenant_backup.no_such_setting = 'x'$$, '42602');

-- After all those errors the session still works.
SELECT is((SELECT sum(row_count) FROM backup_stats('1'))::int, 14, 'the session keeps working after errors');

-- Privileges: the function is revoked from PUBLIC, and a granted role still
-- needs SELECT on the tables (the count runs with the caller's rights).
CREATE ROLE ptb_tap_nobody;
CREATE ROLE ptb_tap_reader;
GRANT USAGE ON SCHEMA tap TO ptb_tap_nobody, ptb_tap_reader;
GRANT EXECUTE ON FUNCTION backup_stats(text, jsonb) TO ptb_tap_reader;
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_nobody')->>'sqlstate', '42501',
          'PUBLIC may not call backup_stats');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_reader')->>'sqlstate', '42501',
          'without SELECT on the tables: 42501 from the server');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_reader')->>'message',
          'permission denied for table tenants', 'the server''s permission message reaches the caller');
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_tap_reader;
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$, 'ptb_tap_reader'), NULL,
          'with SELECT granted the same role can count');

-- Row level security applies to the counts: a policy that hides tenant 1's
-- customers hides them (and their orders) from the reader.
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY hide_ann ON customers TO ptb_tap_reader USING (name <> 'Ann');
SET LOCAL ROLE ptb_tap_reader;
SELECT is((SELECT row_count FROM backup_stats('1') WHERE table_name = 'public.customers'), 1::bigint,
          'row level security applies to the counted rows');
SELECT is((SELECT row_count FROM backup_stats('1') WHERE table_name = 'public.orders'), 1::bigint,
          'and to rows selected through the hidden rows');
RESET ROLE;
SELECT is((SELECT row_count FROM backup_stats('1') WHERE table_name = 'public.customers'), 2::bigint,
          'the owner still sees every row');

SELECT * FROM finish();
ROLLBACK;
