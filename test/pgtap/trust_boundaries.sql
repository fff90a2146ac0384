-- What a caller cannot do through the extension that it could not do
-- itself (docs/security.md, "Threat model"):
--   1. a document does not choose whose rows an import changes: recorded
--      options that decide ownership and differ from the settings are
--      refused unless the caller names them;
--   2. triggers are switched off (session_replication_role = replica) only
--      for a superuser or the owner of every table written; for anyone
--      else they fire, and the report says so;
--   3. a stored snapshot is opened (read, download, verify, delete,
--      import_stored, restore) only by a caller who could export all of
--      its tenant's rows: SELECT on its tables, no row level security
--      limiting them.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = error;
BEGIN;
LOAD 'pg_tenant_backup';
SELECT plan(27);

-- 1. The document's options. A snapshot of schema "public" taken with
-- schema tenancy holds every tenant's rows of that schema.
CREATE TEMP TABLE public_doc AS SELECT backup_export('public', '{"tenancy": "schema"}') AS d;
CREATE TEMP TABLE counts_before AS
  SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM orders) AS orders;
SELECT is((SELECT tap.error_of($$SELECT backup_import(d, 'replace', '{"dry_run": true}') FROM public_doc$$) ->> 'sqlstate'),
          '22023', 'a document that claims schema tenancy is refused where the settings say column tenancy');
SELECT is((SELECT tap.error_of($$SELECT backup_import(d, 'replace', '{"dry_run": true}') FROM public_doc$$) ->> 'message'),
          'the snapshot was taken with tenancy "schema", but this database plans imports with tenancy "column"',
          'the error names both values');
SELECT is((SELECT tap.error_of($$SELECT backup_import(d, 'merge') FROM public_doc$$) ->> 'hint'),
          'If the snapshot is to be applied that way, pass the option in opts: {"tenancy": "schema"}.',
          'the hint says how to ask for it explicitly');
SELECT is((SELECT backup_import(d, 'replace', '{"dry_run": true, "tenancy": "schema"}') ->> 'dry_run' FROM public_doc),
          'true', 'named by the caller, the option is the caller''s choice');
-- A recorded tenant column that is not this database's.
SELECT is((SELECT tap.error_of($$SELECT backup_import(jsonb_set(d, '{metadata,options,tenant_column}', '"customer_id"'),
                                                      'replace', '{"dry_run": true}')
                                   FROM (SELECT backup_export('1') AS d) x$$) ->> 'message'),
          'the snapshot was taken with tenant_column "customer_id", but this database plans imports with tenant_column "tenant_id"',
          'a recorded tenant_column that differs is refused');
-- Stored snapshots follow the same rule.
SELECT backup_create('public', '{"tenancy": "schema"}') AS public_backup \gset
SELECT is(tap.error_of(format('SELECT backup_import_stored(%s, %L, %L)', :public_backup, 'replace', '{"dry_run": true}')) ->> 'sqlstate',
          '22023', 'backup_import_stored of such a snapshot is refused the same way');
SELECT results_eq($$SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders)$$,
                  $$SELECT customers, orders FROM counts_before$$, 'and nothing was changed');

-- 2. Triggers. An audit trigger on customers, and a role that may write
-- the tenant's tables without owning them.
CREATE TABLE trust_audit (op text, id int);
GRANT INSERT ON trust_audit TO PUBLIC;
CREATE FUNCTION trust_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.trust_audit VALUES (TG_OP, (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).id);
  RETURN NULL;
END $$;
CREATE TRIGGER trust_audit AFTER INSERT OR UPDATE OR DELETE ON customers FOR EACH ROW EXECUTE FUNCTION trust_audit_row();
CREATE ROLE ptb_trust_writer;
GRANT EXECUTE ON FUNCTION backup_export(text, jsonb), backup_import(jsonb, text, jsonb) TO ptb_trust_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_trust_writer;
GRANT USAGE ON SCHEMA tap TO ptb_trust_writer;
CREATE TEMP TABLE acme_doc AS SELECT backup_export('1') AS d;
GRANT SELECT ON acme_doc TO ptb_trust_writer;
UPDATE customers SET name = name || ' (changed)' WHERE tenant_id = 1;
TRUNCATE trust_audit;

SET LOCAL ROLE ptb_trust_writer;
CREATE TEMP TABLE writer_report AS SELECT backup_import(d, 'replace') AS r FROM acme_doc;
RESET ROLE;
SELECT is((SELECT r -> 'triggers' ->> 'fired' FROM writer_report), 'true',
          'a caller who neither is a superuser nor owns the tables: triggers fire');
SELECT matches((SELECT r -> 'triggers' ->> 'reason' FROM writer_report),
               '^fired: the caller is not a superuser and does not own table ',
               'and the report says why');
SELECT is((SELECT count(*)::int FROM trust_audit WHERE op = 'UPDATE'), 2,
          'the audit trigger saw the two customers the import put back');
SELECT is((SELECT count(*)::int FROM customers WHERE tenant_id = 1 AND deleted_at IS NULL AND name LIKE '%(changed)'), 0,
          'the import itself did its work');

UPDATE customers SET name = name || ' (changed)' WHERE tenant_id = 1;
TRUNCATE trust_audit;
CREATE TEMP TABLE super_report AS SELECT backup_import(d, 'replace') AS r FROM acme_doc;
SELECT is((SELECT r -> 'triggers' FROM super_report),
          '{"fired": false, "reason": "skipped (session_replication_role = replica): the caller is a superuser"}'::jsonb,
          'a superuser: triggers are skipped, and the report says why');
