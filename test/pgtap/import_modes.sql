-- backup_import's modes: merge, insert_only, replace, their counts, key
-- columns, dry runs, and user triggers (not fired by default, fired with
-- fire_triggers).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(29);

-- A tenant table with a unique natural key, a last_updated trigger and an
-- audit trigger.
CREATE TABLE contacts (
  id int PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenants,
  email text NOT NULL UNIQUE,
  phone text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE contact_audit (contact_id int, op text);
CREATE FUNCTION contacts_touch() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.updated_at := '2099-01-01 00:00:00+00'; RETURN NEW; END $$;
CREATE FUNCTION contacts_audit() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN INSERT INTO public.contact_audit VALUES (NEW.id, TG_OP); RETURN NULL; END $$;
CREATE TRIGGER contacts_touch BEFORE INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION contacts_touch();
CREATE TRIGGER contacts_audit AFTER INSERT OR UPDATE ON contacts FOR EACH ROW EXECUTE FUNCTION contacts_audit();
ALTER TABLE contacts DISABLE TRIGGER USER;
INSERT INTO contacts VALUES (1, 1, 'a@acme', '111', '2024-05-05 10:00:00+00'),
                            (2, 1, 'b@acme', '222', '2024-05-05 10:00:00+00'),
                            (3, 1, 'c@acme', '333', '2024-05-05 10:00:00+00'),
                            (4, 2, 'd@globex', '444', '2024-05-05 10:00:00+00');
ALTER TABLE contacts ENABLE TRIGGER USER;
CREATE TEMP TABLE doc AS SELECT backup_export('1', '{"tables": ["tenants", "contacts"]}') AS d;
CREATE TEMP VIEW acme AS SELECT id, email, phone, updated_at FROM contacts WHERE tenant_id = 1;
CREATE TEMP VIEW globex_state AS SELECT c.*, c.xmin::text AS v FROM contacts c WHERE tenant_id = 2;
CREATE TEMP TABLE globex_before AS SELECT * FROM globex_state;
CREATE FUNCTION pg_temp.section_totals(report jsonb, table_name text) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT t - 'table' - 'matched_on' - 'load' - 'staged' FROM jsonb_array_elements(report -> 'tables') t WHERE t ->> 'table' = table_name $$;

-- merge: an unchanged tenant is unchanged.
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'merge') FROM doc), 'public.contacts'),
          '{"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 0}', 'merge of an unchanged tenant changes nothing');

-- A mistake: a phone overwritten (the trigger stamps updated_at), a contact deleted, one added.
UPDATE contacts SET phone = 'wrong' WHERE id = 1;
DELETE FROM contacts WHERE id = 2;
INSERT INTO contacts VALUES (5, 1, 'e@acme', '555');
DELETE FROM contact_audit;

-- insert_only: adds what is missing, leaves everything else.
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'insert_only') FROM doc), 'public.contacts'),
          '{"inserted": 1, "updated": 0, "unchanged": 2, "deleted": 0}',
          'insert_only inserts the missing contact; the changed one counts as unchanged (skipped)');
SELECT is((SELECT phone FROM contacts WHERE id = 1), 'wrong', 'insert_only does not update');
SELECT is((SELECT count(*)::int FROM contacts WHERE id = 5), 1, 'insert_only does not delete');
SELECT is((SELECT updated_at FROM contacts WHERE id = 2), '2024-05-05 10:00:00+00'::timestamptz,
          'the inserted row keeps its snapshot value: the last_updated trigger did not fire');
SELECT is((SELECT count(*)::int FROM contact_audit), 0, 'nor did the audit trigger');

-- merge: updates the changed row, keeps the added one.
DELETE FROM contacts WHERE id = 2;
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'merge') FROM doc), 'public.contacts'),
          '{"inserted": 1, "updated": 1, "unchanged": 1, "deleted": 0}', 'merge inserts one, updates one');
SELECT results_eq($$SELECT id, phone, updated_at FROM acme ORDER BY id$$,
                  $$VALUES (1, '111', '2024-05-05 10:00:00+00'::timestamptz), (2, '222', '2024-05-05 10:00:00+00'),
                           (3, '333', '2024-05-05 10:00:00+00'), (5, '555', '2099-01-01 00:00:00+00')$$,
                  'merge restores the snapshot''s values (updated_at included) and keeps the added contact');
SELECT is((SELECT count(*)::int FROM contact_audit), 0, 'no trigger fired for the merged rows');

-- fire_triggers: the same merge with the triggers.
UPDATE contacts SET phone = 'wrong again' WHERE id = 1;
DELETE FROM contact_audit;
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'merge', '{"fire_triggers": true}') FROM doc), 'public.contacts'),
          '{"inserted": 0, "updated": 1, "unchanged": 2, "deleted": 0}', 'merge with fire_triggers updates one row');
