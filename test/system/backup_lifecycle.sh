#!/usr/bin/env bash
# Stored snapshots from end to end on a real server: create -> completed row
# with size and checksum -> verify -> download identical to the file ->
# upload gives the same document -> delete; pruning by count and by age;
# a failed backup stays recorded after the caller's ROLLBACK and leaves no
# file; corrupted, truncated and missing files are refused; hostile names
# never steer a path.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-lifecycle.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54344 cluster_start "$work/cluster"
storage="$work/cluster/data/pg_tenant_backup"
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null

echo "# create, verify, download, upload, delete"
id=$(q -c "SELECT backup_create('1', name => 'nightly', notes => 'first')")
check "backup_create returns the log id" 1 "$id"
row=$(q -c "SELECT status, trigger, tenant, name, compression, table_count, row_count, size_bytes > 0, checksum ~ '^[0-9a-f]{64}$', file_name FROM backup_logs WHERE id = $id")
# 15 rows: with the soft-deleted customer 12, its order and its line (a stored
# snapshot holds soft-deleted rows by default).
check_match "the row is completed with counts, size and checksum" '^completed\|manual\|1\|nightly\|zstd\|8\|15\|t\|t\|[A-Za-z0-9_-]+-[0-9]+/tenant-1-[0-9]{8}T[0-9]{6}Z-db[0-9]+-1\.json\.zst$' "$row"
file=$(q -c "SELECT file_name FROM backup_logs WHERE id = $id")
dbdir="$storage/${file%%/*}"  # this database's folder
check "the file is in the storage directory" yes "$([ -f "$storage/$file" ] && echo yes || echo no)"
check "the storage directory is private (0700)" 700 "$(stat -c %a "$storage")"
check "the database's folder is private (0700)" 700 "$(stat -c %a "$storage/${file%%/*}")"
check "the file's SHA-256 is the logged checksum" "$(q -c "SELECT checksum FROM backup_logs WHERE id = $id")" "$(sha256sum "$storage/$file" | cut -d' ' -f1)"
check "the file's size is the logged size" "$(q -c "SELECT size_bytes FROM backup_logs WHERE id = $id")" "$(stat -c %s "$storage/$file")"
check "verify says ok" true "$(q -c "SELECT backup_verify($id) -> 'ok'")"
check "verify logs a verify row" "verify|completed|$id" "$(q -c "SELECT operation, status, source_id FROM backup_logs WHERE operation = 'verify' ORDER BY id DESC LIMIT 1")"
q -c "SELECT encode(c, 'hex') FROM backup_download($id) c" | xxd -r -p > "$work/downloaded"
check "download gives the file's bytes" "$(sha256sum < "$storage/$file")" "$(sha256sum < "$work/downloaded")"
check "backup_read gives the document" '"1"' "$(q -c "SELECT backup_read($id) -> 'metadata' -> 'tenant' -> 'id'")"
check "backup_read equals a fresh export's data with soft-deleted rows" t "$(q -c "SELECT backup_read($id) -> 'data' = backup_export('1', '{\"include_deleted\": true}') -> 'data'")"
up=$(q -c "SELECT backup_upload(decode('$(xxd -p "$work/downloaded" | tr -d '\n')', 'hex'), 'uploaded', 'from a client')")
check "upload of the downloaded file gives the same document" t "$(q -c "SELECT backup_read($up) = backup_read($id)")"
check "the uploaded snapshot is listed" "uploaded|from a client|completed" "$(q -c "SELECT name, notes, status FROM backup_list WHERE id = $up")"
plain=$(q -c "SELECT backup_upload(convert_to(backup_export('2')::text, 'UTF8'))")
check "an uploaded plain-JSON export is accepted" "completed|none" "$(q -c "SELECT status, compression FROM backup_logs WHERE id = $plain")"
q -c "SELECT backup_delete($up)" >/dev/null
check "delete marks the row deleted" deleted "$(q -c "SELECT status FROM backup_logs WHERE id = $up")"
check "delete logs a delete row" "delete|$up" "$(q -c "SELECT operation, source_id FROM backup_logs WHERE operation = 'delete'")"
check "delete removes the file" 0 "$(ls "$dbdir" | grep -c -- "-$up\.json" || true)"
check_match "deleting again is refused" '55000: backup [0-9]+ is already deleted' "$(q_error "SELECT backup_delete($up)")"
check_match "reading a deleted backup is refused" '55000: backup [0-9]+ is deleted' "$(q_error "SELECT backup_read($up)")"
check_match "an unknown id" '42704: backup 999 does not exist' "$(q_error "SELECT backup_verify(999)")"
check_match "deleting an unknown id is refused the same way" '42704: backup 999 does not exist' "$(q_error "SELECT backup_delete(999)")"
none=$(q -c "SELECT backup_create('2', '{\"compression\": \"none\"}')")
check "compression none writes plain JSON" '{' "$(head -c 1 "$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $none")")"

echo "# a failed backup stays recorded after ROLLBACK, and leaves no file"
# A policy that raises once the export reaches orders (superusers bypass
# row level security, so the backup runs as an application role).
q >/dev/null <<'SQL'
CREATE FUNCTION boom(text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN IF current_setting('test.boom', true) = 'on' THEN RAISE EXCEPTION 'boom while reading %', $1; END IF; RETURN true; END $$;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY explode ON orders USING (boom('orders'));
CREATE ROLE app;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO app;
GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text, boolean) TO app;
SQL
before=$(ls "$dbdir" | wc -l)
err=$(psql -qXAt -v VERBOSITY=verbose -c "SET ROLE app" -c "BEGIN" -c "SET LOCAL test.boom = on" -c "SELECT backup_create('1')" -c "ROLLBACK" 2>&1 | grep -m1 ERROR || true)
check_match "the backup fails with the cause" 'ERROR:  P0001: boom while reading orders' "$err"
failed=$(q -c "SELECT status, error ->> 'message', error ->> 'sqlstate', created_by FROM backup_logs WHERE operation = 'backup' ORDER BY id DESC LIMIT 1")
check "its row says failed with the error, after ROLLBACK" "failed|boom while reading orders|P0001|app" "$failed"
check "no file and no temporary file is left" "$before" "$(ls "$dbdir" | wc -l)"
q -c "DROP POLICY explode ON orders" -c "ALTER TABLE orders DISABLE ROW LEVEL SECURITY" >/dev/null
check_match "an unknown tenant fails before any row" '42704: tenant "77" does not exist' "$(q_error "SELECT backup_create('77')")"

echo "# pruning by count and by age, never the newest"
for i in 1 2 3 4; do q -c "SELECT backup_create('2', '{\"compression\": \"none\"}')" >/dev/null; done
kept=$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '2'")
expired=$(q -c "SELECT backup_prune('2', 2)")
check "prune by count expires all but max_backups" "$((kept - 2))" "$expired"
check "two snapshots of tenant 2 remain" 2 "$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '2'")"
check "the newest remains" t "$(q -c "SELECT max(id) = (SELECT max(id) FROM backup_logs WHERE tenant = '2' AND operation = 'backup') FROM backup_list WHERE tenant = '2'")"
check "expired files are gone" 2 "$(ls "$dbdir" | grep -c '^tenant-2-' || true)"
check "tenant 1 is untouched by tenant 2's prune" 1 "$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '1'")"
q -c "UPDATE backup_logs SET finished_at = now() - interval '40 days' WHERE operation = 'backup' AND status = 'completed'" >/dev/null
check "prune by age (30 days) keeps each tenant's newest" 1 "$(q -c "SELECT backup_prune('2', 50, 30)")"
check "the newest of tenant 2 is kept even when old" 1 "$(q -c "SELECT count(*) FROM backup_list WHERE tenant = '2'")"
check "a prune row is logged" prune "$(q -c "SELECT operation FROM backup_logs ORDER BY id DESC LIMIT 1")"
check_match "max_backups must be positive" '22023: max_backups must be at least 1' "$(q_error "SELECT backup_prune('2', 0)")"

echo "# corrupted, truncated and missing files"
good=$(q -c "SELECT backup_create('1')")
f="$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $good")"
cp "$f" "$work/pristine"
chmod 644 "$work/pristine"
printf '\xff' | as_owner dd of="$f" bs=1 seek=40 conv=notrunc status=none
check "a flipped byte: verify reports it" "false|false" "$(q -c "SELECT backup_verify($good) -> 'ok', backup_verify($good) -> 'checks' -> 'checksum_matches'")"
check_match "a flipped byte: read refuses it" 'XX001: snapshot file of backup [0-9]+ is corrupted' "$(q_error "SELECT backup_read($good)")"
as_owner cp "$work/pristine" "$f"
check "restored bytes verify again" true "$(q -c "SELECT backup_verify($good) -> 'ok'")"
as_owner truncate -s 100 "$f"
check "a truncated file: verify reports it" "false|false" "$(q -c "SELECT backup_verify($good) -> 'ok', backup_verify($good) -> 'checks' -> 'decompresses_and_parses'")"
check_match "a truncated file: read refuses it" 'XX001' "$(q_error "SELECT backup_read($good)")"
rm -f "$f"
check "a missing file: verify reports it" "false|false" "$(q -c "SELECT backup_verify($good) -> 'ok', backup_verify($good) -> 'checks' -> 'file_exists'")"
check_match "a missing file: read refuses it" '58P01: could not open snapshot file' "$(q_error "SELECT backup_read($good)")"
check_match "an upload that is not a snapshot is refused" '22P02: snapshot is not valid JSON' "$(q_error "SELECT backup_upload('not json')")"
check_match "an upload of another format version is refused" '0A000: snapshot format version 2 is not supported' \
  "$(q_error "SELECT backup_upload(convert_to(jsonb_set(backup_export('1'), '{format_version}', '2')::text, 'UTF8'))")"
check_match "an upload for a tenant this database lacks is refused" '42704: cannot accept the uploaded snapshot: tenant "55" does not exist' \
  "$(q_error "SELECT backup_upload(convert_to(jsonb_set(backup_export('1'), '{metadata,tenant,id}', '\"55\"')::text, 'UTF8'))")"

q -c 'CREATE SCHEMA "Tenant A"' -c 'CREATE TABLE "Tenant A".items (id int PRIMARY KEY, g int GENERATED ALWAYS AS (1) STORED)' \
  -c 'INSERT INTO "Tenant A".items VALUES (1)' >/dev/null
schema_up=$(q -c "SELECT backup_upload(convert_to(backup_export('Tenant A', '{\"tenancy\": \"schema\"}')::text, 'UTF8'))")
check "a schema-tenancy snapshot of a quoted schema name uploads" "completed|Tenant A" "$(q -c "SELECT status, tenant FROM backup_logs WHERE id = $schema_up")"

echo "# hostile names, notes and tenant values never steer a path"
q >/dev/null <<'SQL'
INSERT INTO tenants VALUES (4, '../../etc/passwd');
CREATE TABLE "../evil" (id int PRIMARY KEY, tenant_id int REFERENCES tenants);
INSERT INTO "../evil" VALUES (1, 4);
SQL
hid=$(q -c "SELECT backup_create('4', name => '../../x', notes => E'/etc/passwd\\nnul')")
check_match "the file name comes from the tenant id, time and log id" '^[A-Za-z0-9_-]+-[0-9]+/tenant-4-[0-9]{8}T[0-9]{6}Z-db[0-9]+-[0-9]+\.json\.zst$' "$(q -c "SELECT file_name FROM backup_logs WHERE id = $hid")"
q -c "CREATE SCHEMA hostile" -c "CREATE TABLE hostile.text_tenants (id text PRIMARY KEY, name text)" \
  -c "CREATE TABLE hostile.notes (id int PRIMARY KEY, tenant_id text REFERENCES hostile.text_tenants)" >/dev/null
hostile_values=('../../../tmp/x; rm -rf /' '漢字/../..' "$(printf 'a%.0s' $(seq 300))" "quote' \"dq\" back\\slash /")
for t in "${hostile_values[@]}"; do
  echo "INSERT INTO hostile.text_tenants VALUES (:'t', 'x'); INSERT INTO hostile.notes SELECT count(*), :'t' FROM hostile.notes;" | q -v t="$t" >/dev/null
done
for t in "${hostile_values[@]}"; do
  tid=$(echo "SELECT backup_create(:'t', '{\"schemas\": [\"hostile\"], \"exclude_tables\": [\"public.events\"]}')" | q -v t="$t" || echo none)
  name=$(q -c "SELECT file_name FROM backup_logs WHERE id = $tid" 2>/dev/null || echo none)
  check_match "hostile tenant value gives a safe file name" '^[A-Za-z0-9_-]+-[0-9]+/tenant-[A-Za-z0-9_-]{1,40}-[0-9]{8}T[0-9]{6}Z-db[0-9]+-[0-9]+\.json\.zst$' "$name"
done
check "every file stayed in the storage directory" 0 "$(find "$work/cluster" -name '*.json*' -not -path "$storage/*" | wc -l)"
check "no temporary file left" 0 "$(find "$storage" -name '*.tmp' | wc -l)"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no

echo "# NOTIFY when a backup finishes"
notified=$(psql -qXAt -c "LISTEN pg_tenant_backup" -c "SELECT backup_create('1')" -c "SELECT pg_sleep(0.2)" 2>&1)
check_match "a listener gets the id and status" 'Asynchronous notification "pg_tenant_backup" with payload "\{"id":[0-9]+,"operation":"backup","trigger":"manual","tenant":"1","status":"completed"\}"' "$notified"

echo "# archive_command copies each snapshot off the host, and its failure is reported"
mkdir -p "$work/archive"
[ "$(id -u)" = 0 ] && chown postgres: "$work/archive"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.archive_command = 'cp %p $work/archive/%f'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
aid=$(q -c "SELECT backup_create('1')")
check_match "%f is the file's name, without its folder" '^tenant-1-.*-db[0-9]+-[0-9]+\.json\.zst$' "$(ls "$work/archive")"
check "the archive status is recorded" archived "$(q -c "SELECT archive_status FROM backup_logs WHERE id = $aid")"
check "the archived copy is identical" "$(sha256sum < "$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $aid")")" \
  "$(sha256sum < "$work/archive/$(q -c "SELECT split_part(file_name, '/', 2) FROM backup_logs WHERE id = $aid")")"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.archive_command = 'exit 3'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
warned=$(psql -qXAt -c "SELECT backup_create('1')" 2>&1)
check_match "a failing archive_command is a WARNING" 'WARNING:  pg_tenant_backup.archive_command failed with exit code 3' "$warned"
check "and is recorded in the row, which stays completed" "completed|failed: exit code 3" \
  "$(q -c "SELECT status, archive_status FROM backup_logs WHERE operation = 'backup' ORDER BY id DESC LIMIT 1")"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM RESET pg_tenant_backup.archive_command" -c "SELECT pg_reload_conf()" >/dev/null
check_match "only a superuser may set archive_command" '42501' "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SET pg_tenant_backup.archive_command = 'x'")"
check_match "only a superuser may set storage_path" '42501' "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SET pg_tenant_backup.storage_path = '/tmp'")"

echo "# kill -9 during backup_create: the row ends failed (interrupted), no file is left, the next backup works"
q -c "INSERT INTO customers SELECT 1000 + g, 1, 'bulk ' || g, 'DE', NULL, NULL FROM generate_series(1, 300000) g" >/dev/null
psql -qXAt -c "SELECT backup_create('1', '{\"compression\": \"none\"}')" >/dev/null 2>&1 &
for i in $(seq 100); do
  pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT backup_create(''1'', ''{\"compression%' AND pid <> pg_backend_pid()")
  [ -n "$pid" ] && ls "$dbdir" | grep -q '\.tmp$' && break
  sleep 0.05
done
check "a temporary file exists while the backup runs" yes "$(ls "$dbdir" | grep -q '\.tmp$' && echo yes || echo no)"
kill -9 "$pid"
wait || true
for i in $(seq 100); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
check "the killed backup's row is still running until the next start" running "$(q -c "SELECT status FROM backup_logs WHERE pid = $pid AND operation = 'backup'")"
next=$(q -c "SELECT backup_create('2')")
check "the next backup succeeds" completed "$(q -c "SELECT status FROM backup_logs WHERE id = $next")"
check "the killed backup's row is failed (interrupted)" "failed|57P01" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE pid = $pid AND operation = 'backup'")"
check_match "its error says interrupted" '^interrupted' "$(q -c "SELECT error ->> 'message' FROM backup_logs WHERE pid = $pid AND operation = 'backup'")"
check "its temporary file is gone" 0 "$(ls "$dbdir" | grep -c '\.tmp$' || true)"

echo "# kill -9 after the rename, while archive_command runs: the whole file of the failed row is removed"
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.archive_command = 'touch $work/archiving; sleep 30'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
rm -f "$work/archiving"
psql -qXAt -c "SELECT backup_create('1', '{\"compression\": \"none\"}')" >/dev/null 2>&1 &
for i in $(seq 300); do [ -f "$work/archiving" ] && break; sleep 0.05; done
pid=$(q -c "SELECT pid FROM backup_logs WHERE status = 'running' AND operation = 'backup' ORDER BY id DESC LIMIT 1")
orphan=$(q -c "SELECT id FROM backup_logs WHERE status = 'running' AND operation = 'backup' ORDER BY id DESC LIMIT 1")
check "the file is in place while archive_command runs" 1 "$(ls "$dbdir" | grep -c -- "-$orphan\.json$" || true)"
kill -9 "$pid"
wait || true
pkill -f "sleep 30" || true
for i in $(seq 100); do q -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.1; done
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM RESET pg_tenant_backup.archive_command" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
q -c "SELECT backup_create('2')" >/dev/null
check "the killed backup's row is failed (interrupted)" "failed|57P01" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE id = $orphan")"
check "and its whole file is removed with it" 0 "$(ls "$dbdir" | grep -c -- "-$orphan\.json$" || true)"
check_match "the server log says so" "removed snapshot file .*-$orphan\.json\" of an interrupted backup" "$(grep 'removed snapshot file' "$(cluster_log "$work/cluster")" || true)"
finish
