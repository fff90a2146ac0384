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
-- that may hold the tenant's rows and makes every function that snapshots
-- or imports the tenant refuse).
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
-- Snapshots kept for good (docs/operations.md, "Retention"): no retention
-- and no backup_prune removes them, only backup_delete.
ALTER TABLE backup_logs ADD COLUMN keep boolean NOT NULL DEFAULT false;
ALTER TABLE backup_logs ADD COLUMN snapshot_xmin xid8;
COMMENT ON COLUMN backup_logs.snapshot_xmin IS
  'a backup''s snapshot xmin (metadata.transactions): change segments whose transactions are all older than every kept snapshot''s are removed with retention';
COMMENT ON COLUMN backup_logs.keep IS
  'kept for good (backup_keep, backup_create keep): no retention and no backup_prune removes it, only backup_delete';
-- New columns come last: CREATE OR REPLACE keeps the view's grants.
CREATE OR REPLACE VIEW backup_list AS
SELECT id, tenant, name, notes, trigger, status, started_at, finished_at, file_name,
       round(size_bytes / 1048576.0, 3) AS size_mb, compression, checksum, table_count, row_count,
       round((extract(epoch FROM (now() - finished_at)) / 86400)::numeric, 2) AS age_days,
       status IN ('completed', 'restored') AS restorable,
       created_by, encryption, encryption_key_id, keep
  FROM backup_logs
 WHERE operation = 'backup' AND status IN ('completed', 'restored')
 ORDER BY id;

CREATE FUNCTION backup_keep(id bigint, keep boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'backup_keep'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_keep(bigint, boolean) IS
  'Keep a stored snapshot for good (true) or hand it back to retention (false)';
REVOKE ALL ON FUNCTION backup_keep(bigint, boolean) FROM PUBLIC;

-- backup_create gains `keep`, last and with a default, so every call
-- written for 0.1.0 works unchanged. A signature cannot change in place:
-- the function is dropped and created again, and the EXECUTE grants made on
-- the old one are made on the new one. The extension's initial privileges
-- (pg_init_privs, which pg_dump leaves out) stay those of a fresh install,
-- so pg_dump still dumps the grants an admin made.
DO $upgrade$
DECLARE
  old_acl pg_catalog.aclitem[];
  old_owner pg_catalog.oid;
  new_function pg_catalog.regprocedure;
  initial pg_catalog.aclitem[];
  granted record;
BEGIN
  SELECT p.proacl, p.proowner INTO old_acl, old_owner FROM pg_catalog.pg_proc p
   WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.backup_create(text, jsonb, text, text)'::pg_catalog.regprocedure;
  DROP FUNCTION @extschema@.backup_create(text, jsonb, text, text);
  CREATE FUNCTION @extschema@.backup_create(tenant text, opts jsonb DEFAULT '{}', name text DEFAULT NULL,
                                            notes text DEFAULT NULL, keep boolean DEFAULT false)
  RETURNS bigint
  AS 'MODULE_PATHNAME', 'backup_create'
  LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
  new_function := '@extschema@.backup_create(text, jsonb, text, text, boolean)'::pg_catalog.regprocedure;
  REVOKE ALL ON FUNCTION @extschema@.backup_create(text, jsonb, text, text, boolean) FROM PUBLIC;
  SELECT p.proacl INTO initial FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) new_function;
  FOR granted IN
    SELECT a.grantee, a.is_grantable FROM pg_catalog.aclexplode(old_acl) a
     WHERE a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) old_owner
       AND a.grantee OPERATOR(pg_catalog.<>) (SELECT p.proowner FROM pg_catalog.pg_proc p
                                                WHERE p.oid OPERATOR(pg_catalog.=) new_function)
  LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', new_function,
      CASE WHEN granted.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
           ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(granted.grantee)) END,
      CASE WHEN granted.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  UPDATE pg_catalog.pg_init_privs SET initprivs = initial
   WHERE objoid OPERATOR(pg_catalog.=) new_function
     AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
     AND objsubid OPERATOR(pg_catalog.=) 0;
END
$upgrade$;
COMMENT ON FUNCTION backup_create(text, jsonb, text, text, boolean) IS
  'Stream a tenant''s snapshot to a file in pg_tenant_backup.storage_path; returns its backup_logs id';

