#!/usr/bin/env bash
# Restoring a snapshot taken before a migration, after it
# (docs/import.md, "Restoring across migrations"): every difference between
# the snapshot's schema and the database's is found before any change and
# before the pre_restore snapshot, the ones the import cannot get through
# are refused together (a dry run the same), and opts.rename,
# column_defaults, exclude_tables and ignore_unknown_columns get through
# them; lossless type changes are converted, lossy ones refused naming the
# column.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-migrations.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
PGPORT_FOR_TESTS=54363 cluster_start "$work/cluster" "pg_tenant_backup.allow_restore = on"

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" >/dev/null

# A fresh shop and a stored snapshot of tenant 1 taken before the migration.
fresh() {
  q -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS purchases CASCADE" \
    -f test/fixtures/shop.sql >/dev/null
  id=$(q -c "SELECT backup_create('1')")
}
# Tenant 1's rows (orders under the name given), as one digest.
fp() {
  q -c "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
          SELECT 'c' || x::text AS t FROM customers x WHERE tenant_id = 1
          UNION ALL SELECT 'o' || o::text FROM ${1:-orders} o WHERE customer_id IN (10, 11, 12)
          UNION ALL SELECT 'l' || l::text FROM order_lines l WHERE order_id IN (100, 101, 102)
          UNION ALL SELECT 'n' || n::text FROM line_notes n WHERE order_id IN (100, 101, 102)) s"
}
pre_restores() { q -c "SELECT count(*) FROM backup_logs WHERE trigger = 'pre_restore'"; }
# The error of a failing statement: SQLSTATE, message and detail on one line.
full_error() {
  psql -qXAt -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c "$1" 2>&1 >/dev/null |
    sed -nE '/^(ERROR|DETAIL|HINT):/,$p' | grep -v '^LOCATION' | tr '\n' ' ' || true
}
changes() {  # a report's schema_changes as "table.column:change" items, sorted
  q -v report="$1" <<'SQL'
SELECT string_agg(item, ' ' ORDER BY item)
  FROM (SELECT (c ->> 'table') || coalesce('.' || (c ->> 'column'), '') || ':' || (c ->> 'change') AS item
          FROM jsonb_array_elements(:'report'::jsonb -> 'schema_changes') c) s;
SQL
}

echo "# a table and a column renamed: refused together, then mapped with opts.rename"
fresh
q -c "ALTER TABLE orders RENAME TO purchases" -c "ALTER TABLE customers RENAME COLUMN name TO full_name" >/dev/null
before=$(fp purchases)
q -c "UPDATE customers SET full_name = 'changed' WHERE tenant_id = 1" \
  -c "UPDATE purchases SET total = 0 WHERE customer_id = 10" >/dev/null
err=$(full_error "SELECT backup_restore($id)")
check_match "both differences in one error, the first one's SQLSTATE" \
  '^ERROR:  42P01: the snapshot does not fit this database.s schema: 3 differences the import cannot get through DETAIL:  ' "$err"
check_match "the missing table is named with its rows" 'public\.orders: no such table here \(dropped or renamed\), and the snapshot has 3 rows of it' "$err"
check_match "the column gone is named" 'public\.customers\.name: no such column here \(dropped or renamed\), and the snapshot has values for it' "$err"
check_match "and the column new to the snapshot, NOT NULL" 'public\.customers\.full_name: added NOT NULL without a default, and the snapshot has no values for it: rows inserted need a value' "$err"
check_match "the hint names the options that get through" 'HINT:  Nothing was changed\. Map renamed tables and columns with opts\.rename' "$err"
check "no pre_restore snapshot was taken" 0 "$(pre_restores)"
check_match "a dry run lists the same" '^ERROR:  42P01: .* 3 differences' \
  "$(full_error "SELECT backup_restore($id, '{\"dry_run\": true}')")"
check "the refusal is logged as failed" "failed|42P01" \
  "$(q -c "SELECT status, error ->> 'sqlstate' FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"
check_match "a rename of a table the snapshot lacks is refused" '^ERROR:  22023: rename names table "purchases", which is not a table of the snapshot' \
  "$(q_error "SELECT backup_restore($id, '{\"rename\": {\"tables\": {\"purchases\": \"orders\"}}}')")"
check_match "a rename of a column the snapshot lacks is refused" '^ERROR:  22023: rename names column "nom" of "customers"' \
  "$(q_error "SELECT backup_restore($id, '{\"rename\": {\"tables\": {\"orders\": \"purchases\"}, \"columns\": {\"customers\": {\"nom\": \"full_name\"}}}}')")"
check "nothing changed" "changed" "$(q -c "SELECT DISTINCT full_name FROM customers WHERE tenant_id = 1")"
rename='{"rename": {"tables": {"orders": "purchases"}, "columns": {"customers": {"name": "full_name"}}}}'
report=$(q -c "SELECT backup_restore($id, '$rename')")
check "restored under the new names" "$before" "$(fp purchases)"
check "the report lists the renames" "public.customers.full_name:column_renamed public.purchases:table_renamed" \
  "$(changes "$report")"
