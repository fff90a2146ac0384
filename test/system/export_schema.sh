#!/usr/bin/env bash
# backup_export's documents against the published format:
# docs/snapshot.schema.json (JSON Schema) and the rules of docs/format.md
# that a schema cannot say (rows as long as their columns, each value in its
# column's encoding, statistics that add up, document order).
#
# Exports from a throwaway cluster loaded with test/fixtures/shop.sql:
# tenants 1, 2, 3, the whole database (NULL), a schema-tenancy tenant with
# enums, domains, a generated and a dropped column and special values, and an
# export with every option set. Then shows that the schema is strict: broken
# documents must fail validation. Prints one line per check; exits non-zero
# when any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source test/lib/cluster.sh
export PGPORT_FOR_TESTS=54341

schema_file="$root/docs/snapshot.schema.json"
format_doc="$root/docs/format.md"

# python3 with jsonschema (Debian: python3-jsonschema).
python=""
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import jsonschema" 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y -qq python3-jsonschema >/dev/null 2>&1 ||
    { "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 &&
      "${sudo[@]}" apt-get install -y -qq python3-jsonschema >/dev/null 2>&1; } || true
  if /usr/bin/python3 -c "import jsonschema" 2>/dev/null; then
    python=/usr/bin/python3
  else
    echo "not ok - python3 with jsonschema is not available (apt-get install python3-jsonschema)"
    exit 1
  fi
fi

work=$(mktemp -d /tmp/ptb-export-schema.XXXXXX)
chmod 755 "$work"
cluster="$work/cluster"
cleanup() { cluster_stop "$cluster"; rm -rf "$work"; }
trap cleanup EXIT

