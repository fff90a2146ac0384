#!/usr/bin/env bash
# The benchmark harness at a small size: it runs end to end and reports
# every operation. No timing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/assert.sh
csv=$(mktemp /tmp/ptb-bench-smoke.XXXXXX.csv)
trap 'rm -f "$csv"' EXIT
ROWS=5000 TENANTS=3 CSV="$csv" BENCH_PORT=54362 bash bench/run.sh >/dev/null
for op in copy_to copy_to_zstd json_agg backup_export backup_create_zstd backup_create_zstd_verified backup_create_none pg_dump_custom \
          copy_from import_replace import_merge_unchanged import_merge_10pct import_replace_10pct import_jsonb_replace \
          backup_restore; do
  check "bench reports $op" 1 "$(grep -c "^$op,5000," "$csv")"
done
zstd_size=$(grep '^backup_create_zstd,' "$csv" | cut -d, -f8)
dump_size=$(grep '^pg_dump_custom,' "$csv" | cut -d, -f8)
check "the zstd snapshot and the dump have sizes" yes "$([ "$zstd_size" -gt 0 ] && [ "$dump_size" -gt 0 ] && echo yes || echo no)"
finish
