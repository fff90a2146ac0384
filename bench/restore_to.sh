#!/usr/bin/env bash
# backup_restore_to's cost (docs/pitr.md, "Restore to a moment") against
# the requirement: a restore to a moment of a tenant with ROWS changed rows
# since its snapshot takes at most 2 x (restoring that snapshot + applying
# the same changes with COPY). On a throwaway cluster with change capture
# on (wal_level = logical, fsync off unless BENCH_FSYNC says otherwise):
#
#   - items(id bigint PK, tenant_id int REFERENCES tenants, payload text,
#     n int, updated timestamptz), indexed on tenant_id; tenant 1 has ROWS
#     rows, tenant 2 OTHER_ROWS (ROWS/10). The rows are loaded before
#     capture is turned on, so capture only sees the changes.
#   - S: backup_create('1') once capture runs (its snapshot is the restore's
#     starting point).
#   - The changes: every row of tenant 1 is updated once (payload, n,
#     updated), TXN_ROWS rows per transaction (10,000: 100 transactions at
#     1M rows), so ROWS changed rows. T = clock_timestamp() after the last
#     commit; tenant 1's fingerprint (md5 of its rows ordered by id) is
#     taken at T, and its rows at T are written to a COPY file.
#   - Before every measurement the script waits until capture has read the
#     WAL written so far (confirmed_flush_lsn >= pg_current_wal_flush_lsn()),
#     so the capture worker does not compete for the CPU and restore_to
#     does not wait for it.
#
# Measured, RUNS rounds of A, B, C in turn (wall seconds of the psql call;
# the median is reported):
#   A  SELECT backup_restore_to('1', T): snapshot S staged, ROWS changes
#      replayed into the stages, applied (pre_restore snapshot + replace).
#      Checked every time: tenant 1's fingerprint equals the one at T and
#      tenant 2's rows are untouched. Repeating it is valid: it starts from
#      S again.
#   B  SELECT backup_restore(S): restoring that snapshot alone (same
#      pre_restore snapshot and replace); the fingerprint must be S's.
#   C  COPY of the changed rows: COPY items_copy FROM the file of tenant
#      1's ROWS rows at T (server side), into an empty table of the same
#      shape (primary key, tenant_id index, foreign key to tenants),
#      truncated before and after each run (it has a tenant_id column, so
#      tenant 1's snapshots and restores cover it: kept empty, as in S, it
#      adds nothing to A or B). That is the cost of loading the changed
#      rows with COPY; the rows replayed in A are exactly these.
#   ratio = A / (B + C), target <= 2.
# DRY=1 also times backup_restore_to(..., '{"dry_run": true}') (staging and
# replay, nothing applied) once per round, to split A into its parts.
# PROFILE=1 runs one more restore_to with auto_explain logging every nested
# statement over PROFILE_MS (20) ms and prints the costliest statement
# shapes (count, total ms).
#
#   bash bench/restore_to.sh                      # 1M rows, 2 rounds
#   ROWS=100000 RUNS=3 DRY=1 bash bench/restore_to.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source test/lib/cluster.sh

ROWS=${ROWS:-1000000}
OTHER_ROWS=${OTHER_ROWS:-$((ROWS / 10))}
TXN_ROWS=${TXN_ROWS:-10000}
RUNS=${RUNS:-2}
DRY=${DRY:-0}
PROFILE=${PROFILE:-0}
PROFILE_MS=${PROFILE_MS:-20}
work=$(mktemp -d /tmp/ptb-bench-restore-to.XXXXXX)
chmod 755 "$work"
mkdir "$work/out"
[ "$(id -u)" = 0 ] && chown postgres: "$work/out"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=${BENCH_PORT:-56710} cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'" \
  "wal_level = logical" "pg_tenant_backup.allow_restore = on" "pg_tenant_backup.change_capture = off" \
  "pg_tenant_backup.capture_max_retained_wal = '${BENCH_MAX_RETAINED_WAL:-8192MB}'" \
  "shared_buffers = 256MB" "max_wal_size = 4GB" "work_mem = '${BENCH_WORK_MEM:-64MB}'" \
  "${BENCH_FSYNC:-fsync = off}"