failures=0
ok() { echo "ok     - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }

cluster_start "$cluster"
db=ptb_export_schema
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -d "$db" \
  -c "SET client_min_messages = warning" \
  -c "CREATE EXTENSION pg_tenant_backup" \
  -f test/fixtures/shop.sql >/dev/null

# A schema-per-tenant tenant: two tables, one referencing public.countries
# (master data outside the schema), with an enum (directly and through a
# domain, in an array), a domain with NOT NULL, DEFAULT and two CHECKs, a
# generated column, a dropped column and the values every encoding has
# special cases for.
psql -qX -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA acme;
CREATE TYPE acme.status AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN acme.status_d AS acme.status;
CREATE DOMAIN acme.qty AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0) CHECK (VALUE < 1000);
CREATE TABLE acme.shops (
  id int PRIMARY KEY,
  name text NOT NULL,
  country_code text REFERENCES public.countries,
  logo bytea,
  settings jsonb,
  raw json,
  ratio float8,
  small float4,
  price numeric,
  active boolean,
  created timestamptz,
  status acme.status,
  history acme.status_d[],
  quantity acme.qty,
  doubled int GENERATED ALWAYS AS (quantity * 2) STORED,
  dropped_col int
);
ALTER TABLE acme.shops DROP COLUMN dropped_col;
CREATE TABLE acme.items (
  id bigint PRIMARY KEY,
  shop_id int NOT NULL REFERENCES acme.shops,
  amount money,
  addr inet,
  span int4range,
  uid uuid,
  d interval
);
INSERT INTO acme.shops VALUES
  (1, 'Main', 'JP', '\x00ff'::bytea, '{"b": 1, "a": [1, 2]}', '{"b": 1,  "a":2, "a":3}',
   'NaN', '-0', 'NaN', true, '2025-01-02 03:04:05.123456+02', 'paid', '{new,shipped}', 5),
  (2, 'Second', NULL, '', '[]', '[]', '1e100', '3.4028235e+38', 'Infinity', false,
   'infinity', NULL, '{}', 7),
  (3, 'Third', 'DE', NULL, '"text"', '"x"', '-Infinity', 'Infinity', '-1.50', NULL, NULL, NULL,
   NULL, 1),
  (4, 'Fourth', NULL, '\x616263'::bytea, '12.5', 'null', '0.1', '1.5e-07', '0.000', NULL,
   '2000-02-29 23:59:59+00', 'new', '{NULL,paid}', 999),
  (5, 'Fifth', NULL, NULL, 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2),
  (6, 'Sixth', NULL, NULL, '{"$jsonb": 1}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 3),
  (7, 'Seventh', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 4);
INSERT INTO acme.items VALUES
  (9223372036854775807, 1, '12.34', '10.0.0.1/8', '[1,5)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '1 year 2 days 03:00:00'),
  (-9223372036854775808, 2, NULL, NULL, 'empty', NULL, '-1 mons');
SQL

# --- Exports: one file per document.
export_doc() {  # name tenant-sql-literal opts-json [session setup SQL]
  local name=$1 tenant=$2 opts=$3 setup=${4:-RESET ALL}
  local call
  call="backup_export($tenant, '$(printf '%s' "$opts" | tr -s ' \n' ' ')')"
  if psql -qXAt -v ON_ERROR_STOP=1 -d "$db" -c "$setup" \
       -c "SELECT tenant_backup.backup_export($tenant, '$opts'::jsonb)" >"$work/$name.json" 2>"$work/$name.err" &&
     [ -s "$work/$name.json" ]; then
    ok "export $name: $call${4:+ after $setup}"
    echo "$name" >>"$work/exported"
  else
    not_ok "export $name: $call failed: $(head -c 300 "$work/$name.err")"
    # A crashed backend takes the server through recovery: wait for it.
    for _ in $(seq 1 30); do
      psql -qXAt -d "$db" -c "SELECT 1" >/dev/null 2>&1 && break
      sleep 1
    done
  fi
}

all_options='{"tenancy": "column", "tenant_column": "tenant_id", "schemas": ["public"],
  "exclude_tables": ["events"], "audit_tables": "audit_logs", "soft_delete_column": "deleted_at",
  "include_deleted": true, "include_audit_logs": true,
  "tables": ["tenants", "customers", "orders", "returns", "audit_logs", "countries", "currencies"],
  "owning_fks": {"public.returns": "returns_handled_by_fkey"}}'

: >"$work/exported"
export_doc tenant1 "'1'" '{}'
export_doc tenant2 "'2'" '{}'
export_doc tenant3 "'3'" '{}'
export_doc whole_database NULL '{}'
export_doc schema_acme "'acme'" '{"tenancy": "schema"}'
# The same, from a session whose settings would change texts and type names.
export_doc schema_acme_session "'acme'" '{"tenancy": "schema"}' \
  "SET search_path = acme, public; SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Tokyo'; SET extra_float_digits = 0; SET bytea_output = 'escape'; SET IntervalStyle = 'iso_8601'"
export_doc all_options "'1'" "$all_options"

# --- Validation (schema, format rules, per-document expectations).
cat >"$work/check.py" <<'PY'
import base64, binascii, json, re, sys
import jsonschema

schema_path, format_doc, work = sys.argv[1], sys.argv[2], sys.argv[3]
names = sys.argv[4:]
failures = 0


def report(good, what):
    global failures
    print(("ok     - " if good else "not ok - ") + what)
    if not good:
        failures += 1


schema = json.load(open(schema_path))
try:
    jsonschema.Draft202012Validator.check_schema(schema)
    report(True, "docs/snapshot.schema.json is a valid draft 2020-12 schema")
except jsonschema.exceptions.SchemaError as e:
    report(False, "docs/snapshot.schema.json is not a valid schema: %s" % e.message)
    sys.exit(1)
validator = jsonschema.Draft202012Validator(schema)


def schema_errors(doc):
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(root)", e.message)
            for e in validator.iter_errors(doc)]


TOP_KEYS = {"format", "format_version", "metadata", "schema", "master_data", "data", "statistics"}
FLOAT_WORDS = {"NaN", "Infinity", "-Infinity", "-0"}
BASE64 = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")


def quote_ident(name):
    # quote_identifier's rule, keywords aside (the fixtures use no reserved ones)
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def display_name(schema, name):
    return quote_ident(schema) + "." + quote_ident(name)


