#!/usr/bin/env bash
# Change capture (docs/pitr.md) on a server with wal_level = logical and the
# library preloaded:
#   (d) off by default: no slot, no capture worker; a reload turns it on;
#   (a) a random write load (inserts, updates, deletes and rollbacks on the
#       tenant tables customers and orders) for ~20 s: every committed
#       change is in the segments exactly once, with its transaction id and
#       in commit order, compared with a trigger-maintained audit table
#       (same transaction id, table, operation, key, order in the
#       transaction); each segment's checksum, counts and LSN range match
#       its backup_change_segments row;
#   (b) kill -9 of the capture worker twice and an immediate shutdown, all
#       mid-load: the same exactly-once check after restart, no orphan file
#       (two planted ones removed);
#   (b2) the slot put back behind recorded segments (as after a stop
#       between a segment's commit and the slot's advance): the changes
#       read again are left out, exactly once still holds;
#   export metadata: an open transaction is in the snapshot's xip;
#   (c) the WAL limit: with a transaction holding the slot back and
#       capture_max_retained_wal = 1 MB, the slot is dropped, a failed
#       'capture' row in backup_logs describes the gap, a NOTIFY is sent,
#       capture stays stopped, the server is fine; a reload starts it again;
#   turning capture off drops the slot; so does DROP EXTENSION.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-capture.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${CAPTURE_TEST_PORT:-57410} cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "wal_level = logical" "max_worker_processes = 16"
data="$work/cluster/data"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null

