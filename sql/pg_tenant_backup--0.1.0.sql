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

-- Schedules: run by the background worker (shared_preload_libraries).
CREATE TABLE backup_schedules (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  description text,
  tenant text,                       -- a tenant, '*' for every tenant one by one, NULL for the whole database
  schedule text NOT NULL,            -- cron expression or interval (docs/schedules.md)
  timezone text NOT NULL DEFAULT 'UTC',
  is_active boolean NOT NULL DEFAULT true,
  options jsonb NOT NULL DEFAULT '{}',  -- passed to backup_create
  max_backups integer CHECK (max_backups >= 1),
  retention_days integer CHECK (retention_days >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by name NOT NULL DEFAULT current_user,
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_run_at timestamptz,
  last_status text,
  next_run_at timestamptz
);
COMMENT ON TABLE backup_schedules IS 'pg_tenant_backup: scheduled snapshots, run by the background worker';
SELECT pg_catalog.pg_extension_config_dump('backup_schedules', '');
SELECT pg_catalog.pg_extension_config_dump('backup_schedules_id_seq', '');
-- A role sees and changes only its own schedules; superusers see all.
ALTER TABLE backup_schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY backup_schedules_owner ON backup_schedules
  USING (created_by = current_user) WITH CHECK (created_by = current_user);
REVOKE ALL ON backup_schedules FROM PUBLIC;

CREATE FUNCTION backup_schedule_next(schedule text, timezone text, last_run timestamptz,
                                     now timestamptz DEFAULT now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'backup_schedule_next'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION backup_schedule_next(text, text, timestamptz, timestamptz) IS
  'When a schedule is next due after its last run (NULL: it never fires again)';

CREATE FUNCTION backup_schedule_preview(schedule text, n integer DEFAULT 5, timezone text DEFAULT NULL)
RETURNS SETOF timestamptz
AS 'MODULE_PATHNAME', 'backup_schedule_preview'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION backup_schedule_preview(text, integer, text) IS
  'The next n fire times of a cron expression or interval, to see what it means';

CREATE FUNCTION backup_scheduler_pid()
RETURNS integer
AS 'MODULE_PATHNAME', 'backup_scheduler_pid'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION backup_scheduler_pid() IS 'PID of the running pg_tenant_backup scheduler, NULL when none runs';

CREATE FUNCTION backup_check_options(opts jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'backup_check_options'
LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION backup_check_options(jsonb) IS 'Raises the error backup_create would raise for these options';

CREATE FUNCTION backup_schedule_create(name text, tenant text, schedule text, opts jsonb DEFAULT '{}',
                                       description text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  zone text := coalesce(opts ->> 'timezone', current_setting('pg_tenant_backup.timezone', true), 'UTC');
  job_options jsonb := coalesce(opts, '{}') - 'timezone' - 'max_backups' - 'retention_days';
  new_id bigint;
  scheduler_database text;
BEGIN
  IF name IS NULL OR schedule IS NULL THEN
    RAISE EXCEPTION 'schedule name and expression must not be NULL' USING ERRCODE = '22004';
  END IF;
  PERFORM @extschema@.backup_check_options(job_options);
  INSERT INTO @extschema@.backup_schedules
         (name, description, tenant, schedule, timezone, options, max_backups, retention_days, next_run_at)
  VALUES (backup_schedule_create.name, description, tenant, schedule, zone, job_options,
          (opts ->> 'max_backups')::int, (opts ->> 'retention_days')::int,
          @extschema@.backup_schedule_next(schedule, zone, NULL, now()))
  RETURNING id INTO new_id;
  scheduler_database := current_setting('pg_tenant_backup.database', true);
  IF @extschema@.backup_scheduler_pid() IS NULL THEN
    RAISE WARNING 'no pg_tenant_backup scheduler is running: schedule "%" will not run yet', backup_schedule_create.name
      USING HINT = format('Add pg_tenant_backup to shared_preload_libraries, set pg_tenant_backup.database = %L, and restart the server.', current_database());
  ELSIF scheduler_database IS DISTINCT FROM current_database() THEN
    RAISE WARNING 'the pg_tenant_backup scheduler runs in database "%", not in "%": schedule "%" will not run',
      scheduler_database, current_database(), backup_schedule_create.name;
  END IF;
  RETURN new_id;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION 'a schedule named "%" already exists', backup_schedule_create.name
    USING ERRCODE = '42710', HINT = 'Use backup_schedule_update to change it.';
END $$;
COMMENT ON FUNCTION backup_schedule_create(text, text, text, jsonb, text) IS
  'Schedule backups of a tenant (''*'' for each tenant, NULL for the whole database); returns the schedule id';

CREATE FUNCTION backup_schedule_update(name text, schedule text DEFAULT NULL, tenant text DEFAULT NULL,
                                       opts jsonb DEFAULT NULL, description text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s @extschema@.backup_schedules;
  zone text;
BEGIN
  SELECT * INTO s FROM @extschema@.backup_schedules b WHERE b.name = backup_schedule_update.name FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'schedule "%" does not exist', backup_schedule_update.name USING ERRCODE = '42704';
  END IF;
  zone := coalesce(opts ->> 'timezone', s.timezone);
  IF opts IS NOT NULL THEN
    PERFORM @extschema@.backup_check_options(opts - 'timezone' - 'max_backups' - 'retention_days');
  END IF;
  UPDATE @extschema@.backup_schedules b
     SET schedule = coalesce(backup_schedule_update.schedule, b.schedule),
         tenant = coalesce(backup_schedule_update.tenant, b.tenant),
         timezone = zone,
         options = coalesce(opts - 'timezone' - 'max_backups' - 'retention_days', b.options),
         max_backups = CASE WHEN opts ? 'max_backups' THEN (opts ->> 'max_backups')::int ELSE b.max_backups END,
         retention_days = CASE WHEN opts ? 'retention_days' THEN (opts ->> 'retention_days')::int ELSE b.retention_days END,
         description = coalesce(backup_schedule_update.description, b.description),
         updated_at = now(),
         next_run_at = @extschema@.backup_schedule_next(coalesce(backup_schedule_update.schedule, b.schedule),
                                                        zone, b.last_run_at, now())
   WHERE b.id = s.id;
END $$;

CREATE FUNCTION backup_schedule_enable(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE @extschema@.backup_schedules b
     SET is_active = true, updated_at = now(),
         next_run_at = @extschema@.backup_schedule_next(b.schedule, b.timezone, b.last_run_at, now())
   WHERE b.name = backup_schedule_enable.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'schedule "%" does not exist', backup_schedule_enable.name USING ERRCODE = '42704';
  END IF;
END $$;

CREATE FUNCTION backup_schedule_disable(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE @extschema@.backup_schedules b SET is_active = false, updated_at = now()
   WHERE b.name = backup_schedule_disable.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'schedule "%" does not exist', backup_schedule_disable.name USING ERRCODE = '42704';
  END IF;
END $$;

CREATE FUNCTION backup_schedule_drop(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM @extschema@.backup_schedules b WHERE b.name = backup_schedule_drop.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'schedule "%" does not exist', backup_schedule_drop.name USING ERRCODE = '42704';
  END IF;
END $$;

CREATE FUNCTION backup_scheduler_status() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'running', @extschema@.backup_scheduler_pid() IS NOT NULL,
    'pid', @extschema@.backup_scheduler_pid(),
    'database', current_setting('pg_tenant_backup.database', true),
    'jobs_running', (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'pg_tenant_backup job'),
    'schedules', coalesce((SELECT jsonb_agg(jsonb_build_object(
        'name', s.name, 'tenant', s.tenant, 'schedule', s.schedule, 'timezone', s.timezone,
        'is_active', s.is_active, 'next_run_at', s.next_run_at, 'last_run_at', s.last_run_at,
        'last_status', s.last_status, 'owner', s.created_by) ORDER BY s.next_run_at NULLS LAST, s.name)
      FROM @extschema@.backup_schedules s), '[]'::jsonb))
$$;
COMMENT ON FUNCTION backup_scheduler_status() IS 'Whether the scheduler runs, and the schedules the caller may see with their next runs';

REVOKE ALL ON FUNCTION backup_schedule_next(text, text, timestamptz, timestamptz), backup_scheduler_pid(),
  backup_check_options(jsonb),
  backup_schedule_create(text, text, text, jsonb, text),
  backup_schedule_update(text, text, text, jsonb, text), backup_schedule_enable(text),
  backup_schedule_disable(text), backup_schedule_drop(text), backup_scheduler_status() FROM PUBLIC;
-- Previewing an expression reads no data: anyone may.
GRANT EXECUTE ON FUNCTION backup_schedule_preview(text, integer, text) TO PUBLIC;

-- Import and restore (docs/import.md).
CREATE FUNCTION backup_import(doc jsonb, mode text DEFAULT 'merge', opts jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_import'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_import(jsonb, text, jsonb) IS
  'Apply a snapshot document to its tenant (merge, replace or insert_only), all or nothing; returns a report';

CREATE FUNCTION backup_restore(id bigint, opts jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_restore'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_restore(bigint, jsonb) IS
  'Replace a tenant''s data with a stored snapshot, after a pre_restore snapshot (needs pg_tenant_backup.allow_restore)';

CREATE FUNCTION backup_tenant_busy(tenant text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'backup_tenant_busy'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_tenant_busy(text) IS
  'Whether an import or restore of the tenant is running now (its lock is held)';

REVOKE ALL ON FUNCTION backup_import(jsonb, text, jsonb), backup_restore(bigint, jsonb),
  backup_tenant_busy(text) FROM PUBLIC;
