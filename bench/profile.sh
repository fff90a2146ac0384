#!/usr/bin/env bash
# Where backup_create's time goes, next to COPY TO of the same rows: loads
# bench/dataset.sql on a throwaway cluster, then profiles one call of each
# operation in a backend.
#
#   ROWS=200000 bash bench/profile.sh              # callgrind and perf
#   TOOLS=perf ROWS=1000000 bash bench/profile.sh  # perf only
#   OUT=/tmp/prof bash bench/profile.sh            # keep the raw profiles there
#
# callgrind: the server runs under valgrind --tool=callgrind (backends are
# forked, so each one is profiled), collecting only inside the SQL-callable
# function (--toggle-collect=backup_create / DoCopy): backend start-up,
# parsing and the background workers that write the backup log are left
# out. Counts are instructions (Ir), exact and repeatable.
# perf: perf record -g --call-graph dwarf on the backend of a normal
# server, sampling cycles for the whole statement.
# Prints callgrind_annotate's and perf report's top functions; the raw
# profiles stay in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

ROWS=${ROWS:-200000}
TOOLS=${TOOLS:-callgrind perf}
OUT=${OUT:-$(mktemp -d /tmp/ptb-profile.XXXXXX)}
TOP=${TOP:-25}
mkdir -p "$OUT"
chmod 777 "$OUT"
work=$(mktemp -d /tmp/ptb-profile-cluster.XXXXXX)
chmod 755 "$work"
port=$((${BENCH_PORT:-54360} + 1))
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=$port cluster_start "$work/cluster" \
  "shared_buffers = 1GB" "work_mem = 64MB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
  "autovacuum = off"
psql -qX -v ON_ERROR_STOP=1 -v rows="$ROWS" -v tenants=10 -v other_rows=$((ROWS / 20)) \
  -c "CREATE EXTENSION pg_tenant_backup" -f bench/dataset.sql
psql -qX -c "VACUUM (FREEZE, ANALYZE)" -c CHECKPOINT
[ "$(id -u)" = 0 ] && chown postgres: "$work"

in_tenant_orders="account_id IN (SELECT id FROM accounts WHERE tenant_id = 1)"
in_tenant_items="order_id IN (SELECT o.id FROM orders o JOIN accounts a ON a.id = o.account_id WHERE a.tenant_id = 1)"
copy_sql="COPY (SELECT * FROM accounts WHERE tenant_id = 1) TO '$work/accounts.copy';
  COPY (SELECT * FROM orders WHERE $in_tenant_orders) TO '$work/orders.copy';
  COPY (SELECT * FROM order_items WHERE $in_tenant_items) TO '$work/items.copy'"
declare -A sqls=(
  [copy_to]="$copy_sql"
  [create_zstd]="SELECT backup_create('1', '{\"compression\": \"zstd\", \"verify_after_backup\": false}')"
  [create_zstd_verified]="SELECT backup_create('1', '{\"compression\": \"zstd\", \"verify_after_backup\": true}')"
)
order="copy_to create_zstd create_zstd_verified"
# Warm the caches (shared buffers, the catalog of a first call) once.
for name in $order; do psql -qXAt -c "${sqls[$name]}" >/dev/null; done

if [[ " $TOOLS " == *" callgrind "* ]]; then
  cluster_stop "$work/cluster"
  cluster__as_owner valgrind --tool=callgrind --trace-children=yes \
    --callgrind-out-file="$OUT/callgrind.%p" --toggle-collect=backup_create --toggle-collect=DoCopy \
    --log-file="$OUT/valgrind.%p.log" \
    "$PG_BINDIR/postgres" -D "$work/cluster/data" >"$work/cluster/server.log" 2>&1 &
  for _ in $(seq 1 300); do pg_isready -q && break; sleep 1; done
  for name in $order; do
    pid=$(psql -qXAt -c "SELECT pg_backend_pid()" -c "${sqls[$name]}" | sed -n 1p)
    for _ in $(seq 1 60); do [ -s "$OUT/callgrind.$pid" ] && break; sleep 1; done
    mv "$OUT/callgrind.$pid" "$OUT/callgrind.$name"
    echo "== callgrind: $name ($ROWS rows), inclusive"
    callgrind_annotate --inclusive=yes "$OUT/callgrind.$name" >"$OUT/$name.inclusive.txt" 2>/dev/null
    grep -v '^--\|^$' "$OUT/$name.inclusive.txt" | sed -n "1,$((TOP + 25))p"
    echo "== callgrind: $name ($ROWS rows), self"
    callgrind_annotate "$OUT/callgrind.$name" >"$OUT/$name.self.txt" 2>/dev/null
    grep -v '^--\|^$' "$OUT/$name.self.txt" | sed -n "16,$((TOP + 15))p"
  done
  cluster_stop "$work/cluster"
  PGPORT_FOR_TESTS=$port cluster__as_owner "$PG_BINDIR/pg_ctl" -D "$work/cluster/data" \
    -l "$work/cluster/server.log" -w -t 120 start >/dev/null
fi

if [[ " $TOOLS " == *" perf "* ]]; then
  for name in $order; do
    psql -qXAt -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(0.5)" -c "${sqls[$name]}" \
      >"$work/$name.log" 2>&1 &
    client=$!
    pid=""
    while [ -z "$pid" ]; do sleep 0.05; pid=$(head -n 1 "$work/$name.log" | grep -E '^[0-9]+$' || true); done
    perf record -q -g --call-graph dwarf,16384 -F 999 -p "$pid" -o "$OUT/perf.$name.data" 2>/dev/null &
    recorder=$!
    wait "$client"
    kill -INT "$recorder"
    wait "$recorder" || true
    echo "== perf: $name ($ROWS rows), self"
    perf report -i "$OUT/perf.$name.data" --no-children --sort dso,symbol --stdio -g none \
      >"$OUT/$name.perf.txt" 2>/dev/null
    grep -v '^#\|^$' "$OUT/$name.perf.txt" | sed -n "1,${TOP}p"
  done
fi
cluster_crashed "$work/cluster" && { echo "a backend crashed"; exit 1; }
echo "raw profiles in $OUT"
