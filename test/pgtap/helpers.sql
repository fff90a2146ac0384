-- Helpers for the pgTAP files, loaded once into the test database.
-- error_of runs a statement (optionally as another role) and returns the
-- error it raised as jsonb: sqlstate, message, detail, hint. NULL when it
-- raised nothing.
CREATE SCHEMA IF NOT EXISTS tap;
CREATE OR REPLACE FUNCTION tap.error_of(statement text, as_role text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  state text; message text; detail text; hint text;
BEGIN
  IF as_role IS NOT NULL THEN
    EXECUTE format('SET LOCAL ROLE %I', as_role);
  END IF;
  BEGIN
    EXECUTE statement;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  END;
  RESET ROLE;
  IF state IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN jsonb_build_object('sqlstate', state, 'message', message,
                            'detail', nullif(detail, ''), 'hint', nullif(hint, ''));
END $$;
GRANT USAGE ON SCHEMA tap TO PUBLIC;

-- Resident set size of this backend in kB (Linux), to see C++ memory that
-- palloc accounting does not show.
CREATE OR REPLACE FUNCTION tap.backend_rss_kb() RETURNS bigint LANGUAGE sql AS $$
  SELECT (regexp_match(pg_read_file('/proc/' || pg_backend_pid() || '/status'),
                       'VmRSS:\s+(\d+) kB'))[1]::bigint
$$;

-- A role that may call backup_stats but read no table.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ptb_tap_boundary') THEN
    CREATE ROLE ptb_tap_boundary;
  END IF;
END $$;
GRANT EXECUTE ON FUNCTION backup_stats(text, jsonb) TO ptb_tap_boundary;
