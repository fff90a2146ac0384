-- Polymorphic references: rows that belong to a tenant
-- through a (type, id) pair without a foreign key, in the shape Rails
-- produces (ActiveStorage attachments, blobs and variant records; PaperTrail
-- versions). Undeclared, backup_coverage reports them as probable tenant
-- data; declared with the polymorphic option, a snapshot holds exactly the
-- tenant's rows of them and of the tables that follow them, and a replace
-- puts them back exactly without touching another tenant's.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(46);

-- Acme is tenant 1, Globex tenant 2 (test/fixtures/shop.sql).
CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, number text NOT NULL);
CREATE TABLE users (id uuid PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, email text NOT NULL);
CREATE TABLE active_storage_blobs (id bigint PRIMARY KEY, key text NOT NULL UNIQUE, filename text NOT NULL,
                                   checksum text, metadata jsonb);
-- record_id is text: one table attaches to bigint invoices and uuid users.
CREATE TABLE active_storage_attachments (
  id bigint PRIMARY KEY, name text NOT NULL, record_type character varying NOT NULL,
  record_id character varying NOT NULL,
  blob_id bigint NOT NULL CONSTRAINT attachments_blob_fk REFERENCES active_storage_blobs);
CREATE TABLE active_storage_variant_records (
  id bigint PRIMARY KEY, variation_digest text NOT NULL,
  blob_id bigint NOT NULL CONSTRAINT variants_blob_fk REFERENCES active_storage_blobs);
CREATE TABLE versions (id bigint PRIMARY KEY, item_type text NOT NULL, item_id bigint NOT NULL,
                       event text NOT NULL, object jsonb);

INSERT INTO invoices VALUES (100, 1, 'A-100'), (101, 1, 'A-101'), (200, 2, 'G-200');
INSERT INTO users VALUES ('aaaaaaaa-0000-4000-8000-000000000001', 1, 'ann@acme.test'),
                         ('bbbbbbbb-0000-4000-8000-000000000002', 2, 'bob@globex.test');
INSERT INTO active_storage_blobs VALUES
  (1, 'k1', 'a-100.pdf', 'c1', '{"analyzed": true}'), (2, 'k2', 'a-101.pdf', 'c2', NULL),
  (3, 'k3', 'ann.png', 'c3', NULL), (4, 'k4', 'acme-logo.svg', 'c4', NULL),
  (5, 'k5', 'g-200.pdf', 'c5', NULL), (6, 'k6', 'bob.png', 'c6', NULL),
  (7, 'k7', 'unattached.bin', 'c7', NULL);
INSERT INTO active_storage_attachments VALUES
  (1, 'pdf', 'Invoice', '100', 1), (2, 'pdf', 'Invoice', '101', 2),
  (3, 'avatar', 'User', 'aaaaaaaa-0000-4000-8000-000000000001', 3),
  (4, 'logo', 'Account', '1', 4),
  (5, 'pdf', 'Invoice', '200', 5), (6, 'avatar', 'User', 'bbbbbbbb-0000-4000-8000-000000000002', 6);
INSERT INTO active_storage_variant_records VALUES (1, 'd1', 1), (2, 'd5', 5);
INSERT INTO versions VALUES
  (1, 'Invoice', 100, 'create', NULL), (2, 'invoices', 101, 'update', '{"number": "A-0101"}'),
  (3, 'Invoice', 200, 'create', NULL), (4, 'Widget', 100, 'create', NULL);

-- The tenant's rows of the five tables, as text, for before/after.
CREATE FUNCTION pg_temp.poly_rows(tenant int) RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws(' | ',
    (SELECT string_agg(a::text, ';' ORDER BY a.id) FROM active_storage_attachments a
      WHERE (a.record_type = 'Invoice' AND a.record_id IN (SELECT id::text FROM invoices WHERE tenant_id = tenant))
         OR (a.record_type = 'User' AND a.record_id IN (SELECT id::text FROM users WHERE tenant_id = tenant))
         OR (a.record_type = 'Account' AND a.record_id = tenant::text)),
    (SELECT string_agg(b::text, ';' ORDER BY b.id) FROM active_storage_blobs b
      WHERE b.id IN (SELECT blob_id FROM active_storage_attachments WHERE id IN (1, 2, 3, 4, 5, 6))
        AND b.id = ANY (CASE WHEN tenant = 1 THEN ARRAY[1, 2, 3, 4] ELSE ARRAY[5, 6] END)),
    (SELECT string_agg(v::text, ';' ORDER BY v.id) FROM active_storage_variant_records v
      WHERE v.blob_id = ANY (CASE WHEN tenant = 1 THEN ARRAY[1, 2, 3, 4] ELSE ARRAY[5, 6] END)),
    (SELECT string_agg(v::text, ';' ORDER BY v.id) FROM versions v
      WHERE v.item_type IN ('Invoice', 'invoices') AND v.item_id IN (SELECT id FROM invoices WHERE tenant_id = tenant)))
