#!/usr/bin/env bash
# A snapshot is the same across server versions: the all-types tenant
# exported on this server (PG_CONFIG) is restored exactly on another
# (PTB_OTHER_PG_CONFIG, e.g. 15 and 18), and a snapshot taken there is
# restored exactly here. Rows are compared as text, read by plain SQL.
# Skipped (exit 77) when no other server with the extension is given.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/assert.sh
here_config=$(command -v "${PG_CONFIG:-pg_config}")
other_config=${PTB_OTHER_PG_CONFIG:-}
if [ -z "$other_config" ] || [ ! -x "$other_config" ]; then
  echo "set PTB_OTHER_PG_CONFIG to a second server's pg_config to restore across versions"
  exit 77
fi
if [ ! -f "$("$other_config" --sharedir)/extension/pg_tenant_backup.control" ]; then
  echo "pg_tenant_backup is not installed for $("$other_config" --version) ($other_config)"
  exit 77
fi
work=$(mktemp -d /tmp/ptb-cross.XXXXXX)
chmod 755 "$work"

# Two clusters at once: one shell function per server.
start_on() {  # NAME PG_CONFIG
  (
    PG_BINDIR=$("$2" --bindir)
    source test/lib/cluster.sh
    PGPORT_FOR_TESTS=54360 cluster_start "$work/$1"
  )
}
stop_on() { (PG_BINDIR=$("$2" --bindir); source test/lib/cluster.sh; cluster_stop "$work/$1"); }
sql_on() {  # NAME PG_CONFIG, SQL on stdin
  "$("$2" --bindir)/psql" -h "$work/$1" -p 54360 -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 "${@:3}"
}
trap 'stop_on here "$here_config"; stop_on other "$other_config"; rm -rf "$work"' EXIT
start_on here "$here_config" >/dev/null
start_on other "$other_config" >/dev/null
here_version=$(sql_on here "$here_config" -c "SHOW server_version_num")
other_version=$(sql_on other "$other_config" -c "SHOW server_version_num")
echo "# here: $here_version, other: $other_version"
check "the two servers are different major versions" true \
  "$([ "${here_version:0:2}" != "${other_version:0:2}" ] && echo true || echo false)"

for side in "here $here_config" "other $other_config"; do
  set -- $side
  sql_on "$1" "$2" -f test/fixtures/all_types.sql \
    -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" >/dev/null
done

# Tenant 7's rows as text, independently of the extension.
rows_sql="SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM types.all_types t WHERE t.tenant_id = 7"
opts='{"schemas": ["types"]}'

# FROM TO: export tenant 7 on FROM, empty tenant 7 on TO, restore there.
restore_across() {
  local from=$1 from_config=$2 to=$3 to_config=$4
  sql_on "$from" "$from_config" -c "SELECT backup_export('7', '$opts')" >"$work/snapshot-$from.json"
  sql_on "$to" "$to_config" -c "DELETE FROM types.all_types WHERE tenant_id = 7" >/dev/null
  check "$from to $to: the tenant's rows are gone before the restore" "" \
    "$(sql_on "$to" "$to_config" -c "$rows_sql")"
  local report
  report=$(sql_on "$to" "$to_config" -v doc="$(cat "$work/snapshot-$from.json")" -v opts="$opts" <<'SQL'
SELECT backup_import(:'doc'::jsonb, 'replace', :'opts'::jsonb) -> 'totals' ->> 'inserted'
SQL
  )
  check "$from to $to: every row of the snapshot is inserted" \
    "$(sql_on "$from" "$from_config" -c "SELECT count(*) FROM types.all_types WHERE tenant_id = 7")" "$report"
  check "$from to $to: every value comes back as it was, in every type" \
    "$(sql_on "$from" "$from_config" -c "$rows_sql")" "$(sql_on "$to" "$to_config" -c "$rows_sql")"
  check "$from to $to: the other tenant's row is untouched" 1 \
    "$(sql_on "$to" "$to_config" -c "SELECT count(*) FROM types.all_types WHERE tenant_id = 8")"
}
restore_across here "$here_config" other "$other_config"
restore_across other "$other_config" here "$here_config"

# The snapshots of both servers are the same document but for what names
# the moment and the server (the transactions it saw included), and the
# order of rows (not specified).
same=$(python3 - "$work/snapshot-here.json" "$work/snapshot-other.json" <<'PY'
import json, sys
docs = []
for path in sys.argv[1:]:
    d = json.load(open(path))
    for key in ("created_at", "server_version", "server_version_num", "database", "duration_ms", "snapshot_id", "lsn", "txid", "exported_at", "system_identifier", "transactions"):
        d.get("metadata", {}).pop(key, None)
    d.pop("statistics", None)
    for section in d.get("data", []) + d.get("master_data", []):  # row order is not specified
        section["rows"] = sorted(section["rows"], key=lambda row: json.dumps(row, sort_keys=True))
    docs.append(d)
diff = [k for k in set(docs[0]) | set(docs[1]) if docs[0].get(k) != docs[1].get(k)]
meta = [k for k in set(docs[0].get("metadata", {})) | set(docs[1].get("metadata", {}))
        if docs[0]["metadata"].get(k) != docs[1]["metadata"].get(k)]
print("same" if not diff else "differ in " + ",".join(sorted(diff)) + " metadata " + ",".join(sorted(meta)))
PY
)
check "a snapshot of the same rows is the same document on both servers" same "$same"
finish
