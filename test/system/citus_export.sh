#!/usr/bin/env bash
# The export side on a Citus cluster (docs/citus.md): a coordinator and two
# workers (test/lib/citus.sh), the row-sharded fixture
# (test/fixtures/citus_shop.sql) and two tenant schemas of schema-based
# sharding.
# - Shard relations (orders_102008) never appear as tables in backup_stats,
#   backup_coverage or backup_export, with shards made visible to the
#   session, on the coordinator (its reference-table placements) and on the
#   workers.
# - One snapshot per export: while pgbench moves amounts between two
#   colocated distributed tables of tenant 1, every export in a REPEATABLE
#   READ transaction block keeps the tenant's total; at READ COMMITTED, or
#   outside a transaction block, backup_export and backup_create are
#   refused (0A000, nothing logged) and backup_stats still counts;
#   scheduled backups taken under the same load complete and keep the
#   total; in a database without citus nothing changes.
# - Schema-based sharding with schema tenancy: stats, export, create and
#   verify of one tenant schema, none of the other schema's rows in it.
# - '*' schedules in column and in schema tenancy back up every tenant (the
#   jobs run each backup in a REPEATABLE READ transaction block on Citus),
#   and max_backups still keeps one per tenant.
# - No backend crashed on any node.
# Skipped (exit 77) without the Citus source or on a server Citus does not
# support (citus_require). EXPORT_RUNS (default 10) exports under load.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/citus.sh
source test/lib/assert.sh
citus_require citus_export
work=$(mktemp -d /tmp/ptb-citus-export.XXXXXX)
chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; citus_stop "$work/citus"; rm -rf "$work"' EXIT
citus_start "$work/citus" 56410 "pg_tenant_backup.database = 'postgres'" "max_worker_processes = 24" >/dev/null
q -f test/fixtures/citus_shop.sql >/dev/null
runs=${EXPORT_RUNS:-10}

rr() {  # the statements, each as a -c, in one REPEATABLE READ transaction
  local args=(-c "BEGIN ISOLATION LEVEL REPEATABLE READ")
  local s
  for s in "$@"; do args+=(-c "$s"); done
  q "${args[@]}" -c "COMMIT"
}
shard_names='[_][0-9]+$'
show_shards=(-c "SET citus.show_shards_for_app_name_prefixes = '*'")

echo "# shards are never tables of a snapshot"
check_match "the coordinator holds a reference-table placement the session can see" "countries_[0-9]+" \
  "$(q "${show_shards[@]}" -c "SELECT string_agg(relname, ',') FROM pg_class WHERE relname ~ '^countries_[0-9]+$'")"
check "the worker holds shards of tenant 1's tables (visible)" t \
  "$(citus_worker_psql "$work/citus" 1 -qXAt "${show_shards[@]}" -c "SELECT count(*) >= 4 FROM pg_class WHERE relname ~ '^(tenants|customers|orders|order_lines)_[0-9]+$'")"
expected_stats="public.countries|master
public.notes|tenant
public.tenants|tenant
public.customers|tenant
public.orders|tenant
public.order_lines|tenant"
check "coordinator, shards visible: backup_stats lists the distributed tables, no shard" "$expected_stats" \
  "$(q "${show_shards[@]}" -c "SELECT table_name, role FROM backup_stats('1')")"
check "coordinator, shards visible: backup_coverage names no shard" 0 \
  "$(q "${show_shards[@]}" -c "SELECT count(*) FROM backup_coverage('1') WHERE table_name ~ '$shard_names'")"
