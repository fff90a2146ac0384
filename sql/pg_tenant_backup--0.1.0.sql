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