def value_fits(encoding, v):
    """Is v a possible value (not NULL) of a column with this encoding?"""
    if encoding == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if encoding == "float":
        return (isinstance(v, (int, float)) and not isinstance(v, bool)) or v in FLOAT_WORDS
    if encoding == "boolean":
        return isinstance(v, bool)
    if encoding == "bytea":
        return isinstance(v, str) and BASE64.match(v) is not None
    if encoding == "jsonb":
        return True
    return isinstance(v, str)  # numeric, json, text


def format_rules(doc):
    """The rules of docs/format.md that the JSON Schema cannot express."""
    problems = []
    tables = {(t["schema"], t["name"]): t for t in doc["schema"]["tables"]}
    if len(tables) != len(doc["schema"]["tables"]):
        problems.append("a table is listed twice in schema.tables")
    for t in doc["schema"]["tables"]:
        names = [c["name"] for c in t["columns"]]
        if len(set(names)) != len(names):
            problems.append("%s.%s: duplicate column names" % (t["schema"], t["name"]))
        for k in t["primary_key"]:
            if k not in names:
                problems.append("%s.%s: primary key column %s is not a column" % (t["schema"], t["name"], k))

    def check_section(where, section, roles):
        key = (section["schema"], section["name"])
        t = tables.get(key)
        if t is None:
            problems.append("%s %s.%s is not in schema.tables" % (where, *key))
            return
        if t["role"] not in roles:
            problems.append("%s %s.%s has role %s in schema.tables" % (where, *key, t["role"]))
        expected = [c for c in t["columns"] if not c.get("generated")]
        if section["columns"] != [c["name"] for c in expected]:
            problems.append("%s %s.%s: columns %s are not the non-generated columns of schema.tables"
                            % (where, *key, section["columns"]))
            return
        for i, row in enumerate(section["rows"]):
            if len(row) != len(expected):
                problems.append("%s %s.%s row %d has %d values for %d columns"
                                % (where, *key, i, len(row), len(expected)))
                continue
            for c, v in zip(expected, row):
                if v is None:
                    if c["not_null"]:
                        problems.append("%s %s.%s row %d: NULL in NOT NULL column %s" % (where, *key, i, c["name"]))
                elif not value_fits(c["encoding"], v):
                    problems.append("%s %s.%s row %d: %r is not a %s value (column %s)"
                                    % (where, *key, i, v, c["encoding"], c["name"]))

    for s in doc["master_data"]:
        check_section("master_data", s, {"master"} if s["role"] == "master" else {"tenant", "child"})
    for s in doc["data"]:
        check_section("data", s, {s["role"]})

    # Document order: data and master sections follow schema.tables.
    order = [(t["schema"], t["name"]) for t in doc["schema"]["tables"]]
    data_keys = [(s["schema"], s["name"]) for s in doc["data"]]
    if data_keys != [k for k in order if tables[k]["role"] != "master"]:
        problems.append("data sections are not the non-master tables of schema.tables in order")
    masters = [(s["schema"], s["name"]) for s in doc["master_data"] if s["role"] == "master"]
    if masters != [k for k in order if tables[k]["role"] == "master"]:
        problems.append("master sections are not the master tables of schema.tables in order")
    roles = [s["role"] for s in doc["master_data"]]
    if roles != sorted(roles, key=lambda r: r != "master"):
        problems.append("a master section follows a reference section")
    for s in doc["master_data"]:
        if s["role"] == "reference" and (s["schema"], s["name"]) not in data_keys:
            problems.append("reference rows of %s.%s, which has no data section" % (s["schema"], s["name"]))

    # Statistics add up.
    st = doc["statistics"]
    if [(e["role"], e["rows"]) for e in st["tables"]] != [(s["role"], len(s["rows"])) for s in doc["data"]]:
        problems.append("statistics.tables does not match the data sections")
    if [(e["role"], e["rows"]) for e in st["master_tables"]] != \
       [(s["role"], len(s["rows"])) for s in doc["master_data"]]:
        problems.append("statistics.master_tables does not match the master_data sections")
    for e, s in zip(st["tables"] + st["master_tables"], doc["data"] + doc["master_data"]):
        if e["table"] != display_name(s["schema"], s["name"]):
            problems.append("statistics entry %s does not name %s.%s" % (e["table"], s["schema"], s["name"]))
    if st["table_count"] != len(doc["data"]):
        problems.append("statistics.table_count %d != %d data sections" % (st["table_count"], len(doc["data"])))
    if st["total_rows"] != sum(len(s["rows"]) for s in doc["data"]):
        problems.append("statistics.total_rows does not add up")

    # filtered_rows: with include_deleted false and a soft-delete column
    # only; key-only sections of data tables, in data order, counted.
    options = doc["metadata"]["options"]
    if ("filtered_rows" in doc) != (not options["include_deleted"] and options["soft_delete_column"] != ""):
        problems.append("filtered_rows is there without include_deleted false and a soft-delete column, or missing")
    filtered = doc.get("filtered_rows", [])
    data_order = [(s["schema"], s["name"]) for s in doc["data"]]
    if [(s["schema"], s["name"]) for s in filtered] != [k for k in data_order if k in
                                                       {(s["schema"], s["name"]) for s in filtered}]:
        problems.append("filtered_rows sections are not tables of data in data order")
    for s in filtered:
        table = tables.get((s["schema"], s["name"]))
        stored = [c["name"] for c in table["columns"] if not c.get("generated")] if table else []
        key = table["primary_key"] if table and table["primary_key"] else stored
        if s["columns"] != [c for c in stored if c in key]:
            problems.append("filtered_rows of %s.%s hold other columns than its key" % (s["schema"], s["name"]))
    if [(e["table"], e["role"], e["rows"]) for e in st.get("filtered_tables", [])] != \
       [(display_name(s["schema"], s["name"]), s["role"], len(s["rows"])) for s in filtered]:
        problems.append("statistics.filtered_tables does not match the filtered_rows sections")
    return problems


