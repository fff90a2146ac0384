-- pg_tenant_backup 0.1.0
\echo Use "CREATE EXTENSION pg_tenant_backup" to load this file. \quit

CREATE FUNCTION backup_stats(tenant text, opts jsonb DEFAULT '{}')
RETURNS TABLE(table_name text, role text, row_count bigint)
AS 'MODULE_PATHNAME', 'backup_stats'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE;

COMMENT ON FUNCTION backup_stats(text, jsonb) IS
  'One row per table a tenant''s snapshot would contain: name, role (tenant, child, master) and row count';

-- Every function is off for PUBLIC: an admin grants what a role needs
-- (see docs/security.md).
REVOKE ALL ON FUNCTION backup_stats(text, jsonb) FROM PUBLIC;

-- The backup log: one row per operation, the single place an admin looks.
CREATE TABLE backup_logs (
  id bigserial PRIMARY KEY,
  operation text NOT NULL
    CHECK (operation IN ('backup', 'restore', 'import', 'export', 'verify', 'delete', 'prune')),
  trigger text NOT NULL DEFAULT 'manual' CHECK (trigger IN ('manual', 'scheduled', 'pre_restore')),
  tenant text,
  name text,
  notes text,
  status text NOT NULL
    CHECK (status IN ('running', 'completed', 'failed', 'restored', 'deleted', 'expired')),
  started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at timestamptz,
  duration interval GENERATED ALWAYS AS (finished_at - started_at) STORED,
  file_name text,
  size_bytes bigint,
  compression text,
  checksum text,
  table_count integer,
  row_count bigint,
  table_counts jsonb,
  options jsonb,
  schedule_id bigint,
  created_by name NOT NULL DEFAULT current_user,
  error jsonb,
  source_id bigint,
  archive_status text,
  pid integer
);
COMMENT ON COLUMN backup_logs.source_id IS 'the snapshot a verify, delete, restore or import acted on';
COMMENT ON COLUMN backup_logs.pid IS 'backend that ran the operation: a running row whose backend is gone was interrupted';
CREATE INDEX backup_logs_tenant_started_idx ON backup_logs (tenant, started_at);
COMMENT ON TABLE backup_logs IS 'pg_tenant_backup: one row per export, backup, import, restore, verify, delete or prune';
SELECT pg_catalog.pg_extension_config_dump('backup_logs', '');
SELECT pg_catalog.pg_extension_config_dump('backup_logs_id_seq', '');
REVOKE ALL ON backup_logs FROM PUBLIC;

CREATE FUNCTION backup_export(tenant text, opts jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_export'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION backup_export(text, jsonb) IS
  'A tenant''s snapshot (metadata, schema, referenced master data, data, statistics) as one jsonb document';

REVOKE ALL ON FUNCTION backup_export(text, jsonb) FROM PUBLIC;

-- Stored snapshots.
CREATE FUNCTION backup_create(tenant text, opts jsonb DEFAULT '{}', name text DEFAULT NULL,
                              notes text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'backup_create'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_create(text, jsonb, text, text) IS
  'Stream a tenant''s snapshot to a file in pg_tenant_backup.storage_path; returns its backup_logs id';

CREATE FUNCTION backup_verify(id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_verify'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_verify(bigint) IS
  'Check a stored snapshot: file, checksum, decompression, format, row counts; returns a report';

CREATE FUNCTION backup_read(id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_read'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_read(bigint) IS 'The stored snapshot document, after checking its checksum';

CREATE FUNCTION backup_download(id bigint)
RETURNS SETOF bytea
AS 'MODULE_PATHNAME', 'backup_download'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE ROWS 16;
COMMENT ON FUNCTION backup_download(bigint) IS 'The stored file as it is on disk, in 1 MB chunks';

CREATE FUNCTION backup_upload(data bytea, name text DEFAULT NULL, notes text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'backup_upload'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_upload(bytea, text, text) IS
  'Store a snapshot file made elsewhere (compressed or not) after validating it; returns its id';

CREATE FUNCTION backup_delete(id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'backup_delete'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_delete(bigint) IS 'Remove a stored snapshot''s file and mark its row deleted';

CREATE FUNCTION backup_prune(tenant text DEFAULT NULL, max_backups integer DEFAULT NULL,
                             retention_days integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'backup_prune'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_prune(text, integer, integer) IS
  'Expire snapshots beyond max_backups per tenant or older than retention_days, never a tenant''s newest';

CREATE VIEW backup_list AS
SELECT id, tenant, name, notes, trigger, status, started_at, finished_at, file_name,
       round(size_bytes / 1048576.0, 3) AS size_mb, compression, checksum, table_count, row_count,
       round((extract(epoch FROM (now() - finished_at)) / 86400)::numeric, 2) AS age_days,
       status IN ('completed', 'restored') AS restorable,
       created_by
  FROM backup_logs
 WHERE operation = 'backup' AND status IN ('completed', 'restored')
 ORDER BY id;
COMMENT ON VIEW backup_list IS 'Stored snapshots that can be read, verified, downloaded or restored';

REVOKE ALL ON FUNCTION backup_create(text, jsonb, text, text), backup_verify(bigint),
  backup_read(bigint), backup_download(bigint), backup_upload(bytea, text, text),
  backup_delete(bigint), backup_prune(text, integer, integer) FROM PUBLIC;
REVOKE ALL ON backup_list FROM PUBLIC;
