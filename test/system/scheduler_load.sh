#!/usr/bin/env bash
# Backups under load: pgbench writes to the tables of three tenants (reads,
# updates, inserts; -c 3) while the scheduler backs each of them up every
# one or two seconds and a session calls backup_create and backup_export by
# hand. pgbench must finish with no failed transaction and no error, the
# backups must complete and verify. Meanwhile pg_locks is sampled every few
# milliseconds for the processes that run backups: on user tables they take
# AccessShareLock and nothing stronger, no advisory lock, and no pgbench
# session ever waits for them. Then the locks of an import and a restore are
# sampled the same way: RowExclusiveLock at most on the tables they write,
# and the tenant's advisory lock.
# LOAD_SECONDS (default 20) sets how long the load runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
LOAD_SECONDS=${LOAD_SECONDS:-20}
work=$(mktemp -d /tmp/ptb-scheduler-load.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54387 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "max_worker_processes = 16" "pg_tenant_backup.allow_restore = on"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
# Tenants 1, 2 and 3 get 3,000 customers and 3,000 orders each.
q >/dev/null <<'SQL'
INSERT INTO customers SELECT t * 100000 + g, t, 'cust ' || g, 'DE', NULL, NULL
  FROM generate_series(1, 3) t, generate_series(1, 3000) g;
INSERT INTO orders SELECT t * 100000 + g, t * 100000 + g, g % 50 FROM generate_series(1, 3) t, generate_series(1, 3000) g;
CREATE INDEX ON orders (customer_id);
CREATE SEQUENCE bench_order_ids START 1000000;
-- Samples of the locks held by the processes that run backups (scheduled
-- jobs, the log writers they start, the session named manual_backup) and
-- of pgbench sessions waiting for one of them.
CREATE UNLOGGED TABLE lock_samples (kind text, pid int, locktype text, relation oid, mode text, granted boolean,
                                    objsubid int);
CREATE UNLOGGED TABLE wait_samples (pid int, blockers int[]);
CREATE PROCEDURE sample_locks(seconds float8, kinds text[]) LANGUAGE plpgsql AS $$
DECLARE stop timestamptz := clock_timestamp() + make_interval(secs => seconds);
BEGIN
  WHILE clock_timestamp() < stop LOOP
    INSERT INTO lock_samples
    SELECT DISTINCT CASE WHEN a.backend_type LIKE 'pg_tenant_backup%' THEN a.backend_type ELSE a.application_name END,
           l.pid, l.locktype, l.relation, l.mode, l.granted, l.objsubid
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE (a.backend_type IN ('pg_tenant_backup job', 'pg_tenant_backup log writer') OR a.application_name = ANY (kinds))
       AND l.locktype NOT IN ('virtualxid', 'transactionid');
    INSERT INTO wait_samples
    SELECT a.pid, pg_blocking_pids(a.pid) FROM pg_stat_activity a
     WHERE a.application_name = 'pgbench' AND EXISTS (
       SELECT 1 FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))
          AND (b.backend_type LIKE 'pg_tenant_backup%' OR b.application_name = ANY (kinds)));
    COMMIT;
    PERFORM pg_sleep(0.005);
  END LOOP;
END $$;
-- Each sampled relation as the table it belongs to (an index as its table)
-- and what kind of table that is.
CREATE VIEW sampled_relations AS
  SELECT s.kind, s.mode, s.locktype, t.oid::regclass::text AS table_name,
         CASE WHEN n.nspname IN ('pg_catalog', 'information_schema', 'pg_toast') THEN 'catalog'
              WHEN n.nspname LIKE 'pg_temp%' THEN 'temporary'
              WHEN EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid
                              AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e') THEN 'extension'
              WHEN t.relname IN ('lock_samples', 'wait_samples') THEN 'test'
              ELSE 'user' END AS class
    FROM (SELECT DISTINCT kind, mode, locktype, relation FROM lock_samples WHERE locktype = 'relation') s
    JOIN pg_class c ON c.oid = s.relation
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    JOIN pg_class t ON t.oid = coalesce(i.indrelid, c.oid)
    JOIN pg_namespace n ON n.oid = t.relnamespace;