def section(doc, part, schema, name, role=None):
    for s in doc[part]:
        if s["schema"] == schema and s["name"] == name and (role is None or s["role"] == role):
            return s
    return None


def rows_by_first(s):
    return {r[0]: r for r in s["rows"]} if s else {}


def expectations(name, doc):
    """What each export must contain: (description, passed) pairs."""
    m = doc["metadata"]
    data_names = [s["name"] for s in doc["data"]]
    out = []
    if name in ("tenant1", "tenant2", "tenant3"):
        tid = name[-1]
        out.append(("metadata.tenant.id is %s" % tid, m["tenant"]["id"] == tid))
        out.append(("metadata.tenancy is column", m["tenancy"] == "column"))
        out.append(("tenants holds the tenant's row only",
                    section(doc, "data", "public", "tenants") is not None and
                    [r[0] for r in section(doc, "data", "public", "tenants")["rows"]] == [int(tid)]))
        out.append(("customers rows all have tenant_id %s" % tid,
                    all(r[1] == int(tid) for r in section(doc, "data", "public", "customers")["rows"])))
        out.append(("no audit_logs, backup_logs or app_settings",
                    not {"audit_logs", "backup_logs", "app_settings"} & set(data_names)))
    if name == "tenant1":
        out.append(("metadata.tenant.name is Acme", m["tenant"]["name"] == "Acme"))
        out.append(("soft-deleted customer 12 is left out",
                    12 not in rows_by_first(section(doc, "data", "public", "customers"))))
        out.append(("filtered_rows holds the keys of customer 12 and of the rows under it",
                    {s["name"]: s["rows"] for s in doc["filtered_rows"]} == {
                        "customers": [[12]], "orders": [[102]], "order_lines": [[102, 1]], "line_notes": [],
                        "returns": []}))
        out.append(("master countries holds only DE",
                    [r[0] for r in section(doc, "master_data", "public", "countries", "master")["rows"]] == ["DE"]))
        notes = section(doc, "data", "public", 'Order "Notes"; --')
        out.append(('the quoted table name is kept as is: Order "Notes"; --', notes is not None))
        out.append(("statistics quote that name",
                    'public."Order ""Notes""; --"' in [e["table"] for e in doc["statistics"]["tables"]]))
        lines = [t for t in doc["schema"]["tables"] if t["name"] == "line_notes"][0]
        out.append(("line_notes' owning chain has three links ending at customers",
                    [l["references"]["name"] for l in lines["owning_chain"]] == ["order_lines", "orders", "customers"]
                    and lines["owning_chain"][0]["columns"] == ["order_id", "line_no"]))
        out.append(("numeric keeps its scale as a string",
                    rows_by_first(section(doc, "data", "public", "orders"))[100][2] == "9.99"))
    if name == "tenant2":
        out.append(("metadata.tenant.name is Globex", m["tenant"]["name"] == "Globex"))
        ref = section(doc, "master_data", "public", "customers", "reference")
        out.append(("Acme's customers 10 and 11 (handled_by of Globex's returns) are reference rows",
                    ref is not None and sorted(r[0] for r in ref["rows"]) == [10, 11]))
        out.append(("reference rows are not in data",
                    not {10, 11} & set(rows_by_first(section(doc, "data", "public", "customers")))))
        out.append(("statistics.total_rows is 21", doc["statistics"]["total_rows"] == 21))
    if name == "tenant3":
        out.append(("the empty tenant has only its tenant row", doc["statistics"]["total_rows"] == 1))
    if name == "whole_database":
        out.append(("metadata.tenant is {id: null, name: null}", m["tenant"] == {"id": None, "name": None}))
        out.append(("every table is a tenant table", all(t["role"] == "tenant" for t in doc["schema"]["tables"])))
        out.append(("app_settings is in the snapshot", "app_settings" in data_names))
    if name == "schema_acme":
        out.append(("metadata: tenant acme, schema tenancy, schemas [acme]",
                    m["tenant"] == {"id": "acme", "name": None} and m["tenancy"] == "schema"
                    and m["options"]["schemas"] == ["acme"]))
        shops = [t for t in doc["schema"]["tables"] if t["schema"] == "acme" and t["name"] == "shops"][0]
        cols = {c["name"]: c for c in shops["columns"]}
        out.append(("the dropped column is gone", "dropped_col" not in cols))
        out.append(("the generated column is in schema with generated: true",
                    cols.get("doubled", {}).get("generated") is True))
        data = section(doc, "data", "acme", "shops")
        out.append(("the generated column is not in data", "doubled" not in data["columns"]))
        out.append(("encodings by base type",
                    {k: cols[k]["encoding"] for k in ("id", "logo", "settings", "raw", "ratio", "small",
                                                      "price", "active", "created", "status", "history",
                                                      "quantity")} ==
                    {"id": "integer", "logo": "bytea", "settings": "jsonb", "raw": "json", "ratio": "float",
                     "small": "float", "price": "numeric", "active": "boolean", "created": "text",
                     "status": "text", "history": "text", "quantity": "integer"}))
        out.append(("column types as format_type gives them",
                    cols["history"]["type"] == "acme.status_d[]" and cols["quantity"]["type"] == "acme.qty"
                    and cols["quantity"]["not_null"] is False))
        out.append(("enum acme.status with its labels in order",
                    {"name": "acme.status", "labels": ["new", "paid", "shipped"]} in doc["schema"]["enums"]))
        domains = {d["name"]: d["definition"] for d in doc["schema"]["domains"]}
        out.append(("domain acme.qty: base integer, NOT NULL, DEFAULT 1, two CHECKs",
                    domains.get("acme.qty") == {"base_type": "integer", "not_null": True, "default": "1",
                                                "checks": ["CHECK ((VALUE > 0))", "CHECK ((VALUE < 1000))"]}))
        out.append(("domain acme.status_d over the enum",
                    domains.get("acme.status_d") == {"base_type": "acme.status", "not_null": False,
                                                     "default": None, "checks": []}))
        countries = section(doc, "master_data", "public", "countries", "master")
        out.append(("public.countries is master data with the referenced rows only",
                    countries is not None and sorted(r[0] for r in countries["rows"]) == ["DE", "JP"]))
        out.append(("public.currencies is master data through countries",
                    section(doc, "master_data", "public", "currencies", "master") is not None))
        c = data["columns"]
        r = rows_by_first(data)
        v = lambda row, col: r[row][c.index(col)]
        out.append(("float specials: NaN, Infinity, -Infinity and -0 are strings",
                    (v(1, "ratio"), v(1, "small"), v(3, "ratio"), v(3, "small")) == ("NaN", "-0", "-Infinity", "Infinity")))
        out.append(("floats are exact JSON numbers",
                    all(isinstance(x, (int, float)) for x in (v(2, "ratio"), v(2, "small"), v(4, "ratio"), v(4, "small")))
                    and float(v(2, "ratio")) == 1e100 and float(v(2, "small")) == 3.4028235e38
                    and float(v(4, "ratio")) == 0.1 and float(v(4, "small")) == 1.5e-07))
        out.append(("numeric is an exact string (NaN, Infinity, scale kept)",
                    (v(1, "price"), v(2, "price"), v(3, "price"), v(4, "price")) == ("NaN", "Infinity", "-1.50", "0.000")))
        out.append(("bytea is padded base64", (v(1, "logo"), v(2, "logo"), v(4, "logo")) == ("AP8=", "", "YWJj")
                    and base64.b64decode(v(1, "logo")) == b"\x00\xff"))
        out.append(("jsonb: a JSON null and a lone \"$jsonb\" key are wrapped, SQL NULL is null",
                    v(5, "settings") == {"$jsonb": None} and v(6, "settings") == {"$jsonb": {"$jsonb": 1}}
                    and v(7, "settings") is None))
        out.append(("json keeps its exact text", v(1, "raw") == '{"b": 1,  "a":2, "a":3}' and v(4, "raw") == "null"))
        out.append(("jsonb is embedded", v(1, "settings") == {"a": [1, 2], "b": 1} and v(2, "settings") == []
                    and v(3, "settings") == "text" and v(4, "settings") == 12.5))
        out.append(("timestamptz in UTC, ISO", v(1, "created") == "2025-01-02 01:04:05.123456+00"
                    and v(2, "created") == "infinity"))
        out.append(("enum and array text", v(1, "status") == "paid" and v(1, "history") == "{new,shipped}"
                    and v(4, "history") == "{NULL,paid}"))
        items = rows_by_first(section(doc, "data", "acme", "items"))
        ic = section(doc, "data", "acme", "items")["columns"]
        out.append(("int8 extremes are exact JSON numbers",
                    set(items) == {9223372036854775807, -9223372036854775808}))
        out.append(("range, inet, uuid, interval as text",
                    items[9223372036854775807][ic.index("span")] == "[1,5)"
                    and items[-9223372036854775808][ic.index("span")] == "empty"
                    and items[9223372036854775807][ic.index("addr")] == "10.0.0.1/8"
                    and items[9223372036854775807][ic.index("uid")] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
                    and items[9223372036854775807][ic.index("d")] == "1 year 2 days 03:00:00"))
    if name == "schema_acme_session" and "schema_acme" in docs:
        same = docs["schema_acme"]
        out.append(("session settings change no type name", doc["schema"] == same["schema"]))
        out.append(("session settings change no value", doc["data"] == same["data"]
                    and doc["master_data"] == same["master_data"]))
    if name == "all_options":
        out.append(("metadata.options records every option as given",
                    m["options"] == {
                        "tenancy": "column", "tenant_column": "tenant_id", "schemas": ["public"],
                        "exclude_tables": ["events"], "audit_tables": ["audit_logs"],
                        "soft_delete_column": "deleted_at", "include_deleted": True, "include_audit_logs": True,
                        "tables": ["tenants", "customers", "orders", "returns", "audit_logs", "countries",
                                   "currencies"],
                        "owning_fks": {"public.returns": "returns_handled_by_fkey"}, "polymorphic": {}}))
        out.append(("only the listed tables, audit_logs included",
                    sorted(data_names) == ["audit_logs", "customers", "orders", "returns", "tenants"]))
        out.append(("include_deleted keeps customer 12",
                    12 in rows_by_first(section(doc, "data", "public", "customers"))))
        ret = [t for t in doc["schema"]["tables"] if t["name"] == "returns"][0]
        out.append(("owning_fks: returns is owned through handled_by",
                    [l["constraint"] for l in ret["owning_chain"]] == ["returns_handled_by_fkey"]))
        ref = section(doc, "master_data", "public", "orders", "reference")
        out.append(("Globex's orders 200 and 201 (order_id of Acme-handled returns) are reference rows",
                    ref is not None and sorted(r[0] for r in ref["rows"]) == [200, 201]))
    return out