$$;

-- 1. Undeclared: reported, not refused.
SELECT is((SELECT role || ': ' || reason FROM backup_coverage('1') WHERE table_name = 'public.versions'),
          'global: probably tenant data, not included: its columns item_type and item_id look like a polymorphic '
          'reference (a type and an id, no foreign key); declare it in polymorphic: '
          '{"polymorphic":{"public.versions":{"id":"item_id","type":"item_type"}}}',
          'undeclared versions: backup_coverage says it is probably tenant data and names the option');
SELECT is((SELECT role || ': ' || reason FROM backup_coverage('1') WHERE table_name = 'public.active_storage_attachments'),
          'global: probably tenant data, not included: its columns record_type and record_id look like a polymorphic '
          'reference (a type and an id, no foreign key); declare it in polymorphic: '
          '{"polymorphic":{"public.active_storage_attachments":{"id":"record_id","type":"record_type"}}}',
          'undeclared attachments: the same, with their columns');
SELECT is((SELECT role FROM backup_coverage('1') WHERE table_name = 'public.active_storage_blobs'), 'global',
          'undeclared, the blobs have no link to the tenant');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1')$$), NULL,
          'an undeclared polymorphic table does not make a tenant''s call fail (it may be global data)');
SELECT is((SELECT t ->> 'reason' FROM jsonb_array_elements(backup_export('1') -> 'metadata' -> 'coverage' -> 'left_out') t
            WHERE t ->> 'name' = 'versions'),
          'probably tenant data, not included: its columns item_type and item_id look like a polymorphic '
          'reference (a type and an id, no foreign key); declare it in polymorphic: '
          '{"polymorphic":{"public.versions":{"id":"item_id","type":"item_type"}}}',
          'a snapshot''s metadata.coverage records the probable tenant data it left out');
SELECT is((SELECT role || ': ' || reason FROM backup_coverage('1', '{"exclude_tables": ["audit_logs", "versions"]}')
            WHERE table_name = 'public.versions'),
          'excluded: left out by exclude_tables (otherwise probably tenant data through a polymorphic reference)',
          'excluding it is recorded as the choice it is');
SELECT is((SELECT role FROM backup_coverage(NULL) WHERE table_name = 'public.versions'), 'tenant',
          'a whole-database snapshot holds it anyway');

-- 2. Declared.
CREATE TEMP TABLE o AS SELECT
  '{"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id",
                                                    "types": {"Account": "tenants"}},
                    "versions": {"type": "item_type", "id": "item_id"}}}'::jsonb AS opts;
GRANT SELECT ON o TO PUBLIC;
SELECT results_eq(
  $$SELECT table_name, role, row_count FROM backup_stats('1', (SELECT opts FROM o))
     WHERE table_name LIKE 'public.active_storage%' OR table_name = 'public.versions' ORDER BY 1$$,
  $$VALUES ('public.active_storage_attachments', 'child', 4::bigint), ('public.active_storage_blobs', 'child', 4),
           ('public.active_storage_variant_records', 'child', 1), ('public.versions', 'child', 2)$$,
  'declared: Acme has 4 attachments (invoices, a uuid user, the tenant row), their 4 blobs, 1 variant, 2 versions');
SELECT results_eq(
  $$SELECT table_name, row_count FROM backup_stats('2', (SELECT opts FROM o))
     WHERE table_name LIKE 'public.active_storage%' OR table_name = 'public.versions' ORDER BY 1$$,
  $$VALUES ('public.active_storage_attachments', 2::bigint), ('public.active_storage_blobs', 2),
           ('public.active_storage_variant_records', 1), ('public.versions', 1)$$,
  'Globex has its 2 attachments and blobs, 1 variant, 1 version');
