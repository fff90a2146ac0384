-- The checks after a merge's changes (docs/import.md, step 7). Without
-- triggers, a merge checks only the rows it wrote, where the rows they
-- depend on are found by the key their stage matched on; where an update
-- may change what a row depends on (a foreign key to another unique key,
-- key_columns naming another key), every staged row is checked, as
-- before. Either way a row the document moves to another tenant, or one
-- left pointing at nothing, stops the import and nothing is changed.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(17);

-- Projects are the tenant's by tenant_id; tasks through the project's
-- primary key; labels through the project's code, a unique key the rows
-- are not matched on.
CREATE TABLE m_projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                         code text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE m_tasks (id int PRIMARY KEY, project_id int NOT NULL REFERENCES m_projects, title text NOT NULL);
CREATE TABLE m_labels (id int PRIMARY KEY, project_code text NOT NULL REFERENCES m_projects (code),
                       label text NOT NULL);
INSERT INTO m_projects VALUES (1, 1, 'a1', 'Acme one'), (2, 1, 'a2', 'Acme two'), (3, 2, 'b1', 'Globex one');
INSERT INTO m_tasks VALUES (10, 1, 'plan'), (11, 2, 'build'), (20, 3, 'theirs');
INSERT INTO m_labels VALUES (100, 'a1', 'red'), (101, 'a2', 'blue'), (200, 'b1', 'theirs');

CREATE TEMP TABLE doc AS
  SELECT backup_export('1', '{"tables": ["tenants", "m_projects", "m_tasks", "m_labels"]}') AS d;