slot_count() { q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'"; }
workers() { q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'"; }

echo "# (d) off by default"
sleep 3
check "no capture slot without the setting" 0 "$(slot_count)"
check "no capture worker without the setting" 0 "$(workers)"
check "pg_tenant_backup.change_capture is off by default" "off|sighup" \
  "$(q -c "SELECT setting, context FROM pg_settings WHERE name = 'pg_tenant_backup.change_capture'")"
check "capture_max_retained_wal is 1024 MB by default" "1024|MB" \
  "$(q -c "SELECT setting, unit FROM pg_settings WHERE name = 'pg_tenant_backup.capture_max_retained_wal'")"
check_match "it cannot be set in a session (postgresql.conf or ALTER SYSTEM, then reload)" "55P02" \
  "$(q_error "SET pg_tenant_backup.change_capture = on")"

# The audit table (not in a scanned schema): what the load committed.
q >/dev/null <<'SQL'
CREATE SCHEMA audit;
CREATE TABLE audit.changes (seq bigserial PRIMARY KEY, xid text NOT NULL, tbl text NOT NULL, op text NOT NULL, key text NOT NULL);
CREATE FUNCTION audit.record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit.changes (xid, tbl, op, key)
  VALUES (pg_current_xact_id()::text, TG_TABLE_NAME, lower(TG_OP),
          CASE WHEN TG_OP = 'INSERT' THEN NEW.id ELSE OLD.id END::text);
  RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON customers FOR EACH ROW EXECUTE FUNCTION audit.record();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit.record();
CREATE SEQUENCE audit.ids START 1000;
SQL

q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = on" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 1 || true
check "a reload turns capture on: its slot exists" 1 "$(slot_count)"
check "the slot is named after the database and uses this library" "ptb_capture_$(q -c "SELECT oid FROM pg_database WHERE datname = 'postgres'")|pg_tenant_backup|logical" \
  "$(q -c "SELECT slot_name, plugin, slot_type FROM pg_replication_slots")"
check "one capture worker runs" 1 "$(workers)"

cat >"$work/load.sql" <<'SQL'
\set t random(1, 2)
\set x random(1000, 40000)
\set y random(1000, 40000)
BEGIN;
WITH c AS (INSERT INTO customers (id, tenant_id, name) VALUES (nextval('audit.ids'), :t, 'load') RETURNING id)
INSERT INTO orders (id, customer_id, total) SELECT nextval('audit.ids'), id, 1 FROM c;
UPDATE orders SET total = total + 1 WHERE id = (SELECT id FROM orders WHERE id >= :x ORDER BY id LIMIT 1);
UPDATE customers SET name = 'load ' || :x WHERE id = (SELECT id FROM customers WHERE id >= :y ORDER BY id LIMIT 1);
DELETE FROM orders WHERE id = (SELECT id FROM orders WHERE id >= :y ORDER BY id LIMIT 1);
COMMIT;
SQL
cat >"$work/rollback.sql" <<'SQL'
BEGIN;
INSERT INTO customers (id, tenant_id, name) VALUES (nextval('audit.ids'), 1, 'rolled back');
UPDATE orders SET total = total + 100 WHERE id = (SELECT max(id) FROM orders);
ROLLBACK;
SQL
load() {  # seconds
  pgbench -n -c 4 -j 2 -T "$1" --max-tries=20 -f "$work/load.sql@9" -f "$work/rollback.sql@1" \
    >"$work/pgbench.log" 2>&1 || true
}

# Waits until the slot has confirmed everything flushed so far.
caught_up() {
  local target
  target=$(q -c "SELECT pg_current_wal_flush_lsn()")
  wait_for 60 "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" t
}

# Decodes every segment; prints one line per change of customers/orders
# (xid|table|op|key|position in its transaction) and fails on any
# inconsistency between a file and its row.
decode_segments() {
  q -F $'\t' -c "SELECT id, file_name, checksum, size_bytes, change_count, transaction_count, first_lsn, last_lsn
                   FROM backup_change_segments ORDER BY id" >"$work/segments.tsv"
  python3 - "$data" "$work/segments.tsv" <<'PY'
import glob, hashlib, json, subprocess, sys
data, listing = sys.argv[1], sys.argv[2]
folder = data + "/pg_tenant_backup/"
def lsn(t):
    a, b = t.split("/"); return int(a, 16) << 32 | int(b, 16)
last = -1
out = []
problems = []
for line in open(listing):
    sid, name, checksum, size, changes, txns, first, lastl = line.rstrip("\n").split("\t")
    raw = open(folder + name, "rb").read()
    if hashlib.sha256(raw).hexdigest() != checksum: problems.append(f"segment {sid}: checksum")
    if len(raw) != int(size): problems.append(f"segment {sid}: size")
    text = subprocess.run(["zstd", "-dc"], input=raw, capture_output=True, check=True).stdout.decode()
    lines = text.split("\n")
    if lines[-1] != "": problems.append(f"segment {sid}: no final newline")
    header = json.loads(lines[0])
    if header.get("format") != "pg_tenant_backup_changes" or header.get("format_version") != 1:
        problems.append(f"segment {sid}: header")
    n_changes = n_txns = 0
    xid = None; pos = 0; commits = []
    for l in lines[1:-1]:
        r = json.loads(l)
        if r["op"] == "begin":
            if xid is not None: problems.append(f"segment {sid}: begin inside a transaction")
            xid = r["xid"]; pos = 0
        elif r["op"] == "commit":
            if r["xid"] != xid: problems.append(f"segment {sid}: commit of another xid")
            c = lsn(r["lsn"])
            if c <= last: problems.append(f"segment {sid}: commit LSN {r['lsn']} not after the previous one")
            last = c; commits.append(c); n_txns += 1; xid = None
        else:
            if xid is None: problems.append(f"segment {sid}: change outside a transaction")
            n_changes += 1
            if r["table"] in ("customers", "orders") and r["schema"] == "public":
                pos += 1
                key = r["new"]["id"] if r["op"] == "insert" else r["key"]["id"]
                out.append(f"{xid}|{r['table']}|{r['op']}|{key}|{pos}")
    if xid is not None: problems.append(f"segment {sid}: unfinished transaction")
    if n_changes != int(changes) or n_txns != int(txns): problems.append(f"segment {sid}: counts")
    if commits and (commits[0] != lsn(first) or commits[-1] != lsn(lastl)): problems.append(f"segment {sid}: LSN range")
print("\n".join(sorted(out)))
if problems:
    print("PROBLEMS: " + "; ".join(problems[:5]), file=sys.stderr); sys.exit(1)
PY
}
audit_changes() {
  q -c "SELECT xid || '|' || tbl || '|' || op || '|' || key || '|' || row_number() OVER (PARTITION BY xid ORDER BY seq)
          FROM audit.changes" | sort
}
exactly_once() {  # label
  local decoded audited
  decoded=$(decode_segments 2>"$work/decode.err") || { echo "decode failed: $(cat "$work/decode.err")"; }
  audited=$(audit_changes)
  check "$1: segment files match their rows (checksum, size, counts, LSN range, commit order)" "" "$(cat "$work/decode.err")"
  check "$1: every committed change of the load is in the segments exactly once ($(wc -l <<<"$audited") changes)" \
    "$audited" "$decoded"
  [ "$audited" = "$decoded" ] || { diff <(echo "$audited") <(echo "$decoded") | head -5 || true; }
}

echo "# (a) ~20 s of random writes"
load 20
caught_up || true
check_match "the load committed transactions" '^[1-9][0-9]{2,}$' "$(q -c "SELECT count(DISTINCT xid) FROM audit.changes")"
check_match "and rolled some back" 'number of transactions actually processed' "$(cat "$work/pgbench.log")"
exactly_once "(a)"
check "backup_capture_status: slot, on, active or not, segments counted" \
  "$(q -c "SELECT count(*), sum(size_bytes), sum(change_count) FROM backup_change_segments")" \
  "$(q -c "SELECT segments, segment_bytes, changes FROM backup_capture_status()")"
check_match "backup_capture_status: lag and retained WAL are shown" '^ptb_capture_[0-9]+\|t\|t\|[0-9]+\|' \
  "$(q -c "SELECT slot_name, enabled, slot_exists, retained_wal_bytes, lag FROM backup_capture_status()")"

echo "# (b) kill -9 of the capture worker (twice) and an immediate shutdown, mid-load"
for round in 1 2; do
  load 8 &
  loader=$!
  sleep $((2 + round))
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'")
  [ -n "$pid" ] && kill -9 "$pid"
  wait $loader || true
  wait_for 30 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'" 1 || true
done
check "the server restarted after each kill -9 (crash recovery)" 2 "$(grep -c 'terminated by signal 9' "$work/cluster/server.log" || true)"
load 8 &
loader=$!
sleep 3
# A segment written but never recorded (a crash between its fsync and its
# commit) and a temporary file: the worker removes both when it starts.
changes_dir=$(ls -d "$data"/pg_tenant_backup/*-*/changes)
cluster__as_owner touch "$changes_dir/00000000FFFFFFFF-00000000FFFFFFFF.jsonl.zst" "$changes_dir/0000000000000001-0000000000000002.jsonl.zst.99999.tmp"
cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
wait $loader || true
cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -l "$work/cluster/server.log" -w -t 60 start >/dev/null
wait_for 30 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'" 1 || true
check "capture runs again after the restart" 1 "$(workers)"
q -c "INSERT INTO app_settings VALUES ('after restart', 'x')" >/dev/null
caught_up || true
exactly_once "(b)"
check "no segment file without its row, no temporary file (two planted ones removed at start)" \
  "$(q -c "SELECT file_name FROM backup_change_segments ORDER BY 1")" \
  "$(cd "$data/pg_tenant_backup" && ls */changes/* | sort)"
check_match "segment files are named <database folder>/changes/<first LSN>-<last LSN>.jsonl.zst" \
  '^postgres-[0-9]+/changes/[0-9A-F]{16}-[0-9A-F]{16}\.jsonl\.zst$' "$(q -c "SELECT file_name FROM backup_change_segments ORDER BY id LIMIT 1")"
echo "# transactions read again after a crash and left out (already recorded): $(grep -c 'already recorded' "$work/cluster/server.log" || true) batches"

echo "# (b2) the window between a segment's commit and the slot's advance, made on purpose"
# The worker is frozen (SIGSTOP) while the slot is copied at a caught-up
# position; a load is captured past it; then the slot is put back at the
# copy, as if the worker had stopped after recording those segments but
# before advancing the slot. It must leave them out, not record them twice.
slot=$(q -c "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'")
with_worker_frozen() {  # sql: retried until the slot is not in use
  local pid i
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'")
  for i in $(seq 50); do
    kill -STOP "$pid"
    # Copying a slot loads its output plugin: this session must be allowed
    # to (output_plugin_libraries, on servers that have it).
    if q -c "SELECT set_config('output_plugin_libraries', current_setting('output_plugin_libraries') || ', pg_tenant_backup', false)
               WHERE current_setting('output_plugin_libraries', true) IS NOT NULL" -c "$1" >"$work/frozen.out" 2>&1; then
      kill -CONT "$pid"
      return 0
    fi
    kill -CONT "$pid"
    sleep 0.2
  done
  cat "$work/frozen.out"
  return 1
}
caught_up || true
with_worker_frozen "SELECT pg_copy_logical_replication_slot('$slot', 'ptb_saved')"
before=$(q -c "SELECT count(*) FROM backup_change_segments")
load 5
caught_up || true
check_match "segments were recorded past the saved position" '^[1-9]' "$(( $(q -c "SELECT count(*) FROM backup_change_segments") - before ))"
with_worker_frozen "BEGIN; SELECT pg_drop_replication_slot('$slot'); SELECT pg_copy_logical_replication_slot('ptb_saved', '$slot'); SELECT pg_drop_replication_slot('ptb_saved'); COMMIT;"
q -c "INSERT INTO app_settings VALUES ('after rewind', 'x')" >/dev/null
caught_up || true
check_match "the worker read them again and left them out" '[1-9][0-9]* transactions read again were already recorded' \
  "$(grep 'already recorded' "$work/cluster/server.log" | tail -1)"
exactly_once "(b2)"

echo "# export metadata: the transactions the snapshot saw"
q >/dev/null <<'SQL' &
BEGIN;
INSERT INTO app_settings VALUES ('open', 'x');
SELECT pg_sleep(25);
COMMIT;
SQL
blocker=$!
wait_for 10 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(25)%' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()" 1 || true
open_xid=$(q -c "SELECT backend_xid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(25)%' AND pid <> pg_backend_pid()")
# Visible in the snapshot: x < xmin, or x < xmax and x not in xip (a fresh
# cluster: epoch 0, so the 32-bit id is the 64-bit one).
visible="(x < (t ->> 'xmin')::xid8 OR (x < (t ->> 'xmax')::xid8 AND NOT x::text IN (SELECT jsonb_array_elements_text(t -> 'xip'))))"
check "by metadata.transactions, the open transaction is not in the export, the last committed one is" "f|t" \
  "$(q -c "WITH m AS (SELECT backup_export('1') -> 'metadata' -> 'transactions' AS t)
           SELECT (SELECT $visible FROM (SELECT '$open_xid'::xid8 AS x) o),
                  (SELECT $visible FROM (SELECT max(xid::xid8) AS x FROM audit.changes) c) FROM m")"
check "metadata.transactions is the snapshot of the exporting statement" "t|t|t" \
  "$(q -c "WITH m AS (SELECT backup_export('1') -> 'metadata' -> 'transactions' AS t, pg_current_snapshot() AS s)
           SELECT t ->> 'xmin' = pg_snapshot_xmin(s)::text, t ->> 'xmax' = pg_snapshot_xmax(s)::text,
                  (SELECT coalesce(jsonb_agg(x::text ORDER BY x), '[]') FROM pg_snapshot_xip(s) x) = t -> 'xip' FROM m")"

echo "# (c) the WAL limit (the open transaction holds the slot back)"
psql -qXAt -c "LISTEN pg_tenant_backup_capture" -c "SELECT pg_sleep(12)" -c "SELECT 1" >"$work/listen.out" 2>&1 &
listener=$!
q -c "ALTER SYSTEM SET pg_tenant_backup.capture_max_retained_wal = 1" -c "SELECT pg_reload_conf()" >/dev/null
q -c "CREATE TABLE audit.filler AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 0 || true
check "the slot is dropped when it holds back more than the limit" 0 "$(slot_count)"
check "a failed capture row describes the gap" "capture|failed|53400|t|t" \
  "$(q -c "SELECT operation, status, error ->> 'sqlstate', error ->> 'last_captured_lsn' IS NOT NULL,
                  error ->> 'message' LIKE '%capture_max_retained_wal%'
             FROM backup_logs WHERE operation = 'capture' ORDER BY id DESC LIMIT 1")"
check "its last captured LSN is the last segment's" "$(q -c "SELECT max(last_lsn) FROM backup_change_segments")" \
  "$(q -c "SELECT error ->> 'last_captured_lsn' FROM backup_logs WHERE operation = 'capture' ORDER BY id DESC LIMIT 1")"
wait $listener || true
check_match "listeners get NOTIFY pg_tenant_backup_capture" 'notification "pg_tenant_backup_capture"' "$(cat "$work/listen.out")"
sleep 3
check "capture stays stopped (no new slot) until a reload" 0 "$(slot_count)"
check "the server is fine" 1 "$(q -c "SELECT 1")"
check "no crash" "" "$(grep -E 'PANIC|terminated by signal (11|6)' "$work/cluster/server.log" || true)"
wait $blocker || true
q -c "ALTER SYSTEM RESET pg_tenant_backup.capture_max_retained_wal" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 1 || true
check "a reload starts a new capture window (new slot)" 1 "$(slot_count)"

echo "# turning it off drops the slot"
q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = off" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 0 || true
check "off: the slot is dropped" 0 "$(slot_count)"
wait_for 10 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'" 0 || true
check "off: the worker exits" 0 "$(workers)"

echo "# DROP EXTENSION drops the slot"
q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = on" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 1 || true
check "on again: a new slot" 1 "$(slot_count)"
q -c "DROP EXTENSION pg_tenant_backup" >/dev/null
wait_for 20 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 0 || true
check "without the extension the slot is dropped" 0 "$(slot_count)"
sleep 2
check "and no worker is started while it is not installed" 0 "$(workers)"

finish
