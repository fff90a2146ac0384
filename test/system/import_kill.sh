#!/usr/bin/env bash
# kill -9 of the backend at random points of backup_import (mode replace),
# backup_restore and backup_create, repeated. The time of one whole
# operation is measured first, then each run kills the backend after a
# random delay in [0, that time]. After each kill the server's crash
# recovery is awaited, then:
#   - the tenant's data is exactly one of the two states: the one before the
#     operation when it was killed, the imported one when it had committed
#     (its completed log row is in the same transaction, so it tells which);
#   - no row of another tenant was touched (rows and their xmin);
#   - a backup_logs row the operation left 'running' is marked failed
#     (interrupted, 57P01) by the next backup, which succeeds;
#   - no temporary file is left, every completed snapshot has its file and
#     every file in storage a completed row.
# Counts: runs N, killed mid-operation K, finished before kill F, data
# intact I, rows recovered R. RUNS (default 8) sets the runs of import and
# of restore; CREATE_RUNS (default 5) those of backup_create.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
RUNS=${RUNS:-8}
CREATE_RUNS=${CREATE_RUNS:-5}
work=$(mktemp -d /tmp/ptb-import-kill.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54385 cluster_start "$work/cluster" "pg_tenant_backup.allow_restore = on" "restart_after_crash = on" \
  "pg_tenant_backup.max_backups = 1000"
storage="$work/cluster/data/pg_tenant_backup"

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
# Tenant 1 grows to about 80,000 rows; tenant 2 gets 5,000 more customers.
q >/dev/null <<'SQL'
INSERT INTO customers SELECT 1000 + g, 1, 'bulk ' || g, (ARRAY['DE','FR','US'])[1 + g % 3], NULL, NULL
  FROM generate_series(1, 20000) g;
INSERT INTO orders SELECT 10000 + g, 1000 + g, g % 100 FROM generate_series(1, 20000) g;
INSERT INTO order_lines SELECT 10000 + g, l, 'sku' || g FROM generate_series(1, 20000) g, generate_series(1, 2) l;
INSERT INTO customers SELECT 100000 + g, 2, 'other ' || g, 'US', NULL, NULL FROM generate_series(1, 5000) g;
-- Indexes on the referencing columns, as a real schema has: without them
-- each deleted customer scans orders and customers for references.
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON customers (referred_by);
CREATE INDEX ON returns (handled_by);
CREATE INDEX ON returns (order_id);
CREATE INDEX ON line_notes (order_id, line_no);
-- Tenant 1's rows, table by table, as the md5 of their sorted text.
CREATE FUNCTION tenant1() RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws(' ',
    (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM tenants x WHERE id = 1),
    (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM customers x WHERE tenant_id = 1),
    (SELECT md5(string_agg(o::text, ',' ORDER BY o::text)) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1),
    (SELECT md5(string_agg(l::text, ',' ORDER BY l::text)) FROM order_lines l JOIN orders o ON o.id = l.order_id
                                                        JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1),
    (SELECT md5(string_agg(n::text, ',' ORDER BY n::text)) FROM line_notes n JOIN orders o ON o.id = n.order_id
                                                        JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1),
    (SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM returns r JOIN orders o ON o.id = r.order_id
                                                        JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = 1),
    (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM "Order ""Notes""; --" x WHERE tenant_id = 1),
    (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM events x WHERE tenant_id = 1),
    (SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM audit_logs x WHERE tenant_id = 1),
    (SELECT count(*) FROM customers WHERE tenant_id = 1)) $$;
-- Every other row with its row version: a rewrite would show.
CREATE FUNCTION others() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(r, ',' ORDER BY r)) FROM (
    SELECT x::text || x.xmin AS r FROM customers x WHERE tenant_id <> 1
    UNION ALL SELECT o::text || o.xmin FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1
    UNION ALL SELECT l::text || l.xmin FROM order_lines l JOIN orders o ON o.id = l.order_id
                                       JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM returns x JOIN orders o ON o.id = x.order_id
                                          JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM "Order ""Notes""; --" x WHERE tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM events x WHERE tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM audit_logs x WHERE tenant_id <> 1
    UNION ALL SELECT x::text || x.xmin FROM tenants x WHERE id <> 1
    UNION ALL SELECT x::text || x.xmin FROM countries x) s $$;
SQL

