#!/usr/bin/env bash
# Runs every test layer of pg_tenant_backup on this machine:
#   1. unit       ctest: GoogleTest tests of src/core (plain and ASan/UBSan builds)
#      fuzz       libFuzzer targets over the snapshot reader and the schedule parser
#   2. regress    pg_regress (make installcheck) on a throwaway cluster
#   3. pgtap      pg_prove over test/pgtap/*.sql on the same cluster
#   4. system     test/system/*.sh, each on clusters of its own
# Ends with "N passed, M failed". Works as root and as a user with sudo.
#
# The server is the one PG_CONFIG names (default: pg_config on PATH):
#   PG_CONFIG=/opt/pg18/bin/pg_config scripts/test.sh
# builds and installs the extension into that server and runs every layer
# against it. PTB_LAYERS picks layers (default "unit fuzz regress pgtap
# system"); PTB_SYSTEM_TESTS, a space-separated list of names, picks system
# tests (default: all of test/system).
#
# Names on the command line pick what runs instead: a layer's name runs that
# layer, a test's name that test alone, in its layer: a system test
# (test/system/NAME.sh), a pgTAP file (test/pgtap/NAME.sql) or a pg_regress
# test (sql/NAME.sql). test/README.md maps features to tests.
#   scripts/test.sh migrations import_validation     # one system test, one pgTAP file
#   scripts/test.sh regress pgtap                    # two layers
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh || exit 1
PG_CONFIG=$(command -v "${PG_CONFIG:-pg_config}") || { echo "no pg_config: set PG_CONFIG" >&2; exit 1; }
export PG_CONFIG
# Every tool and test script finds this server's programs first.
export PATH="$("$PG_CONFIG" --bindir):$PATH"
echo "== server: $("$PG_CONFIG" --version) ($PG_CONFIG)"
source test/lib/cluster.sh
source scripts/step.sh
layers=" ${PTB_LAYERS:-unit fuzz regress pgtap system} "
pgtap_files=$(ls test/pgtap/*.sql | grep -v helpers.sql)
regress_tests=""  # empty: the Makefile's REGRESS, every test
if [ $# -gt 0 ]; then
  layers=" "
  system_tests=""
  pgtap_picked=""
  for arg in "$@"; do
    case "$arg" in
      unit | fuzz | regress | pgtap | system) layers+="$arg "; continue ;;
    esac
    found=no
    if [ -f "test/system/$arg.sh" ]; then system_tests+=" $arg"; found=yes; fi
    if [ -f "test/pgtap/$arg.sql" ] && [ "$arg" != helpers ]; then pgtap_picked+=" test/pgtap/$arg.sql"; found=yes; fi
    if [ -f "sql/$arg.sql" ] && [[ "$arg" != pg_tenant_backup--* ]]; then regress_tests+=" $arg"; found=yes; fi
    if [ $found = no ]; then
      echo "no layer or test is named \"$arg\": layers are unit fuzz regress pgtap system; tests are in test/README.md" >&2
      exit 2
    fi
  done
  # A named test runs in its layer unless the whole layer was named too.
  if [ -n "$system_tests" ] && [[ "$layers" != *" system "* ]]; then layers+="system "; export PTB_SYSTEM_TESTS=$system_tests; fi
  if [ -n "$pgtap_picked" ] && [[ "$layers" != *" pgtap "* ]]; then layers+="pgtap "; pgtap_files=$pgtap_picked; fi
  if [ -n "$regress_tests" ] && [[ "$layers" != *" regress "* ]]; then layers+="regress "; else regress_tests=""; fi
fi
layer() { [[ "$layers" == *" $1 "* ]]; }

work=$(mktemp -d /tmp/ptb-test.XXXXXX)
chmod 755 "$work"
cluster="$work/cluster"
cleanup() { cluster_stop "$cluster"; rm -rf "$work"; }
trap cleanup EXIT

passed=0
failed=0
summary=()
skipped=()
record() {  # layer passed failed
  passed=$((passed + $2))
  failed=$((failed + $3))
  summary+=("$(printf '%-8s %4d passed, %d failed' "$1" "$2" "$3")")
}
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)

cmake_build() {  # DIR [CMAKE OPTIONS...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@" >/dev/null && cmake --build "$dir" -j2 >/dev/null
}
extension_build() {
  make -s clean >/dev/null 2>&1   # objects built for another server must not be linked
  make -s -j2 >/dev/null || { make -j1 2>&1 | grep -E "error|Error" | head -n 20; return 1; }
}

echo "== build"
if layer unit; then
  step "unit tests: cmake build in build/ (a few minutes from scratch)" cmake_build build || exit 1
  step "unit tests: cmake build with ASan/UBSan in build-sanitize/ (a few minutes from scratch)" \
    cmake_build build-sanitize -DPTB_SANITIZE=ON || exit 1
fi
step "extension: make for $("$PG_CONFIG" --version) (a minute or two)" extension_build || exit 1
step "extension: make install into $("$PG_CONFIG" --pkglibdir)" "${sudo[@]}" make -s install >/dev/null || exit 1

layer unit && echo "== unit (ctest)"
layer unit && for dir in build build-sanitize; do
  out=$(cd "$dir" && ctest --output-on-failure 2>&1)
  echo "$out" | tail -n 3
  total=$(echo "$out" | sed -nE 's/.* tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p')
  bad=$(echo "$out" | sed -nE 's/.* tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p')
  [ -n "$total" ] || { total=1; bad=1; echo "$out"; }
  [ "$bad" = 0 ] || echo "$out" | grep -E "Failed|Failure" | head -40
  record "unit:$dir" $((total - bad)) "$bad"
done

if layer fuzz; then
echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-20} s per target)"
# stderr passes through: run.sh says there what it compiles and runs.
out=$(bash test/fuzz/run.sh)
echo "$out" | grep -E "^(ok|not ok)"
counts=$(echo "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -n 1)
if [ -n "$counts" ]; then record fuzz ${counts% *} ${counts#* }; else echo "$out" | tail -n 20; record fuzz 0 1; fi
fi

if layer regress || layer pgtap; then
cluster_start "$cluster" || exit 1
fi
if layer regress; then
echo "== regress (pg_regress)"
[ "$(id -u)" = 0 ] && chown -R postgres: "$root/results" 2>/dev/null
if [ -n "$regress_tests" ]; then
  run_regress() { out=$(make -s installcheck REGRESS="$regress_tests" 2>&1); }
  total=$(echo $regress_tests | wc -w)
else
  run_regress() { out=$(make -s installcheck 2>&1); }
  total=$(ls sql/*.sql | grep -vc 'pg_tenant_backup--')
fi
step "regress: make installcheck" run_regress
echo "$out" | grep -E "^(ok|not ok|test |#|     [a-z])| tests? (passed|failed)" | tail -n 30
bad=$(echo "$out" | grep -cE "^not ok| \.\.\. FAILED|FAILED \(test process")
if echo "$out" | grep -q "All [0-9]* tests passed"; then bad=0;
elif [ "$bad" = 0 ]; then bad=$total; echo "$out" | tail -n 20; fi
[ "$bad" = 0 ] || { [ -f regression.diffs ] && head -n 80 regression.diffs; }
record regress $((total - bad)) "$bad"
fi

if layer pgtap; then
echo "== pgtap (pg_prove)"
psql -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE ptb_pgtap" &&
  psql -qX -v ON_ERROR_STOP=1 -d ptb_pgtap \
    -c "SET client_min_messages = warning" \
    -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION pg_tenant_backup" \
    -f test/fixtures/shop.sql -f test/fixtures/all_types.sql -f test/pgtap/helpers.sql >/dev/null || exit 1
run_pgtap() { out=$(pg_prove -d ptb_pgtap $pgtap_files 2>&1); }
step "pgtap: pg_prove over test/pgtap (a few minutes)" run_pgtap
echo "$out" | tail -n 12
total=$(echo "$out" | sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p')
bad=$(echo "$out" | grep -oE "Failed [0-9]+/[0-9]+ subtests" | awk -F'[ /]' '{s+=$2} END {print s+0}')
[ -n "$total" ] || { total=1; bad=1; }
if ! echo "$out" | grep -q "^Result: PASS" && [ "$bad" = 0 ]; then bad=1; fi
record pgtap $((total - bad)) "$bad"
fi

if layer regress || layer pgtap; then
echo "== crash check"
if cluster_crashed "$cluster"; then
  grep -E "terminated by signal|PANIC" "$(cluster_log "$cluster")"
  record crash 0 1
else
  echo "server log: no backend terminated by signal"
  record crash 1 0
fi
cluster_stop "$cluster"
fi

layer system && echo "== system"
layer system && for t in test/system/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  if [ -n "${PTB_SYSTEM_TESTS:-}" ] && [[ " $PTB_SYSTEM_TESTS " != *" $name "* ]]; then continue; fi
  started=$SECONDS
  # A test that prints "N passed, M failed" counts its checks; others count
  # once. Exit status 77: skipped on this server, with the reason printed.
  rc=0
  out=$(bash "$t" 2>&1) || rc=$?
  if [ "$rc" = 77 ]; then
    echo "skip $name: $(echo "$out" | tail -n 1)"
    skipped+=("$name")
    continue
  fi
  if [ "$rc" = 0 ]; then status=ok; else status=FAIL; fi
  counts=$(echo "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -n 1)
  if [ -z "$counts" ] && echo "$out" | grep -qE '^(not )?ok '; then
    counts="$(echo "$out" | grep -cE '^ok ') $(echo "$out" | grep -cE '^not ok ')"
  fi
  if [ "$status" = ok ]; then
    echo "ok   $name ($((SECONDS - started)) s)"
    if [ -n "$counts" ]; then record "sys:$name" ${counts% *} ${counts#* }; else record "sys:$name" 1 0; fi
  else
    echo "FAIL $name ($((SECONDS - started)) s)"
    echo "$out" | grep -E "^not ok|FAIL" | head -n 20
    echo "$out" | tail -n 30
    if [ -n "$counts" ] && [ "${counts#* }" != 0 ]; then
      record "sys:$name" ${counts% *} ${counts#* }
    else
      record "sys:$name" 0 1
    fi
  fi
done

echo
echo "== summary ($("$PG_CONFIG" --version))"
printf '%s\n' "${summary[@]}"
[ ${#skipped[@]} = 0 ] || echo "skipped on this server: ${skipped[*]}"
echo "${passed} passed, ${failed} failed"
[ "$failed" = 0 ]