SQL
cat >"$work/load.sql" <<'SQL'
\set t random(1, 3)
\set c random(1, 3000)
\set cid :t * 100000 + :c
BEGIN;
SELECT name FROM customers WHERE id = :cid;
UPDATE customers SET name = 'cust ' || :c || ' at ' || clock_timestamp()::text WHERE id = :cid;
INSERT INTO orders VALUES (nextval('bench_order_ids'), :cid, :c % 100);
INSERT INTO order_lines VALUES (currval('bench_order_ids'), 1, 'bench');
SELECT count(*), sum(total) FROM orders WHERE customer_id = :cid;
END;
SQL

for i in $(seq 100); do [ -n "$(q -c "SELECT backup_scheduler_pid()")" ] && break; sleep 0.2; done
q >/dev/null <<'SQL'
SELECT backup_schedule_create('load-1', '1', '1 second', '{"max_backups": 5}');
SELECT backup_schedule_create('load-2', '2', '1 second', '{"max_backups": 5}');
SELECT backup_schedule_create('load-3', '3', '2 seconds', '{"max_backups": 5}');
SQL
first_id=$(q -c "SELECT coalesce(max(id), 0) FROM backup_logs")

echo "# ${LOAD_SECONDS} s of pgbench -c 3 while the scheduler and a session take backups"
PGAPPNAME=sampler q -c "CALL sample_locks($LOAD_SECONDS + 2, '{manual_backup}')" >/dev/null &
sampler=$!
pgbench -n -c 3 -j 2 -T "$LOAD_SECONDS" -f "$work/load.sql" >"$work/pgbench.out" 2>"$work/pgbench.err" &
bench=$!
manual_created=0 manual_exported=0 manual_failed=0
end=$((SECONDS + LOAD_SECONDS))
while [ $SECONDS -lt $end ]; do
  if PGAPPNAME=manual_backup q -c "SELECT backup_create('$((manual_created % 3 + 1))')" >/dev/null 2>>"$work/manual.err"; then
    manual_created=$((manual_created + 1))
  else
    manual_failed=$((manual_failed + 1))
  fi
  if PGAPPNAME=manual_backup q -c "SELECT backup_export('$((manual_exported % 3 + 1))') IS NOT NULL" >/dev/null 2>>"$work/manual.err"; then
    manual_exported=$((manual_exported + 1))
  else
    manual_failed=$((manual_failed + 1))
  fi
done
bench_rc=0
wait $bench || bench_rc=$?
wait $sampler || true
q >/dev/null <<'SQL'
SELECT backup_schedule_disable('load-1');
SELECT backup_schedule_disable('load-2');
SELECT backup_schedule_disable('load-3');
SQL
for i in $(seq 100); do [ "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running'")" = 0 ] && break; sleep 0.2; done

cat "$work/pgbench.out" | grep -E 'number of (transactions|failed)|tps' | sed 's/^/# pgbench: /'
check "pgbench exits 0" 0 "$bench_rc"
check "pgbench had no failed transaction" 0 "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
check_match "pgbench processed transactions" '^[1-9][0-9]*$' "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/pgbench.out")"
check "pgbench logged no error" 0 "$(grep -ci 'error' "$work/pgbench.err" || true)"
scheduled=$(q -c "SELECT count(*) FROM backup_logs WHERE id > $first_id AND trigger = 'scheduled' AND status IN ('completed', 'expired')")
manual=$(q -c "SELECT count(*) FROM backup_logs WHERE id > $first_id AND operation = 'backup' AND trigger = 'manual' AND status IN ('completed', 'expired')")
echo "# backups during the load: scheduled $scheduled ($(q -c "SELECT string_agg(tenant || ': ' || n, ', ' ORDER BY tenant) FROM (SELECT tenant, count(*) n FROM backup_logs WHERE id > $first_id AND trigger = 'scheduled' AND status IN ('completed', 'expired') GROUP BY tenant) s")), manual backup_create $manual_created, backup_export $manual_exported, manual failures $manual_failed"
check "every tenant's schedule completed backups during the load" 3 \
  "$(q -c "SELECT count(DISTINCT tenant) FROM backup_logs WHERE id > $first_id AND trigger = 'scheduled' AND status IN ('completed', 'expired')")"
