-- backup_export runs with the caller's privileges; the log is written
-- whatever the caller may do to backup_logs.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(9);

CREATE ROLE ptb_tap_exporter;
GRANT USAGE ON SCHEMA tap TO ptb_tap_exporter;

SELECT is(tap.error_of($$SELECT backup_export('1')$$, 'ptb_tap_exporter')->>'sqlstate', '42501',
          'PUBLIC may not call backup_export');
GRANT EXECUTE ON FUNCTION backup_export(text, jsonb) TO ptb_tap_exporter;
SELECT is(tap.error_of($$SELECT backup_export('1')$$, 'ptb_tap_exporter')->>'sqlstate', '42501',
          'without SELECT on the tenant''s tables the export is refused');
SELECT is(tap.error_of($$SELECT backup_export('1')$$, 'ptb_tap_exporter')->>'message',
          'permission denied for table tenants', 'the message names the table');

GRANT SELECT ON ALL TABLES IN SCHEMA public TO ptb_tap_exporter;
REVOKE ALL ON backup_logs FROM ptb_tap_exporter;
SELECT is(tap.error_of($$SELECT backup_export('1')$$, 'ptb_tap_exporter'), NULL,
          'with SELECT on the tables, and no right on backup_logs, the export works');
SELECT is((SELECT created_by::text FROM backup_logs ORDER BY id DESC LIMIT 1), 'ptb_tap_exporter',
          'its log row names the role that exported');
SELECT is(tap.error_of($$INSERT INTO backup_logs (operation, status) VALUES ('export', 'completed')$$,
                       'ptb_tap_exporter')->>'sqlstate', '42501',
          'the role still cannot write backup_logs itself');

-- Row level security: the policy decides what the role's export contains.
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_bob ON customers TO ptb_tap_exporter USING (name = 'Bob');
SET LOCAL ROLE ptb_tap_exporter;
CREATE TEMP TABLE rls_doc AS SELECT backup_export('1') AS d;
RESET ROLE;
SELECT is((SELECT x -> 'rows' FROM rls_doc, jsonb_array_elements(d -> 'data') x WHERE x ->> 'name' = 'customers'),
          '[[11, 1, "Bob", "DE", 10, null]]'::jsonb, 'row level security filters the exported rows');
SELECT is((SELECT x -> 'rows' FROM rls_doc, jsonb_array_elements(d -> 'data') x WHERE x ->> 'name' = 'orders'),
          '[[101, 11, "20.00"]]'::jsonb, 'and the child rows selected through them');
SELECT is((SELECT (x -> 'rows' -> 0 -> 0)::int FROM jsonb_array_elements(backup_export('1') -> 'data') x
            WHERE x ->> 'name' = 'customers'), 10, 'the table owner still exports every row');

SELECT * FROM finish();
ROLLBACK;
