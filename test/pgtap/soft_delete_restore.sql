-- A replace from a snapshot that left soft-deleted rows out (include_deleted
-- false): it deletes only the rows its filter covered.
-- Rows the filter left out (recorded in filtered_rows) and reference rows
-- are left alone; a snapshot without that record (before 0.2.0) deletes
-- nothing in the tables its filter reaches (docs/import.md, "Soft-deleted
-- rows").
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(43);

-- Projects have the soft-delete column; tasks are their children (no column
-- of their own: left out with a soft-deleted project); links are tenant rows
-- that point at projects through a key that does not own them.
CREATE TABLE sd_projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                          name text NOT NULL, deleted_at timestamptz);
CREATE TABLE sd_tasks (id int PRIMARY KEY, project_id int NOT NULL REFERENCES sd_projects, title text NOT NULL);
CREATE TABLE sd_links (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants,
                       project_id int REFERENCES sd_projects, note text);
-- Tags have no key: a replace rewrites them whole.
CREATE TABLE sd_tags (project_id int NOT NULL REFERENCES sd_projects, tag text NOT NULL);
CREATE TEMP TABLE opts AS
  SELECT '{"tables": ["tenants", "sd_projects", "sd_tasks", "sd_links", "sd_tags"]}'::jsonb AS o;

-- The tenant at backup time (`true`), or after a day of use (`false`):
--   project 2 soft-deleted, undeleted since; project 3 soft-deleted, still;
--   project 4 soft-deleted, undeleted since, referenced by link 1;
--   project 5 live, soft-deleted since; project 6 and tasks 11, 60 and link
--   3 created since; task 10 renamed. Tenant 2's rows never change.
CREATE FUNCTION pg_temp.set_state(at_backup boolean) RETURNS void LANGUAGE sql AS $$
  DELETE FROM sd_links; DELETE FROM sd_tasks; DELETE FROM sd_tags; DELETE FROM sd_projects;
  INSERT INTO sd_projects VALUES
    (1, 1, 'live', NULL),
    (2, 1, 'undeleted', CASE WHEN at_backup THEN timestamptz '2026-01-02 00:00:00+00' END),
    (3, 1, 'still deleted', '2026-01-03 00:00:00+00'),
    (4, 1, 'referenced', CASE WHEN at_backup THEN timestamptz '2026-01-04 00:00:00+00' END),
    (5, 1, 'deleted since', CASE WHEN NOT at_backup THEN timestamptz '2026-02-05 00:00:00+00' END),
    (9, 2, 'globex', NULL);
  INSERT INTO sd_projects SELECT 6, 1, 'created since', NULL WHERE NOT at_backup;
  INSERT INTO sd_tasks VALUES
    (10, 1, CASE WHEN at_backup THEN 'write' ELSE 'renamed' END), (20, 2, 'a'), (21, 2, 'b'),
    (30, 3, 'c'), (50, 5, 'd'), (90, 9, 'globex task');
  INSERT INTO sd_tasks SELECT * FROM (VALUES (11, 1, 'new'), (60, 6, 'new')) v WHERE NOT at_backup;
  INSERT INTO sd_links VALUES (1, 1, 4, 'to a soft-deleted project'), (2, 1, 1, NULL), (9, 2, 9, NULL);
  INSERT INTO sd_links SELECT 3, 1, 1, 'created since' WHERE NOT at_backup;
  INSERT INTO sd_tags VALUES (1, 'x'), (3, 'z');
$$;
CREATE TEMP VIEW acme AS
  SELECT 'p' || id || ' ' || name || ' ' || coalesce(deleted_at::text, 'live') AS r FROM sd_projects WHERE tenant_id = 1
  UNION ALL SELECT 't' || t.id || ' ' || t.title FROM sd_tasks t JOIN sd_projects p ON p.id = t.project_id WHERE p.tenant_id = 1
  UNION ALL SELECT 'l' || id || ' ' || coalesce(project_id::text, '-') FROM sd_links WHERE tenant_id = 1;
