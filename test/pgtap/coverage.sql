-- Completeness: a partitioned table whose foreign keys sit on its
-- partitions is a child table (stats, export, replace); a table that may
-- hold the tenant's rows but cannot be placed makes every call that plans a
-- tenant's snapshot fail with a hint, until an option settles it;
-- backup_coverage lists every table with its role and why, and a
-- snapshot's metadata records what it leaves out.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(34);

-- visits: partitioned by year, no key on the parent; each partition
-- declares its own key to customers (the names differ). Every partition
-- has rows of both tenants.
CREATE TABLE visits (id int NOT NULL, customer_id int NOT NULL, at date NOT NULL, note text)
  PARTITION BY RANGE (at);
CREATE TABLE visits_2024 PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE visits_2025 PARTITION OF visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE visits_2026 PARTITION OF visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE visits_2024 ADD PRIMARY KEY (id), ADD CONSTRAINT visits_2024_customer_fk FOREIGN KEY (customer_id) REFERENCES customers;
ALTER TABLE visits_2025 ADD PRIMARY KEY (id), ADD CONSTRAINT visits_2025_customer_fk FOREIGN KEY (customer_id) REFERENCES customers;
ALTER TABLE visits_2026 ADD PRIMARY KEY (id), ADD CONSTRAINT visits_2026_customer_fk FOREIGN KEY (customer_id) REFERENCES customers;
-- Acme: customers 10, 11; Globex: 20, 21, 22.
INSERT INTO visits VALUES
  (1, 10, '2024-02-01', 'a'), (2, 20, '2024-03-01', 'g'), (3, 21, '2024-04-01', 'g'),
  (4, 11, '2025-02-01', 'a'), (5, 10, '2025-03-01', 'a'), (6, 22, '2025-04-01', 'g'),
  (7, 10, '2026-02-01', 'a'), (8, 20, '2026-03-01', 'g');

SELECT is((SELECT role || ' ' || row_count FROM backup_stats('1') WHERE table_name = 'public.visits'),
          'child 4', 'keys on every partition: visits is a child table, Acme has 4 visits');
SELECT is((SELECT role || ' ' || row_count FROM backup_stats('2') WHERE table_name = 'public.visits'),
          'child 4', 'Globex has its 4 visits, in all three partitions');
SELECT results_eq(
  $$SELECT table_name, role, reason FROM backup_coverage('1') WHERE table_name LIKE 'public.visits%' ORDER BY 1$$,
  $$VALUES ('public.visits', 'child', 'owned through visits_2024_customer_fk -> public.customers (a key declared on each partition)'),
           ('public.visits_2024', 'child', 'a partition of public.visits: its rows are read through it'),
           ('public.visits_2025', 'child', 'a partition of public.visits: its rows are read through it'),
           ('public.visits_2026', 'child', 'a partition of public.visits: its rows are read through it')$$,
  'backup_coverage lists the partitioned table and each partition with the key that owns them');

CREATE TEMP TABLE doc AS SELECT backup_export('1') AS d;
SELECT is((SELECT jsonb_agg(r -> 0 ORDER BY (r ->> 0)::int)
             FROM doc, jsonb_array_elements(d -> 'data') s, jsonb_array_elements(s -> 'rows') r
            WHERE s ->> 'name' = 'visits'),
          '[1, 4, 5, 7]'::jsonb, 'the export holds exactly Acme''s visits, from every partition');
SELECT is((SELECT t -> 'owning_chain' -> 0 ->> 'constraint'
             FROM doc, jsonb_array_elements(d -> 'schema' -> 'tables') t WHERE t ->> 'name' = 'visits'),
          'visits_2024_customer_fk', 'the snapshot records the owning key (the first partition''s name)');

-- Damage Acme's visits in every partition, then replace from the snapshot.
CREATE TEMP TABLE acme_before AS SELECT * FROM visits WHERE customer_id IN (10, 11);
CREATE TEMP TABLE globex_before AS
  SELECT v.*, v.tableoid::regclass::text AS part, v.xmin::text AS version FROM visits v WHERE customer_id >= 20;
