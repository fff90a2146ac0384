#!/usr/bin/env bash
# backup_restore_to: point-in-time restore of one tenant (docs/pitr.md), on a
# server with change capture on.
#   (a) three tenants under a random write load (inserts, updates, deletes
#       across customers, their orders and the orders' lines, which have no
#       tenant column; orders move between customers of a tenant) in three
#       phases of PTB_RESTORE_TO_SECONDS (20) seconds, the second cut short
#       at its middle: the capture worker is killed (-9) in the first, the server
#       is shut down in immediate mode in the second, snapshots of tenant 1
#       are taken in the first and third. Tenant 1's fingerprint is recorded
#       at moments with no write in flight (writers hold a shared advisory
#       lock, the recorder takes it exclusively).
#   (b) restoring tenant 1 to each moment, in a shuffled order, gives
#       exactly its fingerprint there, and tenants 2 and 3 stay
#       byte-identical to what they were before the restores; the report
#       names the snapshot, the transactions replayed, the pre_restore
#       snapshot; dry_run changes nothing.
#   (c) backup_recovery_window lists the window; refusals: a future
#       moment, a moment before capture started or before the first
#       snapshot, NULL, allow_restore off, a role without the grant.
#   (d) TRUNCATE inside the window is replayed; a column added inside the
#       window makes a restore across it fail naming the table and time.
#   (e) retention: deleting the older snapshots removes the segments only
#       they could use (rows and files), keeps those the newest needs, and
#       moments after it still restore exactly.
#   (f) a stretch of capture ends when capture is turned off: a moment
#       after it is refused naming the gap, the window shows the stop; on
#       again, a new stretch starts, and with encryption on its segments
#       are encrypted (no readable zstd frame) and restore exactly.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-restore-to.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
seconds=${PTB_RESTORE_TO_SECONDS:-20}
PGPORT_FOR_TESTS=${RESTORE_TO_TEST_PORT:-57510} cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "wal_level = logical" "max_worker_processes = 16" "pg_tenant_backup.allow_restore = on"
data="$work/cluster/data"


q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, name text NOT NULL,
                        notes text, balance numeric(12,2) NOT NULL DEFAULT 0, seen timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers, total numeric(12,2),
                     tags text[], placed date);
CREATE TABLE lines (order_id bigint NOT NULL REFERENCES orders, line_no int NOT NULL, qty int NOT NULL,
                    PRIMARY KEY (order_id, line_no));
CREATE SEQUENCE ids START 1000;
INSERT INTO tenants VALUES (1, 'One'), (2, 'Two'), (3, 'Three');
INSERT INTO customers (id, tenant_id, name, notes, seen)
  SELECT nextval('ids'), t, 'c' || g, CASE WHEN g % 7 = 0 THEN repeat('long ', 1000) END, '2026-01-01 10:00+02'
    FROM generate_series(1, 3) t, generate_series(1, 30) g;
INSERT INTO orders (id, customer_id, total, tags, placed)
  SELECT nextval('ids'), c.id, g * 1.5, ARRAY['a', 'b "q"'], '2026-02-01' FROM customers c, generate_series(1, 3) g;
INSERT INTO lines SELECT o.id, g, g FROM orders o, generate_series(1, 2) g;
-- Fingerprint of one tenant: its customers, their orders, their lines.
CREATE FUNCTION fp(t int) RETURNS text LANGUAGE sql AS $$
  SELECT md5(coalesce((SELECT string_agg(c::text, '|' ORDER BY c.id) FROM customers c WHERE c.tenant_id = t), '')
          || '#' || coalesce((SELECT string_agg(o::text, '|' ORDER BY o.id) FROM orders o
                               JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = t), '')
          || '#' || coalesce((SELECT string_agg(l::text, '|' ORDER BY l.order_id, l.line_no) FROM lines l
                               JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id
                              WHERE c.tenant_id = t), ''))
$$;
SQL

echo "# refusals before capture runs"
before_capture=$(q -c "SELECT clock_timestamp()")
check_match "capture never ran: 55000, capture was not running" \
  "55000: cannot restore tenant \"1\" to .*: change capture was not running then" \
  "$(q_error "SELECT backup_restore_to('1', now() - interval '1 second')")"

