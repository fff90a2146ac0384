-- backup_export: the snapshot document of one tenant.
\set QUIET on
SET client_min_messages = warning;
\i test/fixtures/shop.sql
\set QUIET off

CREATE TEMP TABLE acme AS SELECT backup_export('1') AS d;
CREATE TEMP TABLE globex AS SELECT backup_export('2') AS d;

-- The sections of the document.
SELECT jsonb_object_keys(d) AS section FROM acme ORDER BY 1;
SELECT d -> 'format' AS format, d -> 'format_version' AS version FROM acme;
SELECT jsonb_object_keys(d -> 'metadata') AS metadata_key FROM acme ORDER BY 1;
SELECT d -> 'metadata' -> 'tenant' AS tenant, d -> 'metadata' ->> 'tenancy' AS tenancy,
       d -> 'metadata' ->> 'database' AS database, d -> 'metadata' ->> 'exported_by' AS exported_by,
       d -> 'metadata' ->> 'extension_version' = (SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup') AS extension_version_is_installed,
       d -> 'metadata' ->> 'exported_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS exported_at_is_iso_utc
  FROM acme;
SELECT (d -> 'metadata' ->> 'database_oid')::oid = (SELECT oid FROM pg_database WHERE datname = current_database()) AS database_oid_is_this_database,
       d -> 'metadata' ->> 'system_identifier' = (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier_is_this_cluster
  FROM acme;
SELECT d -> 'metadata' -> 'options' AS options FROM acme;
-- What the snapshot does not hold, and why (backup_coverage's global and
-- excluded tables).
SELECT jsonb_pretty(d -> 'metadata' -> 'coverage') AS coverage FROM acme;

-- Schema: every table with its role, primary key and, for children, the owning chain.
SELECT t ->> 'schema' AS schema, t ->> 'name' AS name, t ->> 'role' AS role, t -> 'primary_key' AS pk,
       (SELECT jsonb_agg(c ->> 'constraint') FROM jsonb_array_elements(t -> 'owning_chain') c) AS owning_chain
  FROM acme, jsonb_array_elements(d -> 'schema' -> 'tables') t;
SELECT c FROM acme, jsonb_array_elements(d -> 'schema' -> 'tables') t, jsonb_array_elements(t -> 'columns') c
 WHERE t ->> 'name' = 'orders';

-- Data: Acme's rows only; the soft-deleted customer and its order are left out.
SELECT x ->> 'name' AS name, x ->> 'role' AS role, x -> 'columns' AS columns, x -> 'rows' AS rows
  FROM acme, jsonb_array_elements(d -> 'data') x;

-- Master data: only the referenced master rows; Globex's returns point at
-- Acme's customers through a key that does not own them: recorded for
-- reference only.
SELECT x ->> 'name' AS name, x ->> 'role' AS role, x -> 'rows' AS rows
  FROM globex, jsonb_array_elements(d -> 'master_data') x;
SELECT d -> 'statistics' AS statistics FROM globex;

-- No value of the other tenant is in the data section.
SELECT count(*) AS acme_rows_in_globex
  FROM globex, jsonb_array_elements(d -> 'data') x, jsonb_array_elements(x -> 'rows') r
 WHERE x ->> 'name' = 'customers' AND (r ->> 1)::int <> 2;

-- Options: deleted rows and audit tables on request, table filters.
SELECT x ->> 'name' AS name, jsonb_array_length(x -> 'rows') AS rows
  FROM jsonb_array_elements(backup_export('1', '{"include_deleted": true, "include_audit_logs": true}') -> 'data') x;
SELECT x ->> 'name' AS name, jsonb_array_length(x -> 'rows') AS rows
  FROM jsonb_array_elements(backup_export('2', '{"tables": ["orders", "countries"]}') -> 'data') x;

-- Every export leaves a row in backup_logs.
SELECT operation, trigger, tenant, status, table_count, row_count, table_counts,
       created_by = current_user AS by_me, finished_at >= started_at AS timed, options ->> 'tenancy' AS tenancy
  FROM backup_logs ORDER BY id;

-- The whole database, and schema tenancy.
SELECT d -> 'metadata' -> 'tenant' AS tenant, d -> 'statistics' -> 'total_rows' AS total_rows
  FROM (SELECT backup_export(NULL) AS d) s;
CREATE SCHEMA "Tenant A";
CREATE TABLE "Tenant A".invoices (id int PRIMARY KEY, country text REFERENCES countries, amount int);
INSERT INTO "Tenant A".invoices VALUES (1, 'JP', 5), (2, 'JP', 6);
SELECT x ->> 'schema' AS schema, x ->> 'name' AS name, x ->> 'role' AS role, x -> 'rows' AS rows
  FROM jsonb_array_elements((SELECT backup_export('Tenant A', '{"tenancy": "schema"}')) -> 'data') x
UNION ALL
SELECT x ->> 'schema', x ->> 'name', x ->> 'role', x -> 'rows'
  FROM jsonb_array_elements((SELECT backup_export('Tenant A', '{"tenancy": "schema"}')) -> 'master_data') x;

-- Errors are those of backup_stats (see test/pgtap).
SELECT backup_export('999');
SELECT backup_export('1', '{"compression": "zstd"}');

-- A table whose columns are all generated or dropped still has rows: empty arrays.
CREATE TABLE no_stored_columns (a int GENERATED ALWAYS AS (1) STORED, b int);
INSERT INTO no_stored_columns (b) VALUES (1), (2);
ALTER TABLE no_stored_columns DROP COLUMN b;
SELECT x -> 'columns' AS columns, x -> 'rows' AS rows
  FROM jsonb_array_elements(backup_export(NULL) -> 'data') x WHERE x ->> 'name' = 'no_stored_columns';
DROP TABLE no_stored_columns;
