-- Tables without a primary key: rows are matched on the replica identity
-- index, else on a unique index over NOT NULL columns (as logical
-- replication identifies rows); only a table with neither is refused by
-- merge, naming the table and key_columns.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(22);

-- members: no primary key; a unique index over a nullable column (alias)
-- cannot identify rows, one over NOT NULL columns (email) can.
CREATE TABLE members (
  tenant_id int NOT NULL REFERENCES tenants,
  email text NOT NULL,
  alias text,
  role text NOT NULL
);
CREATE UNIQUE INDEX members_alias ON members (alias);
CREATE UNIQUE INDEX members_email ON members (email);
CREATE UNIQUE INDEX members_role_partial ON members (tenant_id, role) WHERE role = 'owner';
-- settings: no primary key; the replica identity index wins over a
-- unique index with fewer columns.
CREATE TABLE settings (
  tenant_id int NOT NULL REFERENCES tenants,
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  value text
);
CREATE UNIQUE INDEX settings_identity ON settings (tenant_id, name);
ALTER TABLE settings REPLICA IDENTITY USING INDEX settings_identity;
-- visits: no primary key and no usable unique index.
CREATE TABLE visits (tenant_id int NOT NULL REFERENCES tenants, page text, at int);
CREATE UNIQUE INDEX visits_page ON visits (page);

INSERT INTO members VALUES (1, 'a@acme', 'ann', 'owner'), (1, 'b@acme', NULL, 'staff'),
                           (1, 'c@acme', NULL, 'staff'), (2, 'd@globex', NULL, 'owner');
INSERT INTO settings VALUES (1, 'theme', 'acme-theme', 'dark'), (1, 'lang', 'acme-lang', 'en'),
                            (2, 'theme', 'globex-theme', 'light');
INSERT INTO visits VALUES (1, '/home', 1), (1, '/cart', 2), (2, '/home2', 3);

CREATE TEMP TABLE doc AS
  SELECT backup_export('1', '{"tables": ["tenants", "members", "settings", "visits"]}') AS d;
CREATE TEMP VIEW versions AS
  SELECT 'members' AS t, email AS k, xmin::text AS v FROM members
  UNION ALL SELECT 'settings', name || tenant_id, xmin::text FROM settings;
CREATE TEMP TABLE versions_before AS SELECT * FROM versions;
CREATE TEMP TABLE globex_before AS
  SELECT m.*, m.xmin::text AS v FROM members m WHERE tenant_id = 2;
CREATE FUNCTION pg_temp.table_report(report jsonb, table_name text) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT t - 'table' - 'load' - 'staged' FROM jsonb_array_elements(report -> 'tables') t WHERE t ->> 'table' = table_name $$;

-- merge of tables with an identity key but no primary key: matched on that key.
CREATE TEMP TABLE r1 AS SELECT backup_import(d, 'merge', '{"exclude_tables": ["visits"]}') AS r FROM doc;
SELECT is(pg_temp.table_report((SELECT r FROM r1), 'public.members') -> 'matched_on',
          '{"columns": ["email"], "source": "unique index \"members_email\""}',
          'members are matched on the unique index over NOT NULL columns (not on the nullable alias, not on the partial index)');
SELECT is(pg_temp.table_report((SELECT r FROM r1), 'public.settings') -> 'matched_on',
          '{"columns": ["tenant_id", "name"], "source": "replica identity index \"settings_identity\""}',
          'settings are matched on the replica identity index, although another unique index has fewer columns');
SELECT is(pg_temp.table_report((SELECT r FROM r1), 'public.members') - 'matched_on',
          '{"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 0}', 'an unchanged tenant is unchanged');
SELECT is(pg_temp.table_report((SELECT r FROM r1), 'public.tenants') -> 'matched_on',
          '{"columns": ["id"], "source": "primary key"}', 'a table with a primary key is matched on it');

-- replace of an unchanged tenant rewrites nothing.
CREATE TEMP TABLE r2 AS SELECT backup_import(d, 'replace', '{"tables": ["tenants", "members", "settings"]}') AS r FROM doc;
SELECT is(pg_temp.table_report((SELECT r FROM r2), 'public.settings') - 'matched_on',
          '{"inserted": 0, "updated": 0, "unchanged": 2, "deleted": 0}', 'replace of unchanged settings changes none');
SELECT is_empty($$SELECT * FROM versions_before EXCEPT SELECT * FROM versions$$,
                'every row is the same row version as before: nothing was deleted and inserted again');

