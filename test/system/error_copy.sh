#!/usr/bin/env bash
# The error an import or restore raises again after rolling back its
# subtransaction is a whole copy: every field, the
# server's file and function names too, outlives the rollback that frees
# the memory it was raised in. The server runs with MALLOC_PERTURB_ set, so
# memory handed back to malloc (the subtransaction's contexts) is
# overwritten at once; a field left pointing there shows garbage.
# Checked with VERBOSITY verbose: the LOCATION (function, file, line) and
# the rest of the error of a failing import and restore, several times
# each, must be those PostgreSQL reports for the same error raised by a
# plain statement.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-error-copy.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
MALLOC_PERTURB_=165 PGPORT_FOR_TESTS=54441 cluster_start "$work/cluster" "pg_tenant_backup.allow_restore = on"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null

# The error lines of a failing statement (ERROR, DETAIL, HINT, CONTEXT
# left out: it names the statement), bytes made visible.
error_of() {
  psql -qX -v VERBOSITY=verbose "$@" 2>&1 | grep -aE '^(ERROR|DETAIL|HINT|LOCATION):' | cat -v | cut -c1-200 | paste -sd'|' || true
}

# A row of events (partitioned by range of `at`) that no partition takes:
# the executor raises 23514 from execPartition.c.
expected=$(error_of -c "INSERT INTO events VALUES (9, 1, '2030-01-01')")
check_match "the plain statement's error has a location" 'LOCATION:  ExecFindPartition, execPartition\.c:[0-9]+' "$expected"
q -c "CREATE TABLE doc AS SELECT jsonb_set(backup_export('1'), '{data,0,rows,0,2}', '\"2030-01-01\"') d" >/dev/null
check "the document puts a row where no partition takes it" '"2030-01-01"' \
  "$(q -c "SELECT d -> 'data' -> 0 -> 'rows' -> 0 -> 2 FROM doc WHERE d -> 'data' -> 0 ->> 'name' = 'events'")"
for i in 1 2 3 4 5; do
  check "import $i: the error raised again is the server's, location included" "$expected" \
    "$(error_of -c "SELECT backup_import(d, 'replace') FROM doc")"
done

# A restore: the stored snapshot has a row of 2026, whose partition is gone.
id=$(q -c "SELECT backup_create('1')")
q -c "DELETE FROM events WHERE at >= '2026-01-01'" -c "DROP TABLE events_2026" >/dev/null
expected=$(error_of -c "INSERT INTO events VALUES (9, 1, '2026-05-01')")
for i in 1 2 3; do
  check "restore $i: the error raised again is the server's, location included" "$expected" \
    "$(error_of -c "SELECT backup_restore($id)")"
done
check "each failure is logged, failed, with the error's SQLSTATE" "8|23514" \
  "$(q -c "SELECT count(*) || '|' || string_agg(DISTINCT error ->> 'sqlstate', ',') FROM backup_logs WHERE operation IN ('import', 'restore') AND status = 'failed'")"
check "no backend crashed" no "$(cluster_crashed "$work/cluster" && echo yes || echo no)"
finish