CREATE TEMP VIEW globex AS
  SELECT 'p' || p::text AS r FROM sd_projects p WHERE tenant_id = 2
  UNION ALL SELECT 't' || t::text FROM sd_tasks t WHERE id = 90
  UNION ALL SELECT 'l' || l::text FROM sd_links l WHERE tenant_id = 2;
SET TimeZone = 'UTC';

SELECT pg_temp.set_state(true);
CREATE TEMP TABLE globex_before AS SELECT * FROM globex;
CREATE TEMP TABLE doc AS SELECT backup_export('1', o) AS d FROM opts;

-- 1. The export records the keys of the rows its filter left out.
SELECT is((SELECT d -> 'metadata' -> 'options' -> 'include_deleted' FROM doc), 'false',
          'the export leaves soft-deleted rows out by default');
SELECT is((SELECT jsonb_agg(jsonb_build_object(s ->> 'name', s -> 'rows') ORDER BY s ->> 'name')
             FROM doc, jsonb_array_elements(d -> 'filtered_rows') s),
          '[{"sd_projects": [[2], [3], [4]]}, {"sd_tags": [[3, "z"]]}, {"sd_tasks": [[20], [21], [30]]}]'::jsonb,
          'filtered_rows holds the keys of the soft-deleted projects and of their tasks and tags (every column: '
          'tags have no key), and nothing of tables the filter does not reach');
SELECT is((SELECT array_agg(DISTINCT s ->> 'role') || array_agg(DISTINCT s ->> 'columns')
             FROM doc, jsonb_array_elements(d -> 'filtered_rows') s),
          ARRAY['filtered', '["id"]', '["project_id", "tag"]'], 'its sections have role filtered and the primary key only');
SELECT is((SELECT d -> 'statistics' -> 'filtered_tables' FROM doc),
          '[{"table": "public.sd_projects", "role": "filtered", "rows": 3},
            {"table": "public.sd_tags", "role": "filtered", "rows": 1},
            {"table": "public.sd_tasks", "role": "filtered", "rows": 3}]'::jsonb,
          'statistics.filtered_tables counts them');
SELECT is((SELECT s -> 'rows' FROM doc, jsonb_array_elements(d -> 'master_data') s
            WHERE s ->> 'role' = 'reference'),
          '[[4, 1, "referenced", "2026-01-04 00:00:00+00"]]'::jsonb,
          'the soft-deleted project a link points at is a reference row');
SELECT is((SELECT jsonb_agg(r -> 0 ORDER BY r -> 0) FROM doc, jsonb_array_elements(d -> 'data') s,
                  jsonb_array_elements(s -> 'rows') r WHERE s ->> 'name' = 'sd_projects'),
          '[1, 5]'::jsonb, 'data holds the live projects only');
SELECT ok((SELECT NOT (backup_export('1', o || '{"include_deleted": true}') ? 'filtered_rows') FROM opts),
          'with include_deleted there is nothing filtered, and no filtered_rows');

-- 2. A replace of that snapshot, after a day of use.
SELECT pg_temp.set_state(false);
CREATE TEMP TABLE untouched AS SELECT id, xmin::text AS v FROM sd_projects WHERE id IN (2, 3, 4);
CREATE TEMP TABLE report AS SELECT backup_import(d, 'replace') AS r FROM doc;
SELECT set_eq($$SELECT r FROM acme$$,
              $$VALUES ('p1 live live'), ('p2 undeleted live'), ('p3 still deleted 2026-01-03 00:00:00+00'),
                       ('p4 referenced live'), ('p5 deleted since live'),
                       ('t10 write'), ('t20 a'), ('t21 b'), ('t30 c'), ('t50 d'),
                       ('l1 4'), ('l2 1')$$,
              'replace: the tenant holds exactly the rows expected');