-- Change capture (docs/pitr.md): one row per change segment file the
-- capture worker wrote under <storage folder>/changes. A row is committed
-- after its file is durable and before the slot moves past its changes.
CREATE TABLE backup_change_segments (
  id bigserial PRIMARY KEY,
  first_lsn pg_lsn NOT NULL,
  last_lsn pg_lsn NOT NULL UNIQUE,
  first_commit_at timestamptz NOT NULL,
  last_commit_at timestamptz NOT NULL,
  file_name text NOT NULL UNIQUE,
  size_bytes bigint NOT NULL,
  checksum text NOT NULL,
  change_count bigint NOT NULL,
  transaction_count bigint NOT NULL,
  min_xid xid8,
  max_xid xid8,
  encryption text CHECK (encryption IN ('aes-256-gcm')),
  encryption_key_id text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CHECK (first_lsn <= last_lsn)
);
COMMENT ON TABLE backup_change_segments IS
  'pg_tenant_backup change capture: one row per segment file of captured row changes (docs/pitr.md)';
COMMENT ON COLUMN backup_change_segments.first_lsn IS 'commit LSN (end of the commit record) of the first transaction in the segment';
COMMENT ON COLUMN backup_change_segments.last_lsn IS 'commit LSN of the last transaction: capture resumes after the highest one';
COMMENT ON COLUMN backup_change_segments.file_name IS 'path under this database''s folder of pg_tenant_backup.storage_path';
COMMENT ON COLUMN backup_change_segments.checksum IS 'SHA-256 (hex) of the file as stored (zstd)';
COMMENT ON COLUMN backup_change_segments.max_xid IS 'highest transaction id in the segment: a restore to a moment skips segments below its snapshot''s xmin';
COMMENT ON COLUMN backup_change_segments.encryption IS 'aes-256-gcm when the file is encrypted (pg_tenant_backup.encryption), else NULL';
COMMENT ON COLUMN backup_change_segments.change_count IS 'row changes (insert, update, delete, truncate) in the segment';
REVOKE ALL ON backup_change_segments FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('backup_change_segments', '');
SELECT pg_catalog.pg_extension_config_dump('backup_change_segments_id_seq', '');

-- A capture stopped by pg_tenant_backup.capture_max_retained_wal is
-- recorded in backup_logs as a failed 'capture' row describing the gap.
ALTER TABLE backup_logs DROP CONSTRAINT backup_logs_operation_check,
  ADD CONSTRAINT backup_logs_operation_check
    CHECK (operation IN ('backup', 'restore', 'import', 'export', 'verify', 'delete', 'prune', 'capture'));

CREATE FUNCTION backup_capture_status()
RETURNS TABLE(slot_name text, enabled boolean, slot_exists boolean, active boolean, retained_wal_bytes numeric,
              last_captured_lsn pg_lsn, last_commit_at timestamptz, lag interval, segments bigint,
              segment_bytes numeric, changes numeric)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT 'ptb_capture_' OPERATOR(pg_catalog.||) d.oid::pg_catalog.text,
         COALESCE(pg_catalog.current_setting('pg_tenant_backup.change_capture', true), 'off')
           OPERATOR(pg_catalog.=) 'on',
         s.slot_name IS NOT NULL,
         COALESCE(s.active, false),
         pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn),
         g.last_lsn, g.last_commit_at, pg_catalog.now() OPERATOR(pg_catalog.-) g.last_commit_at,
         g.n, COALESCE(g.bytes, 0), COALESCE(g.changes, 0)
    FROM pg_catalog.pg_database d
    LEFT JOIN pg_catalog.pg_replication_slots s
      ON s.slot_name OPERATOR(pg_catalog.=) ('ptb_capture_' OPERATOR(pg_catalog.||) d.oid::pg_catalog.text)
   CROSS JOIN (SELECT pg_catalog.count(*) AS n, pg_catalog.sum(c.size_bytes) AS bytes,
                      pg_catalog.sum(c.change_count) AS changes, pg_catalog.max(c.last_lsn) AS last_lsn,
                      pg_catalog.max(c.last_commit_at) AS last_commit_at
                 FROM @extschema@.backup_change_segments c) g
   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
$$;
COMMENT ON FUNCTION backup_capture_status() IS
  'Change capture: its slot, the WAL it holds back, the last captured commit and the segments recorded';
REVOKE ALL ON FUNCTION backup_capture_status() FROM PUBLIC;

