#!/usr/bin/env bash
# Each database of a server owns its own stored snapshots (docs/operations.md,
# Storage):
# - two databases backing up the same tenant at the same moment, with the
#   same log ids, write distinct files, each in its database's folder, and
#   every file verifies in its own database;
# - a database cloned with CREATE DATABASE ... TEMPLATE carries the
#   template's backup_logs rows, but never follows them: backup_read,
#   backup_verify, backup_download, backup_restore, backup_import_stored and
#   backup_delete of such a row are refused (55000, naming the template) and
#   backup_prune / retention skip them; the template's files stay
#   byte-identical and still verify there; the clone's own snapshots work;
# - the scheduler's cleanup of interrupted backups at start, in the clone,
#   removes none of the template's files;
# - files of the 0.1.0 layout (flat in storage_path, names without the
#   database) are still read, verified and restored; they are deleted only
#   by the database their snapshot names (a clone's delete is refused,
#   the owner's removes the file).
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-ownership.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54412 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "pg_tenant_backup.allow_restore = on"
storage="$work/cluster/data/pg_tenant_backup"
qa() { q -d shop_a "$@"; }
qb() { q -d shop_b "$@"; }
qc() { q -d clone "$@"; }
error_in() { local db=$1; shift; PGDATABASE=$db q_error "$1"; }
# "sha256 name" of every file under the storage directory, sorted.
fingerprint() { (cd "$storage" && find . -type f -name '*.json*' -exec sha256sum {} + | sort -k2); }

for db in shop_a shop_b; do
  q -c "CREATE DATABASE $db" >/dev/null
  q -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" \
    -f test/fixtures/shop.sql >/dev/null
done
oid_a=$(q -c "SELECT oid FROM pg_database WHERE datname = 'shop_a'")
oid_b=$(q -c "SELECT oid FROM pg_database WHERE datname = 'shop_b'")

echo "# two databases back up tenant 1 at the same moment"
for round in 1 2 3; do
  qa -c "SELECT backup_create('1')" >"$work/a.$round" &
  qb -c "SELECT backup_create('1')" >"$work/b.$round" &
  wait
done
check "both databases used the same log ids" "$(cat "$work"/a.*)" "$(cat "$work"/b.*)"
check "every backup completed" "3|3" \
  "$(qa -c "SELECT count(*) FROM backup_logs WHERE status = 'completed'")|$(qb -c "SELECT count(*) FROM backup_logs WHERE status = 'completed'")"
check "six distinct files" 6 "$(fingerprint | awk '{print $2}' | sort -u | wc -l)"
check_match "shop_a's files are in its folder, named with its OID" "^shop_a-$oid_a/tenant-1-[0-9]{8}T[0-9]{6}Z-db$oid_a-1\\.json\\.zst\$" \
  "$(qa -c "SELECT file_name FROM backup_logs WHERE id = 1")"
check_match "shop_b's likewise" "^shop_b-$oid_b/tenant-1-[0-9]{8}T[0-9]{6}Z-db$oid_b-1\\.json\\.zst\$" \
  "$(qb -c "SELECT file_name FROM backup_logs WHERE id = 1")"
check "each folder has a marker naming its database and cluster" \
  "database_oid: $oid_a|system_identifier: $(q -c "SELECT system_identifier FROM pg_control_system()")|database: shop_a" \
  "$(grep -E '^(database_oid|system_identifier|database):' "$storage/shop_a-$oid_a/DATABASE" | paste -sd'|')"
check "the folders are private (0700)" "700 700" "$(stat -c %a "$storage/shop_a-$oid_a" "$storage/shop_b-$oid_b" | paste -sd' ')"
check "every file of shop_a verifies" "true,true,true" "$(qa -c "SELECT string_agg((backup_verify(id) ->> 'ok'), ',' ORDER BY id) FROM backup_list")"
check "every file of shop_b verifies" "true,true,true" "$(qb -c "SELECT string_agg((backup_verify(id) ->> 'ok'), ',' ORDER BY id) FROM backup_list")"

