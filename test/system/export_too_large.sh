#!/usr/bin/env bash
# A tenant too large for one jsonb value (here 280 MB of text) gets a clear
# 54000 error that points to backup_create; nothing is logged, and the
# server and session carry on.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
work=$(mktemp -d /tmp/ptb-too-large.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54343 cluster_start "$work/cluster"

psql -qX -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY);
INSERT INTO tenants VALUES (1), (2);
CREATE TABLE blobs (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, body text);
ALTER TABLE blobs ALTER body SET STORAGE EXTERNAL;
INSERT INTO blobs SELECT g, 1, repeat(md5(g::text), 31250) FROM generate_series(1, 280) g;
INSERT INTO blobs VALUES (1000, 2, 'small');
SQL

out=$(psql -qXAt -v VERBOSITY=verbose -c "SELECT backup_export('1')" 2>&1 || true)
echo "$out" | head -3
fail() { echo "FAIL: $*"; exit 1; }
grep -q "ERROR:  54000: the snapshot is too large to be returned as one jsonb value" <<<"$out" || fail "no 54000 error"
grep -q "HINT:  Use backup_create" <<<"$out" || fail "no hint to backup_create"
[ "$(psql -qXAt -c "SELECT count(*) FROM backup_logs")" = 0 ] || fail "a failed export left a log row"
small=$(psql -qXAt -c "SELECT backup_export('2') -> 'statistics' -> 'total_rows'")
[ "$small" = 2 ] || fail "the next export did not work (total_rows $small)"
cluster_crashed "$work/cluster" && fail "a backend crashed"
echo "PASS: 280 MB tenant refused with 54000 and a hint; next export fine"
