#!/usr/bin/env bash
# The entry-point check must pass on the project's src/pg and on a file that
# declares through the macros, and fail on each other way to declare a
# function the server calls by name.
set -u
check=${1:?}
src=${2:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$check" "$src" 2>/dev/null; then echo "src/pg rejected"; exit 1; fi
printf 'PTB_SQL_FUNCTION(backup_x) { return args.void_result(); }\nPTB_WORKER_MAIN(ptb_x_main) {}\n' > "$tmp/ok.cpp"
if ! "$check" "$tmp" 2>/dev/null; then echo "macro declarations rejected"; exit 1; fi
for bad in 'PG_FUNCTION_INFO_V1(backup_x);' 'Datum backup_x(PG_FUNCTION_ARGS) {' \
           'extern "C" void ptb_x_main(Datum) {' 'extern "C" PGDLLEXPORT void ptb_x_main(Datum main_arg);'; do
  printf '%s\n' "$bad" > "$tmp/bad.cpp"
  if "$check" "$tmp" 2>/dev/null; then echo "accepted: $bad"; exit 1; fi
done
echo "entry-point check accepts the macros and rejects every other declaration"
