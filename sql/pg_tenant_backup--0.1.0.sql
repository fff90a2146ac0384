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
  error jsonb
);
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