check_match "the scheduled backups are several" '^([5-9]|[1-9][0-9]+)$' "$scheduled"
check "the manual backup_create calls all completed" "$manual_created" "$manual"
check "no manual backup or export failed" 0 "$manual_failed"
check "no backup failed" "" "$(q -c "SELECT string_agg(DISTINCT error ->> 'message', '; ') FROM backup_logs WHERE id > $first_id AND status = 'failed'")"
check "the stored snapshots verify" t "$(q -c "SELECT bool_and((backup_verify(id) ->> 'ok')::boolean) FROM backup_list")"
check "nothing is left running" 0 "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running'")"

echo "# locks the backups took (sampled):"
q -c "SELECT '#   ' || kind || ': ' || class || ' ' || string_agg(DISTINCT table_name || ' ' || mode, ', ') FROM sampled_relations WHERE class <> 'catalog' GROUP BY kind, class ORDER BY 1"
check "on user tables the backups take AccessShareLock only" AccessShareLock \
  "$(q -c "SELECT string_agg(DISTINCT mode, ',') FROM sampled_relations WHERE class = 'user'")"
check_match "which the sampling saw on tenant tables, from jobs and from the session" \
  'manual_backup:customers.*pg_tenant_backup job:customers' \
  "$(q -c "SELECT string_agg(DISTINCT kind || ':' || table_name, ' ' ORDER BY kind || ':' || table_name) FROM sampled_relations WHERE class = 'user' AND table_name IN ('customers', 'orders')")"
check "backups take no advisory lock" 0 "$(q -c "SELECT count(*) FROM lock_samples WHERE locktype = 'advisory'")"
check "no pgbench session waited for a backup" 0 "$(q -c "SELECT count(*) FROM wait_samples")"

echo "# the locks of an import and a restore"
q -c "TRUNCATE lock_samples, wait_samples" >/dev/null
id=$(q -c "SELECT backup_create('2')")
q -c "CREATE TABLE doc AS SELECT backup_export('1') d" -c "UPDATE customers SET name = 'changed' WHERE tenant_id IN (1, 2)" >/dev/null
PGAPPNAME=sampler q -c "CALL sample_locks(4, '{importer}')" >/dev/null &
sampler=$!
sleep 0.3
PGAPPNAME=importer q -c "SELECT backup_import(d, 'replace') IS NOT NULL FROM doc" >/dev/null
PGAPPNAME=importer q -c "SELECT backup_restore($id) IS NOT NULL" >/dev/null
wait $sampler || true
q -c "SELECT '#   ' || kind || ': ' || class || ' ' || string_agg(DISTINCT table_name || ' ' || mode, ', ') FROM sampled_relations WHERE class IN ('user', 'extension') GROUP BY kind, class ORDER BY 1"
check "they took the tenant's advisory lock, exclusively" "ExclusiveLock" \
  "$(q -c "SELECT string_agg(DISTINCT mode, ',') FROM lock_samples WHERE kind = 'importer' AND locktype = 'advisory' AND objsubid = 2")"
check "on user tables nothing stronger than RowExclusiveLock" "" \
  "$(q -c "SELECT string_agg(DISTINCT table_name || ' ' || mode, ', ') FROM sampled_relations WHERE kind = 'importer' AND class = 'user' AND mode NOT IN ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')")"
check "RowExclusiveLock on the tables written" t \
  "$(q -c "SELECT count(*) > 0 FROM sampled_relations WHERE kind = 'importer' AND class = 'user' AND table_name = 'customers' AND mode = 'RowExclusiveLock'")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