check "one pre_restore snapshot, taken once the restore could go ahead" 1 "$(pre_restores)"

echo "# a snapshot taken with a tables list: the list follows opts.rename"
fresh
id=$(q -c "SELECT backup_create('1', '{\"tables\": [\"customers\", \"orders\", \"order_lines\", \"line_notes\"]}')")
before=$(fp)
q -c "ALTER TABLE orders RENAME TO purchases" -c "UPDATE purchases SET total = 1 WHERE id = 100" >/dev/null
report=$(q -c "SELECT backup_restore($id, '{\"rename\": {\"tables\": {\"orders\": \"purchases\"}}}')")
check "restored under the new name, within the snapshot's own table list" "$before" "$(fp purchases)"
check "the report lists the rename" "public.purchases:table_renamed" "$(changes "$report")"
check "the snapshot's table list, in this database's names, is what the restore recorded" \
  '["customers", "purchases", "order_lines", "line_notes"]' \
  "$(q -c "SELECT options -> 'tables' FROM backup_logs WHERE operation = 'restore' ORDER BY id DESC LIMIT 1")"

echo "# a column added NOT NULL without a default"
fresh
q -c "ALTER TABLE orders ADD COLUMN priority int NOT NULL DEFAULT 7" -c "ALTER TABLE orders ALTER COLUMN priority DROP DEFAULT" >/dev/null
q -c "UPDATE orders SET total = 1 WHERE id = 100" >/dev/null
report=$(q -c "SELECT backup_restore($id)")
check "no row to insert: it gets through" "100|9.99|7" "$(q -c "SELECT id, total, priority FROM orders WHERE id = 100")"
check_match "and says so" '"detail": "added NOT NULL without a default; no row is inserted, so none needs a value"' "$report"
q -c "DELETE FROM orders WHERE id = 101" >/dev/null
pre=$(pre_restores)
err=$(full_error "SELECT backup_restore($id)")
check_match "a row to insert needs a value: 23502 before any change" \
  '^ERROR:  23502: the snapshot does not fit .* 1 difference .* DETAIL:  public\.orders\.priority: added NOT NULL without a default, and the snapshot has no values for it: 1 row the import inserts needs a value \(column_defaults\)' "$err"
check "no pre_restore snapshot for it" "$pre" "$(pre_restores)"
check_match "column_defaults: a value that is not of the type is refused, naming the column" \
  '^ERROR:  22P02: column_defaults gives column "priority" of public\.orders a value that is not a integer' \
  "$(q_error "SELECT backup_restore($id, '{\"column_defaults\": {\"orders\": {\"priority\": \"high\"}}}')")"
check_match "column_defaults: a column the snapshot has is refused" \
  '^ERROR:  22023: column_defaults gives a value for column "total" of public\.orders, which the snapshot has values for' \
  "$(q_error "SELECT backup_restore($id, '{\"column_defaults\": {\"orders\": {\"total\": 1}}}')")"
check_match "column_defaults: a column the table lacks is refused" '^ERROR:  42703: column_defaults names column "prio"' \
  "$(q_error "SELECT backup_restore($id, '{\"column_defaults\": {\"orders\": {\"prio\": 1}}}')")"
check_match "column_defaults: a table the import does not load is refused" '^ERROR:  22023: column_defaults names "countries"' \
  "$(q_error "SELECT backup_restore($id, '{\"column_defaults\": {\"countries\": {\"x\": 1}}}')")"
check "none of them changed anything" "$pre|0" "$(pre_restores)|$(q -c "SELECT count(*) FROM orders WHERE id = 101")"
report=$(q -c "SELECT backup_restore($id, '{\"column_defaults\": {\"orders\": {\"priority\": 5}}}')")
check "with column_defaults the row comes back with that value, the others keep theirs" "100:7 101:5 102:7" \
  "$(q -c "SELECT string_agg(id || ':' || priority, ' ' ORDER BY id) FROM orders WHERE id < 200")"
check "the report says where the value came from" "public.orders.priority:column_added" "$(changes "$report")"

echo "# columns added with a default or nullable, a column dropped"
fresh
q -c "ALTER TABLE orders ADD COLUMN note text DEFAULT 'n/a', ADD COLUMN shipped date" \
  -c "ALTER TABLE line_notes DROP COLUMN note" -c "DELETE FROM orders WHERE id = 101" >/dev/null
check_match "a dropped column is refused: 42703" '^ERROR:  42703: .* 1 difference .* public\.line_notes\.note: no such column here' \
  "$(full_error "SELECT backup_restore($id)")"
report=$(q -c "SELECT backup_restore($id, '{\"ignore_unknown_columns\": true}')")
check "with ignore_unknown_columns it gets through" "101|n/a|" "$(q -c "SELECT id, note, shipped FROM orders WHERE id = 101")"
check "every change is in the report" \
  "public.line_notes.note:column_dropped public.orders.note:column_added public.orders.shipped:column_added" \
  "$(changes "$report")"

echo "# types changed"
fresh
before=$(fp)
q -c "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)" -c "ALTER TABLE order_lines ALTER COLUMN sku TYPE varchar(10)" \
  -c "UPDATE orders SET total = 0 WHERE id = 100" >/dev/null
