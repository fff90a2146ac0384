-- A data section whose table holds none of the tenant's rows is copied
-- straight into the table (report: "load": "direct"), as COPY FROM would.
-- What a staging table's checks guard still holds: a key another tenant
-- has, a key twice, a row that would be another tenant's, a reference to
-- a missing row, a failing constraint and a caller who may not insert all
-- end in the same error as through a stage, with nothing changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(40);

CREATE TABLE ledger_kinds (code text PRIMARY KEY);  -- master
INSERT INTO ledger_kinds VALUES ('std'), ('fee');
CREATE TABLE ledger (
  id bigserial PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenants,
  amount numeric(10,2) NOT NULL CHECK (amount >= 0),
  note text,
  kind text NOT NULL DEFAULT 'std' REFERENCES ledger_kinds
);
CREATE INDEX ON ledger (tenant_id);
CREATE TABLE ledger_tags (
  ledger_id bigint NOT NULL REFERENCES ledger,
  tag text NOT NULL,
  PRIMARY KEY (ledger_id, tag)
);
INSERT INTO ledger (tenant_id, amount, note) SELECT 1 + g % 2, g, 'entry ' || g FROM generate_series(1, 40) g;
INSERT INTO ledger_tags SELECT id, tag FROM ledger, unnest(ARRAY['a', 'b']) tag;

CREATE TEMP TABLE doc AS SELECT backup_export('1', '{"tables": ["tenants", "ledger", "ledger_tags"]}') AS d;
CREATE TEMP TABLE acme_before AS
  SELECT l::text AS r FROM ledger l WHERE tenant_id = 1
  UNION ALL SELECT t::text FROM ledger_tags t JOIN ledger l ON l.id = t.ledger_id WHERE l.tenant_id = 1;
CREATE TEMP VIEW acme_rows AS
  SELECT l::text AS r FROM ledger l WHERE tenant_id = 1
  UNION ALL SELECT t::text FROM ledger_tags t JOIN ledger l ON l.id = t.ledger_id WHERE l.tenant_id = 1;
CREATE TEMP VIEW globex_state AS
  SELECT l::text || l.xmin AS r FROM ledger l WHERE tenant_id = 2
  UNION ALL SELECT t::text || t.xmin FROM ledger_tags t JOIN ledger l ON l.id = t.ledger_id WHERE l.tenant_id = 2;
CREATE TEMP TABLE globex_before AS SELECT * FROM globex_state;
CREATE FUNCTION pg_temp.empty_acme() RETURNS void LANGUAGE sql AS $$
  DELETE FROM ledger_tags WHERE ledger_id IN (SELECT id FROM ledger WHERE tenant_id = 1);
  DELETE FROM ledger WHERE tenant_id = 1 $$;
CREATE FUNCTION pg_temp.loads(report jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_object_agg(t ->> 'table', t ->> 'load') FROM jsonb_array_elements(report -> 'tables') t $$;
-- The state of both tables, row versions included.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(r, E'\n' ORDER BY r)) FROM (
    SELECT l::text || l.xmin AS r FROM ledger l UNION ALL SELECT t::text || t.xmin FROM ledger_tags t) rows $$;
CREATE FUNCTION pg_temp.refusal(statement text, as_role text DEFAULT NULL) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  s0 text := pg_temp.state();
  e jsonb := tap.error_of(statement, as_role);
BEGIN
  RETURN COALESCE(e, '{}') || jsonb_build_object('unchanged', pg_temp.state() = s0);
END $$;

-- replace into the emptied tenant: both tables load directly (the tenant's
-- own row in tenants is there, so that table is staged and matched).
SELECT pg_temp.empty_acme();
CREATE TEMP TABLE r1 AS SELECT backup_import(d, 'replace') AS r FROM doc;
SELECT is(pg_temp.loads((SELECT r FROM r1)),
          '{"public.tenants": "staged", "public.ledger": "direct", "public.ledger_tags": "direct"}',
          'replace into an emptied tenant: its empty tables load directly, the tenant row is staged');
SELECT is((SELECT r -> 'totals' FROM r1), '{"inserted": 60, "updated": 0, "unchanged": 1, "deleted": 0}',
          'the report counts the rows loaded directly as inserted');