SELECT is((SELECT count(*)::int FROM trust_audit), 0, 'the audit trigger did not run');

-- The owner of every table written may skip them: a schema per tenant
-- owned by its role.
CREATE ROLE ptb_trust_owner;
GRANT EXECUTE ON FUNCTION backup_export(text, jsonb), backup_import(jsonb, text, jsonb) TO ptb_trust_owner;
GRANT USAGE ON SCHEMA tap TO ptb_trust_owner;
GRANT SELECT ON countries, currencies TO ptb_trust_owner;
CREATE SCHEMA "Tenant O" AUTHORIZATION ptb_trust_owner;
SET LOCAL ROLE ptb_trust_owner;
CREATE TABLE "Tenant O".notes (id int PRIMARY KEY, body text);
CREATE TABLE "Tenant O".notes_audit (id int);
CREATE FUNCTION "Tenant O".audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO "Tenant O".notes_audit VALUES (NEW.id); RETURN NULL; END $$;
CREATE TRIGGER audit AFTER INSERT ON "Tenant O".notes FOR EACH ROW EXECUTE FUNCTION "Tenant O".audit();
INSERT INTO "Tenant O".notes VALUES (1, 'one'), (2, 'two');
CREATE TEMP TABLE owner_doc AS SELECT backup_export('Tenant O', '{"tenancy": "schema", "exclude_tables": ["notes_audit"]}') AS d;
DELETE FROM "Tenant O".notes WHERE id = 2;
TRUNCATE "Tenant O".notes_audit;
CREATE TEMP TABLE owner_report AS
  SELECT backup_import(d, 'merge', '{"tenancy": "schema", "exclude_tables": ["notes_audit"]}') AS r FROM owner_doc;
RESET ROLE;
SELECT is((SELECT r -> 'triggers' FROM owner_report),
          '{"fired": false, "reason": "skipped (session_replication_role = replica): the caller owns every table written"}'::jsonb,
          'the owner of every table written: triggers are skipped');
SELECT is((SELECT count(*)::int FROM "Tenant O".notes_audit), 0, 'its audit trigger did not run');
SELECT is((SELECT count(*)::int FROM "Tenant O".notes), 2, 'and the row is back');

-- 3. Stored snapshots across tenants. A role that row level security
-- limits to tenant 1, and one without SELECT on orders.
CREATE ROLE ptb_trust_t1;
CREATE ROLE ptb_trust_noorders;
GRANT EXECUTE ON FUNCTION backup_read(bigint), backup_download(bigint), backup_verify(bigint), backup_delete(bigint),
  backup_import_stored(bigint, text, jsonb), backup_restore(bigint, jsonb), backup_export(text, jsonb)
  TO ptb_trust_t1, ptb_trust_noorders;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ptb_trust_t1, ptb_trust_noorders;
REVOKE SELECT ON orders FROM ptb_trust_noorders;
GRANT USAGE ON SCHEMA tap TO ptb_trust_t1, ptb_trust_noorders;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_one ON customers TO ptb_trust_t1 USING (tenant_id = 1);
ALTER ROLE ptb_trust_noorders BYPASSRLS;  -- row level security is not what stops it
SELECT backup_create('2') AS globex_backup \gset
SET pg_tenant_backup.allow_restore = on;
CREATE TEMP TABLE opening (fn text, call text);
INSERT INTO opening VALUES
  ('backup_read', 'SELECT backup_read(%s)'), ('backup_download', 'SELECT count(*) FROM backup_download(%s)'),
  ('backup_verify', 'SELECT backup_verify(%s)'), ('backup_delete', 'SELECT backup_delete(%s)'),
  ('backup_import_stored', 'SELECT backup_import_stored(%s, ''replace'')'),
  ('backup_restore', 'SELECT backup_restore(%s)');
SELECT is(tap.error_of(format(o.call, :globex_backup), 'ptb_trust_t1') ->> 'sqlstate', '42501',
          o.fn || ' of tenant 2''s snapshot by a role row level security limits to tenant 1: 42501')
  FROM opening o ORDER BY o.fn;
SELECT is(tap.error_of(format('SELECT backup_read(%s)', :globex_backup), 'ptb_trust_t1') ->> 'detail',
          'It holds rows of table customers, of which row level security lets you read only part.',
          'the error names the table and the reason');
SELECT is(tap.error_of(format('SET LOCAL row_security = off; SELECT backup_read(%s)', :globex_backup), 'ptb_trust_t1') ->> 'sqlstate',
          '42501', 'row_security = off does not change that');
SELECT is(tap.error_of(format('SELECT backup_read(%s)', :globex_backup), 'ptb_trust_noorders'),
          jsonb_build_object('sqlstate', '42501', 'message', format('permission denied to open backup %s', :globex_backup),
                             'detail', 'It holds rows of table orders, which you have no right to read.',
                             'hint', 'A stored snapshot holds all of its tenant''s rows, so only a role that could export all of them opens it: one with SELECT on each of its tables and no row level security policy limiting what it reads (the tables'' owner, or a role with BYPASSRLS). backup_export exports what you may read.'),
          'a role without SELECT on one of its tables is refused naming it');
SELECT is(tap.error_of(format('SELECT backup_verify(%s) ->> ''status''', :globex_backup)), NULL,
          'a superuser opens it');
SELECT is((SELECT status FROM backup_logs WHERE id = :globex_backup), 'completed',
          'and the refused delete left the snapshot in place');

SELECT * FROM finish();
ROLLBACK;
