#!/usr/bin/env bash
# The Node.js example (examples/node, node-postgres) against a throwaway
# cluster: export a tenant to a file, preview and merge it back, and the
# 55P03 an application handles when the tenant is busy.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-node.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
# The server's default search_path: the example must name the schema.
CLUSTER_PLAIN_SEARCH_PATH=1 PGPORT_FOR_TESTS=54353 cluster_start "$work/cluster"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
(cd examples/node && npm ci --no-audit --no-fund --silent >/dev/null)
# events has no primary key, so merge could not match its rows: left out.
js=examples/node/tenant_export_import.js
file="$work/tenant-2.json"
out=$(node $js export 2 "$file" '{"exclude_tables": ["audit_logs", "backup_logs", "events"]}')
check "the export is written" 'exported tenant 2: 7 tables, 20 rows' "$out"
check "the file is the snapshot document" pg_tenant_backup "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['format'])" "$file")"
out=$(node $js import "$file")
check "the dry run previews an unchanged tenant" 'dry run: {"deleted":0,"updated":0,"inserted":0,"unchanged":20}' "$(echo "$out" | head -1)"
check "the merge changes nothing" 'merged: {"deleted":0,"updated":0,"inserted":0,"unchanged":20}' "$(echo "$out" | tail -1)"
q -c "DELETE FROM line_notes WHERE id = 2" -c "UPDATE customers SET name = 'changed' WHERE id = 21" >/dev/null
out=$(node $js import "$file")
check "a merge puts back a deleted row and an update" 'merged: {"deleted":0,"updated":1,"inserted":1,"unchanged":18}' "$(echo "$out" | tail -1)"
check "the row is back" fragile "$(q -c "SELECT note FROM line_notes WHERE id = 2")"
check "the update is undone" Dora "$(q -c "SELECT name FROM customers WHERE id = 21")"
PGAPPNAME=lock_holder psql -qXAt -c "BEGIN" -c "SELECT pg_advisory_xact_lock(hashtext('pg_tenant_backup:' || current_database()), hashtext('tenant:2'))" \
  -c "SELECT pg_sleep(30)" >/dev/null 2>&1 &
sleep 1
out=$(node $js import "$file" 2>&1 || true)
check "a busy tenant gives 55P03, which the app handles" 'busy: another import or restore of this tenant is running; try later' "$out"
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock_holder'" >/dev/null
wait 2>/dev/null || true
finish