SELECT set_eq('SELECT r FROM acme_rows', 'SELECT r FROM acme_before', 'the tenant''s rows are back as they were');
SELECT set_eq('SELECT r FROM globex_state', 'SELECT r FROM globex_before', 'the other tenant''s rows are untouched');
SELECT ok((SELECT last_value >= 40 FROM ledger_id_seq), 'the serial''s sequence is past the loaded ids');
SELECT lives_ok($$INSERT INTO ledger (tenant_id, amount) VALUES (1, 1)$$, 'so a new row gets a free id');
DELETE FROM ledger WHERE id > 40;

-- Importing again: the tenant has rows now, so every table is staged and
-- nothing changes (a merge stages none of the rows it finds unchanged,
-- except in ledger_tags, whose key has a text column).
SELECT is((SELECT pg_temp.loads(backup_import(d, 'merge')) FROM doc),
          '{"public.tenants": "staged_changes", "public.ledger": "staged_changes", "public.ledger_tags": "staged"}',
          'a table holding the tenant''s rows is staged');

-- A child table in which the tenant has no rows while the parent has
-- them (and the other tenant has rows in both): loaded directly. Asked by
-- a join down the owning key from the tenant's ledger rows.
DELETE FROM ledger_tags WHERE ledger_id IN (SELECT id FROM ledger WHERE tenant_id = 1);
SELECT is((SELECT pg_temp.loads(backup_import(d, 'merge')) FROM doc),
          '{"public.tenants": "staged_changes", "public.ledger": "staged_changes", "public.ledger_tags": "direct"}',
          'the tenant''s tags gone, its ledger rows there: the tags load directly');
SELECT set_eq('SELECT r FROM acme_rows', 'SELECT r FROM acme_before', 'and the tenant''s rows are as they were');
DELETE FROM ledger_tags WHERE tag = 'b' AND ledger_id IN (SELECT id FROM ledger WHERE tenant_id = 1);
SELECT is((SELECT pg_temp.loads(backup_import(d, 'merge')) ->> 'public.ledger_tags' FROM doc), 'staged',
          'one tag of the tenant''s there: staged');
SELECT set_eq('SELECT r FROM acme_rows', 'SELECT r FROM acme_before', 'and the rest merged back');

-- merge and a dry run into the emptied tenant load directly too; the dry
-- run leaves nothing behind.
SELECT pg_temp.empty_acme();
SELECT is((SELECT pg_temp.loads(backup_import(d, 'merge', '{"dry_run": true}')) ->> 'public.ledger' FROM doc), 'direct',
          'a dry run into the emptied tenant loads directly');
SELECT is((SELECT count(*)::int FROM ledger WHERE tenant_id = 1), 0, 'and leaves nothing behind');
SELECT is((SELECT backup_import(d, 'merge') -> 'totals' ->> 'inserted' FROM doc), '60', 'merge inserts every row');
SELECT set_eq('SELECT r FROM acme_rows', 'SELECT r FROM acme_before', 'the same rows');

-- What an edited or foreign snapshot tries, each into the emptied tenant.
SELECT pg_temp.empty_acme();
CREATE TEMP TABLE r (name text PRIMARY KEY, e jsonb);
-- The first ledger row given the id of one of tenant 2's rows (id 1).
INSERT INTO r SELECT 'taken', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,1,rows,0,0}', '1'), 'replace') FROM doc$$);
-- Two ledger rows with the same id.
INSERT INTO r SELECT 'twice', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,1,rows,1,0}', (d #> '{data,1,rows,0,0}')), 'replace') FROM doc$$);
-- A ledger row given to tenant 2.
INSERT INTO r SELECT 'stray', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,1,rows,0,1}', '2'), 'replace') FROM doc$$);
-- A ledger row of a kind this database does not have (checked on the
-- loaded rows), and a tag of a ledger row that does not exist.
INSERT INTO r SELECT 'dangling', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,1,rows,0,4}', '"zz"'), 'replace') FROM doc$$);
INSERT INTO r SELECT 'orphan tag', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,2,rows,0,0}', '99999'), 'replace') FROM doc$$);
-- A negative amount, against the CHECK constraint.
INSERT INTO r SELECT 'check', pg_temp.refusal($$SELECT backup_import(jsonb_set(d,
  '{data,1,rows,0,2}', '"-1"'), 'replace') FROM doc$$);