UPDATE visits SET note = 'damaged' WHERE id = 1;
DELETE FROM visits WHERE id = 5;
UPDATE visits SET customer_id = 11 WHERE id = 7;
INSERT INTO visits VALUES (9, 10, '2026-06-01', 'stray');
SELECT lives_ok($$SELECT backup_import(d, 'replace') FROM doc$$, 'replace of the damaged tenant runs');
SELECT results_eq($$SELECT id, customer_id, at, note FROM visits WHERE customer_id IN (10, 11) ORDER BY id$$,
                  $$SELECT id, customer_id, at, note FROM acme_before ORDER BY id$$,
                  'after replace Acme''s visits equal the snapshot exactly');
SELECT results_eq($$SELECT id, customer_id, at, note, tableoid::regclass::text, xmin::text FROM visits WHERE customer_id >= 20 ORDER BY id$$,
                  $$SELECT id, customer_id, at, note, part, version FROM globex_before ORDER BY id$$,
                  'Globex''s visits are untouched (same rows, same partitions, same row versions)');

-- A stray Acme customer with a visit: replace removes both.
INSERT INTO customers VALUES (13, 1, 'Stray', 'DE', NULL, NULL);
INSERT INTO visits VALUES (10, 13, '2025-06-01', 'stray');
SELECT lives_ok($$SELECT backup_import(d, 'replace') FROM doc$$,
                'replace removes a stray customer whose visit (in a partition) references it');
SELECT is((SELECT count(*)::int FROM visits WHERE id = 10) + (SELECT count(*)::int FROM customers WHERE id = 13), 0,
          'the stray customer and its visit are gone');

-- metadata.coverage: what the snapshot leaves out, and why.
SELECT results_eq(
  $$SELECT t ->> 'schema', t ->> 'name', t ->> 'role' FROM doc, jsonb_array_elements(d -> 'metadata' -> 'coverage' -> 'left_out') t
     WHERE t ->> 'name' IN ('app_settings', 'audit_logs') ORDER BY 2$$,
  $$VALUES ('public', 'app_settings', 'global'), ('public', 'audit_logs', 'excluded')$$,
  'the snapshot''s metadata lists the global and the excluded table');
SELECT is((SELECT d -> 'metadata' -> 'coverage' -> 'left_out_count' FROM doc),
          (SELECT to_jsonb(count(*)) FROM backup_coverage('1') WHERE role IN ('global', 'excluded')
              AND reason NOT LIKE 'a partition of %'),
          'left_out_count counts every left-out table backup_coverage lists');

-- Partitions that disagree: a new partition without the key.
CREATE TABLE visits_2027 PARTITION OF visits FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$) - 'detail',
          jsonb_build_object('sqlstate', '55000',
            'message', 'table "public.visits" may hold rows of the snapshot but cannot be placed in it',
            'hint', 'Declare the key on public.visits or on every partition, choose it with '
                    '{"owning_fks":{"public.visits":"visits_2024_customer_fk"}}, or leave the table out with '
                    '{"exclude_tables":["public.visits"]}.'),
          'partitions that disagree on the key to customers: backup_stats refuses, naming the table and the options');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$) ->> 'detail',
          'It has the foreign key visits_2024_customer_fk (customer_id) -> public.customers on some of its '
          'partitions only (on public.visits_2024, public.visits_2025, public.visits_2026; not on public.visits_2027).',
          'the detail says which partitions declare the key and which do not');
SELECT is(tap.error_of($$SELECT backup_export('1')$$) ->> 'sqlstate', '55000', 'backup_export refuses too');
SELECT is(tap.error_of($$SELECT backup_import(d, 'replace') FROM doc$$) ->> 'sqlstate', '55000',
          'and so does replace: it would leave visits as they are');
SELECT is(tap.error_of($$SELECT * FROM backup_stats(NULL)$$), NULL,
          'a whole-database snapshot reads every partition through the parent: no refusal');
SELECT is((SELECT role FROM backup_coverage('1') WHERE table_name = 'public.visits'), 'unplaced',
          'backup_coverage does not refuse: it lists the table as unplaced');
SELECT is((SELECT role || ' ' || row_count FROM backup_stats('1', '{"owning_fks": {"visits": "visits_2025_customer_fk"}}')
            WHERE table_name = 'public.visits'), 'child 4',
          'owning_fks naming one partition''s key takes it for the whole table');
SELECT is((SELECT count(*)::int FROM backup_stats('1', '{"exclude_tables": ["audit_logs", "visits"]}')
            WHERE table_name = 'public.visits'), 0, 'exclude_tables leaves it out without an error');