check "coordinator, shards visible: the export names no shard (data, master data, coverage)" "0|5|0" \
  "$(rr "SET citus.show_shards_for_app_name_prefixes = '*'" "SELECT (SELECT count(*) FROM jsonb_path_query(d, '\$.**.name') x WHERE x #>> '{}' ~ '$shard_names'),
        jsonb_array_length(d -> 'data'), jsonb_array_length(d -> 'metadata' -> 'coverage' -> 'left_out')
   FROM backup_export('1') d" | tail -n 1)"
worker_stats=$(citus_worker_psql "$work/citus" 1 -qXAt "${show_shards[@]}" -c "SELECT string_agg(table_name, ',') FROM backup_stats('1')")
check "worker, shards visible: backup_stats lists the tables, no shard" \
  "public.countries,public.tenants,public.customers,public.orders,public.order_lines" "$worker_stats"
check "worker, shards visible: backup_coverage names no shard" 0 \
  "$(citus_worker_psql "$work/citus" 1 -qXAt "${show_shards[@]}" -c "SELECT count(*) FROM backup_coverage('1') WHERE table_name ~ '$shard_names'")"

echo "# one snapshot per export under concurrent transfers"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE wallets (tenant_id int NOT NULL, id int NOT NULL, amount bigint NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE TABLE vault (tenant_id int NOT NULL, wallet_id int NOT NULL, amount bigint NOT NULL, PRIMARY KEY (tenant_id, wallet_id));
SELECT create_distributed_table('wallets', 'tenant_id', colocate_with := 'tenants');
SELECT create_distributed_table('vault', 'tenant_id', colocate_with := 'tenants');
ALTER TABLE wallets ADD FOREIGN KEY (tenant_id) REFERENCES tenants;
ALTER TABLE vault ADD FOREIGN KEY (tenant_id, wallet_id) REFERENCES wallets;
INSERT INTO wallets SELECT t, g, 1000 FROM generate_series(1, 3) t, generate_series(1, 10) g;
INSERT INTO vault SELECT t, g, 0 FROM generate_series(1, 3) t, generate_series(1, 10) g;
SQL
cat >"$work/transfer.sql" <<'EOF'
\set w random(1, 10)
\set x random(1, 50)
BEGIN;
UPDATE wallets SET amount = amount - :x WHERE tenant_id = 1 AND id = :w;
SELECT pg_sleep(0.002);
UPDATE vault SET amount = amount + :x WHERE tenant_id = 1 AND wallet_id = :w;
COMMIT;
EOF
"$PG_BINDIR/pgbench" -n -c 2 -T 600 -f "$work/transfer.sql" >"$work/pgbench.log" 2>&1 &
pgbench_pid=$!
sleep 1
# The tenant's total in one export: wallets + vault (amount is column 3 of both).
total_sql="SELECT sum((r ->> 2)::bigint) FROM backup_export('1') d, jsonb_array_elements(d -> 'data') x,
  jsonb_array_elements(x -> 'rows') r WHERE x ->> 'name' IN ('wallets', 'vault')"
consistent=0
totals=""
for i in $(seq "$runs"); do
  total=$(rr "$total_sql" | tail -n 1)
  [ "$total" = 10000 ] && consistent=$((consistent + 1)) || totals="$totals $total"
done
check "every REPEATABLE READ export keeps the tenant's total ($runs exports)" "$runs" "$consistent${totals:+ (totals:$totals)}"
# Two statements at READ COMMITTED do see transfers half done: the writers
# really were moving amounts while the exports ran.
torn=0
for i in $(seq 20); do
  t=$(q -c "SELECT sum(amount) FROM wallets WHERE tenant_id = 1" -c "SELECT pg_sleep(0.01)" \
        -c "SELECT sum(amount) FROM vault WHERE tenant_id = 1" | awk 'NF && $1 != "" {s += $1} END {print s}')
  [ "$t" = 10000 ] || torn=$((torn + 1))
done
check_match "two READ COMMITTED statements see transfers half done (torn of 20: $torn)" '^([1-9]|1[0-9]|20)$' "$torn"
before=$(q -c "SELECT count(*) FROM backup_logs")
check "READ COMMITTED: backup_export is refused" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block" \
  "$(q_error "SELECT backup_export('1')")"
hint=$(psql -qXAt -c "SELECT backup_export('1')" 2>&1 | grep HINT || true)
check_match "the hint says how to run it" 'BEGIN ISOLATION LEVEL REPEATABLE READ' "$hint"
check "READ COMMITTED: backup_create is refused" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block" \
  "$(q_error "SELECT backup_create('1')")"
check "and leaves no row in backup_logs" "$before" "$(q -c "SELECT count(*) FROM backup_logs")"
check "READ COMMITTED: backup_stats still counts" 8 "$(q -c "SELECT count(*) FROM backup_stats('1')")"
# Outside a transaction block Citus reads without a transaction on the
# workers, whatever the isolation level: such an export could be torn too.
check "REPEATABLE READ outside a transaction block: refused too" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block" \
  "$(PGOPTIONS="-c default_transaction_isolation=repeatable\\ read" q_error "SELECT backup_export('1')")"
check "in a block with citus.select_opens_transaction_block off: refused, with the hint to turn it on" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block|HINT:  SET citus.select_opens_transaction_block = on" \
  "$(psql -qXAt -v VERBOSITY=verbose -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL citus.select_opens_transaction_block = off; SELECT backup_export('1')" 2>&1 |
     grep -E '^(ERROR|HINT):' | sed -E 's/, and run it.*//' | paste -sd '|')"
id=$(rr "SELECT backup_create('1', '{\"compression\": \"none\"}')" | tail -n 1)
check "REPEATABLE READ: backup_create under load completes and verifies" "completed|true" \
  "$(q -c "SELECT status, backup_verify($id) ->> 'ok' FROM backup_logs WHERE id = $id")"
# Scheduled backups under the same load: the jobs run in a REPEATABLE READ
# transaction block, so they are taken, and each keeps the total.
q -c "SELECT backup_schedule_create('transfers', '1', '1 second', '{\"compression\": \"none\"}')" >/dev/null
for i in $(seq 150); do
  [ "$(q -c "SELECT count(*) >= 4 FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'transfers') AND status = 'completed'")" = t ] && break
  sleep 0.2
done
q -c "SELECT backup_schedule_drop('transfers')" >/dev/null
check "scheduled backups under load complete, none fails" "t|0" \
  "$(q -c "SELECT count(*) FILTER (WHERE status = 'completed') >= 4, count(*) FILTER (WHERE status = 'failed') FROM backup_logs WHERE trigger = 'scheduled' AND tenant = '1'")"
check "every scheduled backup keeps the tenant's total" "" \
  "$(q -c "SELECT l.id, (SELECT sum((r ->> 2)::bigint) FROM jsonb_array_elements(backup_read(l.id) -> 'data') x, jsonb_array_elements(x -> 'rows') r
                         WHERE x ->> 'name' IN ('wallets', 'vault')) AS total
           FROM backup_logs l WHERE l.trigger = 'scheduled' AND l.tenant = '1' AND l.status = 'completed'" | grep -v '|10000$' || true)"
kill "$pgbench_pid" 2>/dev/null || true
wait "$pgbench_pid" 2>/dev/null || true
check "the writers moved amounts into the vault" t "$(q -c "SELECT sum(amount) > 0 FROM vault WHERE tenant_id = 1")"
check "after the load the total is still 10000" 10000 \
  "$(q -c "SELECT (SELECT sum(amount) FROM wallets WHERE tenant_id = 1) + (SELECT sum(amount) FROM vault WHERE tenant_id = 1)")"

echo "# without citus in the database nothing changes"
q -c "CREATE DATABASE plain" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -d plain >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY, name text);
CREATE TABLE orders_102008 (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants);
INSERT INTO tenants VALUES (1, 'one');
INSERT INTO orders_102008 VALUES (1, 1), (2, 1);
SQL
check "READ COMMITTED export works, a table named like a shard is a table" "orders_102008|2" \
  "$(q -d plain -c "SELECT x ->> 'name', jsonb_array_length(x -> 'rows') FROM jsonb_array_elements(backup_export('1') -> 'data') x WHERE x ->> 'name' LIKE 'orders%'")"