docs = {}
for name in names:
    path = "%s/%s.json" % (work, name)
    try:
        doc = json.load(open(path))
    except ValueError as e:
        report(False, "%s: not JSON: %s" % (name, e))
        continue
    docs[name] = doc
    keys = set(doc) if isinstance(doc, dict) else set()
    options = doc.get("metadata", {}).get("options", {}) if isinstance(doc, dict) else {}
    # filtered_rows comes with include_deleted false and a soft-delete column.
    top_keys = TOP_KEYS | ({"filtered_rows"} if options.get("include_deleted") is False
                           and options.get("soft_delete_column") else set())
    report(keys == top_keys, "%s: top-level keys are exactly %s%s" % (
        name, ", ".join(sorted(top_keys)), "" if keys == top_keys else " (got %s)" % sorted(keys)))
    errors = schema_errors(doc)
    report(not errors, "%s: valid against docs/snapshot.schema.json%s" % (
        name, "" if not errors else ": " + "; ".join(errors[:5])))
    if errors:
        continue
    problems = format_rules(doc)
    report(not problems, "%s: rows, encodings, order and statistics follow docs/format.md%s" % (
        name, "" if not problems else ": " + "; ".join(problems[:5])))
    for what, passed in expectations(name, doc):
        report(bool(passed), "%s: %s" % (name, what))

