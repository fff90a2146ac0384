-- A merge leaves the rows the table has as they are out of its stage
-- (docs/import.md, "Rows a merge finds unchanged"; report: "load":
-- "staged_changes" and "staged", the rows that went through the stage).
-- What it must never do: leave out a row that differs, a row the table has
-- only as another tenant's, or a key the document repeats; and it must
-- not change what a merge does.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(41);

CREATE TABLE u_accounts (id bigserial PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, name text NOT NULL,
                         balance numeric(12, 2), active boolean, meta jsonb, blob bytea, seen timestamptz,
                         score float8, tags text[]);
CREATE TABLE u_entries (id uuid PRIMARY KEY, account_id bigint NOT NULL REFERENCES u_accounts, note text);
INSERT INTO u_accounts VALUES
  (1, 1, 'one', 10.50, true, '{"a": [1, "x y"], "b": {"c": null}}', '\x00ff', '2024-05-01 10:00+02', 0.1,
   '{"a b", "c"}'),
  (2, 1, E'tab\there, new\nline, back\\slash', -3, false, '12.5', '', '1999-12-31 23:59:59.999999+00', 'NaN', '{}'),
  (3, 1, 'three', NULL, NULL, NULL, NULL, NULL, '-0', NULL),
  (4, 2, 'theirs', 1, true, '[]', '\x01', now(), 1e300, '{z}');