echo "# schema-based sharding, schema tenancy"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE plans (code text PRIMARY KEY, price numeric NOT NULL);
SELECT create_reference_table('plans');
INSERT INTO plans VALUES ('basic', 10), ('pro', 50);
SET citus.enable_schema_based_sharding = on;
CREATE SCHEMA tenant_a;
CREATE SCHEMA tenant_b;
CREATE TABLE tenant_a.accounts (id int PRIMARY KEY, plan text REFERENCES public.plans, balance bigint NOT NULL);
CREATE TABLE tenant_a.entries (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tenant_a.accounts, amount bigint NOT NULL);
CREATE TABLE tenant_b.accounts (id int PRIMARY KEY, plan text REFERENCES public.plans, balance bigint NOT NULL);
CREATE TABLE tenant_b.entries (id int PRIMARY KEY, account_id int NOT NULL REFERENCES tenant_b.accounts, amount bigint NOT NULL);
RESET citus.enable_schema_based_sharding;
INSERT INTO tenant_a.accounts SELECT g, 'basic', 100 FROM generate_series(1, 5) g;
INSERT INTO tenant_a.entries SELECT g, 1 + g % 5, g FROM generate_series(1, 20) g;
INSERT INTO tenant_b.accounts SELECT g, 'pro', 900 FROM generate_series(1, 3) g;
INSERT INTO tenant_b.entries SELECT g, 1 + g % 3, -g FROM generate_series(1, 7) g;
SQL
check "the tenant schemas are distributed schemas" "tenant_a,tenant_b" \
  "$(q -c "SELECT string_agg(schemaid::regnamespace::text, ',' ORDER BY 1) FROM pg_dist_schema")"