# The example in docs/format.md is a valid document too.
text = open(format_doc).read()
blocks = re.findall(r"```json\n(.*?)```", text, re.S)
example = None
for b in blocks:
    try:
        d = json.loads(b)
    except ValueError:
        continue
    if isinstance(d, dict) and d.get("format") == "pg_tenant_backup":
        example = d
        break
report(example is not None, "docs/format.md has an example document")
if example is not None:
    errors = schema_errors(example) or format_rules(example)
    report(not errors, "the example in docs/format.md is valid%s" % ("" if not errors else ": " + "; ".join(errors[:3])))

# --- Strictness: broken documents must fail.
base = docs.get("tenant2") or docs.get("tenant1") or example
if base is None:
    report(False, "no valid document to break")
    sys.exit(1)


def broken(what, change):
    doc = json.loads(json.dumps(base))
    change(doc)
    errors = schema_errors(doc)
    report(bool(errors), "schema rejects %s%s" % (what, "" if errors else " (it was accepted)"))


def child(doc):
    return [t for t in doc["schema"]["tables"] if t["role"] == "child"][0]


def tenant_table(doc):
    return [t for t in doc["schema"]["tables"] if t["role"] == "tenant"][0]


broken("a document without format_version", lambda d: d.pop("format_version"))
broken("format_version 2", lambda d: d.update(format_version=2))
broken('format_version "1" (a string)', lambda d: d.update(format_version="1"))
broken("another format name", lambda d: d.update(format="pg_dump"))
broken("an unknown top-level key", lambda d: d.update(extra=1))
broken("a document without statistics", lambda d: d.pop("statistics"))
broken("a data row that is not an array", lambda d: d["data"][0]["rows"].append({"id": 1}))
broken("a data row that is a string", lambda d: d["data"][0]["rows"].append("1,2"))
broken("rows that are not an array", lambda d: d["data"][0].update(rows={}))
broken("a data section without columns", lambda d: d["data"][0].pop("columns"))
broken("a column name that is not a string", lambda d: d["data"][0]["columns"].append(1))
broken('an unknown role in master_data ("foreign")', lambda d: d["master_data"][0].update(role="foreign"))
broken('role "master" in data', lambda d: d["data"][0].update(role="master"))
broken('role "reference" in schema.tables', lambda d: d["schema"]["tables"][0].update(role="reference"))
broken('an unknown encoding ("blob")', lambda d: d["schema"]["tables"][0]["columns"][0].update(encoding="blob"))
broken("a column without not_null", lambda d: d["schema"]["tables"][0]["columns"][0].pop("not_null"))
broken("generated: false", lambda d: d["schema"]["tables"][0]["columns"][0].update(generated=False))
broken("an unknown key in a column", lambda d: d["schema"]["tables"][0]["columns"][0].update(default="1"))
broken("a child table without owning_chain", lambda d: child(d).pop("owning_chain"))
broken("a tenant table with an owning_chain",
       lambda d: tenant_table(d).update(owning_chain=child(d)["owning_chain"]))
