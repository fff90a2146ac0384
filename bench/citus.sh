#!/usr/bin/env bash
# Restore of one tenant on a Citus cluster (a coordinator and two workers on
# this machine) against the same restore on a single PostgreSQL server, in
# one run on the same rows (docs/performance.md, "Citus"). Also reports the
# shards the Citus restore touched, from Citus' own log of the commands it
# sends: one shard group (and the reference table) is expected.
#
#   ROWS=300000 bash bench/citus.sh     # order lines of tenant 1 (of 4 tenants)
#
# Each figure is the best of RUNS (default 3) runs. "restore" is
# backup_import_stored(id, 'replace') of the tenant's stored snapshot into
# the emptied tenant: backup_restore without its pre_restore snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh
source test/lib/citus.sh

ROWS=${ROWS:-300000}
RUNS=${RUNS:-3}
CSV=${CSV:-bench/results-citus.csv}
rc=0
bash scripts/build-citus.sh || rc=$?
[ "$rc" = 0 ] || { echo "bench/citus.sh: Citus is not available (build-citus exit $rc)"; exit 1; }
work=$(mktemp -d /tmp/ptb-bench-citus.XXXXXX)
chmod 755 "$work"
trap 'citus_stop "$work/citus"; cluster_stop "$work/single"; rm -rf "$work"' EXIT
conf=("shared_buffers = 512MB" "work_mem = 64MB" "maintenance_work_mem = 256MB" "max_wal_size = 4GB")

schema() {  # distribute: 1 on Citus
  psql -qX -v ON_ERROR_STOP=1 -v distribute="$1" -v rows="$ROWS" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (tenant_id int NOT NULL, id bigint NOT NULL, name text NOT NULL, country text,
                        PRIMARY KEY (tenant_id, id));
CREATE TABLE orders (tenant_id int NOT NULL, id bigint NOT NULL, customer_id bigint NOT NULL,
                     total numeric(12, 2) NOT NULL, placed_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE order_lines (tenant_id int NOT NULL, order_id bigint NOT NULL, line int NOT NULL, sku text NOT NULL,
                          qty int NOT NULL, PRIMARY KEY (tenant_id, order_id, line));
\if :distribute
SELECT create_reference_table('countries');
SELECT create_distributed_table('tenants', 'id');
SELECT create_distributed_table('customers', 'tenant_id', colocate_with := 'tenants');
SELECT create_distributed_table('orders', 'tenant_id', colocate_with := 'tenants');
SELECT create_distributed_table('order_lines', 'tenant_id', colocate_with := 'tenants');
\endif
ALTER TABLE customers ADD FOREIGN KEY (tenant_id) REFERENCES tenants;
ALTER TABLE customers ADD FOREIGN KEY (country) REFERENCES countries;
ALTER TABLE orders ADD FOREIGN KEY (tenant_id, customer_id) REFERENCES customers;
ALTER TABLE order_lines ADD FOREIGN KEY (tenant_id, order_id) REFERENCES orders ON DELETE CASCADE;
INSERT INTO countries VALUES ('DE', 'Germany'), ('FR', 'France'), ('JP', 'Japan');
INSERT INTO tenants SELECT t, 'tenant ' || t FROM generate_series(1, 4) t;
INSERT INTO customers SELECT t, c, 'customer ' || c, (ARRAY['DE', 'FR', 'JP'])[1 + c % 3]
  FROM generate_series(1, 4) t, generate_series(1, 1000) c;
INSERT INTO orders SELECT t, o, 1 + o % 1000, (o % 10000) / 100.0, '2026-01-01'::timestamptz + o * interval '1 minute'
  FROM generate_series(1, 4) t, generate_series(1, (:rows / 3) / CASE WHEN t = 1 THEN 1 ELSE 4 END) o;
INSERT INTO order_lines SELECT o.tenant_id, o.id, l, 'sku-' || (o.id * l % 997), 1 + l
  FROM orders o, generate_series(1, 3) l;
ANALYZE;
SQL
}

best=()
shards=""
measure() {  # label
  local label=$1 id best_s="" i start end s
  # (On Citus a snapshot needs a REPEATABLE READ block: docs/citus.md.)
  id=$(psql -qXAt -v ON_ERROR_STOP=1 -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
         -c "SELECT backup_create('1', '{}', 'bench')" -c "COMMIT")
  for i in $(seq "$RUNS"); do
    psql -qXAt -v ON_ERROR_STOP=1 -c "DELETE FROM orders WHERE tenant_id = 1" -c "CHECKPOINT" >/dev/null
    start=$(date +%s.%N)
    psql -qXAt -v ON_ERROR_STOP=1 -c "SELECT backup_import_stored($id, 'replace')" >/dev/null
    end=$(date +%s.%N)
    s=$(echo "$end - $start" | bc)
    if [ -z "$best_s" ] || [ "$(echo "$s < $best_s" | bc)" = 1 ]; then best_s=$s; fi
    echo "   $label run $i: $s s"
  done
  best+=("$best_s")
  snapshot_id=$id
}

echo "== single server: tenant 1 has $ROWS order lines (+ orders, customers), 3 other tenants a quarter each"
PGPORT_FOR_TESTS=${BENCH_PORT:-54380} cluster_start "$work/single" "${conf[@]}"
schema 0
measure single
cluster_stop "$work/single"

echo "== Citus: a coordinator and two workers, the same rows"
citus_start "$work/citus" $((${BENCH_PORT:-54380} + 10)) "${conf[@]}" >/dev/null
schema 1
measure citus
id=$snapshot_id
psql -qXAt -c "DELETE FROM orders WHERE tenant_id = 1" >/dev/null
shards=$(psql -qXAt -v ON_ERROR_STOP=1 2>&1 >/dev/null <<SQL | grep -oE '\b(tenants|customers|orders|order_lines|countries)_[0-9]+\b' | sort -u | tr '\n' ' '
SET citus.log_remote_commands = on;
SET citus.log_local_commands = on;
SET client_min_messages = log;
SELECT backup_import_stored($id, 'replace');
SQL
) || true
groups=$(psql -qXAt -c "SELECT count(DISTINCT get_shard_id_for_distribution_column('tenants', t)) FROM generate_series(1, 4) t")
ratio=$(echo "scale=2; ${best[1]} / ${best[0]}" | bc)
echo
printf '%-34s %10s\n' "restore of tenant 1 (best of $RUNS)" "seconds"
printf '%-34s %10.3f\n' "single server" "${best[0]}" "Citus (coordinator + 2 workers)" "${best[1]}"
echo "ratio Citus / single server: $ratio (target <= 2)"
echo "shards the Citus restore touched: $shards"
echo "(the 4 tenants live in $groups shard groups)"
{
  echo "rows,single_s,citus_s,ratio,shards_touched"
  echo "$ROWS,${best[0]},${best[1]},$ratio,\"$shards\""
} >"$CSV"
echo "written: $CSV"