q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
wait_for() {  # seconds sql expected
  local i
  for i in $(seq $(($1 * 5))); do
    [ "$(q -c "$2" 2>/dev/null)" = "$3" ] && return 0
    sleep 0.2
  done
  echo "timed out waiting for: $2" >&2
  return 1
}
caught_up() {  # until capture has read the WAL flushed so far; prints the seconds waited
  local t0 target
  t0=$(now)
  target=$(q -c "SELECT pg_current_wal_flush_lsn()")
  wait_for 600 "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" t
  since "$t0"
}
fp() {  # fingerprint of one tenant's rows
  q -c "SELECT md5(coalesce(string_agg(i::text, '|' ORDER BY i.id), '')) FROM items i WHERE tenant_id = $1"
}

echo "== restore_to bench: $ROWS rows of tenant 1 changed ($TXN_ROWS per transaction), tenant 2 has $OTHER_ROWS rows"
echo "   $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start, PostgreSQL $(q -c 'SHOW server_version')"
t0=$(now)
q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE items (id bigint PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, payload text NOT NULL,
                    n int NOT NULL, updated timestamptz NOT NULL);
CREATE INDEX items_tenant_id ON items (tenant_id);
INSERT INTO tenants VALUES (1, 'one'), (2, 'two');
INSERT INTO items SELECT g, 1, md5(g::text) || md5((g * 7)::text), g, '2026-01-01 00:00+00'
  FROM generate_series(1, $ROWS) g;
INSERT INTO items SELECT $ROWS + g, 2, md5(g::text), g, '2026-01-01 00:00+00'
  FROM generate_series(1, $OTHER_ROWS) g;
-- The COPY yardstick's table: the same shape, indexes and foreign key.
CREATE TABLE items_copy (LIKE items INCLUDING ALL);
ALTER TABLE items_copy ADD FOREIGN KEY (tenant_id) REFERENCES tenants;
VACUUM ANALYZE;
CHECKPOINT;
SQL
echo "   loaded in $(since "$t0") s"

q -c "ALTER SYSTEM SET pg_tenant_backup.change_capture = on" -c "SELECT pg_reload_conf()" >/dev/null
wait_for 60 "SELECT count(*) FROM backup_logs WHERE operation = 'capture' AND options->>'event' = 'start'" 1
wait_for 60 "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ptb_capture_%'" 1
t0=$(now)
snapshot=$(q -c "SELECT backup_create('1')")
echo "   S = backup_create('1') = $snapshot in $(since "$t0") s"
fp_s=$(fp 1)
fp_2=$(fp 2)

t0=$(now)
q -c "DO \$\$
BEGIN
  FOR b IN 0 .. ($ROWS - 1) / $TXN_ROWS LOOP
    UPDATE items SET payload = md5(payload), n = n + 1, updated = clock_timestamp()
     WHERE tenant_id = 1 AND id > b::bigint * $TXN_ROWS AND id <= (b + 1)::bigint * $TXN_ROWS;
    COMMIT;
  END LOOP;
END \$\$"
target=$(q -c "SELECT clock_timestamp()")
echo "   changes: $ROWS rows updated in $(since "$t0") s; T = $target"
fp_t=$(fp 1)
[ "$fp_t" != "$fp_s" ] || { echo "the changes changed nothing" >&2; exit 1; }
q -c "COPY (SELECT * FROM items WHERE tenant_id = 1) TO '$work/out/changed.copy'"
echo "   changed rows at T written for COPY: $(du -h "$work/out/changed.copy" | cut -f1)"
echo "   capture caught up $(caught_up) s after that; captured: $(q -F ' ' -c "SELECT segments, 'segments,', changes,
        'changes,', pg_size_pretty(segment_bytes) FROM backup_capture_status()")"