-- The document with the rows of one table replaced.
CREATE FUNCTION pg_temp.with_rows(d jsonb, table_name text, rows jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_set(d, '{data}', (SELECT jsonb_agg(CASE WHEN s ->> 'name' = table_name
                                                       THEN jsonb_set(s, '{rows}', rows) ELSE s END ORDER BY o)
                                   FROM jsonb_array_elements(d -> 'data') WITH ORDINALITY e(s, o)))
$$;
CREATE TEMP VIEW state AS
  SELECT (SELECT jsonb_agg(p ORDER BY id) FROM m_projects p) AS projects,
         (SELECT jsonb_agg(t ORDER BY id) FROM m_tasks t) AS tasks,
         (SELECT jsonb_agg(l ORDER BY id) FROM m_labels l) AS labels;
CREATE TEMP TABLE before AS SELECT * FROM state;
CREATE FUNCTION pg_temp.unchanged() RETURNS boolean LANGUAGE sql AS $$
  SELECT s.projects = b.projects AND s.tasks = b.tasks AND s.labels = b.labels FROM state s, before b
$$;
CREATE TEMP TABLE r (name text, e jsonb);
CREATE FUNCTION pg_temp.refuse(name text, statement text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO r SELECT name, tap.error_of(statement)
$$;

-- A row the merge updates, moved to another tenant's project.
SELECT pg_temp.refuse('moved', $$SELECT backup_import(pg_temp.with_rows(d, 'm_tasks', '[[10, 1, "plan"], [11, 3, "build"]]'),
                                                      'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'moved'),
          '22023 row public.m_tasks (id)=(11) of the snapshot would not belong to tenant "1"',
          'a task the merge updates into another tenant''s project: 22023 naming it');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- A row the merge inserts, under another tenant's project.
SELECT pg_temp.refuse('new', $$SELECT backup_import(pg_temp.with_rows(d, 'm_tasks',
                                                    '[[10, 1, "plan"], [12, 3, "sneak"]]'), 'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'new'),
          '22023 row public.m_tasks (id)=(12) of the snapshot would not belong to tenant "1"',
          'a task the merge inserts into another tenant''s project: 22023 naming it');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- A project updated into another tenant: its tasks, unchanged, follow it.
SELECT pg_temp.refuse('parent', $$SELECT backup_import(pg_temp.with_rows(d, 'm_projects',
                                                       '[[1, 1, "a1", "Acme one"], [2, 2, "a2", "Acme two"]]'), 'merge') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' || ' ' || (e ->> 'message') FROM r WHERE name = 'parent'),
          '22023 row public.m_projects (id)=(2) of the snapshot would not belong to tenant "1"',
          'a project the merge moves to another tenant: 22023 naming it');
SELECT ok(pg_temp.unchanged(), 'nothing changed');

-- A project's code changed: labels find their project by code, so without
-- triggers a merge never changes it (docs/import.md, "Triggers"); the
-- label that still says 'a2', not written by the merge, points at its
-- project as before.
CREATE TEMP TABLE code_change AS
  SELECT backup_import(pg_temp.with_rows(d, 'm_projects', '[[1, 1, "a1", "Acme one"], [2, 1, "a2x", "Acme 2"]]'),
                       'merge') -> 'totals' AS t FROM doc;
SELECT is((SELECT t -> 'updated' FROM code_change), '1'::jsonb, 'a project whose code and name differ: updated');
SELECT is((SELECT code || ' ' || name FROM m_projects WHERE id = 2), 'a2 Acme 2',
          'its name changed, its referenced code did not');
SELECT is((SELECT project_code FROM m_labels WHERE id = 101), 'a2', 'the label still points at it');

-- Projects matched on their code (key_columns): the id the tasks point at
-- is not changed either.
SELECT is((SELECT backup_import(pg_temp.with_rows(d, 'm_projects', '[[1, 1, "a1", "Acme 1"], [5, 1, "a2", "Acme two"]]'),
                                'merge', '{"key_columns": {"m_projects": ["code"]}}') -> 'totals' -> 'updated' FROM doc),
          '2'::jsonb, 'with key_columns on code, both projects differ: updated');
SELECT is((SELECT jsonb_agg(id::text || ' ' || code || ' ' || name ORDER BY id) FROM m_projects WHERE tenant_id = 1),
          '["1 a1 Acme 1", "2 a2 Acme two"]'::jsonb, 'names changed, the id tasks reference did not');
UPDATE m_projects SET name = 'Acme one' WHERE id = 1;
TRUNCATE before;
INSERT INTO before SELECT * FROM state;

-- Every refusal was logged as failed and undone.
SELECT is((SELECT count(*)::int FROM r WHERE e IS NOT NULL), 3, 'three refusals');

-- A merge that updates one row and inserts another, both the tenant's.
CREATE TEMP TABLE ok1 AS
  SELECT backup_import(pg_temp.with_rows(d, 'm_tasks', '[[10, 1, "plan more"], [13, 2, "test"]]'),
                       'merge') -> 'totals' AS t FROM doc;
SELECT is((SELECT t FROM ok1), '{"deleted": 0, "updated": 1, "inserted": 1, "unchanged": 5}'::jsonb,
          'a merge of the tenant''s own changes: one updated, one inserted');
SELECT is((SELECT jsonb_agg(t ORDER BY id) FROM m_tasks t),
          '[{"id": 10, "project_id": 1, "title": "plan more"}, {"id": 11, "project_id": 2, "title": "build"},
            {"id": 13, "project_id": 2, "title": "test"}, {"id": 20, "project_id": 3, "title": "theirs"}]'::jsonb,
          'the tasks are the document''s, the other tenant''s as they were');

-- With fire_triggers the server checks the keys as rows are written, and
-- the referenced code is updated like any column: still referenced, refused.
SELECT pg_temp.refuse('triggers', $$SELECT backup_import(pg_temp.with_rows(d, 'm_projects',
                                                         '[[1, 1, "a1", "Acme one"], [2, 1, "a2y", "Acme two"]]'),
                                                         'merge', '{"fire_triggers": true}') FROM doc$$);
SELECT is((SELECT e ->> 'sqlstate' FROM r WHERE name = 'triggers'), '23503',
          'with fire_triggers, a project code still referenced cannot change: the server''s 23503');
SELECT is((SELECT code FROM m_projects WHERE id = 2), 'a2', 'and the code is as it was');
SELECT is((SELECT count(*)::int FROM m_labels WHERE project_code = 'a2'), 1, 'the label still points at it');

SELECT * FROM finish();
ROLLBACK;
