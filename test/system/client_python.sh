#!/usr/bin/env bash
# The Python example (examples/python/tenant_backup.py, psycopg2) against a
# throwaway cluster: backup, list, streamed download, upload, dry run,
# restore, and the SQLSTATEs an application handles (42501, 55P03).
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-python.XXXXXX)
chmod 755 "$work"
trap 'kill %1 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
# The server's default search_path: the example must name the schema.
CLUSTER_PLAIN_SEARCH_PATH=1 PGPORT_FOR_TESTS=54352 cluster_start "$work/cluster"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
dsn="host=$PGHOST port=$PGPORT user=postgres dbname=postgres"
run() { /usr/bin/python3 examples/python/tenant_backup.py "$dsn" 1 "$work/snapshot.json.zst"; }

out=$(run)
echo "$out"
check_match "backup and list" 'backup 1 snapshots 1' "$out"
check "the streamed download is the stored file" \
  "$(sha256sum < "$work/cluster/data/pg_tenant_backup/$(q -c "SELECT file_name FROM tenant_backup.backup_logs WHERE id = 1")")" "$(sha256sum < "$work/snapshot.json.zst")"
check_match "the upload is stored" 'uploaded as 2' "$out"
# Nothing changed since the backup; events has no primary key, so its 2
# rows are replaced (deleted and inserted) rather than matched.
check_match "the dry run previews" "restore would change \\{'deleted': 2, 'updated': 0, 'inserted': 2, 'unchanged': 13\\}" "$out"
check_match "without allow_restore the app gets 42501 and says so" 'not allowed here' "$out"

q -c "ALTER SYSTEM SET pg_tenant_backup.allow_restore = on" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 ||
  q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.allow_restore = on" -c "SELECT pg_reload_conf()" >/dev/null
# Another session holds tenant 1's import lock: the app gets 55P03.
PGAPPNAME=lock_holder psql -qXAt -c "BEGIN" -c "SELECT pg_advisory_xact_lock(hashtext('pg_tenant_backup:' || current_database()), hashtext('tenant:1'))" \
  -c "SELECT pg_sleep(20)" >/dev/null 2>&1 &
sleep 1
out=$(run)
check_match "a running import makes the app get 55P03 and wait" 'another import or restore of this tenant is running' "$out"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock_holder'" >/dev/null
wait 2>/dev/null || true
out=$(run)
check_match "then the restore runs" "restored \\{'deleted': 2, 'updated': 0, 'inserted': 2, 'unchanged': 13\\}" "$out"

echo "# the SQLAlchemy example"
url="postgresql+psycopg2://postgres@/postgres?host=$PGHOST&port=$PGPORT"
q -c "ALTER SYSTEM RESET pg_tenant_backup.allow_restore" -c "SELECT pg_reload_conf()" >/dev/null
out=$(/usr/bin/python3 examples/python/sqlalchemy_backup.py "$url" 2)
check_match "SQLAlchemy backs up and lists" 'backup [0-9]+, 1 stored for tenant 2' "$out"
check_match "and tells 42501 apart" 'restore not allowed here' "$out"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.allow_restore = on" -c "SELECT pg_reload_conf()" >/dev/null
out=$(/usr/bin/python3 examples/python/sqlalchemy_backup.py "$url" 2)
check_match "with restores allowed it restores" "restored \\{'deleted': 1, 'updated': 0, 'inserted': 1, 'unchanged': 20\\}" "$out"
finish
