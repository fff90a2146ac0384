-- backup_export gives back every value exactly: each exported cell, read
-- back through its type's input function, equals the table's value.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(27);

-- Session settings far from the snapshot's fixed ones: the export must not
-- depend on them, and must leave them as they were.
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET TimeZone = 'America/New_York';
SET extra_float_digits = -3;
SET bytea_output = 'escape';

CREATE TEMP TABLE doc AS SELECT backup_export('7', '{"schemas": ["types"], "exclude_tables": ["public.events"]}') AS d;

SELECT is(current_setting('DateStyle'), 'SQL, DMY', 'DateStyle is restored after the export');
SELECT is(current_setting('IntervalStyle'), 'sql_standard', 'IntervalStyle is restored');
SELECT is(current_setting('TimeZone'), 'America/New_York', 'TimeZone is restored');
SELECT is(current_setting('extra_float_digits'), '-3', 'extra_float_digits is restored');
SELECT is(current_setting('bytea_output'), 'escape', 'bytea_output is restored');

-- Compare under the snapshot's output settings.
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET TimeZone = 'UTC';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET search_path = types, public;

SELECT is((SELECT count(*)::int FROM doc, jsonb_array_elements(d -> 'data') x,
                  jsonb_array_elements(x -> 'rows') WHERE x ->> 'name' = 'all_types'), 7,
          'all seven rows of tenant 7 are exported');
SELECT is_empty($$SELECT * FROM doc, tap.export_mismatches(d, 'types', 'all_types')$$,
                'every exported value reads back equal to the stored value (every type family)');
SELECT is((SELECT count(*)::int FROM doc, tap.export_mismatches(d, 'types', 'type_tenants')), 0,
          'the tenant row reads back equal');
SELECT ok(position('MARKER' IN (SELECT d::text FROM doc)) = 0, 'tenant 8''s marker row is not in tenant 7''s export');
SELECT is((SELECT jsonb_array_length(x -> 'columns') FROM doc, jsonb_array_elements(d -> 'data') x
            WHERE x ->> 'name' = 'all_types'), 55, 'generated column left out of the data');
SELECT is((SELECT c -> 'generated' FROM doc, jsonb_array_elements(d -> 'schema' -> 'tables') t,
                  jsonb_array_elements(t -> 'columns') c
            WHERE t ->> 'name' = 'all_types' AND c ->> 'name' = 'c_generated'), 'true'::jsonb,
          'generated column described in the schema section');

-- Spot checks of the encodings (docs/format.md, "Value encoding").
CREATE TEMP VIEW cell AS
  SELECT (r ->> 0)::int AS id, c.name, r -> (c.ord - 1)::int AS v
    FROM doc, jsonb_array_elements(d -> 'data') x, jsonb_array_elements(x -> 'rows') r,
         jsonb_array_elements_text(x -> 'columns') WITH ORDINALITY c(name, ord)
   WHERE x ->> 'name' = 'all_types';
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_int8'), '-9223372036854775808'::jsonb,
          'int8 minimum is an exact JSON number');
SELECT is((SELECT jsonb_typeof(v) FROM cell WHERE id = 2 AND name = 'c_int8'), 'number', 'int8 maximum is a number');
SELECT is((SELECT v FROM cell WHERE id = 2 AND name = 'c_float8'), '"-0"'::jsonb, 'float -0 keeps its sign as a string');
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_float4'), '"NaN"'::jsonb, 'float NaN is a string');
SELECT is((SELECT v FROM cell WHERE id = 2 AND name = 'c_float4'), '"-Infinity"'::jsonb, 'float -Infinity is a string');
SELECT is((SELECT v FROM cell WHERE id = 5 AND name = 'c_float8'), '1.0000000000000002'::jsonb,
          'float8 with every digit is its shortest exact text');
SELECT is((SELECT v FROM cell WHERE id = 3 AND name = 'c_numeric'),
          '"1234567890123456789012345678901234567890.000000000000000000001"'::jsonb, 'numeric is an exact string');
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_bytea'), '"AP8Q"'::jsonb, 'bytea is base64');
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_json') #>> '{}',
          '{ "b" : 1,  "a" : [1, 2 ], "a": "dup" }', 'json keeps whitespace, key order and duplicate keys');
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_jsonb') -> 'nested' -> 'deep' -> 1, '{"x": null}'::jsonb,
          'jsonb is embedded as JSON');
SELECT is((SELECT v FROM cell WHERE id = 3 AND name = 'c_jsonb'), '{"$jsonb": null}'::jsonb,
          'a jsonb JSON null is wrapped, distinct from SQL NULL');
SELECT is((SELECT v FROM cell WHERE id = 3 AND name = 'c_text'), 'null'::jsonb, 'SQL NULL is JSON null');
SELECT is((SELECT v FROM cell WHERE id = 1 AND name = 'c_timestamptz'), '"2038-01-19 03:14:08+00"'::jsonb,
          'timestamptz is ISO text in UTC whatever the session time zone');

-- The schema section lists the enum's labels in order and the domains.
SELECT is((SELECT e -> 'labels' FROM doc, jsonb_array_elements(d -> 'schema' -> 'enums') e
            WHERE e ->> 'name' = 'types.mood'), '["sad", "ok", "happy", "very \"happy\""]'::jsonb,
          'enum labels in order');
SELECT is((SELECT array_agg(x ->> 'name' ORDER BY x ->> 'name') FROM doc, jsonb_array_elements(d -> 'schema' -> 'domains') x),
          ARRAY['types.positive_int', 'types.short_text'], 'domains used are listed, schema-qualified');
SELECT is((SELECT x -> 'definition' ->> 'base_type' FROM doc, jsonb_array_elements(d -> 'schema' -> 'domains') x
            WHERE x ->> 'name' = 'types.short_text'), 'character varying(20)', 'a domain''s base type');

SELECT * FROM finish();
ROLLBACK;