echo "# a clone made with CREATE DATABASE ... TEMPLATE never follows the template's rows"
q -c "CREATE DATABASE clone TEMPLATE shop_a" >/dev/null
oid_c=$(q -c "SELECT oid FROM pg_database WHERE datname = 'clone'")
before=$(fingerprint | grep "shop_a-$oid_a/")
check "the clone has the template's rows" 3 "$(qc -c "SELECT count(*) FROM backup_list")"
for call in "SELECT backup_read(1)" "SELECT backup_verify(1)" "SELECT * FROM backup_download(1)" \
  "SELECT backup_restore(1)" "SELECT backup_import_stored(1)" "SELECT backup_delete(1)"; do
  check_match "$call in the clone is refused, naming the template" \
    "^ERROR:  55000: cannot [a-z]+ backup 1: its file belongs to database \"shop_a\" \\(OID $oid_a\\), not to this database\$" \
    "$(error_in clone "$call")"
done
check "the refusals changed no row" "completed,completed,completed" \
  "$(qc -c "SELECT string_agg(status, ',' ORDER BY id) FROM backup_logs WHERE operation = 'backup'")"
pruned=$(qc -c "SELECT backup_prune('1', max_backups => 1)" 2>&1)
check_match "prune in the clone says it left the template's snapshots alone" \
  "NOTICE:  pg_tenant_backup: 3 stored snapshots whose files are not this database's were left alone" "$pruned"
check "and expires none of them" 0 "$(tail -n 1 <<<"$pruned")"
check "prune in the clone: the rows stay completed" 3 "$(qc -c "SELECT count(*) FROM backup_logs WHERE operation = 'backup' AND status = 'completed'")"
own=$(qc -c "SET client_min_messages = warning; SELECT backup_create('1', name => 'clone own')")
check_match "the clone's own backup goes to its own folder" "^clone-$oid_c/tenant-1-.*-db$oid_c-$own\\.json\\.zst\$" \
  "$(qc -c "SELECT file_name FROM backup_logs WHERE id = $own")"
check "and verifies" true "$(qc -c "SELECT backup_verify($own) -> 'ok'")"
qc -c "SET client_min_messages = warning; SELECT backup_create('1')" >/dev/null
qc -c "SET client_min_messages = warning; SELECT backup_prune('1', max_backups => 1)" >/dev/null
check "retention in the clone expired its own older snapshot only" "expired" \
  "$(qc -c "SELECT status FROM backup_logs WHERE id = $own")"
check "whose file is gone" no "$([ -e "$storage/$(qc -c "SELECT file_name FROM backup_logs WHERE id = $own")" ] && echo yes || echo no)"
check "the template's files are byte-identical" "$before" "$(fingerprint | grep "shop_a-$oid_a/")"
check "and still verify in the template" "true,true,true" "$(qa -c "SELECT string_agg((backup_verify(id) ->> 'ok'), ',' ORDER BY id) FROM backup_list WHERE id <= 3")"
check "the template's snapshot restores in the template" t "$(qa -c "SELECT backup_restore(1) ? 'totals'")"

echo "# the scheduler's cleanup at start, in the clone, keeps the template's files"
# Row 1 of the clone (a copy of the template's) left 'running' by a backend
# that is gone: marked failed at the scheduler's start, and its file (of
# the id 1) looked for. The template's file with that id must stay.
qc -c "UPDATE backup_logs SET status = 'running', pid = 999999, started_at = now() - interval '1 minute' WHERE id = 1" >/dev/null
before=$(fingerprint)
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'clone'" >/dev/null
cluster_restart "$work/cluster"
for i in $(seq 100); do
  [ "$(qc -c "SELECT status FROM backup_logs WHERE id = 1")" = failed ] && break
  sleep 0.2