SELECT ok((SELECT deleted_at IS NULL FROM sd_projects WHERE id = 2)
          AND (SELECT count(*) FROM sd_tasks WHERE project_id = 2) = 2,
          'the project soft-deleted at backup time and undeleted since survives, live, with its tasks');
SELECT ok(EXISTS (SELECT FROM sd_projects WHERE id = 4 AND deleted_at IS NULL)
          AND EXISTS (SELECT FROM sd_links WHERE id = 1 AND project_id = 4),
          'the referenced project, undeleted since, is not deleted and its link still points at it');
SELECT is((SELECT deleted_at FROM sd_projects WHERE id = 3), '2026-01-03 00:00:00+00'::timestamptz,
          'the project soft-deleted then and now is unchanged');
SELECT is((SELECT array_agg(id ORDER BY id) FROM untouched u
            WHERE u.v = (SELECT xmin::text FROM sd_projects p WHERE p.id = u.id)),
          ARRAY[2, 3, 4], 'the rows the filter left out were not written at all');
SELECT ok((SELECT deleted_at IS NULL FROM sd_projects WHERE id = 5) AND EXISTS (SELECT FROM sd_tasks WHERE id = 50),
          'the project live at backup time and soft-deleted since comes back');
SELECT ok(NOT EXISTS (SELECT FROM sd_projects WHERE id = 6) AND NOT EXISTS (SELECT FROM sd_tasks WHERE id IN (11, 60))
          AND NOT EXISTS (SELECT FROM sd_links WHERE id = 3),
          'rows created since, which the filter did not leave out, are deleted as before');
SELECT is((SELECT title FROM sd_tasks WHERE id = 10), 'write', 'a changed row is put back');
SELECT set_eq($$SELECT r FROM globex$$, $$SELECT r FROM globex_before$$, 'tenant 2''s rows are as they were');
SELECT is((SELECT jsonb_object_agg(t ->> 'table', t - 'table' - 'unchanged' - 'inserted' - 'matched_on' - 'load' - 'staged')
             FROM report, jsonb_array_elements(r -> 'tables') t WHERE t ->> 'table' LIKE 'public.sd%'),
          '{"public.sd_projects": {"updated": 1, "deleted": 1}, "public.sd_tags": {"updated": 0, "deleted": 1},
            "public.sd_tasks": {"updated": 1, "deleted": 2},
            "public.sd_links": {"updated": 0, "deleted": 1}}'::jsonb,
          'the report counts the changes');
SELECT is((SELECT r -> 'kept' FROM report),
          '{"soft_deleted": 4, "unrecorded": 0,
            "tables": [{"table": "public.sd_projects", "soft_deleted": 2, "unrecorded": 0},
                       {"table": "public.sd_tasks", "soft_deleted": 2, "unrecorded": 0}]}'::jsonb,
          'and the rows it left alone because the snapshot''s filter left them out');
SELECT is((SELECT notes FROM backup_logs WHERE operation = 'import' ORDER BY id DESC LIMIT 1),
          'replace: 1 inserted, 2 updated, 5 unchanged, 5 deleted, 4 kept soft-deleted',
          'backup_logs.notes says so too');
SELECT is((SELECT backup_import(d, 'replace') -> 'totals' FROM doc),
          '{"inserted": 1, "updated": 0, "unchanged": 7, "deleted": 1}'::jsonb,
          'a second replace changes nothing but the tag rewritten (no key)');

-- 3. The same replace as a dry run reports the same and changes nothing.
SELECT pg_temp.set_state(false);
CREATE TEMP TABLE mess AS SELECT r FROM acme;
SELECT is((SELECT backup_import(d, 'replace', '{"dry_run": true}') -> 'kept' -> 'soft_deleted' FROM doc), '4',
          'a dry run reports the rows it would keep');
SELECT set_eq($$SELECT r FROM acme$$, $$SELECT r FROM mess$$, 'and changes nothing');