schema_opts="'{\"tenancy\": \"schema\"}'"
check "backup_stats of tenant_a: its tables and the plan it references" "public.plans|master|1
tenant_a.accounts|tenant|5
tenant_a.entries|tenant|20" "$(q -c "SELECT * FROM backup_stats('tenant_a', $schema_opts)")"
check "backup_export of tenant_a: only tenant_a's tables and rows" "tenant_a,tenant_a|25|210|basic" \
  "$(rr "SELECT (SELECT string_agg(DISTINCT x ->> 'schema', ',') FROM jsonb_array_elements(d -> 'data') x)
            || ',' || (SELECT string_agg(DISTINCT x ->> 'schema', ',') FROM jsonb_array_elements(d -> 'schema' -> 'tables') x WHERE x ->> 'role' <> 'master'),
          d -> 'statistics' ->> 'total_rows',
          (SELECT sum((r ->> 2)::bigint) FROM jsonb_array_elements(d -> 'data') x, jsonb_array_elements(x -> 'rows') r WHERE x ->> 'name' = 'entries'),
          (SELECT string_agg(r ->> 0, ',') FROM jsonb_array_elements(d -> 'master_data') x, jsonb_array_elements(x -> 'rows') r)
     FROM backup_export('tenant_a', $schema_opts) d" | tail -n 1)"
check "READ COMMITTED: the schema's export is refused too" \
  "ERROR:  0A000: a tenant snapshot of Citus distributed tables needs a REPEATABLE READ transaction block" \
  "$(q_error "SELECT backup_export('tenant_a', $schema_opts)")"
id=$(rr "SELECT backup_create('tenant_a', $schema_opts)" | tail -n 1)
check "backup_create of tenant_a completes with 25 rows" "completed|25|tenant_a" \
  "$(q -c "SELECT status, row_count, tenant FROM backup_logs WHERE id = $id")"
check "backup_verify of it is ok" "true|[]" \
  "$(q -c "SELECT v ->> 'ok', v ->> 'errors' FROM backup_verify($id) v")"