done
check "the scheduler marked the clone's interrupted row failed" failed "$(qc -c "SELECT status FROM backup_logs WHERE id = 1")"
check "and removed no file" "$before" "$(fingerprint)"
check "the template's file of that id still verifies" true "$(qa -c "SELECT backup_verify(1) -> 'ok'")"

echo "# files of the 0.1.0 layout"
# A 0.1.0 file: flat in storage_path, its name without the database.
legacy() {  # legacy DB ID: moves the file of row ID to the 0.1.0 layout
  local db=$1 id=$2 file name
  file=$(q -d "$db" -c "SELECT file_name FROM backup_logs WHERE id = $id")
  name=$(sed -E 's/-db[0-9]+-/-/' <<<"${file#*/}")
  mv "$storage/$file" "$storage/$name"
  q -d "$db" -c "UPDATE backup_logs SET file_name = '$name' WHERE id = $id" >/dev/null
  echo "$name"
}
old=$(qb -c "SELECT backup_create('2', name => 'old layout')")
old_name=$(legacy shop_b "$old")
check_match "the file is of the 0.1.0 layout" '^tenant-2-[0-9]{8}T[0-9]{6}Z-[0-9]+\.json\.zst$' "$old_name"
check "it verifies" true "$(qb -c "SELECT backup_verify($old) -> 'ok'")"
check "it reads" '"2"' "$(qb -c "SELECT backup_read($old) -> 'metadata' -> 'tenant' -> 'id'")"
check "it restores" t "$(qb -c "SELECT backup_restore($old) ? 'totals'")"
q -c "CREATE DATABASE clone_b TEMPLATE shop_b" >/dev/null
check_match "a clone's delete of it is refused: its snapshot names another database" \
  "^ERROR:  55000: cannot delete backup $old: its file, written by version 0.1.0, cannot be shown to be this database's\$" \
  "$(error_in clone_b "SELECT backup_delete($old)")"
q -d clone_b -c "SET client_min_messages = warning; SELECT backup_prune('2', max_backups => 1, retention_days => 0)" >/dev/null
check "a clone's prune leaves it" yes "$([ -f "$storage/$old_name" ] && echo yes || echo no)"
# Taken in shop_a, uploaded into shop_b: its snapshot names shop_a.
uploaded=$(echo "SET client_min_messages = warning; SELECT backup_upload(convert_to(:'doc', 'UTF8'))" | qb -v doc="$(qa -c "SELECT backup_export('3')")")
uploaded_name=$(legacy shop_b "$uploaded")
check_match "an uploaded 0.1.0 file whose first bytes do not name the database is not deleted" \
  "^ERROR:  55000: cannot delete backup $uploaded: .*0\\.1\\.0" "$(error_in shop_b "SELECT backup_delete($uploaded)")"
check "its file is kept" yes "$([ -f "$storage/$uploaded_name" ] && echo yes || echo no)"
qb -c "SELECT backup_delete($old)" >/dev/null
check "the owner's delete removes the 0.1.0 file" no "$([ -f "$storage/$old_name" ] && echo yes || echo no)"
check "and marks its row deleted" deleted "$(qb -c "SELECT status FROM backup_logs WHERE id = $old")"

echo "# DROP DATABASE and DROP EXTENSION leave the files"
q -c "ALTER SYSTEM SET pg_tenant_backup.database = 'postgres'" >/dev/null
cluster_restart "$work/cluster"   # the scheduler leaves the clone
before=$(fingerprint)
q -c "DROP DATABASE clone" -c "DROP DATABASE clone_b" >/dev/null
qa -c "DROP EXTENSION pg_tenant_backup" >/dev/null
check "every file is still there" "$before" "$(fingerprint)"
dropped_file=$(grep -m1 "/clone-$oid_c/" <<<"$before" | awk '{print $2}' | sed 's|^\./||')
again=$(qb -c "SET client_min_messages = warning; SELECT backup_upload(pg_read_binary_file('$storage/$dropped_file'))")
check "a file of a dropped database can be stored again with backup_upload" true "$(qb -c "SELECT backup_verify($again) -> 'ok'")"

cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
