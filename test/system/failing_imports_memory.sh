#!/usr/bin/env bash
# Failing imports give back what they hold: a hundred of them in one
# session, each its own transaction (COPY into stages, the subtransaction,
# the autonomous log row, the refusal), do not grow the backend's private
# memory (RssAnon) by 1 MB.
#
# Each statement is its own transaction on purpose: inside one transaction
# the server keeps bookkeeping of its own for every relation created and
# rolled back in a subtransaction until the transaction ends (about 30 kB a
# failing import here, in TopTransactionContext, the catalog caches and
# the statistics' pending entries, all released at its end). JIT is off:
# its compiled code's freed memory, left resident, would hide growth.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-failing-memory.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54449 cluster_start "$work/cluster" "jit = off"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null

# Two documents, each refused before any change: a master row this
# database lacks (23503), a value of a kind its column never holds (22023).
q -c "CREATE TABLE bad AS
        SELECT jsonb_set(d, '{master_data,1,rows,0,0}', '\"XX\"') AS master,
               jsonb_set(d, '{data,3,rows,0,0}', '\"ten\"') AS type
          FROM (SELECT backup_export('1') AS d) s" >/dev/null
check "the first document is refused for its master row" "23503" \
  "$(q_error "SELECT backup_import(master, 'replace') FROM bad" | sed -E 's/^ERROR: +([0-9A-Z]{5}):.*/\1/')"
check "the second document is refused for a value of the wrong kind" "22023" \
  "$(q_error "SELECT backup_import(type, 'replace') FROM bad" | sed -E 's/^ERROR: +([0-9A-Z]{5}):.*/\1/')"

rounds() {
  for _ in $(seq "$1"); do
    echo "SELECT tenant_backup.backup_import(master, 'replace') FROM bad;"
    echo "SELECT tenant_backup.backup_import(type, 'replace') FROM bad;"
  done
}
rss="SELECT (pg_catalog.regexp_match(pg_catalog.pg_read_file('/proc/' || pg_catalog.pg_backend_pid() || '/status'), 'RssAnon:\\s+(\\d+) kB'))[1]"
# One session: ten rounds to warm its caches; the pool of temporary-table
# buffers filled to its bound (temp_buffers: bounded, not a leak) with a
# table larger than it; ten rounds more, as the first imports after that
# table's drop grow the heap once by about 1.4 MB (1,452 kB after 50,
# 1,500 kB after 300: a step, not a slope); then a hundred failing imports
# between two readings.
{
  echo "SET client_min_messages = error;"
  rounds 10
  echo "CREATE TEMP TABLE ballast AS SELECT pg_catalog.repeat('x', 1000) AS filler
          FROM pg_catalog.generate_series(1, (pg_catalog.pg_size_bytes(pg_catalog.current_setting('temp_buffers')) * 3 / 2 / 1000)::int);"
  echo "DROP TABLE ballast;"
  rounds 10
  echo "SELECT 'before', ($rss);"
  rounds 50
  echo "SELECT 'after', ($rss);"
} >"$work/session.sql"
out=$(psql -qXAt -F ' ' -f "$work/session.sql" 2>/dev/null || true)
before=$(echo "$out" | awk '$1 == "before" { print $2 }')
after=$(echo "$out" | awk '$1 == "after" { print $2 }')
check_match "the session read its memory before and after" '^[0-9]+ [0-9]+$' "$before $after"
growth=$(( ${after:-999999} - ${before:-0} ))
echo "         RssAnon growth over 100 failing imports: $growth kB"
check "100 failing imports, each its own transaction, grow the backend's private memory by less than 1 MB" yes \
  "$([ "$growth" -lt 1024 ] && echo yes || echo "no: $growth kB")"
check "every failing import is logged as failed" "142" \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE operation = 'import' AND status = 'failed'")"
check "no backend crashed" no "$(cluster_crashed "$work/cluster" && echo yes || echo no)"
finish