for n in 1 2; do
  check "worker $n, shards visible: tenant_a's stats name no shard" "public.plans,tenant_a.accounts,tenant_a.entries" \
    "$(citus_worker_psql "$work/citus" $n -qXAt "${show_shards[@]}" -c "SELECT string_agg(table_name, ',') FROM backup_stats('tenant_a', $schema_opts)")"
done

echo "# '*' schedules in column and in schema tenancy"
q -c "SELECT backup_schedule_create('rows', '*', '2 seconds', '{\"compression\": \"none\", \"max_backups\": 1}')" \
  -c "SELECT backup_schedule_create('schemas', '*', '2 seconds', '{\"tenancy\": \"schema\", \"max_backups\": 1}')" >/dev/null
done_sql() { echo "SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = '$1') AND status IN ('completed', 'expired')"; }
wait_for 60 "$(done_sql rows)" "1,2,3" || true
wait_for 30 "$(done_sql schemas)" "tenant_a,tenant_b" || true
sleep 3  # a few more runs of each
q -c "SELECT backup_schedule_disable('rows')" -c "SELECT backup_schedule_disable('schemas')" >/dev/null
# A job whose backup fails inside its transaction block: the failure is a
# row, the block is rolled back, and the job records the schedule's result.
# (backup_schedule_create refuses a tenant that does not exist: the
# schedule is made for tenant 1, then pointed at a missing one.)
q -c "SELECT backup_schedule_create('ghost', '1', '1 hour')" \
  -c "UPDATE backup_schedules SET tenant = '77', next_run_at = now() WHERE name = 'ghost'" >/dev/null
wait_for 20 "SELECT last_status LIKE 'failed%' FROM backup_schedules WHERE name = 'ghost'" t || true
check "a failing scheduled backup leaves its failed row (42704) and the schedule's result" "failed|42704|failed: 1 of 1 backups" \
  "$(q -c "SELECT l.status, l.error ->> 'sqlstate', s.last_status FROM backup_logs l JOIN backup_schedules s ON s.id = l.schedule_id WHERE s.name = 'ghost'")"
q -c "SELECT backup_schedule_drop('ghost')" >/dev/null
check "column tenancy '*': every tenant of the distributed tenant table is backed up" "1,2,3" "$(q -c "$(done_sql rows)")"
check "schema tenancy '*': each distributed schema, not public (reference tables) nor Citus' own" "tenant_a,tenant_b" \
  "$(q -c "SELECT string_agg(DISTINCT tenant, ',' ORDER BY tenant) FROM backup_logs WHERE schedule_id = (SELECT id FROM backup_schedules WHERE name = 'schemas')")"
check "no scheduled backup of the '*' schedules failed" "0" \
  "$(q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'scheduled' AND tenant <> '77' AND status NOT IN ('completed', 'expired', 'running')")"
wait_for 20 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup job'" 0 || true
check "max_backups 1 keeps one backup per tenant" "1|1|1|1|1" \
  "$(q -c "SELECT string_agg(n::text, '|') FROM (SELECT count(*) n FROM backup_list b JOIN backup_logs l USING (id)
         WHERE l.schedule_id IN (SELECT id FROM backup_schedules WHERE name IN ('rows', 'schemas')) GROUP BY b.tenant ORDER BY b.tenant) c")"
check "the schedules say completed" "completed,completed" \
  "$(q -c "SELECT string_agg(last_status, ',') FROM backup_schedules WHERE name IN ('rows', 'schemas')")"
sched_id=$(q -c "SELECT max(id) FROM backup_logs WHERE tenant = '1' AND trigger = 'scheduled' AND status = 'completed'")
check "a scheduled backup of tenant 1 verifies" true "$(q -c "SELECT backup_verify($sched_id) ->> 'ok'")"

citus_crashed "$work/citus" && check "no backend crashed on any node" no yes || check "no backend crashed on any node" no no
finish