-- Point-in-time restore of one tenant (docs/pitr.md): the newest snapshot
-- before the moment, then the captured changes up to it.
CREATE FUNCTION backup_restore_to(tenant text, target timestamptz, opts jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'backup_restore_to'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_restore_to(text, timestamptz, jsonb) IS
  'Put a tenant back to a moment: its newest snapshot before it plus the captured changes up to it, guarded like backup_restore';

CREATE FUNCTION backup_recovery_window(tenant text)
RETURNS TABLE(earliest timestamptz, latest timestamptz, capture_started_at timestamptz,
              capture_stopped_at timestamptz, snapshots bigint)
AS 'MODULE_PATHNAME', 'backup_recovery_window'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_recovery_window(text) IS
  'The moments backup_restore_to can put a tenant back to: one row per stretch of uninterrupted change capture';
REVOKE ALL ON FUNCTION backup_restore_to(text, timestamptz, jsonb), backup_recovery_window(text) FROM PUBLIC;

-- A schedule of a tenant that does not exist is refused at once (42704),
-- instead of a failed backup at every run: backup_schedule_create looks the
-- tenant up as a backup would, as the caller (docs/scheduler.md).
CREATE FUNCTION backup_check_tenant(tenant text, opts jsonb DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'backup_check_tenant'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE;
COMMENT ON FUNCTION backup_check_tenant(text, jsonb) IS
  'Raises the error backup_create would raise for this tenant (42704 when it does not exist); NULL and ''*'' pass';
REVOKE ALL ON FUNCTION backup_check_tenant(text, jsonb) FROM PUBLIC;

CREATE OR REPLACE FUNCTION backup_schedule_create(name text, tenant text, schedule text, opts jsonb DEFAULT '{}',
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
  PERFORM @extschema@.backup_check_tenant(tenant, job_options);
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

-- backup_schedule_update checks a new tenant (or the tenant under new
-- options) the same way.
CREATE OR REPLACE FUNCTION backup_schedule_update(name text, schedule text DEFAULT NULL, tenant text DEFAULT NULL,
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
  IF backup_schedule_update.tenant IS NOT NULL OR opts IS NOT NULL THEN
    PERFORM @extschema@.backup_check_tenant(coalesce(backup_schedule_update.tenant, s.tenant),
                                            coalesce(opts - 'timezone' - 'max_backups' - 'retention_days', s.options));
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

-- Progress of running backups, exports, imports and restores (docs/reference.md,
-- "backup_progress"): one row per operation, read from shared memory (the
-- library must be in shared_preload_libraries; without it, no rows). The
-- details of another role's operation (tenant, phase, counts, started_at,
-- log_id) are NULL unless the caller has pg_read_all_stats or that role's
-- privileges, as in pg_stat_activity.
CREATE FUNCTION backup_progress()
RETURNS TABLE(pid integer, datid oid, operation text, scheduled boolean, tenant text, phase text,
              tables_done bigint, tables_total bigint, rows_done bigint, bytes_written bigint,
              bytes_read bigint, started_at timestamptz, log_id bigint)
AS 'MODULE_PATHNAME', 'backup_progress'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION backup_progress() IS
  'One row per running backup, export, import or restore of the server, with its phase and counts';
REVOKE ALL ON FUNCTION backup_progress() FROM PUBLIC;

CREATE VIEW backup_progress AS
SELECT p.pid, p.datid, d.datname, p.operation, p.scheduled, p.tenant, p.phase, p.tables_done, p.tables_total,
       p.rows_done, p.bytes_written, p.bytes_read, p.started_at, p.log_id
  FROM backup_progress() p
  LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) p.datid;
COMMENT ON VIEW backup_progress IS
  'pg_tenant_backup: running backups, exports, imports and restores (needs shared_preload_libraries)';
REVOKE ALL ON backup_progress FROM PUBLIC;

-- Runs started by pg_cron (docs/scheduler.md, "pg_cron"): trigger 'pg_cron'
-- (a pre_restore snapshot keeps 'pre_restore') and the job that ran the call.
ALTER TABLE backup_logs DROP CONSTRAINT backup_logs_trigger_check,
  ADD CONSTRAINT backup_logs_trigger_check
    CHECK (trigger IN ('manual', 'scheduled', 'pre_restore', 'pg_cron'));
ALTER TABLE backup_logs ADD COLUMN cron_job_id bigint, ADD COLUMN cron_job_name text;
COMMENT ON COLUMN backup_logs.cron_job_id IS
  'the pg_cron job (cron.job.jobid) whose run made the call, else NULL';
COMMENT ON COLUMN backup_logs.cron_job_name IS
  'that job''s name (cron.job.jobname) when the row was written';

-- The extension's objects live in a schema of their own, tenant_backup (the
-- control file's schema), so that tools which read public (ORMs, schema
-- diffs) do not see backup_logs and the functions. A fresh install is
-- there already. An install of 0.1.0 in another schema (public, as a rule)
-- is moved with its rows, grants and comments: every member by
-- ALTER ... SET SCHEMA (OIDs stay, so views, defaults and grants follow),
-- the SQL bodies that name the old schema rewritten, and the extension's
-- own schema changed last, as ALTER EXTENSION SET SCHEMA would do for a
-- relocatable extension. Callers then name tenant_backup (docs/reference.md).
DO $move$
DECLARE
  extension_oid pg_catalog.oid;
  old_schema pg_catalog.oid;
  target pg_catalog.oid;
  target_owner pg_catalog.name;
  member record;
  kind pg_catalog.text;
  old_prefix pg_catalog.text;
BEGIN
  SELECT e.oid, e.extnamespace INTO extension_oid, old_schema
    FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_tenant_backup';
  SELECT n.oid, pg_catalog.pg_get_userbyid(n.nspowner) INTO target, target_owner
    FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'tenant_backup';
  IF target IS NULL THEN
    -- Created here, the schema would be a member; a fresh install's is not
    -- (CREATE EXTENSION makes it before the extension exists).
    CREATE SCHEMA tenant_backup;
    ALTER EXTENSION pg_tenant_backup DROP SCHEMA tenant_backup;
    target := 'tenant_backup'::pg_catalog.regnamespace;
  ELSIF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) target_owner) THEN
    -- Its owner could replace or drop what the extension keeps there.
    RAISE EXCEPTION 'the schema tenant_backup belongs to the role %, which is not a superuser', target_owner
      USING ERRCODE = '42501',
            HINT = 'pg_tenant_backup''s objects go into tenant_backup: drop that schema, rename it, '
                   'or ALTER SCHEMA tenant_backup OWNER TO a superuser, then retry.';
  END IF;
  -- Looking names up is all USAGE allows: each function and table keeps
  -- its own grants (none for PUBLIC), as before the move.
  GRANT USAGE ON SCHEMA tenant_backup TO PUBLIC;
  IF old_schema OPERATOR(pg_catalog.=) target THEN
    RETURN;
  END IF;
  old_prefix := (SELECT pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_namespace n
                  WHERE n.oid OPERATOR(pg_catalog.=) old_schema) OPERATOR(pg_catalog.||) '.backup_';

  FOR member IN
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) extension_oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
     -- Tables first: a sequence a table owns moves with it, and only so.
     ORDER BY (SELECT c.relkind FROM pg_catalog.pg_class c
                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                  AND c.oid OPERATOR(pg_catalog.=) d.objid) IN ('r', 'p') DESC NULLS LAST,
              d.classid, d.objid
  LOOP
    IF member.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass THEN
      -- A table takes its indexes and owned sequences along: skip what moved.
      CONTINUE WHEN (SELECT c.relnamespace FROM pg_catalog.pg_class c
                      WHERE c.oid OPERATOR(pg_catalog.=) member.objid) OPERATOR(pg_catalog.=) target;
      kind := (SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'TABLE' WHEN 'v' THEN 'VIEW'
                                     WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' END
                 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) member.objid);
      IF kind IS NULL THEN
        RAISE EXCEPTION 'pg_tenant_backup cannot move its member %', member.objid::pg_catalog.regclass
          USING ERRCODE = 'XX000';
      END IF;
      EXECUTE pg_catalog.format('ALTER %s %s SET SCHEMA tenant_backup', kind, member.objid::pg_catalog.regclass);
    ELSIF member.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
      EXECUTE pg_catalog.format('ALTER ROUTINE %s SET SCHEMA tenant_backup', member.objid::pg_catalog.regprocedure);
    ELSIF member.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass THEN
      -- Row types move with their relation and array types with their
      -- element type (PostgreSQL 18 lists the array of a table as a member).
      CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_type t
                             WHERE t.oid OPERATOR(pg_catalog.=) member.objid
                               AND (t.typnamespace OPERATOR(pg_catalog.=) target
                                    OR t.typrelid OPERATOR(pg_catalog.<>) 0
                                    OR EXISTS (SELECT FROM pg_catalog.pg_type e
                                                WHERE e.typarray OPERATOR(pg_catalog.=) t.oid)));
      EXECUTE pg_catalog.format('ALTER TYPE %s SET SCHEMA tenant_backup', member.objid::pg_catalog.regtype);
    ELSE
      RAISE EXCEPTION 'pg_tenant_backup cannot move its member %',
        pg_catalog.pg_describe_object(member.classid, member.objid, 0)
        USING ERRCODE = 'XX000';
    END IF;
  END LOOP;

  -- SQL and PL/pgSQL bodies name the schema they were created in.
  FOR member IN
    SELECT p.oid FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) extension_oid AND d.deptype OPERATOR(pg_catalog.=) 'e'
       AND pg_catalog.strpos(p.prosrc, old_prefix) OPERATOR(pg_catalog.>) 0
  LOOP
    EXECUTE pg_catalog.replace(pg_catalog.pg_get_functiondef(member.oid), old_prefix, 'tenant_backup.backup_');
  END LOOP;

  UPDATE pg_catalog.pg_extension SET extnamespace = target WHERE oid OPERATOR(pg_catalog.=) extension_oid;
  UPDATE pg_catalog.pg_depend SET refobjid = target
   WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
     AND objid OPERATOR(pg_catalog.=) extension_oid
     AND refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
     AND refobjid OPERATOR(pg_catalog.=) old_schema;
END $move$;
