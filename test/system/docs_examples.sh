#!/usr/bin/env bash
# Every SQL example of README.md and docs/*.md runs, so the docs cannot
# drift from the code. test/lib/doc_blocks.py extracts the fenced blocks;
# every fence must name its language. The conventions:
#
# - Each file runs on a throwaway cluster of its own, set up as
#   docs/scheduler.md says (shared_preload_libraries = 'pg_tenant_backup',
#   pg_tenant_backup.database = 'app'), in a database "app" that holds
#   test/fixtures/shop.sql and test/fixtures/docs.sql (tenants 1, 2, 3 and
#   42, schema tenant_acme), as the superuser postgres. The extension is
#   created first unless the file creates it itself. (docs/quickstart.md
#   loads its own sample, examples/demo-schema.sql, and no fixture.)
# - ```sql blocks run in document order, each in its own psql session with
#   ON_ERROR_STOP, and must succeed. ```sql fails=SQLSTATE blocks must fail
#   with that SQLSTATE (keep the failing statement last). ```sql synopsis
#   blocks are function signatures: each must be exactly (argument names,
#   types, defaults, result) a function of the extension; and every function
#   of the extension must have its synopsis in docs/reference.md.
#   ```sql needs=pg_cron: the cluster also preloads pg_cron and the
#   database has the pg_cron extension; on a server without pg_cron (a
#   source build) such blocks are skipped, each with a printed line.
#   ```sql needs=citus blocks (docs/citus.md) need a Citus coordinator
#   with workers: always skipped here, each with a printed line; keep what
#   they show asserted by test/system/citus_export.sh.
# - docs/quickstart.md is followed verbatim: its ```sh blocks run too, on a
#   throwaway cluster standing in for Debian's 15/main: apt-get install only
#   checks that each package exists in Debian's lists (nothing is
#   installed), `make` and `make install` run for real against the
#   pg_config on PATH, /etc/postgresql/15/main is a directory of the
#   throwaway cluster (its conf.d is included by the cluster's config),
#   `systemctl restart postgresql` restarts the throwaway cluster, and
#   sudo runs its command as this user. Then the scheduler must be running
#   in "app" as the quickstart promises.
# - Other ```sh blocks (README's commands, benchmarks, downloads) are not
#   run here; ```json, ```text and ```ini blocks are shown, not run.
# A self-check first runs a small Markdown file with a wrong example of each
# kind and expects each to be reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source test/lib/cluster.sh
source test/lib/assert.sh
have_pg_cron=no
[ -f "$("${PG_CONFIG:-pg_config}" --pkglibdir)/pg_cron.so" ] && have_pg_cron=yes
work=$(mktemp -d /tmp/ptb-docs.XXXXXX)
chmod 755 "$work"
cluster="$work/cluster"
trap 'cluster_stop "$cluster"; rm -rf "$work"' EXIT
export PGPORT_FOR_TESTS=54396
# The server's default search_path: the examples must name the schema.
export CLUSTER_PLAIN_SEARCH_PATH=1

# Runs one block; prints its output when it does not do what it should.
#   run_sql FILE LINE BLOCK ATTRIBUTES
run_sql() {
  local label="$1:$2" block=$3 attributes=$4 out rc expected
  case " $attributes " in
    *" synopsis "*) run_synopsis "$label" "$block"; return ;;
  esac
  rc=0
  out=$(psql -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d app -f "$block" 2>&1) || rc=$?
  expected=$(sed -nE 's/.*fails=([0-9A-Z]{5}).*/\1/p' <<<"$attributes")
  if [ -z "$expected" ]; then
    if [ "$rc" = 0 ]; then check "$label sql" ok ok; else
      check "$label sql runs" "exit 0" "exit $rc"
      sed 's/^/         | /' <<<"$out" | grep -A3 -B3 -E 'ERROR|FATAL' | head -20
    fi
  else
    local error
    error=$(grep -m1 -oE '^(psql:[^ ]* )?ERROR:  [0-9A-Z]{5}' <<<"$out" | grep -oE '[0-9A-Z]{5}$' || true)
    check "$label sql fails with $expected" "$expected" "${error:-no error}"
  fi
}