SELECT alike((SELECT reason FROM backup_coverage('1', (SELECT opts FROM o)) WHERE table_name = 'public.active_storage_attachments'),
            'placed through its polymorphic reference (record_type, record_id) to %public.invoices%public.users%',
            'backup_coverage: the attachments are placed through their polymorphic reference, with its targets');
SELECT is((SELECT reason FROM backup_coverage('1', (SELECT opts FROM o)) WHERE table_name = 'public.active_storage_blobs'),
          'referenced by public.active_storage_attachments through attachments_blob_fk: its rows follow that '
          'table''s polymorphic rows',
          'the blobs follow the attachments that reference them');
SELECT is((SELECT reason FROM backup_coverage('1', (SELECT opts FROM o)) WHERE table_name = 'public.active_storage_variant_records'),
          'owned through variants_blob_fk -> public.active_storage_blobs',
          'the variant records are children of the blobs');

CREATE TEMP TABLE doc AS SELECT backup_export('1', (SELECT opts FROM o)) AS d;
CREATE TEMP TABLE doc2 AS SELECT backup_export('2', (SELECT opts FROM o)) AS d;
GRANT SELECT ON doc, doc2 TO PUBLIC;
CREATE FUNCTION pg_temp.ids(doc jsonb, tbl text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(r -> 0 ORDER BY (r ->> 0)::bigint), '[]')
    FROM jsonb_array_elements(doc -> 'data') s, jsonb_array_elements(s -> 'rows') r WHERE s ->> 'name' = tbl
$$;
SELECT is((SELECT pg_temp.ids(d, 'active_storage_attachments') FROM doc), '[1, 2, 3, 4]'::jsonb,
          'Acme''s export holds exactly its attachments');
SELECT is((SELECT pg_temp.ids(d, 'active_storage_blobs') FROM doc), '[1, 2, 3, 4]'::jsonb,
          'exactly the blobs of its attachments (not Globex''s, not the unattached one)');
SELECT is((SELECT pg_temp.ids(d, 'active_storage_variant_records') FROM doc), '[1]'::jsonb,
          'exactly the variant records of its blobs');
SELECT is((SELECT pg_temp.ids(d, 'versions') FROM doc), '[1, 2]'::jsonb,
          'exactly its versions (by class name and by table name; not the Widget one)');
SELECT is((SELECT pg_temp.ids(d, 'active_storage_attachments') || pg_temp.ids(d, 'active_storage_blobs')
               || pg_temp.ids(d, 'versions') FROM doc2), '[5, 6, 5, 6, 3]'::jsonb,
          'Globex''s export holds its own rows only');
SELECT is((SELECT count(*)::int FROM doc, jsonb_array_elements(d -> 'master') s
            WHERE s ->> 'name' LIKE 'active_storage%'), 0,
          'blobs are data of the tenant, not master rows');
SELECT is((SELECT d -> 'metadata' -> 'options' -> 'polymorphic' -> 'active_storage_attachments' FROM doc),
          '{"type": "record_type", "id": "record_id", "types": {"Account": "tenants"}, "follow": null}'::jsonb,
          'the snapshot records the option');
SELECT is((SELECT pg_temp.ids(d, 'active_storage_attachments') FROM
            (SELECT backup_export('1', '{"polymorphic": {"active_storage_attachments": {"type": "record_type", "id": "record_id"}}}') d) x),
          '[1, 2, 3]'::jsonb, 'without types, "Account" names no table: the tenant row''s attachment is not Acme''s');
SELECT is((SELECT pg_temp.ids(d, 'versions') FROM
            (SELECT backup_export('1', '{"polymorphic": {"versions": {"type": "item_type", "id": "item_id",
                                                                       "types": {"invoices": "users"}}}}') d) x),
          '[1]'::jsonb, 'types overrides the default rule for the values it names');

