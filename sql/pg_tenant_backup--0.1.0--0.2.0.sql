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

-- Where every user table stands for a tenant's snapshot (docs/tenancy.md):
-- in it with a role, left out by an option, global, or unplaced (a table
-- that may hold the tenant's rows and makes backup_stats, backup_export,
-- backup_create and backup_import refuse).
CREATE FUNCTION backup_coverage(tenant text, opts jsonb DEFAULT '{}')
RETURNS TABLE(table_name text, role text, reason text)
AS 'MODULE_PATHNAME', 'backup_coverage'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_coverage(text, jsonb) IS
  'Every user table with its place in a tenant''s snapshot (tenant, child, master, excluded, global, unplaced) and why';
REVOKE ALL ON FUNCTION backup_coverage(text, jsonb) FROM PUBLIC;

-- Encryption at rest (docs/security.md): how a stored snapshot's file is
-- encrypted and with which key, so the right key is looked for and a
-- missing one is named. NULL: not encrypted.
ALTER TABLE backup_logs ADD COLUMN encryption text CHECK (encryption IN ('aes-256-gcm')),
  ADD COLUMN encryption_key_id text;
COMMENT ON COLUMN backup_logs.encryption IS 'aes-256-gcm when the stored file is encrypted, else NULL';
COMMENT ON COLUMN backup_logs.encryption_key_id IS 'first 8 bytes (hex) of SHA-256 of the key the file is encrypted with';
-- New columns come last: CREATE OR REPLACE keeps the view's grants.
CREATE OR REPLACE VIEW backup_list AS
SELECT id, tenant, name, notes, trigger, status, started_at, finished_at, file_name,
       round(size_bytes / 1048576.0, 3) AS size_mb, compression, checksum, table_count, row_count,
       round((extract(epoch FROM (now() - finished_at)) / 86400)::numeric, 2) AS age_days,
       status IN ('completed', 'restored') AS restorable,
       created_by, encryption, encryption_key_id
  FROM backup_logs
 WHERE operation = 'backup' AND status IN ('completed', 'restored')
 ORDER BY id;
