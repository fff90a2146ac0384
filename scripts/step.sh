# Long steps of the scripts say what they do. Source this file.
#
#   step "WHAT (takes minutes)" COMMAND [ARGS...]
#
# prints "-- WHAT" on stderr before running COMMAND and "   done in N s"
# (or "   failed after N s") after it, and returns COMMAND's status: a log
# shows what is running instead of minutes of silence. stderr, because some
# scripts print their result on stdout (build-postgres.sh its pg_config).
step() {
  local what=$1 started=$SECONDS rc=0
  shift
  echo "-- $what" >&2
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    echo "   done in $((SECONDS - started)) s" >&2
  else
    echo "   failed after $((SECONDS - started)) s" >&2
  fi
  return "$rc"
}