-- 4. An older snapshot, without filtered_rows: it cannot tell a row
-- soft-deleted at backup time from one created since, so it deletes no
-- row it lacks in the tables its filter reaches, and says so.
CREATE TEMP TABLE old_doc AS SELECT d - 'filtered_rows' #- '{statistics,filtered_tables}' AS d FROM doc;
SELECT ok((SELECT NOT (d ? 'filtered_rows') AND NOT (d -> 'statistics' ? 'filtered_tables') FROM old_doc),
          'the old snapshot has no filtered_rows');
SELECT lives_ok($$SELECT backup_import(d, 'replace') FROM old_doc$$,
                'the old snapshot imports: the referenced project is not deleted (no 23503)');
SELECT set_eq($$SELECT r FROM acme$$,
              $$VALUES ('p1 live live'), ('p2 undeleted live'), ('p3 still deleted 2026-01-03 00:00:00+00'),
                       ('p4 referenced live'), ('p5 deleted since live'), ('p6 created since live'),
                       ('t10 write'), ('t11 new'), ('t20 a'), ('t21 b'), ('t30 c'), ('t50 d'), ('t60 new'),
                       ('l1 4'), ('l2 1')$$,
              'old snapshot: rows it lacks in projects and tasks stay, created since or not; the link created since goes; '
              'changed and soft-deleted rows come back');
SELECT pg_temp.set_state(false);
CREATE TEMP TABLE old_report AS SELECT backup_import(d, 'replace') AS r FROM old_doc;
SELECT is((SELECT r -> 'kept' FROM old_report),
          '{"soft_deleted": 0, "unrecorded": 7,
            "tables": [{"table": "public.sd_projects", "soft_deleted": 0, "unrecorded": 3},
                       {"table": "public.sd_tasks", "soft_deleted": 0, "unrecorded": 4}]}'::jsonb,
          'the report counts the rows kept because the snapshot does not say whether they were soft-deleted');
SELECT is((SELECT r -> 'totals' -> 'deleted' FROM old_report), '2',
          'only the link created since was deleted, and the tag rewritten (no key)');
SELECT is((SELECT array_agg(project_id || tag ORDER BY tag) FROM sd_tags WHERE project_id <> 9), ARRAY['1x', '3z'],
          'a table without a key is replaced whole from the old snapshot too: not doubled');
-- The same document with its record of filtered rows damaged is refused.
SELECT is(tap.error_of($$SELECT backup_import(d - 'filtered_rows', 'replace') FROM doc$$) ->> 'sqlstate', 'XX001',
          'filtered_rows taken out without its statistics is refused (the statistics do not match)');
SELECT is(tap.error_of($$SELECT backup_import(jsonb_set(d, '{filtered_rows,0,columns,0}', '"name"'),
                                              'replace') FROM doc$$) ->> 'message',
          'snapshot filtered_rows[0] (public.sd_projects) lacks a column of the table''s primary key',
          'a filtered section without the key is refused, not ignored');
SELECT is(tap.error_of($$SELECT backup_import(jsonb_set(d, '{filtered_rows,0,columns,0}', '"name"'),
                                              'merge', '{"tables": ["sd_projects"]}') FROM doc$$) ->> 'sqlstate',
          '22023', 'by a merge too');

-- 5. Merge and insert_only never delete: the record changes nothing for them.
SELECT pg_temp.set_state(false);
SELECT ok((SELECT NOT (backup_import(d, 'merge', '{"tables": ["tenants", "sd_projects", "sd_tasks", "sd_links"]}') ? 'kept') FROM doc),
          'a merge report has no kept');
SELECT ok(EXISTS (SELECT FROM sd_projects WHERE id = 6) AND (SELECT deleted_at IS NULL FROM sd_projects WHERE id = 5),
          'a merge keeps the rows created since and brings back the soft-deleted one');

