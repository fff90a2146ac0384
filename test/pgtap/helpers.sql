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

-- The text of a snapshot cell read back through its type's input function
-- (NULL for SQL NULL): what an import will store.
CREATE OR REPLACE FUNCTION tap.decoded_text(cell jsonb, encoding text, type_name text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  literal text;
  result text;
BEGIN
  IF jsonb_typeof(cell) = 'null' THEN
    RETURN NULL;
  END IF;
  CASE encoding
    WHEN 'jsonb' THEN
      IF jsonb_typeof(cell) = 'object' AND cell ? '$jsonb'
         AND (SELECT count(*) FROM jsonb_object_keys(cell)) = 1 THEN
        cell := cell -> '$jsonb';
      END IF;
      literal := cell::text;
    WHEN 'bytea' THEN
      RETURN decode(cell #>> '{}', 'base64')::text;
    ELSE
      literal := cell #>> '{}';
  END CASE;
  EXECUTE format('SELECT %L::%s::text', literal, type_name) INTO result;
  RETURN result;
END $$;

-- Every cell of one table's data section whose decoded text differs from
-- the table's value (rows matched on the first column, "id").
CREATE OR REPLACE FUNCTION tap.export_mismatches(doc jsonb, schema_name text, table_name text)
RETURNS TABLE(row_id text, column_name text, exported text, original text)
LANGUAGE plpgsql AS $$
DECLARE
  section jsonb;
  definitions jsonb;
  r jsonb;
  i int;
  col text;
  enc text;
  typ text;
BEGIN
  SELECT x INTO section FROM jsonb_array_elements(doc -> 'data') x
   WHERE x ->> 'schema' = schema_name AND x ->> 'name' = table_name;
  SELECT x -> 'columns' INTO definitions FROM jsonb_array_elements(doc -> 'schema' -> 'tables') x
   WHERE x ->> 'schema' = schema_name AND x ->> 'name' = table_name;
  FOR r IN SELECT jsonb_array_elements(section -> 'rows') LOOP
    FOR i IN 0 .. jsonb_array_length(section -> 'columns') - 1 LOOP
      col := section -> 'columns' ->> i;
      SELECT c ->> 'encoding', c ->> 'type' INTO enc, typ
        FROM jsonb_array_elements(definitions) c WHERE c ->> 'name' = col;
      exported := tap.decoded_text(r -> i, enc, typ);
      EXECUTE format('SELECT %I::text FROM %I.%I WHERE id = $1', col, schema_name, table_name)
         INTO original USING (r ->> 0)::int;
      IF exported IS DISTINCT FROM original THEN
        row_id := r ->> 0;
        column_name := col;
        RETURN NEXT;
      END IF;
    END LOOP;
  END LOOP;
END $$;

-- The rows of a tenant of the shop fixture, one md5 per table, read
-- independently of the extension: to check that an operation on another
-- tenant left them byte for byte as they were.
CREATE OR REPLACE FUNCTION tap.tenant_fingerprint(tenant text)
RETURNS TABLE (table_name text, rows_md5 text) LANGUAGE sql STABLE AS $$
  SELECT 'tenants', md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.tenants t WHERE t.id::text = tenant
  UNION ALL
  SELECT 'customers', md5(string_agg(c::text, '|' ORDER BY c.id)) FROM public.customers c WHERE c.tenant_id::text = tenant
  UNION ALL
  SELECT 'orders', md5(string_agg(o::text, '|' ORDER BY o.id))
    FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE c.tenant_id::text = tenant
  UNION ALL
  SELECT 'order_lines', md5(string_agg(l::text, '|' ORDER BY l.order_id, l.line_no))
    FROM public.order_lines l JOIN public.orders o ON o.id = l.order_id
    JOIN public.customers c ON c.id = o.customer_id WHERE c.tenant_id::text = tenant
  UNION ALL
  SELECT 'events', md5(string_agg(e::text, '|' ORDER BY e.id, e.at)) FROM public.events e WHERE e.tenant_id::text = tenant
  UNION ALL
  SELECT 'notes', md5(string_agg(n::text, '|' ORDER BY n.id)) FROM public."Order ""Notes""; --" n WHERE n.tenant_id::text = tenant
$$;
GRANT EXECUTE ON FUNCTION tap.tenant_fingerprint(text) TO PUBLIC;