broken("an owning_chain link without references", lambda d: child(d)["owning_chain"][0].pop("references"))
broken('an unknown tenancy ("database")', lambda d: d["metadata"].update(tenancy="database"))
broken("metadata without exported_by", lambda d: d["metadata"].pop("exported_by"))
broken("an exported_at that is not UTC ISO 8601",
       lambda d: d["metadata"].update(exported_at="2025-01-01 10:00:00+02"))
broken("a tenant id that is a number", lambda d: d["metadata"]["tenant"].update(id=2))
broken("an unknown option in metadata.options", lambda d: d["metadata"]["options"].update(compress=True))
broken("metadata.options without owning_fks", lambda d: d["metadata"]["options"].pop("owning_fks"))
broken("include_deleted as a string", lambda d: d["metadata"]["options"].update(include_deleted="true"))
broken('a left-out table with role "tenant"',
       lambda d: d["metadata"]["coverage"]["left_out"][0].update(role="tenant"))
broken("a left-out table without its reason", lambda d: d["metadata"]["coverage"]["left_out"][0].pop("reason"))
broken("metadata.coverage without left_out_count", lambda d: d["metadata"]["coverage"].pop("left_out_count"))
broken("a large object column without its column",
       lambda d: d["metadata"]["coverage"]["large_object_columns"].append({"schema": "public", "name": "t"}))