SELECT is((SELECT d #>> '{data,1,name}' || ' ' || (d #>> '{data,2,name}') FROM doc), 'ledger ledger_tags',
          'the snapshot''s second and third sections are ledger and ledger_tags');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'taken'),
          '23505 row public.ledger (id)=(1) of the snapshot belongs to another tenant in this database',
          'a key another tenant''s row has: the staged check''s 23505, naming the row');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'twice'),
          '23505 the snapshot has more than one row of public.ledger with (id)=(' ||
            (SELECT d #>> '{data,1,rows,0,0}' FROM doc) || ')',
          'a key twice in the snapshot: the staged check''s 23505');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'stray'),
          '22023 row public.ledger (id)=(' || (SELECT d #>> '{data,1,rows,0,0}' FROM doc) ||
            ') of the snapshot would not belong to tenant "1"',
          'a row that would be another tenant''s: 22023, naming the row');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'dangling'),
          '23503 row public.ledger (id)=(' || (SELECT d #>> '{data,1,rows,0,0}' FROM doc) ||
            ') of the snapshot references public.ledger_kinds (code)=(zz), which does not exist',
          'a reference to a missing row, checked on the rows loaded directly: 23503');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'orphan tag'),
          '23503 row public.ledger_tags (ledger_id, tag)=(99999, ' ||
            (SELECT d #>> '{data,2,rows,0,1}' FROM doc) ||
            ') of the snapshot references public.ledger (id)=(99999), which does not exist',
          'a tag whose ledger row is missing: 23503');
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'check'), '23514', 'a failing CHECK constraint: 23514');
SELECT matches((SELECT e ->> 'message' FROM r WHERE name = 'check'), 'violates check constraint "ledger_amount_check"',
               'naming the constraint');
SELECT is((SELECT jsonb_agg(name ORDER BY name) FROM r WHERE NOT (e -> 'unchanged')::boolean), NULL,
          'none of them changed any row');
SELECT is((SELECT count(*)::int FROM r), 6, 'six refusals checked');

-- A caller who may not insert into ledger: no direct load past its
-- privileges; the server's own refusal, as through a stage.
CREATE ROLE ptb_direct_reader;
GRANT USAGE ON SCHEMA tenant_backup, tap TO ptb_direct_reader;
GRANT EXECUTE ON FUNCTION backup_import(jsonb, text, jsonb) TO ptb_direct_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_direct_reader;
GRANT INSERT, UPDATE, DELETE ON tenants, ledger_tags TO ptb_direct_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_backup.backup_logs TO ptb_direct_reader;
GRANT SELECT ON doc TO ptb_direct_reader;
INSERT INTO r SELECT 'privilege', pg_temp.refusal($$SELECT backup_import(d, 'replace', '{"fire_triggers": true}') FROM doc$$,
                                                  'ptb_direct_reader');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'privilege'),
          '42501 permission denied for table ledger', 'no INSERT on the table: 42501 from the server');
SELECT is((SELECT e -> 'unchanged' FROM r WHERE name = 'privilege'), 'true'::jsonb, 'nothing changed');

-- Row security: a policy the caller is under is never bypassed by a
-- direct load (COPY FROM refuses such a table; the stage's INSERT obeys it).
ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_small ON ledger USING (true) WITH CHECK (amount < 30);
GRANT INSERT, UPDATE, DELETE ON ledger TO ptb_direct_reader;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE ledger_id_seq TO ptb_direct_reader;
INSERT INTO r SELECT 'policy', pg_temp.refusal($$SELECT backup_import(d, 'replace', '{"fire_triggers": true}') FROM doc$$,
                                               'ptb_direct_reader');
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'policy'),
          '42501 new row violates row-level security policy for table "ledger"',
          'a row the policy refuses: refused as the stage''s INSERT refuses it');
SELECT is((SELECT e -> 'unchanged' FROM r WHERE name = 'policy'), 'true'::jsonb, 'nothing changed');
DROP POLICY ledger_small ON ledger;
CREATE POLICY ledger_all ON ledger USING (true) WITH CHECK (true);
SET LOCAL ROLE ptb_direct_reader;
CREATE TEMP TABLE r2 AS SELECT backup_import(d, 'replace', '{"fire_triggers": true}') AS r FROM doc;
RESET ROLE;
SELECT is((SELECT pg_temp.loads(r) ->> 'public.ledger' FROM r2), 'staged',
          'under row security the table is staged even when the policy lets every row in');
SELECT is((SELECT pg_temp.loads(r) ->> 'public.ledger_tags' FROM r2), 'direct',
          'while a table without it loads directly');