q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = on" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'start'" 1 || true
check "capture's start is a 'capture' row of backup_logs with the slot's transaction id" "1|ptb_capture_|t" \
  "$(q -c "SELECT count(*), left(max(options->>'slot'), 12), bool_and((options->>'xid')::xid8 IS NOT NULL)
             FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'start'")"
check_match "no snapshot since capture started: 55000, names the need" \
  "55000: cannot restore tenant \"1\" to .*: no snapshot of it was taken between the start of change capture" \
  "$(q_error "SELECT backup_restore_to('1', now())")"

cat >"$work/load.sql" <<'SQL'
\set t random(1, 3)
\set x random(1000, 3000)
\set y random(1000, 3000)
\set z random(1, 9)
BEGIN;
SELECT pg_advisory_xact_lock_shared(4242);
WITH c AS (INSERT INTO customers (id, tenant_id, name, seen)
           VALUES (nextval('ids'), :t, 'new ' || :x, clock_timestamp()) RETURNING id),
     o AS (INSERT INTO orders (id, customer_id, total, tags, placed)
           SELECT nextval('ids'), id, :z * 2.25, ARRAY['n' || :z], current_date FROM c RETURNING id)
INSERT INTO lines SELECT id, g, :z FROM o, generate_series(1, 1 + :z % 3) g;
UPDATE customers SET balance = balance + :z, name = name || '.' WHERE id = (SELECT id FROM customers WHERE id >= :x AND tenant_id = :t ORDER BY id LIMIT 1);
UPDATE orders SET total = total + 1, tags = tags || ARRAY['u'] WHERE id = (SELECT id FROM orders WHERE id >= :y ORDER BY id LIMIT 1);
UPDATE lines SET qty = qty + 1 WHERE (order_id, line_no) = (SELECT order_id, line_no FROM lines WHERE order_id >= :x ORDER BY order_id, line_no LIMIT 1);
-- An order moves to another customer of the same tenant (its lines follow).
UPDATE orders o SET customer_id = (SELECT c2.id FROM customers c2 WHERE c2.tenant_id = c.tenant_id AND c2.id <> c.id ORDER BY c2.id DESC LIMIT 1)
  FROM customers c WHERE c.id = o.customer_id AND o.id = (SELECT id FROM orders WHERE id >= :x ORDER BY id LIMIT 1) AND :z = 3;
DELETE FROM lines WHERE (order_id, line_no) = (SELECT order_id, line_no FROM lines WHERE order_id >= :y ORDER BY order_id DESC, line_no LIMIT 1);
WITH doomed AS (SELECT id FROM orders WHERE id >= :y AND :z = 5 ORDER BY id LIMIT 1),
     l AS (DELETE FROM lines WHERE order_id IN (SELECT id FROM doomed))
DELETE FROM orders WHERE id IN (SELECT id FROM doomed);
COMMIT;
SQL
cat >"$work/rollback.sql" <<'SQL'
BEGIN;
SELECT pg_advisory_xact_lock_shared(4242);
INSERT INTO customers (id, tenant_id, name) VALUES (nextval('ids'), 1, 'rolled back');
UPDATE orders SET total = total + 100 WHERE id = (SELECT max(id) FROM orders);
ROLLBACK;
SQL
load() {  # seconds
  pgbench -n -c 3 -j 2 -T "$1" --max-tries=30 -f "$work/load.sql@9" -f "$work/rollback.sql@1" \
    >>"$work/pgbench.log" 2>&1 || true
}
# A moment with no write in flight: every commit before it is visible,
# every later one commits after it. Prints "moment|fingerprint".
moments="$work/moments"
: >"$moments"
record_moment() {
  psql -qXAt -v ON_ERROR_STOP=1 >>"$moments" <<'SQL'
SELECT pg_advisory_lock(4242) \g /dev/null
SELECT clock_timestamp()::text || '|' || fp(1);
SELECT pg_sleep(0.01) \g /dev/null
SELECT pg_advisory_unlock(4242) \g /dev/null
SQL
}
recorder() {  # seconds
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt "$end" ]; do
    sleep 2
    record_moment 2>/dev/null || true
  done
}

