#!/usr/bin/env bash
# The tenant's lock is keyed on the tenant's value, not on how it is spelt:
# while session A's import of tenant 0b5f... (a uuid, lower case) is open,
# backup_tenant_busy answers true for '0B5F...' and '{0b5f...}' too, and an
# import or restore of the upper-case spelling is refused at once with
# 55P03 as for the same spelling; likewise ' 1' and '01' for the integer
# tenant 1. A text that is not a value of the tenant column's type is
# 22P02. Keyed on the spelling, the other spellings would hash to other
# keys: busy would say false and a second import would run.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-tenant-lock-key.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54640 cluster_start "$work/cluster" "pg_tenant_backup.allow_restore = on"

lower=0b5f3c2e-8a1d-4f6b-9c3e-2d7a1e5f4b90
upper=0B5F3C2E-8A1D-4F6B-9C3E-2D7A1E5F4B90
braces={0b5f3c2e8a1d4f6b9c3e2d7a1e5f4b90}
other=7c4e1a90-3b2d-4e8f-a1c5-9d6b0f2e3a71

q -c "CREATE DATABASE uuids" -c "CREATE DATABASE ints" >/dev/null
q -d ints -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -d uuids >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES orgs, body text);
INSERT INTO orgs VALUES ('$lower', 'Lower'), ('$other', 'Other');
INSERT INTO notes VALUES (1, '$lower', 'a'), (2, '$lower', 'b'), (3, '$other', 'c');
SQL
for db in uuids ints; do q -d $db -c "CREATE TABLE go (ok boolean)" >/dev/null; done
q -d uuids -c "CREATE TABLE docs AS SELECT t AS tenant, backup_export(t) AS d FROM (VALUES ('$lower'), ('$upper')) v(t)" >/dev/null
q -d ints -c "CREATE TABLE docs AS SELECT t AS tenant, backup_export(t) AS d FROM (VALUES ('1'), (' 1'), ('01')) v(t)" >/dev/null
upper_backup=$(q -d uuids -c "SELECT backup_create('$upper')")
check "the upper-case document names the tenant as spelt" "$upper" "$(q -d uuids -c "SELECT d -> 'metadata' -> 'tenant' ->> 'id' FROM docs WHERE tenant = '$upper'")"

# Session A in database $1: an import of tenant $2 (mode $3), its
# transaction kept open.
hold() {
  PGAPPNAME=session_a psql -d "$1" -qXAt -v ON_ERROR_STOP=1 >"$work/a-$1.out" 2>&1 <<SQL &
BEGIN;
SELECT backup_import(d, '$3') -> 'totals' -> 'unchanged' FROM docs WHERE tenant = '$2';
DO \$\$ BEGIN WHILE NOT EXISTS (SELECT 1 FROM go) LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;
COMMIT;
SQL
  for i in $(seq 200); do
    [ "$(q -d "$1" -c "SELECT backup_tenant_busy('$2')")" = t ] && break
    sleep 0.05
  done
}
release() { q -d "$1" -c "INSERT INTO go VALUES (true)" >/dev/null; wait; }
busy() { q -d "$1" -c "SELECT backup_tenant_busy('$2')" 2>&1; }
# The error line of a statement in database $1, which must not wait.
refused() {
  psql -d "$1" -qXAt -v VERBOSITY=verbose -c "SET statement_timeout = '10s'" -c "$2" 2>&1 | grep -m1 ERROR || true
}

echo "# uuid tenant: session A imports $lower"
hold uuids "$lower" merge
check "busy('$lower') is true while A runs" t "$(busy uuids "$lower")"
check "busy('$upper') is true: the same tenant in upper case" t "$(busy uuids "$upper")"
check "busy('$braces') is true: the same uuid in another input form" t "$(busy uuids "$braces")"
check "busy of another tenant is false" f "$(busy uuids "$other")"
check_match "an import of the upper-case spelling is refused at once with 55P03" \
  "ERROR:  55P03: an import or restore of tenant \"$upper\" is already running" \
  "$(refused uuids "SELECT backup_import(d, 'merge') FROM docs WHERE tenant = '$upper'")"
check_match "so is a restore of a backup taken with the upper-case spelling" \
  "ERROR:  55P03: an import or restore of tenant \"$upper\" is already running" \
  "$(refused uuids "SELECT backup_restore($upper_backup)")"
check_match "a tenant that is not a uuid is 22P02 naming the tenant column and its type" \
  'ERROR:  22P02: tenant "not-a-uuid" is not a valid uuid: the tenant column "[a-z_]+" is uuid' \
  "$(psql -d uuids -qXAt -v VERBOSITY=verbose -c "SELECT backup_tenant_busy('not-a-uuid')" 2>&1 | grep -m1 ERROR || true)"
release uuids
check "A's import ran (two notes and the tenant row unchanged)" 3 "$(head -n 1 "$work/a-uuids.out")"
check "after A ends, busy('$upper') is false" f "$(busy uuids "$upper")"
check "and the upper-case import runs" '{"deleted": 0, "updated": 0, "inserted": 0, "unchanged": 3}' \
  "$(q -d uuids -c "SELECT backup_import(d, 'merge') -> 'totals' FROM docs WHERE tenant = '$upper'")"