-- 6. backup_restore of a stored snapshot taken with include_deleted false.
SELECT pg_temp.set_state(true);
SELECT backup_create('1', o || '{"include_deleted": false}') AS stored FROM opts \gset
SELECT is((SELECT (options ->> 'include_deleted')::boolean FROM backup_logs WHERE id = :stored), false,
          'the stored snapshot leaves soft-deleted rows out');
SELECT is((SELECT jsonb_agg(s -> 'rows' ORDER BY s ->> 'name')
             FROM jsonb_array_elements(backup_read(:stored) -> 'filtered_rows') s),
          '[[[2], [3], [4]], [[3, "z"]], [[20], [21], [30]]]'::jsonb, 'and records their keys');
SELECT pg_temp.set_state(false);
SET pg_tenant_backup.allow_restore = on;
CREATE TEMP TABLE restored AS SELECT backup_restore(:stored) AS r;
SELECT set_eq($$SELECT r FROM acme$$,
              $$VALUES ('p1 live live'), ('p2 undeleted live'), ('p3 still deleted 2026-01-03 00:00:00+00'),
                       ('p4 referenced live'), ('p5 deleted since live'),
                       ('t10 write'), ('t20 a'), ('t21 b'), ('t30 c'), ('t50 d'),
                       ('l1 4'), ('l2 1')$$,
              'backup_restore: the undeleted and referenced projects and their tasks survive, the rows created since go');
SELECT is((SELECT r -> 'kept' -> 'soft_deleted' FROM restored), '4', 'its report counts the rows it left alone');
SELECT set_eq($$SELECT r FROM globex$$, $$SELECT r FROM globex_before$$, 'tenant 2''s rows are as they were');
-- Undoing the restore puts back the tenant as it was before it, rows
-- created since included (the pre_restore snapshot holds soft-deleted rows).
SELECT is((SELECT backup_restore((r ->> 'pre_restore_id')::bigint) -> 'kept' FROM restored),
          '{"soft_deleted": 0, "unrecorded": 0, "tables": []}'::jsonb,
          'the pre_restore snapshot has every row: nothing to keep');
SELECT set_eq($$SELECT r FROM acme$$, $$SELECT r FROM mess$$, 'the restore is undone exactly');
RESET pg_tenant_backup.allow_restore;

-- 7. Schema tenancy: the same rules, rows of one schema (every table of it
-- is a tenant table: a part of a soft-deleted item is in data).
CREATE SCHEMA "sd tenant";
CREATE TABLE "sd tenant".items (id int PRIMARY KEY, deleted_at timestamptz);
CREATE TABLE "sd tenant".parts (id int PRIMARY KEY, item_id int NOT NULL REFERENCES "sd tenant".items);
INSERT INTO "sd tenant".items VALUES (1, NULL), (2, '2026-01-01');
INSERT INTO "sd tenant".parts VALUES (1, 1), (2, 2);
CREATE TEMP TABLE schema_doc AS SELECT backup_export('sd tenant', '{"tenancy": "schema"}') AS d;
SELECT is((SELECT jsonb_agg(s -> 'rows' ORDER BY s ->> 'name') FROM schema_doc, jsonb_array_elements(d -> 'filtered_rows') s),
          '[[[2]]]'::jsonb, 'schema tenancy: the soft-deleted item is recorded');
UPDATE "sd tenant".items SET deleted_at = NULL WHERE id = 2;
INSERT INTO "sd tenant".items VALUES (3, NULL);
SELECT is((SELECT backup_import(d, 'replace', '{"tenancy": "schema"}') -> 'totals' -> 'deleted' FROM schema_doc), '1',
          'schema tenancy: a replace deletes the item created since');
SELECT is((SELECT array_agg(i.id || '/' || p.id ORDER BY i.id) FROM "sd tenant".items i JOIN "sd tenant".parts p ON p.item_id = i.id),
          ARRAY['1/1', '2/2'], 'and keeps the undeleted item with its part');

SELECT * FROM finish();
ROLLBACK;