# Each signature of a synopsis block must be one of the extension's
# functions: created in a schema of its own, its arguments and result as
# the server shows them must be those of a function of the same name.
run_synopsis() {
  local label=$1 block=$2 sql out
  sql=$(python3 - "$block" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
block = os.path.basename(sys.argv[1]).split(".")[0]
starts = [m.start() for m in re.finditer(r"(?m)^[a-z_][a-z0-9_]*\(", text)]
print("SET check_function_bodies = off; SET client_min_messages = warning;")
for k, (a, b) in enumerate(zip(starts, starts[1:] + [len(text)])):
    sig = " ".join(text[a:b].split())
    schema = f"docs_synopsis_{block}_{k}"
    print(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};")
    print(f"CREATE FUNCTION {schema}.{sig} LANGUAGE sql AS 'SELECT NULL';")
    print(f"""SELECT 'not a function of the extension: ' || d.proname || '(' || pg_get_function_arguments(d.oid) || ') RETURNS ' || pg_get_function_result(d.oid)
  FROM pg_proc d WHERE d.pronamespace = '{schema}'::regnamespace
   AND NOT EXISTS (SELECT FROM pg_proc e JOIN pg_depend x ON x.classid = 'pg_proc'::regclass AND x.objid = e.oid AND x.deptype = 'e'
                    JOIN pg_extension ext ON ext.oid = x.refobjid AND ext.extname = 'pg_tenant_backup'
                   WHERE e.proname = d.proname
                     AND pg_get_function_arguments(e.oid) = pg_get_function_arguments(d.oid)
                     AND pg_get_function_result(e.oid) = pg_get_function_result(d.oid));""")
PY
)
  out=$(psql -qXAt -v ON_ERROR_STOP=1 -d app <<<"$sql" 2>&1) || true
  check "$label sql synopsis: $(grep -cE '^[a-z_][a-z0-9_]*\(' "$block") signatures are the extension's" "" "$out"
}

# Every function of the extension has its synopsis in reference.md (run
# after reference.md's blocks, which left their signatures in schemas
# docs_synopsis_*).
check_reference_covers_functions() {
  check "every function of the extension has a synopsis in docs/reference.md" "" "$(q -d app 2>&1 <<'SQL'
SELECT string_agg('not in a synopsis: ' || e.oid::regprocedure || ' RETURNS ' || pg_get_function_result(e.oid), E'\n' ORDER BY e.oid::regprocedure::text)
  FROM pg_proc e JOIN pg_depend x ON x.classid = 'pg_proc'::regclass AND x.objid = e.oid AND x.deptype = 'e'
  JOIN pg_extension ext ON ext.oid = x.refobjid AND ext.extname = 'pg_tenant_backup'
 WHERE NOT EXISTS (SELECT FROM pg_proc d WHERE d.pronamespace::regnamespace::text LIKE 'docs\_synopsis\_%' AND d.proname = e.proname
                     AND pg_get_function_arguments(e.oid) = pg_get_function_arguments(d.oid)
                     AND pg_get_function_result(e.oid) = pg_get_function_result(d.oid));
SQL
)"
}

# The quickstart's shell, as on a fresh Debian 12 machine with Debian's
# 15/main cluster, but on the throwaway cluster (see the header).
quickstart_prelude() {
  cat <<PRELUDE
set -euo pipefail
cd "$root"
source test/lib/cluster.sh
apt-get() {
  case "\$1" in
    update) return 0 ;;
    install)
      shift
      local p
      for p in "\$@"; do
        [[ \$p == -* ]] && continue
        command apt-cache show "\$p" >/dev/null 2>&1 || dpkg-query -W "\$p" >/dev/null 2>&1 ||
          { echo "quickstart: no Debian package named \$p" >&2; return 1; }
      done ;;
    *) echo "quickstart: unexpected apt-get \$*" >&2; return 1 ;;
  esac
}
systemctl() {
  [ "\$*" = "restart postgresql" ] || { echo "quickstart: unexpected systemctl \$*" >&2; return 1; }
  cluster_restart "$cluster"
}
sudo() {
  while [[ \$1 == -* ]]; do [ "\$1" = -u ] && shift; shift; done
  if [ "\$1" = make ] && [ "\$(id -u)" != 0 ]; then command sudo "\$@"; else "\$@"; fi
}
PRELUDE
}