SELECT is((SELECT role || ': ' || reason FROM backup_coverage('1', '{"exclude_tables": ["visits"]}')
            WHERE table_name = 'public.visits'),
          'excluded: left out by exclude_tables (otherwise unplaced: it has the foreign key visits_2024_customer_fk '
          '(customer_id) -> public.customers on some of its partitions only (on public.visits_2024, '
          'public.visits_2025, public.visits_2026; not on public.visits_2027))',
          'backup_coverage says which option left it out and what it would be otherwise');
ALTER TABLE visits_2027 ADD CONSTRAINT visits_2027_customer_fk FOREIGN KEY (customer_id) REFERENCES customers;
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$), NULL, 'once every partition declares it, no refusal');

-- A table outside the scanned schemas that references tenant rows.
CREATE SCHEMA archive;
CREATE TABLE archive.old_orders (id int PRIMARY KEY, order_id int REFERENCES public.orders);
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$),
          jsonb_build_object('sqlstate', '55000',
            'message', 'table "archive.old_orders" may hold rows of the snapshot but cannot be placed in it',
            'detail', 'It references rows of the snapshot through its foreign key old_orders_order_id_fkey (order_id) '
                      '-> public.orders, but its schema archive is not in schemas.',
            'hint', 'Add schema archive to schemas, or leave the table out with {"exclude_tables":["archive.old_orders"]}.'),
          'a key into the tenant''s rows from outside schemas: refused, with both ways out');
SELECT is((SELECT role FROM backup_stats('1', '{"schemas": ["public", "archive"]}')
            WHERE table_name = 'archive.old_orders'), 'child', 'scanning its schema places it');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"exclude_tables": ["audit_logs", "archive.old_orders"]}')$$),
          NULL, 'excluding it settles it');
SELECT is((SELECT role FROM backup_coverage(NULL) WHERE table_name = 'archive.old_orders'), 'global',
          'a whole-database snapshot takes the scanned schemas whole: outside them is global');
-- The tenant column outside the scanned schemas.
DROP TABLE archive.old_orders;
CREATE TABLE archive.old_notes (id int PRIMARY KEY, tenant_id int);
SELECT is(tap.error_of($$SELECT backup_export('1')$$) ->> 'detail',
          'It has the tenant column tenant_id, but its schema archive is not in schemas.',
          'a tenant column outside schemas: refused');
DROP SCHEMA archive CASCADE;

-- An inheritance child of a child table: foreign keys are not inherited.
CREATE TABLE orders_2019 () INHERITS (orders);
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$) ->> 'hint',
          'Declare the foreign keys of public.orders on it too, or leave the table out with {"exclude_tables":["public.orders_2019"]}.',
          'an inheritance child without the keys: refused');
ALTER TABLE orders_2019 ADD FOREIGN KEY (customer_id) REFERENCES customers;
SELECT is((SELECT role FROM backup_stats('1') WHERE table_name = 'public.orders_2019'), 'child',
          'with its own key it is a child table');
SELECT is((SELECT row_count FROM backup_stats('1') WHERE table_name = 'public.orders'), 2::bigint,
          'the parent''s rows are counted without its children''s');
DROP TABLE orders_2019;

-- Large objects: reported, not exported.
ALTER TABLE customers ADD COLUMN photo oid;
SELECT is((SELECT reason FROM backup_coverage('1') WHERE table_name = 'public.customers'),
          'has the tenant column tenant_id; column photo may hold large object ids: large objects are not in the snapshot',
          'backup_coverage reports a column of large object ids');
SELECT is((SELECT backup_export('1', '{"tables": ["customers"]}') -> 'metadata' -> 'coverage' -> 'large_object_columns'),
          '[{"schema": "public", "name": "customers", "column": "photo"}]'::jsonb,
          'and so does the snapshot''s metadata');

-- Every user table is listed once, partitions included.
SELECT is((SELECT count(*)::int FROM backup_coverage('1')),
          (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')),
          'backup_coverage lists every user table of the database');
SELECT is(tap.error_of($$SELECT * FROM backup_coverage('999')$$) ->> 'sqlstate', '42704',
          'an unknown tenant is refused as by backup_stats');

SELECT * FROM finish();
ROLLBACK;