# State A and its export and stored snapshot, then state B and its own.
# Going from one to the other updates, deletes and inserts rows; the rows
# deleted are referenced by few rows (order_lines by line_notes) or none.
q -c "CREATE TABLE docs AS SELECT 'A'::text AS name, backup_export('1', '{\"include_deleted\": true}') AS d" >/dev/null
declare -A state backup
state[A]=$(q -c "SELECT tenant1()")
backup[A]=$(q -c "SELECT backup_create('1', '{\"include_deleted\": true}')")
q >/dev/null <<'SQL'
UPDATE customers SET name = name || ' (B)' WHERE tenant_id = 1 AND id % 5 = 0;
DELETE FROM order_lines WHERE order_id BETWEEN 10001 AND 12000 AND line_no = 2;
INSERT INTO "Order ""Notes""; --" SELECT 1000 + g, 1, 'in B ' || g FROM generate_series(1, 2000) g;
INSERT INTO docs SELECT 'B', backup_export('1', '{"include_deleted": true}');
SQL
state[B]=$(q -c "SELECT tenant1()")
backup[B]=$(q -c "SELECT backup_create('1', '{\"include_deleted\": true}')")
others=$(q -c "SELECT others()")
check "the two states differ" yes "$([ "${state[A]}" != "${state[B]}" ] && echo yes || echo no)"

ms() { echo $(($(date +%s%N) / 1000000)); }
server_kills() { grep -c 'was terminated by signal 9' "$(cluster_log "$work/cluster")" || true; }
server_starts() { grep -c 'database system is ready to accept connections' "$(cluster_log "$work/cluster")" || true; }
ready() {  # waits for the end of crash recovery
  local i
  for i in $(seq 600); do
    [ "$(q -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ] && return 0
    sleep 0.1
  done
  return 1
}
backend_of() {  # application_name -> pid, once its statement runs
  local i pid
  for i in $(seq 500); do
    pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$1' AND state = 'active'" 2>/dev/null || true)
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    sleep 0.01
  done
  return 1
}
other() { [ "$1" = A ] && echo B || echo A; }
statement() {  # op target
  case $1 in
    import) echo "SELECT backup_import(d, 'replace') IS NOT NULL FROM docs WHERE name = '$2'" ;;
    restore) echo "SELECT backup_restore(${backup[$2]}) IS NOT NULL" ;;
    create) echo "SELECT backup_create('1', '{\"include_deleted\": true}')" ;;
  esac
}
tmp_files() { find "$storage" -name '*.tmp' 2>/dev/null | wc -l; }
# Files and completed rows match: each completed (or restored) snapshot row
# has its file, each file a completed row.
storage_mismatch() {
  local rows files
  rows=$(q -c "SELECT file_name FROM backup_logs WHERE operation = 'backup' AND status IN ('completed', 'restored') ORDER BY 1")
  files=$(cd "$storage" 2>/dev/null && find . -type f -name '*.json*' ! -name '*.tmp' | sed 's|^\./||' | sort || true)
  diff <(echo "$rows") <(echo "$files") || true
}

# One run of each operation, not killed, gives its duration.
duration_of() {  # op target
  local t0 t1
  t0=$(ms)
  q -c "$(statement "$@")" >/dev/null
  t1=$(ms)
  echo $((t1 - t0))
}