-- 3. Damage Acme, then replace from its snapshot.
CREATE TEMP TABLE before AS
  SELECT pg_temp.poly_rows(1) AS acme, pg_temp.poly_rows(2) AS globex,
         (SELECT jsonb_agg(f ORDER BY f.table_name) FROM tap.tenant_fingerprint('1') f) AS acme_shop,
         (SELECT jsonb_agg(f ORDER BY f.table_name) FROM tap.tenant_fingerprint('2') f) AS globex_shop,
         (SELECT string_agg(b::text, ';' ORDER BY id) FROM active_storage_blobs b WHERE id >= 5) AS other_blobs,
         (SELECT string_agg(v::text, ';' ORDER BY id) FROM versions v WHERE id >= 3) AS other_versions;
DELETE FROM active_storage_attachments WHERE id IN (1, 3);           -- blobs 1 and 3 are orphans now
UPDATE active_storage_blobs SET checksum = 'damaged', metadata = NULL WHERE id IN (1, 2);
DELETE FROM versions WHERE id = 1;
UPDATE versions SET object = '{"number": "tampered"}' WHERE id = 2;
INSERT INTO active_storage_blobs VALUES (8, 'k8', 'new.pdf', 'c8', NULL);
INSERT INTO active_storage_attachments VALUES (8, 'pdf', 'Invoice', '101', 8);
INSERT INTO active_storage_variant_records VALUES (8, 'd8', 8);
INSERT INTO versions VALUES (8, 'Invoice', 101, 'update', NULL);
SELECT isnt(pg_temp.poly_rows(1), (SELECT acme FROM before), 'Acme''s rows are damaged');

SELECT is(tap.error_of($$SELECT backup_import(d, 'replace') FROM doc$$) - 'detail',
          jsonb_build_object('sqlstate', '22023',
            'message', 'the snapshot was taken with polymorphic {"active_storage_attachments":{"follow":null,"id":"record_id",'
                       '"type":"record_type","types":{"Account":"tenants"}},"versions":{"follow":null,"id":"item_id",'
                       '"type":"item_type","types":{}}}, but this database plans imports with polymorphic {}',
            'hint', 'If the snapshot is to be applied that way, pass the option in opts: {"polymorphic": '
                    '{"active_storage_attachments":{"follow":null,"id":"record_id","type":"record_type",'
                    '"types":{"Account":"tenants"}},"versions":{"follow":null,"id":"item_id","type":"item_type","types":{}}}}.'),
          'an import does not place rows by the snapshot''s own polymorphic option unless the caller passes it');
SELECT lives_ok($$SELECT backup_import(d, 'replace', (SELECT opts FROM o)) FROM doc$$,
                'replace with the option runs');
SELECT is(pg_temp.poly_rows(1), (SELECT acme FROM before),
          'Acme''s attachments, blobs (the orphaned ones taken back), variants and versions equal the snapshot');
SELECT is((SELECT count(*)::int FROM active_storage_attachments WHERE id = 8)
          + (SELECT count(*)::int FROM active_storage_blobs WHERE id = 8)
          + (SELECT count(*)::int FROM active_storage_variant_records WHERE id = 8)
          + (SELECT count(*)::int FROM versions WHERE id = 8), 0,
          'the attachment, blob, variant and version added since are gone');
SELECT is(pg_temp.poly_rows(2), (SELECT globex FROM before), 'Globex''s rows are untouched');
SELECT is((SELECT string_agg(b::text, ';' ORDER BY id) FROM active_storage_blobs b WHERE id >= 5),
          (SELECT other_blobs FROM before), 'Globex''s blobs and the unattached blob are untouched');
SELECT is((SELECT string_agg(v::text, ';' ORDER BY id) FROM versions v WHERE id >= 3),
          (SELECT other_versions FROM before), 'Globex''s and nobody''s versions are untouched');
SELECT is((SELECT jsonb_agg(f ORDER BY f.table_name) FROM tap.tenant_fingerprint('1') f), (SELECT acme_shop FROM before),
          'Acme''s other tables are as they were');
SELECT is((SELECT jsonb_agg(f ORDER BY f.table_name) FROM tap.tenant_fingerprint('2') f), (SELECT globex_shop FROM before),
          'and Globex''s too');

-- A stored snapshot restored: backup_create and backup_restore with the option.
SELECT backup_create('1', (SELECT opts FROM o)) AS acme_backup \gset
DELETE FROM active_storage_attachments WHERE id = 2;
UPDATE active_storage_blobs SET filename = 'renamed.pdf' WHERE id = 4;
DELETE FROM active_storage_variant_records WHERE id = 1;
SET pg_tenant_backup.allow_restore = on;
SELECT is(tap.error_of(format('SELECT backup_restore(%s)', :acme_backup)) ->> 'sqlstate', '22023',
          'backup_restore without the option the snapshot was taken with is refused');