echo "# (a) phase 1: load, a snapshot, kill -9 of the capture worker"
first_backup=$(q -c "SELECT backup_create('1')")
record_moment
load "$seconds" &
loader=$!
recorder "$seconds" &
rec=$!
sleep $((seconds / 3))
q -c "SELECT backup_create('1')" >/dev/null
capture_pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'")
[ -n "$capture_pid" ] && kill -9 "$capture_pid"
wait "$loader" "$rec"
record_moment
check "phase 1 committed transactions" t "$(grep -q 'number of transactions actually processed' "$work/pgbench.log" && echo t)"

echo "# phase 2: load, immediate shutdown mid-load"
wait_for 30 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'" 1 || true
load "$seconds" &
loader=$!
sleep $((seconds / 2))
cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -m immediate stop >/dev/null
wait "$loader" || true
cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$data" -l "$work/cluster/server.log" -w -t 60 start >/dev/null
wait_for 30 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup capture'" 1 || true
record_moment

echo "# phase 3: load and a snapshot"
load "$seconds" &
loader=$!
recorder "$seconds" &
rec=$!
sleep $((seconds / 2))
q -c "SELECT backup_create('1')" >/dev/null
wait "$loader" "$rec"
record_moment
check "the kills and the immediate stop left one capture slot and no second stretch" "1|1" \
  "$(q -c "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'),
                  (SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'start')")"
moment_count=$(wc -l <"$moments")
check_match "moments recorded across the three phases" "^([6-9]|[1-9][0-9])$" "$moment_count"

echo "# (b) restore tenant 1 to each moment"
fp2=$(q -c "SELECT fp(2)")
fp3=$(q -c "SELECT fp(3)")
others_before=$(q -c "SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c WHERE tenant_id <> 1")
# A dry run changes nothing and says what it would do.
first_moment=$(head -1 "$moments" | cut -d'|' -f1)
now_fp1=$(q -c "SELECT fp(1)")
check_match "dry_run reports the replay" "^true\|[0-9]+\|[0-9]+$" \
  "$(q -c "SELECT r->>'dry_run', r->>'source_id', r->'replayed'->>'transactions'
             FROM backup_restore_to('1', '$first_moment', '{\"dry_run\": true}') r")"
check "dry_run changed nothing" "$now_fp1" "$(q -c "SELECT fp(1)")"
exact=0
i=0
while IFS='|' read -r moment fingerprint; do
  i=$((i + 1))
  report=$(q -c "SELECT backup_restore_to('1', '$moment')" 2>&1 || true)
  got=$(q -c "SELECT fp(1) || ' ' || fp(2) || ' ' || fp(3)")
  if [ "$got" = "$fingerprint $fp2 $fp3" ]; then
    exact=$((exact + 1))
  else
    echo "  moment $i ($moment): expected $fingerprint $fp2 $fp3, got $got"
    echo "  report: $report"
  fi
done < <(shuf --random-source=<(yes) "$moments")
check "every moment restored exactly, tenants 2 and 3 untouched ($moment_count moments)" "$moment_count" "$exact"
check "the other tenants' customers are byte-identical" "$others_before" \
  "$(q -c "SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM customers c WHERE tenant_id <> 1")"
last=$(tail -1 "$moments")
check_match "the report names the newest snapshot before the moment, the replay and the pre_restore snapshot" \
  '^t\|t\|[1-9][0-9]*\|[0-9]+\|[0-9]+\|[0-9T:.-]+Z\|[0-9A-F]+/[0-9A-F]+$' \
  "$(q -c "SELECT (r->>'source_id')::bigint = (SELECT max(id) FROM backup_logs WHERE operation = 'backup'
                     AND trigger = 'manual' AND tenant = '1' AND finished_at <= '${last%%|*}'),
                  r->'pre_restore_id' <> 'null', r->'replayed'->>'segments', r->'replayed'->>'transactions',
                  r->'replayed'->>'changes', r->'replayed'->>'last_commit_at', r->'replayed'->>'last_lsn'
             FROM backup_restore_to('1', '${last%%|*}') r")"
check_match "the restore's log row says what it replayed" "^completed\|.*to [0-9T:.-]+Z: backup [0-9]+ and [0-9]+ transactions" \
  "$(q -c "SELECT status || '|' || notes FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"

