#!/usr/bin/env bash
# One import or restore per tenant at a time, with two sessions on a real
# server: while session A's replace of tenant 1 is open, session B's import
# or restore of tenant 1 fails at once with 55P03 saying what is running,
# backup_tenant_busy says so, the rows A changed stay locked, and tenant 2
# keeps working (its own import and writes go through). After A commits,
# tenant 1 is free again and holds what A imported.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-import-concurrency.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54350 cluster_start "$work/cluster" "pg_tenant_backup.allow_restore = on"

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q >/dev/null <<'SQL'
CREATE TABLE docs AS SELECT t AS tenant, backup_export(t) AS d FROM (VALUES ('1'), ('2')) v(t);
UPDATE customers SET name = 'Ann (changed)' WHERE id = 10;
CREATE TABLE go (ok boolean);
SQL
backup=$(q -c "SELECT backup_create('1')")

echo "# session A: a replace of tenant 1, its transaction kept open"
PGAPPNAME=session_a psql -qXAt -v ON_ERROR_STOP=1 >"$work/a.out" 2>&1 <<'SQL' &
BEGIN;
SELECT backup_import(d, 'replace') -> 'totals' -> 'updated' FROM docs WHERE tenant = '1';
DO $$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM go) LOOP PERFORM pg_sleep(0.05); END LOOP; END $$;
COMMIT;
SQL
for i in $(seq 200); do
  [ "$(q -c "SELECT backup_tenant_busy('1')")" = t ] && break
  sleep 0.05
done
a_pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'session_a'")
check "backup_tenant_busy('1') is true while A runs" t "$(q -c "SELECT backup_tenant_busy('1')")"
check "backup_tenant_busy('2') is false" f "$(q -c "SELECT backup_tenant_busy('2')")"

echo "# session B"
before=$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")
# statement_timeout only guards against waiting: the refusal must not wait.
err=$(psql -qXAt -v VERBOSITY=verbose -c "SET statement_timeout = '10s'" \
  -c "SELECT backup_import(d, 'replace') FROM docs WHERE tenant = '1'" 2>&1 | grep -m1 ERROR || true)
check_match "a second import of tenant 1 fails at once with 55P03" \
  'ERROR:  55P03: an import or restore of tenant "1" is already running' "$err"
detail=$(psql -qXAt -c "SELECT backup_import(d, 'merge', '{\"dry_run\": true, \"tables\": [\"customers\"]}') FROM docs WHERE tenant = '1'" 2>&1 | grep -m1 DETAIL || true)
check "even a dry run; the detail names the process that runs it" "DETAIL:  It is run by the server process $a_pid." "$detail"
err=$(psql -qXAt -v VERBOSITY=verbose -c "SET statement_timeout = '10s'" -c "SELECT backup_restore($backup)" 2>&1 | grep -m1 ERROR || true)
check_match "a restore of tenant 1 fails at once with 55P03" \
  'ERROR:  55P03: an import or restore of tenant "1" is already running' "$err"
check "the refused restore took no pre_restore snapshot" "$before" "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'")"
check "the refusals are logged as failed" "3" \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'failed' AND error ->> 'sqlstate' = '55P03'")"
err=$(psql -qXAt -v VERBOSITY=verbose -c "SET lock_timeout = '200ms'" -c "UPDATE customers SET name = 'x' WHERE id = 10" 2>&1 | grep -m1 ERROR || true)
check_match "the row A updated stays locked until A ends" 'ERROR:  55P03: canceling statement due to lock timeout' "$err"
check "an import of tenant 2 runs meanwhile" 1 \
  "$(q -c "SELECT backup_import(d, 'replace') -> 'totals' -> 'inserted' FROM docs WHERE tenant = '2'")"
check "and tenant 2's rows can be written" Carla \
  "$(q -c "SET lock_timeout = '2s'" -c "UPDATE customers SET name = 'Carla' WHERE id = 20 RETURNING name")"

echo "# A commits; tenant 1 is free again"
q -c "INSERT INTO go VALUES (true)" >/dev/null
wait
check "A's import updated the changed customer" 1 "$(head -n 1 "$work/a.out")"
check "its change is committed" Ann "$(q -c "SELECT name FROM customers WHERE id = 10")"
check "after A ends the tenant is not busy" f "$(q -c "SELECT backup_tenant_busy('1')")"
check "an import of tenant 1 now works (only the keyless events are rewritten)" \
  '{"deleted": 2, "updated": 0, "inserted": 2, "unchanged": 10}' \
  "$(q -c "SELECT backup_import(d, 'replace') -> 'totals' FROM docs WHERE tenant = '1'")"
check "a restore of tenant 1 works too" "replace" "$(q -c "SELECT backup_restore($backup) ->> 'mode'")"
check "no lock of the tenant is left behind" f "$(q -c "SELECT backup_tenant_busy('1')")"

echo "# writers that take the tenant's lock shared keep imports out"
PGAPPNAME=writer psql -qXAt >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT pg_advisory_xact_lock_shared(hashtext('pg_tenant_backup:' || current_database()), hashtext('tenant:1'));
DO $$ BEGIN WHILE (SELECT count(*) FROM go) < 2 LOOP PERFORM pg_sleep(0.05); END LOOP; END $$;
COMMIT;
SQL
for i in $(seq 200); do
  [ -n "$(q -c "SELECT pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'writer' AND l.locktype = 'advisory' AND l.granted")" ] && break
  sleep 0.05
done
check "backup_tenant_busy is false for writers" f "$(q -c "SELECT backup_tenant_busy('1')")"
check_match "an import meanwhile fails at once with 55P03 naming them" \
  "ERROR:  55P03: tenant \"1\" is being written: its lock is held by writers" \
  "$(q_error "SELECT backup_import(d, 'replace') FROM docs WHERE tenant = '1'")"
q -c "INSERT INTO go VALUES (true)" >/dev/null
wait
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