cur=B
kill_runs() {  # op runs
  local op=$1 n=$2 dur i j target delay pid done_after running now before_id starts kills signalled logop=$1
  [ "$op" = create ] && logop=backup
  local killed=0 finished=0 intact=0 recovered=0 preserved=0
  dur=$(duration_of "$op" "$(other $cur)")
  [ "$op" != create ] && cur=$(other $cur)
  check "$op: the measured run leaves the state it imports" "${state[$cur]}" "$(q -c "SELECT tenant1()")"
  echo "# $op: one run takes ${dur} ms; $n runs, each killed after a random delay in [0, $dur] ms"
  for i in $(seq "$n"); do
    target=$(other $cur)
    [ "$op" = create ] && target=$cur
    delay=$(((RANDOM * 32768 + RANDOM) % (dur + 1)))
    before_id=$(q -c "SELECT coalesce(max(id), 0) FROM backup_logs")
    PGAPPNAME="kill_${op}_$i" psql -qXAt -c "$(statement "$op" "$target")" >"$work/out" 2>&1 &
    pid=$(backend_of "kill_${op}_$i")
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    starts=$(server_starts)
    kills=$(server_kills)
    signalled=no
    kill -9 "$pid" 2>/dev/null && signalled=yes
    wait || true
    # A backend killed by a signal makes the postmaster restart the
    # others: wait until it has done so, not just for a connection.
    # (A backend that had just exited is not restarted for: the signal
    # then finds no process, or a zombie the postmaster reaps as a clean exit.)
    if [ $signalled = yes ]; then
      for j in $(seq 30); do [ "$(server_kills)" -gt "$kills" ] && break; sleep 0.1; done
      if [ "$(server_kills)" -gt "$kills" ]; then
        for j in $(seq 600); do [ "$(server_starts)" -gt "$starts" ] && break; sleep 0.1; done
      fi
    fi
    ready || { check "$op run $i: the server recovers" yes no; continue; }
    done_after=$(q -c "SELECT count(*) FROM backup_logs WHERE id > $before_id AND operation = '$logop' AND trigger IS DISTINCT FROM 'pre_restore' AND status = 'completed'")
    running=$(q -c "SELECT string_agg(id::text, ',') FROM backup_logs WHERE id > $before_id AND status = 'running'")
    if [ "$done_after" -gt 0 ]; then
      finished=$((finished + 1))
      [ "$op" = create ] || cur=$target
    else
      killed=$((killed + 1))
      grep -q 'server closed the connection unexpectedly' "$work/out" ||
        check "$op run $i: a killed run's client saw the connection end" yes no
    fi
    now=$(q -c "SELECT tenant1()")
    if [ "$now" = "${state[$cur]}" ] && [ "$(q -c "SELECT others()")" = "$others" ]; then
      intact=$((intact + 1))
    else
      check "$op run $i (delay $delay ms): the tenant is in state $cur and the others untouched" "${state[$cur]} $others" "$now $(q -c "SELECT others()")"
    fi
    # The next backup (of another tenant) marks rows left running as failed.
    next=$(q -c "SELECT backup_create('3')")
    [ "$(q -c "SELECT status FROM backup_logs WHERE id = $next")" = completed ] ||
      check "$op run $i: the next backup succeeds" completed "$(q -c "SELECT status FROM backup_logs WHERE id = $next")"
    if [ -n "$running" ]; then
      now=$(q -c "SELECT string_agg(DISTINCT status || ':' || (error ->> 'sqlstate'), ',') FROM backup_logs WHERE id IN ($running)")
      if [ "$now" = "failed:57P01" ]; then
        recovered=$((recovered + $(echo "$running" | tr ',' '\n' | wc -l)))
      else
        check "$op run $i: rows left running end failed (interrupted)" "failed:57P01" "$now"
      fi
    fi
    now=$(q -c "SELECT count(*) FROM backup_logs WHERE id > $before_id AND status = 'running'")
    [ "$now" = 0 ] || check "$op run $i: no row of the run is left running" 0 "$now"
    [ "$(tmp_files)" = 0 ] || check "$op run $i: no temporary file is left" 0 "$(tmp_files)"
    now=$(storage_mismatch)
    [ -z "$now" ] || check "$op run $i: stored files and completed rows match" "" "$now"
    # A restore killed after its pre_restore snapshot keeps that snapshot.
    preserved=$((preserved + $(q -c "SELECT count(*) FROM backup_logs WHERE id > $before_id AND trigger = 'pre_restore' AND status = 'completed'")))
  done
  echo "# $op: runs $n, killed mid-operation $killed, finished before kill $finished, data intact $intact, rows recovered $recovered"
  [ "$op" = restore ] && echo "# restore: pre_restore snapshots completed before the kill and kept: $preserved"
  check "$op: every run is counted" "$n" "$((killed + finished))"
  check "$op: data intact in every run" "$n" "$intact"
}

kill_runs import "$RUNS"
kill_runs restore "$RUNS"
check "the stored snapshots of both states are still restorable" "2" \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE id IN (${backup[A]}, ${backup[B]}) AND status IN ('completed', 'restored')")"
kill_runs create "$CREATE_RUNS"
check "a final restore works" "${state[A]}" "$(q -c "SELECT backup_restore(${backup[A]}) IS NOT NULL" >/dev/null; q -c "SELECT tenant1()")"
check "a final import works" "${state[B]}" "$(q -c "SELECT backup_import(d, 'replace') IS NOT NULL FROM docs WHERE name = 'B'" >/dev/null; q -c "SELECT tenant1()")"
check "the other tenants were never touched" "$others" "$(q -c "SELECT others()")"
check "every stored snapshot verifies" t \
  "$(q -c "SELECT bool_and((backup_verify(id) ->> 'ok')::boolean) FROM backup_logs WHERE operation = 'backup' AND status IN ('completed', 'restored')")"
finish