echo "# (c) the window and refusals"
check "backup_recovery_window: one stretch, from the first snapshot, open" "1|t|t|t" \
  "$(q -c "SELECT count(*), bool_and(earliest = (SELECT finished_at FROM backup_logs WHERE id = $first_backup)),
                  bool_and(latest >= now() - interval '1 second'), bool_and(capture_stopped_at IS NULL)
             FROM backup_recovery_window('1')")"
check "no window for a tenant without snapshots" 0 "$(q -c "SELECT count(*) FROM backup_recovery_window('2')")"
check_match "a moment in the future: 22023" "22023: cannot restore tenant \"1\" to .*: that moment is in the future" \
  "$(q_error "SELECT backup_restore_to('1', now() + interval '1 hour')")"
check_match "a moment before the first snapshot: 55000" "55000: .*no snapshot of it was taken between" \
  "$(q_error "SELECT backup_restore_to('1', (SELECT started_at FROM backup_logs WHERE id = $first_backup))")"
check_match "a moment before capture: 55000" "55000: .*change capture was not running then" \
  "$(q_error "SELECT backup_restore_to('1', '$before_capture')")"
check_match "an opts.tenant other than the tenant argument: 22023" \
  "22023: backup [0-9]+ is of tenant \"1\", not of tenant \"2\" as opts.tenant expects" \
  "$(q_error "SELECT backup_restore_to('1', now(), '{\"tenant\": \"2\"}')")"
check_match "NULL moment: 22004" "22004: the target moment must not be NULL" \
  "$(q_error "SELECT backup_restore_to('1', NULL)")"
check_match "allow_restore off: 42501, as backup_restore" "42501: backup_restore is not allowed on this server" \
  "$(q_error "SET pg_tenant_backup.allow_restore = off; SELECT backup_restore_to('1', now())")"
q -c "CREATE ROLE app LOGIN" >/dev/null
check_match "not granted to PUBLIC" "42501: permission denied for function backup_restore_to" \
  "$(q_error "SET ROLE app; SELECT backup_restore_to('1', now())")"
check_match "backup_recovery_window is not granted to PUBLIC either" "42501: permission denied for function backup_recovery_window" \
  "$(q_error "SET ROLE app; SELECT * FROM backup_recovery_window('1')")"
check "failed restores left failed log rows" t \
  "$(q -c "SELECT count(*) >= 4 FROM backup_logs WHERE operation = 'restore' AND status = 'failed'")"

echo "# (d) TRUNCATE and a schema change inside the window"
q -c "SELECT backup_create('1')" >/dev/null
record_moment
before_truncate=$(tail -1 "$moments")
q -c "TRUNCATE lines" >/dev/null
record_moment
after_truncate=$(tail -1 "$moments")
q -c "SELECT backup_restore_to('1', '${before_truncate%%|*}')" >/dev/null
check "restored to before a TRUNCATE: tenant 1's lines are back" "${before_truncate#*|} 0" \
  "$(q -c "SELECT fp(1) || ' ' || (SELECT count(*) FROM lines l JOIN orders o ON o.id = l.order_id JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1)")"
q -c "SELECT backup_restore_to('1', '${after_truncate%%|*}')" >/dev/null
check "restored to after it: no lines" "${after_truncate#*|}" "$(q -c "SELECT fp(1)")"
q -c "ALTER TABLE customers ADD COLUMN extra text" -c "INSERT INTO customers (id, tenant_id, name, extra) VALUES (nextval('ids'), 1, 'after ddl', 'x')" >/dev/null
sleep 1
before_refusal=$(q -c "SELECT fp(1)")
check_match "a restore across an added column fails naming the table and the time" \
  '0A000: cannot replay the changes of public.customers committed at [0-9T:.-]+Z: they have a column "extra" the snapshot does not have' \
  "$(q_error "SELECT backup_restore_to('1', clock_timestamp())")"
check "the refused restore changed nothing" "$before_refusal" "$(q -c "SELECT fp(1)")"