check_match "text to varchar(10) is lossy: 42804 naming the column" \
  '^ERROR:  42804: .* 1 difference .* public\.order_lines\.sku: from text to character varying\(10\): values could be rounded, cut or read differently' \
  "$(full_error "SELECT backup_restore($id)")"
q -c "ALTER TABLE order_lines ALTER COLUMN sku TYPE text" -c "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,0)" >/dev/null
check_match "numeric(12,2) to numeric(12,0) is lossy" 'public\.orders\.total: from numeric\(12,2\) to numeric\(12,0\)' \
  "$(full_error "SELECT backup_restore($id)")"
check "nothing changed" "0" "$(q -c "SELECT total FROM orders WHERE id = 100")"
q -c "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)" -c "ALTER TABLE order_lines ALTER COLUMN sku TYPE varchar" \
  -c "ALTER TABLE customers ALTER COLUMN id TYPE bigint" >/dev/null
report=$(q -c "SELECT backup_restore($id)")
check "lossless changes are converted: the rows are back" "9.99" "$(q -c "SELECT total FROM orders WHERE id = 100")"
check "and listed" "public.customers.id:type_changed public.order_lines.sku:type_changed public.orders.total:type_changed" \
  "$(changes "$report")"
check_match "with what became of the values" '"detail": "from numeric\(12,2\) to numeric\(14,2\): every value is kept"' "$report"

echo "# a column made NOT NULL that the snapshot has NULLs in"
fresh
q -c "UPDATE line_notes SET note = '' WHERE note IS NULL" -c "INSERT INTO line_notes VALUES (9, 100, 2, NULL)" >/dev/null
id=$(q -c "SELECT backup_create('1')")
q -c "UPDATE line_notes SET note = 'x' WHERE note IS NULL" -c "ALTER TABLE line_notes ALTER COLUMN note SET NOT NULL" >/dev/null
check_match "refused with 23502, counting the rows" \
  '^ERROR:  23502: .* public\.line_notes\.note: NOT NULL now, and 1 row of the snapshot has NULL there' \
  "$(full_error "SELECT backup_restore($id)")"

echo "# a table dropped: refused, or left out with exclude_tables"
fresh
q -c "DROP TABLE line_notes" -c "UPDATE orders SET total = 0 WHERE id = 100" >/dev/null
check_match "42P01 naming it" '^ERROR:  42P01: .* public\.line_notes: no such table here' \
  "$(full_error "SELECT backup_restore($id)")"
report=$(q -c "SELECT backup_restore($id, '{\"exclude_tables\": [\"line_notes\"]}')")
check "left out, the rest restored" "9.99" "$(q -c "SELECT total FROM orders WHERE id = 100")"
check "and said so" "public.line_notes:table_skipped" "$(changes "$report")"

echo "# everything at once, and backup_import of an export"
fresh
doc="$work/doc.json"
q -c "SELECT backup_export('1')" >"$doc"
q -c "ALTER TABLE orders RENAME TO purchases" -c "ALTER TABLE purchases ADD COLUMN priority int NOT NULL DEFAULT 1" \
  -c "ALTER TABLE purchases ALTER COLUMN priority DROP DEFAULT" -c "ALTER TABLE line_notes DROP COLUMN note" \
  -c "ALTER TABLE order_lines ALTER COLUMN sku TYPE varchar(3)" >/dev/null
pre=$(pre_restores)
err=$(full_error "SELECT backup_restore($id)")
check_match "one error lists every difference" '^ERROR:  42P01: .* 3 differences .* public\.orders: no such table here' "$err"
check_match "... the column dropped" 'public\.line_notes\.note: no such column here' "$err"
check_match "... the lossy type" 'public\.order_lines\.sku: from text to character varying\(3\)' "$err"
err=$(full_error "SELECT backup_restore($id, '{\"rename\": {\"tables\": {\"orders\": \"purchases\"}}}')")
check_match "renamed, the table's new NOT NULL column is listed with the rest" \
  '^ERROR:  42804: .* 3 differences .*public\.purchases\.priority: added NOT NULL without a default' "$err"
check "no pre_restore snapshot" "$pre" "$(pre_restores)"
q -c "ALTER TABLE order_lines ALTER COLUMN sku TYPE text" >/dev/null
q -c "DELETE FROM purchases WHERE id = 101" >/dev/null
opts='{"rename": {"tables": {"orders": "purchases"}}, "ignore_unknown_columns": true, "column_defaults": {"purchases": {"priority": 3}}}'
report=$(q -v doc="$(cat "$doc")" -v opts="$opts" <<<"SELECT backup_import(:'doc'::jsonb, 'replace', :'opts'::jsonb)")
check "backup_import gets through with the options" "101|3" "$(q -c "SELECT id, priority FROM purchases WHERE id = 101")"
check "its report lists what it got through" \
  "public.line_notes.note:column_dropped public.purchases.priority:column_added public.purchases:table_renamed" \
  "$(changes "$report")"

finish