echo "# writers taking the lock shared with the value's own text keep imports of any spelling out"
PGAPPNAME=writer psql -d uuids -qXAt >/dev/null 2>&1 <<SQL &
BEGIN;
SELECT pg_advisory_xact_lock_shared(hashtext('pg_tenant_backup:' || current_database()), hashtext('tenant:' || '$upper'::uuid::text));
DO \$\$ BEGIN WHILE (SELECT count(*) FROM go) < 2 LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;
COMMIT;
SQL
for i in $(seq 200); do
  [ -n "$(q -d uuids -c "SELECT pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'writer' AND l.locktype = 'advisory' AND l.granted")" ] && break
  sleep 0.05
done
check_match "an import of the upper-case spelling meanwhile is refused (writers)" \
  "ERROR:  55P03: tenant \"$upper\" is being written: its lock is held by writers" \
  "$(refused uuids "SELECT backup_import(d, 'merge') FROM docs WHERE tenant = '$upper'")"
release uuids

echo "# integer tenant: session A imports '1'"
hold ints 1 replace
check "busy('1') is true while A runs" t "$(busy ints 1)"
check "busy(' 1') is true" t "$(busy ints ' 1')"
check "busy('01') is true" t "$(busy ints 01)"
check "busy('2') is false" f "$(busy ints 2)"
check_match "an import of ' 1' is refused at once with 55P03" \
  'ERROR:  55P03: an import or restore of tenant " 1" is already running' \
  "$(refused ints "SELECT backup_import(d, 'replace') FROM docs WHERE tenant = ' 1'")"
check_match "an import of '01' is refused at once with 55P03" \
  'ERROR:  55P03: an import or restore of tenant "01" is already running' \
  "$(refused ints "SELECT backup_import(d, 'replace') FROM docs WHERE tenant = '01'")"
check_match "a tenant that is not an integer is 22P02 naming the tenant column and its type" \
  'ERROR:  22P02: tenant "one" is not a valid integer: the tenant column "[a-z_]+" is integer' \
  "$(psql -d ints -qXAt -v VERBOSITY=verbose -c "SELECT backup_tenant_busy('one')" 2>&1 | grep -m1 ERROR || true)"
for call in "backup_tenant_busy('one')" "backup_export('one')" "backup_create('one')" "backup_import(jsonb_set(d, '{metadata,tenant,id}', '\"one\"'), 'replace') FROM docs WHERE tenant = '1'"; do
  err=$(psql -d ints -qXAt -v VERBOSITY=verbose -c "SELECT $call" 2>&1 || true)
  check "SELECT $call: 22P02 with the type's message as detail, and no statement of the extension in CONTEXT" \
    "22P02|DETAIL:  invalid input syntax for type integer: \"one\".|no CONTEXT" \
    "$(grep -m1 -o '^ERROR:  [0-9A-Z]*' <<<"$err" | cut -c9-)|$(grep -m1 '^DETAIL' <<<"$err")|$(grep -q '^CONTEXT' <<<"$err" && echo CONTEXT || echo no CONTEXT)"
done
release ints
check "after A ends, busy(' 1') is false" f "$(busy ints ' 1')"
check "the refusals are logged as failed" 5 \
  "$(( $(q -d uuids -c "SELECT count(*) FROM backup_logs WHERE status = 'failed' AND error ->> 'sqlstate' = '55P03'") \
     + $(q -d ints -c "SELECT count(*) FROM backup_logs WHERE status = 'failed' AND error ->> 'sqlstate' = '55P03'") ))"

echo "# schema tenancy: the tenant is a schema name, compared exactly"
q -d ints >/dev/null <<'SQL'
CREATE SCHEMA "Acme";
CREATE TABLE "Acme".items (id int PRIMARY KEY);
SQL
PGAPPNAME=session_s psql -d ints -qXAt >/dev/null 2>&1 <<'SQL' &
BEGIN;
SET pg_tenant_backup.tenancy = 'schema';
SELECT pg_advisory_xact_lock(hashtext('pg_tenant_backup:' || current_database()), hashtext('tenant:Acme'));
DO $$ BEGIN WHILE (SELECT count(*) FROM go) < 2 LOOP PERFORM pg_sleep(0.05); END LOOP; END $$;
COMMIT;
SQL
for i in $(seq 200); do
  [ "$(q -d ints -c "SET pg_tenant_backup.tenancy = 'schema'" -c "SELECT backup_tenant_busy('Acme')")" = t ] && break
  sleep 0.05
done
check "schema tenancy: busy('Acme') is true" t "$(q -d ints -c "SET pg_tenant_backup.tenancy = 'schema'" -c "SELECT backup_tenant_busy('Acme')")"
check "schema tenancy: busy('acme') is false (another schema name)" f "$(q -d ints -c "SET pg_tenant_backup.tenancy = 'schema'" -c "SELECT backup_tenant_busy('acme')")"
release ints
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