SELECT lives_ok(format('SELECT backup_restore(%s, %L)', :acme_backup, (SELECT opts FROM o)),
                'backup_restore with the option runs');
SELECT is(pg_temp.poly_rows(1), (SELECT acme FROM before), 'Acme''s polymorphic rows are restored exactly');
SELECT is(pg_temp.poly_rows(2), (SELECT globex FROM before), 'Globex''s are untouched by the restore');
SELECT is((SELECT l.options -> 'polymorphic' ?& ARRAY['active_storage_attachments', 'versions'] FROM backup_logs l
            WHERE l.trigger = 'pre_restore' AND l.tenant = '1' AND l.id > :acme_backup ORDER BY l.id DESC LIMIT 1), true,
          'the pre_restore snapshot was taken with the same polymorphic option');

-- A blob of Globex's cannot be taken over by Acme's snapshot.
UPDATE doc SET d = jsonb_set(d, '{data}', (SELECT jsonb_agg(CASE WHEN s ->> 'name' = 'active_storage_blobs'
    THEN jsonb_set(s, '{rows,0,0}', '5') ELSE s END ORDER BY ord) FROM jsonb_array_elements(d -> 'data') WITH ORDINALITY x(s, ord)));
SELECT is(tap.error_of($$SELECT backup_import(d, 'replace', (SELECT opts FROM o)) FROM doc$$) ->> 'sqlstate', '23505',
          'a snapshot row with the key of a blob another tenant''s attachment references is refused');
SELECT is((SELECT checksum FROM active_storage_blobs WHERE id = 5), 'c5', 'and Globex''s blob is unchanged');

-- 4. Bad option shapes.
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": ["versions"]}')$$) - 'detail' - 'hint',
          '{"sqlstate": "22023", "message": "invalid value for option \"polymorphic\": expected an object {\"table\": {\"type\": \"type column\", \"id\": \"id column\"}}"}',
          'polymorphic must be an object');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"versions": {"type": "item_type"}}}')$$) ->> 'message',
          'invalid value for option "polymorphic": the entry for "versions" must name both the type column ("type") and the id column ("id")',
          'both columns are required');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"versions": {"type": "item_type", "id": "item_id", "kind": 1}}}')$$) ->> 'message',
          'invalid value for option "polymorphic": the entry for "versions" has an unknown key "kind" (valid: type, id, types, follow)',
          'unknown keys are refused');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"nope": {"type": "t", "id": "i"}}}')$$),
          '{"sqlstate": "22023", "message": "polymorphic names \"nope\", which is not a table of the scanned schemas (public)",
            "detail": null, "hint": "Name a table of schemas, or add its schema to schemas; backup_coverage lists the tables."}'::jsonb,
          'an unknown table: 22023 with a hint');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"versions": {"type": "kind", "id": "item_id"}}}')$$) - 'detail',
          jsonb_build_object('sqlstate', '22023', 'message', 'polymorphic names "versions", which has no column kind',
            'hint', 'Give the table''s type column as "type" and its id column as "id": '
                    '{"polymorphic":{"public.versions":{"id":"record_id","type":"record_type"}}}.'),
          'a missing column: 22023 naming it');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"versions": {"type": "item_type", "id": "item_id", "types": {"Invoice": "public.bills"}}}}')$$) ->> 'message',
          'polymorphic types of "public.versions" map "Invoice" to "public.bills", which does not exist',
          'a mapped table that does not exist: 22023');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"versions": {"type": "item_type", "id": "item_id", "types": {"Country": "countries"}}}}')$$) ->> 'sqlstate',
          '22023', 'a mapped table that is not the tenant''s (master data): 22023');
SELECT is(tap.error_of($$SELECT * FROM backup_stats('1', '{"polymorphic": {"invoices": {"type": "number", "id": "id"}}}')$$) ->> 'message',
          'polymorphic names "invoices", which has the tenant column tenant_id: its rows are selected by it',
          'a table with the tenant column cannot be declared');

SELECT * FROM finish();
ROLLBACK;
