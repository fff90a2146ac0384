-- export -> delete the tenant -> backup_import(..., 'replace') gives every
-- table back exactly: every value of every type family (compared as stored
-- images), the shop's tables and their references, sequences advanced so
-- the application can insert at once; no row of another tenant touched.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(29);

-- 1. Every built-in type family (test/fixtures/all_types.sql), under
-- session settings far from the snapshot's: the import reads values with
-- the snapshot's own settings and gives the session its settings back.
CREATE TEMP TABLE types_before AS SELECT * FROM types.all_types;
CREATE TEMP TABLE types_doc AS SELECT backup_export('7', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') AS d;
SELECT xmin::text AS marker_xmin FROM types.all_types WHERE id = 99 \gset
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET TimeZone = 'America/New_York';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
DELETE FROM types.all_types WHERE tenant_id = 7;
DELETE FROM types.type_tenants WHERE id = 7;
SELECT is((SELECT backup_import(d, 'replace', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') -> 'totals' FROM types_doc),
          '{"inserted": 8, "updated": 0, "unchanged": 0, "deleted": 0}'::jsonb,
          'replace brings back the deleted tenant''s 8 rows (tenant row included)');
SELECT is(current_setting('DateStyle'), 'SQL, DMY', 'DateStyle is the session''s again');
SELECT is(current_setting('TimeZone'), 'America/New_York', 'TimeZone is the session''s again');
SELECT is(current_setting('session_replication_role'), 'origin', 'session_replication_role is back to origin');
SELECT is((SELECT count(*)::int FROM types.all_types), 8, 'all_types has its 8 rows again');
SELECT is((SELECT count(*)::int FROM types_before b JOIN types.all_types a ON a.id = b.id
            WHERE b OPERATOR(pg_catalog.*=) a), 8,
          'every row is stored exactly as before: same binary image of every value (NULLs, unicode, '
          'NaN, infinities, -0, int8 extremes, arrays, ranges, json text, jsonb, bytea, enums, domains, '
          'composites, generated column recomputed)');
SELECT is((SELECT xmin::text FROM types.all_types WHERE id = 99), :'marker_xmin',
          'tenant 8''s row was not touched');
SELECT is((SELECT name FROM types.type_tenants WHERE id = 7), 'Types R Us', 'the tenant row is back');
RESET DateStyle;
RESET IntervalStyle;
RESET TimeZone;
RESET extra_float_digits;
RESET bytea_output;
SELECT is((SELECT backup_import(d, 'replace', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') -> 'totals' FROM types_doc),
          '{"inserted": 0, "updated": 0, "unchanged": 8, "deleted": 0}'::jsonb,
          'a second replace finds every row equal and changes none');

-- 1b. The same through a stored snapshot read as a stream from its file
-- (backup_import_stored: rows spilled to a temporary file, then COPY),
-- under the same far session settings.
-- A jsonb number beyond a double's range (jsonb writes 1e400 as 401 digits).
UPDATE types.all_types SET c_jsonb = c_jsonb || '{"huge": 1e400, "tiny": -1e-400}'
 WHERE id = (SELECT min(id) FROM types.all_types
              WHERE tenant_id = 7 AND jsonb_typeof(c_jsonb) = 'object' AND NOT c_jsonb ? '$jsonb');
DROP TABLE types_before;
CREATE TEMP TABLE types_before AS SELECT * FROM types.all_types;
SELECT backup_create('7', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') AS types_backup \gset
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
DELETE FROM types.all_types WHERE tenant_id = 7;
DELETE FROM types.type_tenants WHERE id = 7;
SELECT is(backup_import_stored(:types_backup, 'replace', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') -> 'totals',
          '{"inserted": 8, "updated": 0, "unchanged": 0, "deleted": 0}'::jsonb,
          'backup_import_stored brings back the deleted tenant''s 8 rows from the stored file');
SELECT is((SELECT count(*)::int FROM types_before b JOIN types.all_types a ON a.id = b.id
            WHERE b OPERATOR(pg_catalog.*=) a), 8,
          'every row is stored exactly as before, read as a stream (same binary image of every value, '
          'jsonb values that look like the {"$jsonb": v} escape and jsonb numbers such as 1e400 included)');
SELECT is(current_setting('TimeZone'), 'America/New_York', 'TimeZone is the session''s again');
RESET DateStyle;
RESET TimeZone;
RESET extra_float_digits;
RESET bytea_output;
SELECT is(backup_import_stored(:types_backup, 'merge', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') -> 'totals',
          '{"inserted": 0, "updated": 0, "unchanged": 8, "deleted": 0}'::jsonb,
          'a merge of the same stored snapshot finds every row equal');
SELECT is((SELECT source_id FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1),
          :types_backup::bigint, 'its backup_logs row names the stored snapshot as its source');

-- 2. The shop (test/fixtures/shop.sql): delete every row of Globex, tenant
-- row included, and replace. The sequences (serial and identity) of a
-- table of the tenant are set back behind the tenant's rows, as in a
-- database restored from an older dump.
CREATE TABLE public.tickets (
  id serial PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenants,
  n bigint GENERATED ALWAYS AS IDENTITY,
  subject text
);
INSERT INTO tickets (tenant_id, subject) VALUES (1, 'a'), (1, 'b'), (2, 'c'), (2, 'd');
CREATE TEMP VIEW shop_rows AS
            SELECT 'tenants' AS t, x::text AS r, x.xmin::text AS v FROM tenants x
  UNION ALL SELECT 'countries', x::text, x.xmin::text FROM countries x
  UNION ALL SELECT 'currencies', x::text, x.xmin::text FROM currencies x
  UNION ALL SELECT 'customers', x::text, x.xmin::text FROM customers x
  UNION ALL SELECT 'orders', x::text, x.xmin::text FROM orders x
  UNION ALL SELECT 'order_lines', x::text, x.xmin::text FROM order_lines x
  UNION ALL SELECT 'line_notes', x::text, x.xmin::text FROM line_notes x
  UNION ALL SELECT 'returns', x::text, x.xmin::text FROM returns x
  UNION ALL SELECT 'notes', x::text, x.xmin::text FROM "Order ""Notes""; --" x
  UNION ALL SELECT 'events', x::text, x.xmin::text FROM events x
  UNION ALL SELECT 'audit_logs', x::text, x.xmin::text FROM audit_logs x
  UNION ALL SELECT 'app_settings', x::text, x.xmin::text FROM app_settings x
  UNION ALL SELECT 'tickets', x::text, x.xmin::text FROM tickets x;
CREATE TEMP TABLE shop_before AS SELECT * FROM shop_rows;
CREATE TEMP TABLE globex_doc AS
  SELECT backup_export('2', '{"include_deleted": true, "include_audit_logs": true}') AS d;

DELETE FROM line_notes WHERE order_id IN (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 2);
DELETE FROM order_lines WHERE order_id IN (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 2);
DELETE FROM returns WHERE order_id IN (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 2);
DELETE FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE tenant_id = 2);
DELETE FROM customers WHERE tenant_id = 2;
DELETE FROM "Order ""Notes""; --" WHERE tenant_id = 2;
DELETE FROM events WHERE tenant_id = 2;
DELETE FROM audit_logs WHERE tenant_id = 2;
DELETE FROM tickets WHERE tenant_id = 2;
DELETE FROM tenants WHERE id = 2;
SELECT setval('tickets_id_seq', 2) \g /dev/null
SELECT setval(pg_get_serial_sequence('tickets', 'n'), 2) \g /dev/null

SELECT is((SELECT backup_import(d, 'replace') -> 'totals' -> 'inserted' FROM globex_doc), '25'::jsonb,
          'replace inserts the 25 rows of the deleted tenant');
SELECT is_empty($$(SELECT t, r FROM shop_before EXCEPT ALL SELECT t, r FROM shop_rows)
                  UNION ALL (SELECT t, r FROM shop_rows EXCEPT ALL SELECT t, r FROM shop_before)$$,
                'every table holds exactly the rows it held before the tenant was deleted');
SELECT is((SELECT count(*)::int FROM shop_before b JOIN shop_rows a USING (t, r, v)),
          (SELECT count(*)::int FROM shop_before) - 25,
          'every row that is not Globex''s is the very same row version (same xmin): never rewritten');
SELECT is((SELECT count(*)::int FROM shop_before b JOIN shop_rows a USING (t, r, v)
            WHERE t IN ('countries', 'currencies')), 7, 'master rows are not touched');

-- The application writes at once: the sequences moved up to what was loaded.
SELECT lives_ok($$INSERT INTO tickets (tenant_id, subject) VALUES (2, 'after the restore')$$,
                'an INSERT through the serial and identity sequences works after the replace');
SELECT is((SELECT id FROM tickets WHERE subject = 'after the restore'), 5, 'the serial column continues after the highest id');
SELECT is((SELECT n FROM tickets WHERE subject = 'after the restore'), 5::bigint, 'the identity column continues too');
SELECT setval('tickets_id_seq', 1000) \g /dev/null
SELECT is((SELECT t -> 'deleted' FROM globex_doc, jsonb_array_elements(backup_import(d, 'replace') -> 'tables') t
            WHERE t ->> 'table' = 'public.tickets'), '1'::jsonb,
          'replace again removes the ticket added since');
SELECT is(nextval('tickets_id_seq'), 1001::bigint, 'a sequence ahead of the loaded values never moves back');

-- 3. Tables the tenant references through other tenants: Globex's returns
-- were handled by Acme's customers, recorded as reference rows, not loaded.
SELECT is((SELECT count(*)::int FROM customers WHERE tenant_id = 1), 3, 'Acme keeps its three customers');
SELECT is((SELECT jsonb_agg(x ->> 'role') FROM globex_doc, jsonb_array_elements(d -> 'master_data') x
            WHERE x ->> 'name' = 'customers'), '["reference"]'::jsonb,
          'the snapshot recorded Acme''s two customers as reference rows');

-- 4. Mutual references (a cycle of foreign keys) and a self reference
-- among the rows of a deleted tenant.
CREATE TABLE depts (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, manager_id int);
CREATE TABLE emps (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                   dept_id int REFERENCES depts, boss_id int REFERENCES emps);
ALTER TABLE depts ADD FOREIGN KEY (manager_id) REFERENCES emps;
INSERT INTO depts VALUES (1, 1, NULL), (2, 2, NULL), (3, 1, NULL);
INSERT INTO emps VALUES (10, 1, 1, NULL), (11, 1, 3, 10), (20, 2, 2, NULL);
UPDATE depts SET manager_id = 11 WHERE id = 1;
UPDATE depts SET manager_id = 10 WHERE id = 3;
UPDATE depts SET manager_id = 20 WHERE id = 2;
CREATE TEMP TABLE cycle_before AS SELECT 'd' || d::text AS r FROM depts d UNION ALL SELECT 'e' || e::text FROM emps e;
CREATE TEMP TABLE cycle_doc AS SELECT backup_export('1', '{"tables": ["tenants", "depts", "emps"]}') AS d;
UPDATE depts SET manager_id = NULL WHERE tenant_id = 1;
DELETE FROM emps WHERE tenant_id = 1;
DELETE FROM depts WHERE tenant_id = 1;
SELECT is((SELECT backup_import(d, 'replace') -> 'totals' -> 'inserted' FROM cycle_doc), '4'::jsonb,
          'rows on a cycle of foreign keys are inserted together');
SELECT is_empty($$SELECT 'd' || d::text FROM depts d UNION ALL SELECT 'e' || e::text FROM emps e
                  EXCEPT SELECT r FROM cycle_before$$, 'with every reference as it was');

-- 5. A schema per tenant.
CREATE SCHEMA "Tenant B";
CREATE TABLE "Tenant B".invoices (id int PRIMARY KEY, country text REFERENCES countries, amount numeric(8,2));
INSERT INTO "Tenant B".invoices VALUES (1, 'JP', 5), (2, 'JP', 6.5);
CREATE TEMP TABLE schema_doc AS SELECT backup_export('Tenant B', '{"tenancy": "schema"}') AS d;
UPDATE "Tenant B".invoices SET amount = 7 WHERE id = 1;
INSERT INTO "Tenant B".invoices VALUES (3, 'US', 1);
SELECT is((SELECT backup_import(d, 'replace', '{"tenancy": "schema"}') -> 'totals' FROM schema_doc),
          '{"inserted": 0, "updated": 1, "unchanged": 1, "deleted": 1}'::jsonb,
          'schema tenancy: replace updates one row and removes one');
SELECT results_eq($$SELECT id, amount FROM "Tenant B".invoices ORDER BY id$$,
                  $$VALUES (1, 5.00::numeric(8,2)), (2, 6.50)$$, 'the tenant''s schema holds the snapshot''s rows');

SELECT * FROM finish();
ROLLBACK;