echo "# (e) segments go with the snapshots that need them"
q -c "ALTER TABLE customers DROP COLUMN extra" >/dev/null
newest=$(q -c "SELECT backup_create('1')")
record_moment
after_newest=$(tail -1 "$moments")
segments_before=$(q -c "SELECT count(*) FROM backup_change_segments")
floor=$(q -c "SELECT snapshot_xmin FROM backup_logs WHERE id = $newest")
check_match "backup_create records its snapshot's xmin" "^[0-9]+$" "$floor"
needed=$(q -c "SELECT count(*) FROM backup_change_segments WHERE max_xid >= '$floor'")
q -c "SELECT backup_delete(id) FROM backup_logs WHERE operation = 'backup' AND status IN ('completed', 'restored')
        AND id <> $newest ORDER BY id" >/dev/null
check "only the segments the newest snapshot may need are left" "$needed" \
  "$(q -c "SELECT count(*) FROM backup_change_segments")"
check "some were removed" t "$([ "$needed" -lt "$segments_before" ] && echo t || echo f)"
files_left=$(find "$data/pg_tenant_backup" -path '*/changes/*.jsonl.zst' 2>/dev/null | wc -l)
check "their files went with their rows" "$needed" "$files_left"
q -c "SELECT backup_restore_to('1', '${after_newest%%|*}')" >/dev/null
check "a moment after the kept snapshot still restores exactly" "${after_newest#*|}" "$(q -c "SELECT fp(1)")"
check_match "a moment before it has no snapshot any more: 55000" "55000: .*no snapshot of it was taken between" \
  "$(q_error "SELECT backup_restore_to('1', '$first_moment')")"

echo "# (f) stretches of capture, and encrypted segments"
q -c "UPDATE customers SET balance = balance + 0.01 WHERE id = (SELECT min(id) FROM customers WHERE tenant_id = 1)" >/dev/null
sleep 2
q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = off" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'stop'" 1 || true
check "turning capture off ends the stretch with a 'capture' stop row" 1 \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'stop'")"
q -c "UPDATE customers SET name = name || ' (uncaptured)' WHERE tenant_id = 1" >/dev/null
check_match "a moment after capture stopped is refused naming the gap: 55000" \
  "55000: cannot restore tenant \"1\" to .*: change capture stopped before that moment" \
  "$(q_error "SELECT backup_restore_to('1', clock_timestamp())")"
check "the window shows the stopped stretch" "1|t" \
  "$(q -c "SELECT count(*), bool_and(capture_stopped_at IS NOT NULL) FROM backup_recovery_window('1')")"
keys="$work/keys"
mkdir -p "$keys"
[ "$(id -u)" = 0 ] && chown postgres: "$keys"
cluster__as_owner sh -c "umask 077; openssl rand -hex 32 > '$keys/k1'"
q -c "ALTER SYSTEM SET pg_tenant_backup.encryption = 'aes-256-gcm'" \
  -c "ALTER SYSTEM SET pg_tenant_backup.encryption_key_file = '$keys/k1'" \
  -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = on" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 30 "SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'start'" 2 || true
encrypted_backup=$(q -c "SELECT backup_create('1')")
q -c "UPDATE customers SET balance = balance + 1 WHERE tenant_id = 1" \
  -c "DELETE FROM lines WHERE order_id IN (SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1 LIMIT 3)" >/dev/null
record_moment
encrypted_moment=$(tail -1 "$moments")
q -c "UPDATE customers SET name = 'later' WHERE tenant_id = 1" >/dev/null
sleep 2
check "segments written now are encrypted" t \
  "$(q -c "SELECT count(*) > 0 AND bool_and(encryption = 'aes-256-gcm' AND encryption_key_id IS NOT NULL)
             FROM backup_change_segments WHERE created_at > (SELECT finished_at FROM backup_logs WHERE id = $encrypted_backup)")"
newest_file=$(q -c "SELECT file_name FROM backup_change_segments ORDER BY id DESC LIMIT 1")
check "an encrypted segment is no readable zstd frame" f \
  "$(zstd -dc "$data/pg_tenant_backup/$newest_file" >/dev/null 2>&1 && echo t || echo f)"
q -c "SELECT backup_restore_to('1', '${encrypted_moment%%|*}')" >/dev/null
check "a moment in the new stretch restores exactly through encrypted segments" "${encrypted_moment#*|}" "$(q -c "SELECT fp(1)")"
check "the server answers after it all" 1 "$(q -c "SELECT 1")"
finish