-- Damage: change, delete and add rows; merge puts changed and deleted
-- rows back, replace also removes the added one.
UPDATE members SET role = 'admin' WHERE email = 'b@acme';
DELETE FROM members WHERE email = 'c@acme';
INSERT INTO members VALUES (1, 'z@acme', NULL, 'staff');
UPDATE settings SET value = 'light' WHERE tenant_id = 1 AND name = 'theme';
SELECT is(pg_temp.table_report((SELECT backup_import(d, 'merge', '{"tables": ["tenants", "members", "settings"]}') FROM doc),
                               'public.members') - 'matched_on',
          '{"inserted": 1, "updated": 1, "unchanged": 1, "deleted": 0}', 'merge: one member updated, one inserted');
SELECT is((SELECT role FROM members WHERE email = 'b@acme'), 'staff', 'the changed member has the snapshot''s role');
SELECT is((SELECT value FROM settings WHERE tenant_id = 1 AND name = 'theme'), 'dark',
          'the changed setting has the snapshot''s value');
SELECT is(pg_temp.table_report((SELECT backup_import(d, 'replace', '{"tables": ["tenants", "members", "settings"]}') FROM doc),
                               'public.members') - 'matched_on',
          '{"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 1}', 'replace: the member added since is deleted');
SELECT results_eq($$SELECT email, alias, role FROM members WHERE tenant_id = 1 ORDER BY email$$,
                  $$VALUES ('a@acme', 'ann', 'owner'), ('b@acme', NULL, 'staff'), ('c@acme', NULL, 'staff')$$,
                  'the tenant''s members are the snapshot''s');
SELECT is_empty($$SELECT m.*, m.xmin::text FROM members m WHERE tenant_id = 2 EXCEPT SELECT * FROM globex_before$$,
                'the other tenant''s member is the same row version');

-- A snapshot without the identity key's columns: matched as if the table
-- had no key (merge refused, replace rewrites).
CREATE TEMP TABLE no_email AS SELECT jsonb_set(d, '{data}', (
  SELECT jsonb_agg(CASE WHEN s ->> 'name' <> 'members' THEN s
                        ELSE s || jsonb_build_object('columns', '["tenant_id", "role"]'::jsonb, 'rows',
                                   (SELECT jsonb_agg(jsonb_build_array(r -> 0, r -> 3)) FROM jsonb_array_elements(s -> 'rows') r))
                   END ORDER BY n)
    FROM jsonb_array_elements(d -> 'data') WITH ORDINALITY AS e(s, n))) AS d FROM doc;
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge', '{"tables": ["tenants", "members", "settings"]}') FROM no_email$$)
          ->> 'message', 'table public.members has no key: merge cannot match its rows',
          'a snapshot without the identity key''s columns cannot be merged');

-- visits: no key at all. merge is refused, naming the table and key_columns.
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge') FROM doc$$) ->> 'sqlstate', '22023',
          'merge of a table without any key is refused');
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge') FROM doc$$) ->> 'message',
          'table public.visits has no key: merge cannot match its rows', 'the message names the table');
SELECT matches(tap.error_of($$SELECT backup_import(d, 'merge') FROM doc$$) ->> 'hint',
               'key_columns.*"visits"', 'the hint names the key_columns option for it');
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge') FROM doc$$) ->> 'detail',
          'It has no primary key, no replica identity index and no unique index over NOT NULL columns.',
          'the detail says what was looked for');
SELECT is((SELECT role FROM members WHERE email = 'b@acme'), 'staff', 'the refused merge changed nothing');
-- key_columns on a NOT NULL column pair is still honoured.
ALTER TABLE visits ALTER COLUMN page SET NOT NULL;
SELECT is(pg_temp.table_report((SELECT backup_import(d, 'merge') FROM doc), 'public.visits') -> 'matched_on',
          '{"columns": ["page"], "source": "unique index \"visits_page\""}',
          'once its unique column is NOT NULL, the index identifies the rows');
ALTER TABLE visits ALTER COLUMN page DROP NOT NULL;
SELECT is(pg_temp.table_report((SELECT backup_import(d, 'merge', '{"key_columns": {"visits": ["page"]}}') FROM doc),
                               'public.visits') -> 'matched_on',
          '{"columns": ["page"], "source": "key_columns"}', 'key_columns names a key the caller chose');
-- replace of a table without any key rewrites its rows, and says so.
DELETE FROM visits WHERE page = '/cart';
CREATE TEMP TABLE r3 AS SELECT backup_import(d, 'replace') AS r FROM doc;
SELECT is(pg_temp.table_report((SELECT r FROM r3), 'public.visits'),
          '{"inserted": 2, "updated": 0, "unchanged": 0, "deleted": 1, "matched_on": null}',
          'replace of a keyless table deletes the tenant''s rows and inserts the snapshot''s');
SELECT results_eq($$SELECT page, at FROM visits WHERE tenant_id = 1 ORDER BY at$$,
                  $$VALUES ('/home', 1), ('/cart', 2)$$, 'and the rows are the snapshot''s');

SELECT * FROM finish();
ROLLBACK;
