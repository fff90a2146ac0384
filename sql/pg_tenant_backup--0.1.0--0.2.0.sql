-- pg_tenant_backup 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tenant_backup UPDATE).
-- A fresh CREATE EXTENSION runs pg_tenant_backup--0.1.0.sql and then this
-- script, so every change to the SQL surface after 0.1.0 lives here only.
\echo Use "ALTER EXTENSION pg_tenant_backup UPDATE" to load this file. \quit

-- Import of a stored snapshot read as a stream from its file (memory does
-- not grow with the snapshot, unlike backup_import(backup_read(id))).
CREATE FUNCTION backup_import_stored(id bigint, mode text DEFAULT 'merge', opts jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_import_stored'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_import_stored(bigint, text, jsonb) IS
  'Apply a stored snapshot (backup_logs id) to its tenant like backup_import, streaming its file; returns a report';
REVOKE ALL ON FUNCTION backup_import_stored(bigint, text, jsonb) FROM PUBLIC;
