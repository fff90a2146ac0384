#!/usr/bin/env bash
# One snapshot per export: while writers move amounts between two tables of
# a tenant (wallets -> vault, one transaction each), every export's total
# stays the same, at READ COMMITTED and REPEATABLE READ. A large table is
# read between the two, so an export that took a snapshot per table would
# see transfers half done.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
work=$(mktemp -d /tmp/ptb-consistency.XXXXXX)
chmod 755 "$work"
trap 'kill %1 2>/dev/null || true; cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54342 cluster_start "$work/cluster"

runs_rc=${EXPORT_RUNS:-20}
runs_rr=$((runs_rc / 2))
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY, name text);
CREATE TABLE wallets (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, amount bigint NOT NULL);
CREATE TABLE ledger (id bigserial PRIMARY KEY, wallet_id int NOT NULL REFERENCES wallets, note text);
CREATE TABLE vault (wallet_id int PRIMARY KEY REFERENCES wallets, amount bigint NOT NULL);
INSERT INTO tenants VALUES (1, 'bank'), (2, 'other');
INSERT INTO wallets SELECT g, 1 + (g > 10)::int, 1000 FROM generate_series(1, 20) g;
INSERT INTO vault SELECT g, 0 FROM generate_series(1, 20) g;
INSERT INTO ledger (wallet_id, note) SELECT 1 + g % 10, repeat('x', 40) FROM generate_series(1, 200000) g;
ANALYZE;
SQL

cat > "$work/transfer.sql" <<'EOF2'
\set w random(1, 10)
\set x random(1, 50)
BEGIN;
UPDATE wallets SET amount = amount - :x WHERE id = :w;
SELECT pg_sleep(0.002);
UPDATE vault SET amount = amount + :x WHERE wallet_id = :w;
COMMIT;
EOF2
"$PG_BINDIR/pgbench" -n -c 2 -T 60 -f "$work/transfer.sql" >"$work/pgbench.log" 2>&1 &
sleep 1

# The tenant's total in one export: wallets + vault.
total_sql="SELECT sum((r ->> CASE x ->> 'name' WHEN 'wallets' THEN 2 ELSE 1 END)::bigint)
  FROM jsonb_array_elements(backup_export('1') -> 'data') x, jsonb_array_elements(x -> 'rows') r
 WHERE x ->> 'name' IN ('wallets', 'vault')"
ok=0
bad=0
for level in "read committed" "repeatable read"; do
  runs=$runs_rc
  [ "$level" = "repeatable read" ] && runs=$runs_rr
  for i in $(seq "$runs"); do
    total=$(psql -qXAt -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL $level" -c "$total_sql" -c "COMMIT")
    if [ "$total" = 10000 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "inconsistent export at $level: total $total"; fi
  done
done

# The same two tables read by two statements (two snapshots) do see
# transfers half done: the writers really were moving money meanwhile.
torn=0
for i in $(seq 10); do
  t=$(psql -qXAt -c "SELECT sum(amount) FROM wallets WHERE tenant_id = 1" -c "SELECT pg_sleep(0.01)" \
        -c "SELECT sum(v.amount) FROM vault v JOIN wallets w ON w.id = v.wallet_id WHERE w.tenant_id = 1" |
      awk 'NF {s += $1} END {print s}')
  [ "$t" = 10000 ] || torn=$((torn + 1))
done
kill %1 2>/dev/null || true
wait 2>/dev/null || true
commits=$(psql -qXAt -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
final=$(psql -qXAt -c "SELECT (SELECT sum(amount) FROM wallets WHERE tenant_id = 1) + (SELECT sum(v.amount) FROM vault v JOIN wallets w ON w.id = v.wallet_id WHERE w.tenant_id = 1)")

echo "exports: $((ok + bad)) run, $ok consistent, $bad inconsistent; two-statement reads torn: $torn of 10; transactions committed: $commits; final total $final"
[ "$final" = 10000 ] || { echo "FAIL: the writers broke the invariant"; exit 1; }
[ "$commits" -gt 100 ] || { echo "FAIL: the writers did not run"; exit 1; }
[ "$bad" = 0 ] || { echo "FAIL: an export mixed snapshots"; exit 1; }
cluster_crashed "$work/cluster" && { echo "FAIL: a backend crashed"; exit 1; }
echo "PASS"
