#!/usr/bin/env bash
# Storage full: with storage_path on a small tmpfs, a backup fails with a
# clear 53100, leaves no partial or temporary file, its row says failed, and
# the database carries on.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
work=$(mktemp -d /tmp/ptb-disk-full.XXXXXX)
chmod 755 "$work"
mkdir "$work/full"
cleanup() { cluster_stop "$work/cluster"; "${sudo[@]}" umount "$work/full" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"${sudo[@]}" mount -t tmpfs -o size=256k,mode=0700 tmpfs "$work/full"
owner=$(id -un)
[ "$(id -u)" = 0 ] && owner=postgres
"${sudo[@]}" chown "$owner" "$work/full"
PGPORT_FOR_TESTS=54354 cluster_start "$work/cluster"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q -c "INSERT INTO customers SELECT 1000 + g, 1, repeat('x', 100) || g, 'DE', NULL, NULL FROM generate_series(1, 20000) g" >/dev/null
q -c "LOAD 'pg_tenant_backup'" -c "ALTER SYSTEM SET pg_tenant_backup.storage_path = '$work/full/snapshots'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5

err=$(q_error "SELECT backup_create('1', '{\"compression\": \"none\"}')")
check_match "the backup fails with 53100 (disk full)" '^ERROR:  53100: could not write snapshot file' "$err"
check "its row says failed with 53100" "failed|53100" "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE operation = 'backup' ORDER BY id DESC LIMIT 1")"
check "no partial or temporary file is left" 0 "$(find "$work/full/snapshots" -type f ! -name DATABASE | wc -l)"
small=$(q -c "SELECT backup_create('2')")
check "a smaller backup still fits" completed "$(q -c "SELECT status FROM backup_logs WHERE id = $small")"
check "the database is fine" 7 "$(q -c "SELECT count(*) FROM customers WHERE tenant_id = 2 OR id < 20")"
cluster_crashed "$work/cluster" && check "no backend crashed" no yes || check "no backend crashed" no no
finish
