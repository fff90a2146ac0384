#!/usr/bin/env bash
# Change capture's cost to writers (docs/pitr.md): pgbench's TPC-B-like
# load on a throwaway cluster with wal_level = logical, alternately with
# pg_tenant_backup.change_capture off and on (ROUNDS of each, DURATION
# seconds per run); prints each run's tps, both means and their ratio
# (target: on >= 90% of off), and what capture wrote.
#
#   bash bench/capture.sh                       # 2 rounds of 20 s, scale 10, 4 clients
#   DURATION=60 ROUNDS=3 CLIENTS=8 bash bench/capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-10}
work=$(mktemp -d /tmp/ptb-bench-capture.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-54361} cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "wal_level = logical" "shared_buffers = 256MB" "max_wal_size = 4GB" "${BENCH_FSYNC:-fsync = off}"
q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
q -c "CREATE EXTENSION pg_tenant_backup" >/dev/null
pgbench -q -i -s "$SCALE" >/dev/null 2>&1

set_capture() {  # on|off
  q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = $1" -c "SELECT pg_reload_conf()" >/dev/null
  local want=0 i
  [ "$1" = on ] && want=1
  for i in $(seq 100); do
    [ "$(q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'")" = "$want" ] && return 0
    sleep 0.2
  done
  echo "capture did not turn $1" >&2
  return 1
}
run() {
  pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" 2>/dev/null | sed -nE 's/^tps = ([0-9.]+) .*/\1/p'
}

echo "pgbench TPC-B-like, scale $SCALE, $CLIENTS clients, $DURATION s per run, wal_level = logical"
off_sum=0
on_sum=0
for r in $(seq "$ROUNDS"); do
  set_capture off
  q -c "CHECKPOINT" >/dev/null
  tps=$(run)
  echo "round $r  capture off: $tps tps"
  off_sum=$(echo "$off_sum + $tps" | bc -l)
  set_capture on
  q -c "CHECKPOINT" >/dev/null
  tps=$(run)
  echo "round $r  capture on:  $tps tps"
  on_sum=$(echo "$on_sum + $tps" | bc -l)
  sleep 3  # let capture catch up before the slot is dropped
  q -F ' ' -c "SELECT 'captured so far:', segments, 'segments,', changes, 'changes,',
                      pg_size_pretty(segment_bytes), 'compressed; lag', coalesce(lag::text, '-')
                 FROM backup_capture_status()"
done
off=$(echo "$off_sum / $ROUNDS" | bc -l)
on=$(echo "$on_sum / $ROUNDS" | bc -l)
printf 'capture off: %.0f tps (mean)\ncapture on:  %.0f tps (mean)\nratio on/off: %.1f%% (target >= 90%%)\n' \
  "$off" "$on" "$(echo "100 * $on / $off" | bc -l)"