INSERT INTO u_entries VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1, 'first'),
                             ('b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 2, 'second'),
                             ('c2eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', 4, 'theirs');
ANALYZE u_accounts, u_entries;

CREATE TEMP TABLE doc AS SELECT backup_export('1', '{"tables": ["tenants", "u_accounts", "u_entries"]}') AS d;
CREATE FUNCTION pg_temp.rows_of(d jsonb, table_name text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT s -> 'rows' FROM jsonb_array_elements(d -> 'data') s WHERE s ->> 'name' = table_name
$$;
-- The document with the rows of one table replaced, its statistics too.
CREATE FUNCTION pg_temp.with_rows(d jsonb, table_name text, rows jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_set(jsonb_set(jsonb_set(d, '{data}',
           (SELECT jsonb_agg(CASE WHEN s ->> 'name' = table_name THEN jsonb_set(s, '{rows}', rows) ELSE s END ORDER BY o)
              FROM jsonb_array_elements(d -> 'data') WITH ORDINALITY e(s, o))),
         '{statistics,tables}',
           (SELECT jsonb_agg(CASE WHEN t ->> 'table' = 'public.' || table_name
                                  THEN jsonb_set(t, '{rows}', to_jsonb(jsonb_array_length(rows))) ELSE t END ORDER BY o)
              FROM jsonb_array_elements(d -> 'statistics' -> 'tables') WITH ORDINALITY e(t, o))),
         '{statistics,total_rows}',
           to_jsonb((d -> 'statistics' ->> 'total_rows')::int - jsonb_array_length(pg_temp.rows_of(d, table_name))
                    + jsonb_array_length(rows)))
$$;
-- The rows with one cell of the row whose first cell is `id` set.
CREATE FUNCTION pg_temp.set_cell(rows jsonb, id text, cell int, value jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(CASE WHEN x ->> 0 = id THEN jsonb_set(x, ARRAY[cell::text], value) ELSE x END ORDER BY o)
    FROM jsonb_array_elements(rows) WITH ORDINALITY e(x, o)
$$;
-- A table's entry of a report: how it loaded, how many rows were staged.
CREATE FUNCTION pg_temp.load(report jsonb, table_name text) RETURNS text LANGUAGE sql AS $$
  SELECT (t ->> 'load') || ' ' || (t ->> 'staged') || ' staged, ' || (t ->> 'updated') || ' updated, ' ||
         (t ->> 'inserted') || ' inserted, ' || (t ->> 'unchanged') || ' unchanged'
    FROM jsonb_array_elements(report -> 'tables') t WHERE t ->> 'table' = table_name
$$;
CREATE TEMP VIEW state AS
  SELECT (SELECT jsonb_agg(a ORDER BY id) FROM u_accounts a) AS accounts,
         (SELECT jsonb_agg(e ORDER BY id) FROM u_entries e) AS entries;
CREATE TEMP TABLE before AS SELECT * FROM state;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
  SELECT s.accounts = b.accounts AND s.entries = b.entries FROM state s, before b
$$;

-- The document as exported: every row left out, whatever its types
-- (text with tabs and newlines, numeric, jsonb, bytea, NaN and -0, arrays).
CREATE TEMP TABLE r1 AS SELECT backup_import(d, 'merge') AS r FROM doc;
SELECT is(pg_temp.load((SELECT r FROM r1), 'public.u_accounts'),
          'staged_changes 0 staged, 0 updated, 0 inserted, 3 unchanged',
          'an unchanged document: no account staged');
SELECT is(pg_temp.load((SELECT r FROM r1), 'public.u_entries'),
          'staged_changes 0 staged, 0 updated, 0 inserted, 2 unchanged', 'nor any entry (uuid keys)');
SELECT ok(pg_temp.unchanged(), 'and nothing changed');

-- One account changed, one added: only those two are staged, and written.
CREATE TEMP TABLE r2 AS
  SELECT backup_import(pg_temp.with_rows(d, 'u_accounts',
           pg_temp.set_cell(pg_temp.rows_of(d, 'u_accounts'), '3', 2, '"three, renamed"')
             || '[[5, 1, "five", "1.00", true, {"k": 1}, "AQ==", "2024-01-01 00:00:00+00", 2.5, "{}"]]'),
         'merge') AS r FROM doc;
SELECT is(pg_temp.load((SELECT r FROM r2), 'public.u_accounts'),
          'staged_changes 2 staged, 1 updated, 1 inserted, 2 unchanged', 'a changed and a new account: two staged');
SELECT is((SELECT name FROM u_accounts WHERE id = 3), 'three, renamed', 'the changed row is written');
SELECT is((SELECT jsonb_build_array(tenant_id, name, balance, meta, blob) FROM u_accounts WHERE id = 5),
          '[1, "five", 1.00, {"k": 1}, "\\x01"]'::jsonb, 'the new row is inserted');
SELECT is((SELECT jsonb_agg(a ORDER BY id) FROM u_accounts a WHERE id IN (1, 2, 4)),
          (SELECT jsonb_agg(x ORDER BY x ->> 'id') FROM before, jsonb_array_elements(before.accounts) x
            WHERE (x ->> 'id')::int IN (1, 2, 4)),
          'the rows left out are as they were');
-- The sequence is moved past the rows as after any merge.
SELECT ok(nextval('u_accounts_id_seq') > 5, 'the id sequence is past the highest id');

-- A value that differs only in its text: a changed row, not left out.
UPDATE u_accounts SET name = 'three' WHERE id = 3;
DELETE FROM u_accounts WHERE id = 5;
CREATE TEMP TABLE r3 AS
  SELECT backup_import(pg_temp.with_rows(d, 'u_accounts',
           pg_temp.set_cell(pg_temp.rows_of(d, 'u_accounts'), '1', 5, '{"a": [1, "x  y"], "b": {"c": null}}')),
         'merge') AS r FROM doc;
SELECT is(pg_temp.load((SELECT r FROM r3), 'public.u_accounts'),
          'staged_changes 1 staged, 1 updated, 0 inserted, 2 unchanged', 'a space inside a jsonb string: staged');
SELECT is((SELECT meta -> 'a' ->> 1 FROM u_accounts WHERE id = 1), 'x  y', 'and written');
UPDATE u_accounts SET meta = '{"a": [1, "x y"], "b": {"c": null}}' WHERE id = 1;

-- A child table (no tenant column to count the new keys by before the
-- changes): when the update changed every staged row, each staged key is
-- in the table and the INSERT, another read of it, is skipped; with one
-- new row among them it runs. This transaction's scan counters show it.
CREATE FUNCTION pg_temp.entry_scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT seq_scan + COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 'u_entries'::regclass $$;
CREATE TEMP TABLE edited AS
  SELECT pg_temp.with_rows(d, 'u_entries', pg_temp.set_cell(pg_temp.set_cell(pg_temp.rows_of(d, 'u_entries'),
           'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 2, '"first, edited"'),
           'b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 2, '"second, edited"')) AS d FROM doc;
SELECT pg_temp.entry_scans() AS scans_0 \gset
CREATE TEMP TABLE r4 AS SELECT backup_import(d, 'merge') AS r FROM edited;
SELECT pg_temp.entry_scans() - :scans_0 AS scans_all_updated \gset
SELECT is(pg_temp.load((SELECT r FROM r4), 'public.u_entries'),
          'staged 2 staged, 2 updated, 0 inserted, 0 unchanged', 'both entries changed: both updated');
SELECT pg_temp.entry_scans() AS scans_1 \gset
CREATE TEMP TABLE r5 AS
  SELECT backup_import(pg_temp.with_rows(d, 'u_entries',
           pg_temp.set_cell(pg_temp.rows_of(d, 'u_entries'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 2, '"first, again"')
             || '[["d3eebc99-9c0b-4ef8-bb6d-6bb9bd380a14", 2, "new"]]'), 'merge') AS r FROM edited;
SELECT pg_temp.entry_scans() - :scans_1 AS scans_one_new \gset
SELECT is(pg_temp.load((SELECT r FROM r5), 'public.u_entries'),
          'staged_changes 2 staged, 1 updated, 1 inserted, 1 unchanged', 'one changed, one new: the new one inserted');
SELECT is((SELECT jsonb_agg(note ORDER BY id) FROM u_entries WHERE account_id IN (1, 2)),
          '["first, again", "second, edited", "new"]', 'the entries as the two merges wrote them');
SELECT cmp_ok(:scans_all_updated, '<', :scans_one_new,
              'every staged row updated: the table is read fewer times, without the INSERT');
DELETE FROM u_entries WHERE id = 'd3eebc99-9c0b-4ef8-bb6d-6bb9bd380a14';
UPDATE u_entries SET note = CASE account_id WHEN 1 THEN 'first' ELSE 'second' END WHERE account_id IN (1, 2);
SELECT ok(pg_temp.unchanged(), 'the entries are back as they were');
TRUNCATE before;
INSERT INTO before SELECT * FROM state;

CREATE TEMP TABLE r (name text, e jsonb);
CREATE FUNCTION pg_temp.refuse(name text, statement text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO r SELECT name, tap.error_of(statement)
$$;

-- A key twice: one copy as the table has it, the other different. The
-- copy that matches must not hide the other: refused as ever.
SELECT pg_temp.refuse('twice', $$SELECT backup_import(pg_temp.with_rows(d, 'u_accounts',
  pg_temp.rows_of(d, 'u_accounts') || (SELECT jsonb_agg(jsonb_set(x, '{2}', '"other"')) FROM jsonb_array_elements(pg_temp.rows_of(d, 'u_accounts')) x
     WHERE x ->> 0 = '1')),
  'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'twice'), '23505', 'a key twice: 23505');
SELECT ok((SELECT e ->> 'message' FROM r WHERE name = 'twice') ~ '\(id\)=\(1\)', 'naming the key');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- The same key written two ways: uuid reads upper case as lower case. Not
-- the key's one form, so the section is staged whole and its unique index
-- sees the key twice (else the copy the table has would be left out and
-- the other one written).
SELECT pg_temp.refuse('upper case', $$SELECT backup_import(pg_temp.with_rows(d, 'u_entries',
  pg_temp.rows_of(d, 'u_entries') || '[["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", 1, "sneaked"]]'), 'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'upper case'), '23505',
          'a uuid key twice, once in upper case: 23505');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- Another tenant's row, copied into the document as it is in the table:
-- the table's row is not the tenant's, so it is staged and refused.
SELECT pg_temp.refuse('theirs', $$SELECT backup_import(pg_temp.with_rows(d, 'u_entries',
  pg_temp.rows_of(d, 'u_entries') || '[["c2eebc99-9c0b-4ef8-bb6d-6bb9bd380a13", 4, "theirs"]]'), 'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'theirs'), '23505',
          'another tenant''s entry, unchanged, in the document: 23505');
SELECT ok((SELECT e ->> 'message' FROM r WHERE name = 'theirs') ~ 'c2eebc99', 'naming its key');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- Where a stage must hold every row, or the checks read it whole, the
-- section is staged whole.
SELECT is(pg_temp.load((SELECT backup_import(d, 'replace') FROM doc), 'public.u_accounts'),
          'staged 3 staged, 0 updated, 0 inserted, 3 unchanged', 'replace: every row staged');
SELECT is(pg_temp.load((SELECT backup_import(d, 'merge', '{"fire_triggers": true}') FROM doc), 'public.u_accounts'),
          'staged 3 staged, 0 updated, 0 inserted, 3 unchanged', 'fire_triggers: every row staged');
-- Two texts may be equal keys (a collation may say so): a text key's
-- section is staged whole.
CREATE UNIQUE INDEX u_accounts_name ON u_accounts (name);
SELECT is(pg_temp.load((SELECT backup_import(d, 'merge', '{"key_columns": {"u_accounts": ["name"]}}') FROM doc),
                       'public.u_accounts'),
          'staged 3 staged, 0 updated, 0 inserted, 3 unchanged', 'rows matched on a text key: every row staged');
DROP INDEX u_accounts_name;
SELECT ok(pg_temp.unchanged(), 'none of them changed anything');

-- Columns whose type changed since the snapshot (boolean to text, jsonb
-- to json, which an import gets through) hold their text as it is: 't'
-- and jsonb's spacing are not the snapshot's true and compact JSON, which
-- the stage would write, so those rows are staged and updated.
CREATE TABLE u_flags (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, flag boolean, meta jsonb);
INSERT INTO u_flags VALUES (1, 1, true, '{"a": 1}'), (2, 1, false, NULL);
CREATE TEMP TABLE flags_doc AS SELECT backup_export('1', '{"tables": ["tenants", "u_flags"]}') AS d;
ALTER TABLE u_flags ALTER flag TYPE text, ALTER meta TYPE json USING meta::json;
UPDATE u_flags SET flag = 't' WHERE id = 1;
SELECT is(pg_temp.load((SELECT backup_import(d, 'merge', '{"tables": ["tenants", "u_flags"]}') FROM flags_doc),
                       'public.u_flags'),
          'staged_changes 1 staged, 1 updated, 0 inserted, 1 unchanged',
          'a boolean now text, a jsonb now json: the row whose text differs is staged');
SELECT is((SELECT flag || ' ' || meta::text FROM u_flags WHERE id = 1), 'true {"a":1}',
          'and written as the snapshot has it');
DROP TABLE u_flags;

-- The fingerprints of a part take at most 32MB, or maintenance_work_mem
-- when lower (13 bytes a row): a larger section is compared in parts, each
-- row in one of them.
INSERT INTO u_accounts (tenant_id, name) SELECT 1, 'bulk ' || g FROM generate_series(1, 90000) g;
CREATE TEMP TABLE big AS SELECT backup_export('1', '{"tables": ["tenants", "u_accounts", "u_entries"]}') AS d;
SET LOCAL maintenance_work_mem = '1MB';
SELECT count(*)::int AS n_changed FROM u_accounts WHERE tenant_id = 1 AND id % 1000 = 2 \gset
-- The table is read once: the fingerprints of the second part wait in a
-- temporary file while the first is compared. Rows changed in both parts
-- and a new one: only those staged.
SELECT is(pg_temp.load((SELECT backup_import(pg_temp.with_rows(d, 'u_accounts',
                                 (SELECT jsonb_agg(CASE WHEN (x ->> 0)::int % 1000 = 2
                                                        THEN jsonb_set(x, '{2}', to_jsonb('changed ' || (x ->> 0))) ELSE x END
                                                   ORDER BY o)
                                    FROM jsonb_array_elements(pg_temp.rows_of(d, 'u_accounts')) WITH ORDINALITY e(x, o))
                                 || '[[200001, 1, "new", null, null, null, null, null, null, null]]'),
                               'merge') FROM big), 'public.u_accounts'),
          format('staged_changes %s staged, %s updated, 1 inserted, %s unchanged', :n_changed + 1, :n_changed,
                 90003 - :n_changed),
          '90,003 rows in two parts of 1MB: only the changed rows and the new one staged');
SELECT is((SELECT count(*)::int FROM u_accounts WHERE name = 'changed ' || id), :n_changed, 'the changed rows written');
SELECT is((SELECT name FROM u_accounts WHERE id = 200001), 'new', 'and the new one');
SELECT is((SELECT count(DISTINCT hashtext(id::text)::bigint & 4294967295 >= 2147483648)::int
             FROM u_accounts WHERE name = 'changed ' || id) || ' ' || (:n_changed >= 50),
          '2 true', 'the changes fell in both parts (by the hash of their keys)');
DELETE FROM u_accounts WHERE id = 200001;
UPDATE u_accounts SET name = 'two, changed' WHERE id = 2;
-- The first snapshot's 3 accounts, against the 90,003 the tenant has now:
-- more than a part may hold, so none is left out.
SELECT is(pg_temp.load((SELECT backup_import(d, 'merge') FROM doc), 'public.u_accounts'),
          'staged 3 staged, 1 updated, 0 inserted, 2 unchanged',
          'a tenant grown past the budget since its snapshot: staged whole');
-- Grown past the budget in every part of a section compared in two
-- (the second part's fingerprints in a file, which stops one row past
-- the budget): every row staged, none left out wrongly.
INSERT INTO u_accounts (tenant_id, name) SELECT 1, 'more ' || g FROM generate_series(1, 110000) g;
SELECT is(pg_temp.load((SELECT backup_import(d, 'merge') FROM big), 'public.u_accounts'),
          -- (the changed rows but id 2, which the merge before put back)
          format('staged 90003 staged, %s updated, 0 inserted, %s unchanged', :n_changed - 1, 90004 - :n_changed),
          'a tenant grown past the budget of both parts: staged whole');
RESET maintenance_work_mem;

-- A replace whose UPDATE changed every staged row still inserts: its
-- deletes run as origin, and a user's DELETE trigger may remove a row the
-- update wrote (here, of another table), which the snapshot puts back.
CREATE TABLE r_parent (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, note text);
CREATE TABLE r_child (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, note text);
INSERT INTO r_parent VALUES (1, 1, 'kept');
INSERT INTO r_child VALUES (1, 1, 'a'), (2, 1, 'b');
CREATE TEMP TABLE r_doc AS SELECT backup_export('1', '{"tables": ["tenants", "r_parent", "r_child"]}') AS d;
UPDATE r_child SET note = note || ' changed';
INSERT INTO r_parent VALUES (2, 1, 'not in the snapshot');
CREATE FUNCTION r_parent_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN DELETE FROM public.r_child WHERE id = 1; RETURN NULL; END $$;
CREATE TRIGGER r_parent_gone AFTER DELETE ON r_parent FOR EACH ROW EXECUTE FUNCTION r_parent_gone();
SELECT backup_import(d, 'replace') FROM r_doc \gset ignored_
SELECT is((SELECT jsonb_agg(jsonb_build_array(id, note) ORDER BY id) FROM r_child), '[[1, "a"], [2, "b"]]',
          'a row a DELETE trigger removed after the update is inserted back');

-- The checks after a merge's changes read the rows it wrote, found by
-- their xmin: a table it wrote none of is not read for them. Here only
-- w_notes changes; w_tags, its sibling, is read as often as an export
-- of the same tables reads it (to compare its rows), and its rows still
-- refuse what they must when the merge writes them.
CREATE TABLE w_accounts (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants);
CREATE TABLE w_notes (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES w_accounts, note text);
CREATE TABLE w_tags (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES w_accounts, tag text);
INSERT INTO w_accounts VALUES (1, 1), (2, 2);
INSERT INTO w_notes VALUES (1, 1, 'a'), (2, 2, 'theirs');
INSERT INTO w_tags VALUES (1, 1, 'x'), (2, 2, 'theirs');
CREATE FUNCTION pg_temp.tag_scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT seq_scan + COALESCE(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relid = 'w_tags'::regclass $$;
SELECT pg_temp.tag_scans() AS tags_0 \gset
CREATE TEMP TABLE w_doc AS SELECT backup_export('1', '{"tables": ["tenants", "w_accounts", "w_notes", "w_tags"]}') AS d;
SELECT pg_temp.tag_scans() - :tags_0 AS tags_export \gset
UPDATE w_notes SET note = 'edited' WHERE id = 1;
SELECT pg_temp.tag_scans() AS tags_1 \gset
SELECT backup_import(d, 'merge') AS r FROM w_doc \gset w_
SELECT pg_temp.tag_scans() - :tags_1 AS tags_merge \gset
SELECT is((SELECT jsonb_object_agg(t ->> 'table', (t ->> 'updated')::int + (t ->> 'inserted')::int)
             FROM jsonb_array_elements(:'w_r'::jsonb -> 'tables') t WHERE t ->> 'table' LIKE 'public.w\_%'),
          '{"public.w_accounts": 0, "public.w_notes": 1, "public.w_tags": 0}', 'only the note changed is written');
SELECT is(:tags_merge, :tags_export + 1,
          'w_tags, not written: read to compare its rows and by the direct load''s probe, not after the changes');
-- Written, its rows are checked: one moved to another tenant's account,
-- one pointing at no account.
SELECT is(tap.error_of($$SELECT backup_import(pg_temp.with_rows(d, 'w_tags', '[[1, 2, "x"]]'), 'merge')
                            FROM w_doc$$) ->> 'sqlstate',
          '22023', 'a written tag of another tenant''s account: refused');
SELECT is(tap.error_of($$SELECT backup_import(pg_temp.with_rows(d, 'w_tags', '[[1, 99, "x"]]'), 'merge')
                            FROM w_doc$$) ->> 'sqlstate',
          '23503', 'a written tag of no account: refused');
SELECT is((SELECT jsonb_agg(jsonb_build_array(id, account_id, tag) ORDER BY id) FROM w_tags),
          '[[1, 1, "x"], [2, 2, "theirs"]]', 'and the tags are as they were');

SELECT * FROM finish();
ROLLBACK;