SELECT set_eq('SELECT r FROM acme_rows', 'SELECT r FROM acme_before', 'and the rows are back as they were');
SELECT set_eq('SELECT r FROM globex_state', 'SELECT r FROM globex_before', 'the other tenant''s rows are untouched');
-- With row_security off, a table the policy would filter is refused as
-- any query of it is (42501), before any section is staged: ahead of what
-- staging the sections before it would find (the tenant row's id out of
-- its column's range).
SET LOCAL row_security = off;
INSERT INTO r SELECT 'rls off', pg_temp.refusal($$SELECT backup_import(jsonb_set(d, '{data,0,rows,0,0}', '99999999999'),
  'replace', '{"fire_triggers": true}') FROM doc$$,
  'ptb_direct_reader');
RESET row_security;
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'rls off'),
          '42501 query would be affected by row-level security policy for table "ledger"',
          'row_security off under a policy: refused before any section is staged');
SELECT is((SELECT e -> 'unchanged' FROM r WHERE name = 'rls off'), 'true'::jsonb, 'nothing changed');

-- A staged table's key as its unique index has it (a collation and an
-- operator class of its own): the stage is indexed the same way, and
-- rows are matched as the table matches them.
CREATE TABLE ledger_codes (tenant_id int NOT NULL REFERENCES tenants, code text NOT NULL, label text);
CREATE UNIQUE INDEX ledger_codes_code ON ledger_codes (code COLLATE "C" text_pattern_ops);
INSERT INTO ledger_codes SELECT 1 + g % 2, 'code-' || g, 'label ' || g FROM generate_series(1, 20) g;
CREATE TEMP TABLE codes_doc AS SELECT backup_export('1', '{"tables": ["tenants", "ledger_codes"]}') AS d;
CREATE TEMP TABLE codes_before AS SELECT c::text AS r FROM ledger_codes c;
UPDATE ledger_codes SET label = 'changed' WHERE code = 'code-2';
INSERT INTO ledger_codes VALUES (1, 'code-99', 'not in the snapshot');
CREATE TEMP TABLE codes_report AS SELECT backup_import(d, 'replace') AS r FROM codes_doc;
CREATE TEMP VIEW codes_entry AS
  SELECT t FROM codes_report, jsonb_array_elements(r -> 'tables') t WHERE t ->> 'table' = 'public.ledger_codes';
SELECT is((SELECT jsonb_build_array(t -> 'matched_on', t -> 'load', t -> 'updated', t -> 'deleted', t -> 'unchanged')
             FROM codes_entry),
          jsonb_build_array(jsonb_build_object('source', 'unique index "ledger_codes_code"', 'columns', jsonb_build_array('code')),
                            'staged', 1, 1, 9),
          'a key with its own collation and operator class: staged, one row updated and one removed');
SELECT set_eq('SELECT c::text FROM ledger_codes c', 'SELECT r FROM codes_before',
              'and the table is as the snapshot had it');
SELECT is((SELECT t ->> 'unchanged' FROM codes_doc, jsonb_array_elements(backup_import(d, 'merge') -> 'tables') t
            WHERE t ->> 'table' = 'public.ledger_codes'), '10',
          'a merge of the same snapshot then finds every row unchanged');

-- A merge (no fire_triggers) with no row the table lacks: the join that
-- looks for another tenant's keys also counts the rows the table lacks,
-- finds none, and the INSERT, which would read the table again, is not
-- run. This transaction's scan counters of the table show it.
CREATE FUNCTION pg_temp.codes_scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT seq_scan + COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 'ledger_codes'::regclass $$;
SELECT pg_temp.codes_scans() AS scans_0 \gset
SELECT backup_import(d, 'merge') -> 'totals' ->> 'inserted' AS inserted_none FROM codes_doc \gset
SELECT pg_temp.codes_scans() - :scans_0 AS scans_none_new \gset
DELETE FROM ledger_codes WHERE code = 'code-2';
SELECT pg_temp.codes_scans() AS scans_1 \gset
SELECT backup_import(d, 'merge') -> 'totals' ->> 'inserted' AS inserted_one FROM codes_doc \gset
SELECT pg_temp.codes_scans() - :scans_1 AS scans_one_new \gset
SELECT is(:'inserted_none' || '/' || :'inserted_one', '0/1', 'the merges insert nothing, then the one row removed');
SELECT cmp_ok(:scans_none_new, '<', :scans_one_new,
              'a merge with nothing new reads the table fewer times: it skips the INSERT');

SELECT * FROM finish();
ROLLBACK;