declare -a as bs cs ds
for r in $(seq "$RUNS"); do
  q -c "CHECKPOINT" >/dev/null
  caught_up >/dev/null
  t0=$(now)
  q -c "SELECT backup_restore_to('1', '$target')" >"$work/report.json"
  a=$(since "$t0")
  as+=("$a")
  [ "$(fp 1)" = "$fp_t" ] || { echo "round $r: A did not restore the state at T" >&2; exit 1; }
  [ "$(fp 2)" = "$fp_2" ] || { echo "round $r: A changed tenant 2" >&2; exit 1; }
  replayed=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["replayed"]))' "$work/report.json")
  echo "round $r  A restore_to:       $a s (fingerprint at T: ok; replayed $replayed)"

  if [ "$DRY" = 1 ]; then
    caught_up >/dev/null
    t0=$(now)
    q -c "SELECT backup_restore_to('1', '$target', '{\"dry_run\": true}')" >/dev/null
    d=$(since "$t0")
    ds+=("$d")
    echo "round $r  A dry_run:          $d s (staging + replay, nothing applied)"
  fi

  q -c "CHECKPOINT" >/dev/null
  caught_up >/dev/null
  t0=$(now)
  q -c "SELECT backup_restore($snapshot)" >/dev/null
  b=$(since "$t0")
  bs+=("$b")
  [ "$(fp 1)" = "$fp_s" ] || { echo "round $r: B did not restore the snapshot" >&2; exit 1; }
  echo "round $r  B restore snapshot: $b s"

  q -c "TRUNCATE items_copy" -c "CHECKPOINT" >/dev/null
  caught_up >/dev/null
  t0=$(now)
  q -c "COPY items_copy FROM '$work/out/changed.copy'"
  c=$(since "$t0")
  cs+=("$c")
  echo "round $r  C COPY FROM:        $c s ($(q -c "SELECT count(*) FROM items_copy") rows)"
  # items_copy has a tenant_id column, so tenant 1's restores cover it
  # too: emptied again, as it was in S, it adds nothing to A and B.
  q -c "TRUNCATE items_copy" >/dev/null
done

A=$(median "${as[@]}")
B=$(median "${bs[@]}")
C=$(median "${cs[@]}")
printf '== medians of %d rounds (%d changed rows)\n' "$RUNS" "$ROWS"
printf 'A backup_restore_to:        %8.2f s\n' "$A"
[ "$DRY" = 1 ] && printf 'A with dry_run:             %8.2f s\n' "$(median "${ds[@]}")"
printf 'B backup_restore(snapshot): %8.2f s\n' "$B"
printf 'C COPY FROM changed rows:   %8.2f s\n' "$C"
printf 'ratio A / (B + C):          %8.2f (target <= 2)\n' "$(echo "$A / ($B + $C)" | bc -l)"
echo "replayed (last A): $(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["replayed"]))' "$work/report.json")"
echo "   load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"

if [ "$PROFILE" = 1 ]; then
  # Where A's time goes: every statement A runs (the extension's SPI
  # statements included) that takes over PROFILE_MS, grouped by its shape.
  log=$(cluster_log "$work/cluster")
  from=$(wc -l <"$log")
  caught_up >/dev/null
  q >/dev/null <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = '${PROFILE_MS}ms';
SET auto_explain.log_nested_statements = on;
SET client_min_messages = warning;
SELECT backup_restore_to('1', '$target');
SQL
  echo "== PROFILE: statements of one restore_to over $PROFILE_MS ms, by shape (count, total ms, shape)"
  tail -n +"$from" "$log" | python3 -c '
import re, sys, collections
text = sys.stdin.read()
agg = collections.defaultdict(lambda: [0, 0.0])
for m in re.finditer(r"duration: ([0-9.]+) ms\s+plan:\s*\n\s*Query Text: (.*?)\n", text):
    shape = re.sub(r"\$\d+", "$n", re.sub(r"ptb_stage_\d+", "ptb_stage_N", m.group(2)))[:110]
    agg[shape][0] += 1
    agg[shape][1] += float(m.group(1))
for shape, (n, ms) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:15]:
    print(f"{n:6d} {ms:10.0f}  {shape}")
# The plan of the slowest replay statement into a stage.
plans = [(float(m.group(1)), m.group(2)) for m in re.finditer(
    r"duration: ([0-9.]+) ms\s+plan:\s*\n(\s*Query Text: (?:UPDATE|DELETE FROM|INSERT INTO) pg_temp.*?)(?=\n\S|\Z)", text, re.S)]
if plans:
    ms, plan = max(plans)
    print(f"== the slowest statement into a stage ({ms:.0f} ms), its plan without the query text:")
    print("\n".join(l for l in plan.splitlines() if "Query Text" not in l))
'
fi