broken("an enum without labels", lambda d: d["schema"]["enums"].append({"name": "mood"}))
broken("a domain definition without checks",
       lambda d: d["schema"]["domains"].append({"name": "qty", "definition": {
           "base_type": "integer", "not_null": False, "default": None}}))
broken("schema without domains", lambda d: d["schema"].pop("domains"))
broken("total_rows as a string", lambda d: d["statistics"].update(total_rows="21"))
broken("a negative row count", lambda d: d["statistics"]["tables"][0].update(rows=-1))
broken('a statistics role "master" in tables', lambda d: d["statistics"]["tables"][0].update(role="master"))
broken('role "tenant" in filtered_rows', lambda d: d["filtered_rows"][0].update(role="tenant"))
broken("filtered_rows without statistics.filtered_tables", lambda d: d["statistics"].pop("filtered_tables"))
broken("filtered_rows that is not an array", lambda d: d.update(filtered_rows={}))

print("%d check(s) of the documents failed" % failures if failures else "all document checks passed")
sys.exit(min(failures, 100))
PY

# shellcheck disable=SC2046
python_failures=0
"$python" "$work/check.py" "$schema_file" "$format_doc" "$work" $(cat "$work/exported") ||
  python_failures=$?
failures=$((failures + python_failures))

if cluster_crashed "$cluster"; then
  not_ok "server log: a backend died: $(grep -E 'terminated by signal|PANIC' "$(cluster_log "$cluster")" | head -n 3 | tr '\n' ' ')"
else
  ok "server log: no backend terminated by signal"
fi

if [ "$failures" -ne 0 ]; then
  echo "export_schema: $failures failure(s)"
  exit 1
fi
echo "export_schema: all checks passed"