SELECT is((SELECT phone || ' ' || updated_at FROM contacts WHERE id = 1), '111 2099-01-01 00:00:00+00',
          'with fire_triggers the last_updated trigger rewrote the restored row');
SELECT is((SELECT array_agg(contact_id || ' ' || op) FROM contact_audit), ARRAY['1 UPDATE'],
          'with fire_triggers the audit trigger recorded the update');

-- replace: the added contact goes; the changed row comes back; equal rows stay as they are.
SELECT xmin::text AS untouched_xmin FROM contacts WHERE id = 3 \gset
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'replace') FROM doc), 'public.contacts'),
          '{"inserted": 0, "updated": 1, "unchanged": 2, "deleted": 1}', 'replace updates one row and deletes one');
SELECT results_eq($$SELECT id, phone, updated_at FROM acme ORDER BY id$$,
                  $$VALUES (1, '111', '2024-05-05 10:00:00+00'::timestamptz), (2, '222', '2024-05-05 10:00:00+00'),
                           (3, '333', '2024-05-05 10:00:00+00')$$,
                  'after replace the tenant''s contacts equal the snapshot exactly');
SELECT is((SELECT xmin::text FROM contacts WHERE id = 3), :'untouched_xmin',
          'a row already equal to the snapshot is left alone (not rewritten)');
SELECT is((SELECT count(*)::int FROM contact_audit), 1, 'replace fired no audit trigger');

-- dry_run: the same report, nothing changed.
UPDATE contacts SET phone = 'dry' WHERE id = 1;
INSERT INTO contacts VALUES (6, 1, 'f@acme', '666');
DELETE FROM contacts WHERE id = 3;
CREATE TEMP TABLE dry_before AS SELECT c.*, c.xmin::text AS v FROM contacts c;
SELECT backup_import(d, 'replace', '{"dry_run": true}') AS dry FROM doc \gset
SELECT is((:'dry'::jsonb) -> 'dry_run', 'true'::jsonb, 'the report says dry_run');
SELECT is_empty($$SELECT c.*, c.xmin::text FROM contacts c EXCEPT SELECT * FROM dry_before$$,
                'a dry run changes no row');
SELECT is((SELECT count(*)::int FROM contacts), (SELECT count(*)::int FROM dry_before), 'and removes none');
SELECT is((SELECT backup_import(d, 'replace') FROM doc) - 'duration_ms' - 'dry_run',
          (:'dry'::jsonb) - 'duration_ms' - 'dry_run', 'the real replace reports what the dry run said');

-- key_columns: match on a unique key other than the primary key (a
-- contact recreated with another id keeps its email).
DELETE FROM contacts WHERE id = 2;
INSERT INTO contacts VALUES (20, 1, 'b@acme', 'new phone');
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge') FROM doc$$) ->> 'sqlstate', '23505',
          'matched on the primary key, the recreated contact''s email is a unique violation');
SELECT is(pg_temp.section_totals((SELECT backup_import(d, 'merge', '{"key_columns": {"contacts": ["email"]}}') FROM doc),
                                 'public.contacts'),
          '{"inserted": 0, "updated": 1, "unchanged": 2, "deleted": 0}', 'matched on email, it is updated');
SELECT is((SELECT id || ' ' || phone FROM contacts WHERE email = 'b@acme'), '2 222',
          'the row matched on its email gets the snapshot''s values');
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge', '{"key_columns": {"contacts": ["phone"]}}') FROM doc$$) ->> 'message',
          'key_columns ("phone") of public.contacts are not a unique key of the table', 'key_columns must name a unique key');
SELECT is(tap.error_of($$SELECT backup_import(d, 'merge', '{"key_columns": {"nothing": ["x"]}}') FROM doc$$) ->> 'sqlstate',
          '22023', 'key_columns must name a table of the snapshot');

-- Another tenant's rows stay byte-identical through all of it.
SELECT is_empty($$SELECT * FROM globex_before EXCEPT SELECT * FROM globex_state$$,
                'Globex''s contact is the same row version as before every import');

-- The log: every import is recorded, with its mode and counts.
SELECT is((SELECT count(*)::int FROM backup_logs WHERE operation = 'import' AND status = 'completed'
              AND started_at >= now() AND options ->> 'tables' IS NOT NULL), 8,
          'each completed import of this transaction left a completed row');
SELECT is((SELECT notes FROM backup_logs WHERE operation = 'import' AND options -> 'dry_run' = 'true'
            ORDER BY id DESC LIMIT 1), 'replace (dry run): 1 inserted, 1 updated, 2 unchanged, 1 deleted',
          'the dry run is logged as such');
SELECT is((SELECT options -> 'key_columns' FROM backup_logs WHERE operation = 'import' AND status = 'completed'
            ORDER BY id DESC LIMIT 1), '{"contacts": ["email"]}'::jsonb, 'key_columns are recorded in options');

SELECT * FROM finish();
ROLLBACK;
