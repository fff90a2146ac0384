#!/usr/bin/env bash
# Fails when a file under the given directory declares a function the
# server calls by name (a SQL function: PG_FUNCTION_INFO_V1 or
# PG_FUNCTION_ARGS; a background worker's main: an extern "C" function of
# one Datum) other than through PTB_SQL_FUNCTION or PTB_WORKER_MAIN
# (src/pg/entry_point.hpp), which put every one of them behind entry().
set -euo pipefail
dir=${1:?usage: check-entry-points.sh DIR}
status=0
while IFS= read -r hit; do
  echo "$hit: declare server entry points with PTB_SQL_FUNCTION or PTB_WORKER_MAIN (src/pg/entry_point.hpp)" >&2
  status=1
done < <(grep -rnE 'PG_FUNCTION_INFO_V1|PG_FUNCTION_ARGS|extern "C".*\(Datum( [a-z_]+)?\)' "$dir" \
           --include='*.hpp' --include='*.cpp' --include='*.h' | grep -v '/entry_point\.hpp:' || true)
exit $status
