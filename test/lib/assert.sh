# Assertions for shell system tests. Source this file; call `finish` last.
#   check NAME EXPECTED ACTUAL     equal strings
#   check_match NAME REGEX ACTUAL  ACTUAL matches the extended regex
#   q SQL                          psql, unaligned, tuples only, stops on error
#   q_error SQL                    the error line (ERROR:  CODE: message) of a failing statement
#   wait_for SECONDS SQL EXPECTED  polls until SQL prints EXPECTED (errors count as not yet); 1 on timeout
checks_passed=0
checks_failed=0

check() {
  if [ "$2" = "$3" ]; then
    checks_passed=$((checks_passed + 1))
    echo "ok     - $1"
  else
    checks_failed=$((checks_failed + 1))
    echo "not ok - $1"
    echo "         expected: $2"
    echo "         got:      $3"
  fi
}

check_match() {
  if [[ "$3" =~ $2 ]]; then
    checks_passed=$((checks_passed + 1))
    echo "ok     - $1"
  else
    checks_failed=$((checks_failed + 1))
    echo "not ok - $1"
    echo "         expected to match: $2"
    echo "         got:               $3"
  fi
}

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }

q_error() {
  psql -qXAt -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null | grep -m1 '^ERROR:' || true
}

wait_for() {
  local i
  for i in $(seq $(($1 * 5))); do
    [ "$(q -c "$2" 2>/dev/null || true)" = "$3" ] && return 0
    sleep 0.2
  done
  return 1
}

finish() {
  echo "$checks_passed passed, $checks_failed failed"
  [ "$checks_failed" = 0 ]
}
