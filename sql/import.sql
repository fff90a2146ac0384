-- backup_import: apply a snapshot document to its tenant.
\set QUIET on
SET client_min_messages = warning;
\i test/fixtures/shop.sql
\set QUIET off

CREATE TEMP TABLE acme AS SELECT backup_export('1') AS d;
-- A table without a primary key (events) can only be replaced; merge and
-- insert_only leave it out here.
CREATE TEMP TABLE keyed AS SELECT '{"exclude_tables": ["events", "audit_logs", "backup_logs"]}'::jsonb AS o;

-- The report: per table inserted, updated, unchanged, deleted; totals; time.
SELECT jsonb_object_keys(backup_import(d, 'merge', o)) AS report_key FROM acme, keyed ORDER BY 1;
SELECT backup_import(d, 'merge', o) - 'duration_ms' AS unchanged_merge FROM acme, keyed;

-- A mistake: one row changed, one deleted, one added.
UPDATE customers SET name = 'Ann (typo)' WHERE id = 10;
DELETE FROM line_notes WHERE id = 1;
INSERT INTO customers VALUES (13, 1, 'Added later', 'DE', NULL, NULL);

-- insert_only adds the missing row and leaves the rest as it is.
SELECT t ->> 'table' AS "table", t -> 'inserted' AS inserted, t -> 'updated' AS updated,
       t -> 'unchanged' AS unchanged, t -> 'deleted' AS deleted
  FROM acme, keyed, jsonb_array_elements(backup_import(d, 'insert_only', o) -> 'tables') t;
SELECT name FROM customers WHERE id = 10;

-- merge updates the changed row; the added customer stays.
SELECT backup_import(d, 'merge', o) -> 'totals' AS merge_totals FROM acme, keyed;
SELECT id, name FROM customers WHERE tenant_id = 1 ORDER BY id;

-- A dry run reports what replace would do and changes nothing.
SELECT backup_import(d, 'replace', '{"dry_run": true}') -> 'totals' AS dry_run_totals,
       backup_import(d, 'replace', '{"dry_run": true}') -> 'dry_run' AS dry_run FROM acme;
SELECT count(*) AS still_there FROM customers WHERE id = 13;

-- replace removes what the snapshot lacks; rows already equal are left alone.
SELECT t ->> 'table' AS "table", t -> 'inserted' AS inserted, t -> 'updated' AS updated,
       t -> 'unchanged' AS unchanged, t -> 'deleted' AS deleted
  FROM acme, jsonb_array_elements(backup_import(d, 'replace') -> 'tables') t;
SELECT count(*) AS gone FROM customers WHERE id = 13;
-- The tenant's rows equal the snapshot's, table by table (row order aside).
SELECT count(*) AS sections_that_differ
  FROM acme, jsonb_array_elements(d -> 'data') s,
       LATERAL (SELECT x FROM jsonb_array_elements(backup_export('1') -> 'data') x
                 WHERE x ->> 'name' = s ->> 'name') now
 WHERE (SELECT jsonb_agg(r ORDER BY r::text) FROM jsonb_array_elements(s -> 'rows') r)
       IS DISTINCT FROM (SELECT jsonb_agg(r ORDER BY r::text) FROM jsonb_array_elements(now.x -> 'rows') r);

-- Validation comes before any change.
SELECT backup_import(d, 'upsert') FROM acme;
SELECT backup_import(d, 'merge', '{"target_tenant": "2"}') FROM acme;
SELECT backup_import(jsonb_set(d, '{format_version}', '2'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{format}', '"other"'), 'replace') FROM acme;
SELECT backup_import(d, 'merge') FROM acme;
SELECT backup_import(jsonb_set(d, '{metadata,tenant,id}', '"77"'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{data,3,columns,2}', '"nickname"'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{data,3,columns,2}', '"nickname"'), 'replace',
                     '{"ignore_unknown_columns": true}') -> 'totals' AS unknown_column_ignored FROM acme;
SELECT name FROM customers WHERE id = 10;
SELECT backup_import(d, 'replace') -> 'totals' AS back_again FROM acme;
SELECT backup_import(jsonb_set(d, '{data,3,rows,0,0}', '1.5'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{data,3,rows,0,0}', '"ten"'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{master_data,1,rows,0,0}', '"XX"'), 'replace') FROM acme;
SELECT backup_import(jsonb_set(d, '{data,3,rows,0,0}', '20'), 'replace') FROM acme;

-- A row of the tenant that must go but that another tenant's row references.
BEGIN;
INSERT INTO customers VALUES (13, 1, 'Added later', 'DE', NULL, NULL);
UPDATE returns SET handled_by = 13 WHERE id = 2;
SELECT backup_import(d, 'replace') FROM acme;
ROLLBACK;

-- Every import leaves a row in backup_logs; a failed one stays failed.
SELECT operation, status, tenant, notes, table_count, row_count, options ->> 'mode' AS mode,
       error ->> 'sqlstate' AS sqlstate
  FROM backup_logs WHERE operation = 'import' ORDER BY id;