# Runs the blocks of one Markdown file: run_doc FILE [CLUSTER_DIR]
run_doc() {
  local file=$1 dir="$work/blocks/$(basename "$1" .md)" manifest quickstart=no conf=() n=0 before=$checks_passed$checks_failed
  local failed_before=$checks_failed passed_before=$checks_passed
  manifest=$(python3 test/lib/doc_blocks.py "$file" "$dir") || { check "$file: every fence names its language" ok bad; return; }
  [ "$(basename "$file")" = quickstart.md ] && quickstart=yes
  if [ "$quickstart" = no ] && ! grep -qP '^\d+\t\d+\tsql\t' <<<"$manifest"; then
    echo "# $file: no SQL examples"
    return
  fi
  if [ "$quickstart" = yes ]; then
    mkdir -p "$work/etc/postgresql/15/main/conf.d"
    conf=("include_dir = '$work/etc/postgresql/15/main/conf.d'")
  elif grep -qP '^\d+\t\d+\tsql\t.*needs=pg_cron' <<<"$manifest" && [ "$have_pg_cron" = yes ]; then
    conf=("shared_preload_libraries = 'pg_cron,pg_tenant_backup'" "cron.database_name = 'app'" "pg_tenant_backup.database = 'app'")
  else
    conf=("shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'app'")
  fi
  rm -rf "$cluster"
  cluster_start "$cluster" "${conf[@]}"
  if [ "$quickstart" = no ]; then
    q -c "CREATE DATABASE app" >/dev/null
    cluster_restart "$cluster"   # the scheduler connects to app at once
  fi
  local prepared=no
  while IFS=$'\t' read -r id line language attributes; do
    [ -n "$id" ] || continue
    local block="$dir/$id.txt"
    if [ "$language" = sh ] && [ "$quickstart" = yes ]; then
      n=$((n + 1))
      local out rc=0
      { quickstart_prelude; sed "s|/etc/postgresql/15/main|$work/etc/postgresql/15/main|g" "$block"; } >"$block.sh"
      out=$(bash "$block.sh" </dev/null 2>&1) || rc=$?
      if [ "$rc" = 0 ]; then check "$file:$line sh" ok ok; else
        check "$file:$line sh runs" "exit 0" "exit $rc"
        tail -n 15 <<<"$out" | sed 's/^/         | /'
      fi
      continue
    fi
    [ "$language" = sql ] || continue
    if [[ "$attributes" == *needs=pg_cron* ]] && [ "$have_pg_cron" = no ]; then
      echo "skip   - $file:$line sql: needs pg_cron, which is not installed for this server"
      continue
    fi
    if [[ "$attributes" == *needs=citus* ]]; then
      echo "skip   - $file:$line sql: needs a Citus cluster (test/system/citus_export.sh runs its statements)"
      continue
    fi
    n=$((n + 1))
    if [ "$prepared" = no ]; then
      prepared=yes
      [ -n "$(q -c "SELECT 1 FROM pg_database WHERE datname = 'app'")" ] || q -c "CREATE DATABASE app" >/dev/null
      [ "$quickstart" = yes ] || q -d app -f test/fixtures/shop.sql -f test/fixtures/docs.sql >/dev/null
      # Blocks that run (not needs=citus ones) decide whether the file creates it.
      grep -qi 'CREATE EXTENSION pg_tenant_backup' \
        $(awk -F'\t' -v dir="$dir" '$3 == "sql" && $4 !~ /needs=citus/ {print dir "/" $1 ".txt"}' <<<"$manifest") ||
        q -d app -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" >/dev/null
      grep -q 'needs=pg_cron' <<<"$manifest" && [ "$have_pg_cron" = yes ] &&
        q -d app -c "CREATE EXTENSION pg_cron" >/dev/null
    fi
    run_sql "$file" "$line" "$block" "$attributes"
  done <<<"$manifest"
  if [ "$quickstart" = yes ]; then
    for i in $(seq 100); do
      [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_tenant_backup scheduler' AND datname = 'app'")" = 1 ] && break
      sleep 0.2
    done
    check "$file: the scheduler runs in app, as set up by the quickstart" true \
      "$(q -d app -c "SELECT tenant_backup.backup_scheduler_status() -> 'running'")"
  fi
  [ "$(basename "$file")" = reference.md ] && check_reference_covers_functions
  cluster_crashed "$cluster" && check "$file: no backend crashed" no yes
  cluster_stop "$cluster"
  echo "# $file: $n blocks run, $((checks_passed - passed_before)) passed, $((checks_failed - failed_before)) failed"
}

echo "# self-check: wrong examples are reported"
mkdir -p "$work/selfcheck"
cat >"$work/selfcheck/wrong.md" <<'MD'
```sql
SELECT tenant_backup.backup_stats('77');
```
```sql fails=42704
SELECT 1;
```
```sql fails=42501
SELECT tenant_backup.backup_stats('77');
```
```sql synopsis
backup_stats(tenant text, opts jsonb DEFAULT '{}') RETURNS SETOF text
```
```sql synopsis
backup_stats(tenant text, opts jsonb DEFAULT '{}')
  RETURNS TABLE(table_name text, role text, row_count bigint)
```
```sql fails=42704
SELECT tenant_backup.backup_stats('77');
```
MD
self_out=$(checks_passed=0 checks_failed=0; run_doc "$work/selfcheck/wrong.md" 2>&1; echo "totals $checks_passed $checks_failed")
grep -E '^(ok|not ok)' <<<"$self_out" | sed 's/^/  self-check: /' || true
check "the self-check reports the four wrong blocks and passes the two right ones" "totals 2 4" "$(tail -n 1 <<<"$self_out")"
printf '```\nbare\n```\n' >"$work/selfcheck/bare.md"
check "a fence without a language is refused" 1 "$(python3 test/lib/doc_blocks.py "$work/selfcheck/bare.md" "$work/selfcheck/b" >/dev/null 2>&1; echo $?)"

for f in ${DOCS_ONLY:-README.md docs/*.md}; do
  run_doc "$f"
done
finish
