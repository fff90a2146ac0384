#!/usr/bin/env bash
# The Debian package: debian/ builds postgresql-N-tenant-backup from a copy
# of this tree with dpkg-buildpackage, the package holds the library (without
# debug info, exporting only the server's entry points), the control file and
# the SQL script of every version and nothing else, and once installed with
# dpkg -i the server loads it: CREATE EXTENSION, the update from 0.1.0, the
# scheduler worker and an export/import round trip all work from the
# packaged files.
#
# The package installs into the Debian server's own directories, where the
# other tests find the extension that scripts/test.sh installed with
# `make install` from this same tree. So the test saves those files first
# and, after dpkg -r, puts them back byte for byte: the tests after it run
# against exactly what they would have run against without it. (Rebuilding
# with make install instead would take minutes and could differ in build
# flags.) It skips on a server that is not Debian's (PG_CONFIG not
# /usr/lib/postgresql/N/bin/pg_config), and when the package is already
# installed, which it would have to remove.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source test/lib/cluster.sh
source test/lib/assert.sh

pg_config=$(command -v "${PG_CONFIG:-pg_config}")
bindir=$("$pg_config" --bindir)
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
package=postgresql-$major-tenant-backup
if [ "$bindir" != "/usr/lib/postgresql/$major/bin" ]; then
  echo "not a Debian PostgreSQL server ($bindir): the package installs into /usr/lib/postgresql/$major"
  exit 77
fi
if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
  echo "$package is installed on this machine; the test would have to remove it"
  exit 77
fi
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)

work=$(mktemp -d /tmp/ptb-debian.XXXXXX)
chmod 755 "$work"
libdir=$("$pg_config" --pkglibdir)
extdir=$("$pg_config" --sharedir)/extension
saved="$work/saved"
mkdir -p "$saved/lib" "$saved/extension"
installed_files() { ls "$libdir"/pg_tenant_backup.so "$extdir"/pg_tenant_backup.control "$extdir"/pg_tenant_backup--*.sql 2>/dev/null || true; }
for f in $(installed_files); do
  case "$f" in "$libdir"/*) cp -p "$f" "$saved/lib/" ;; *) cp -p "$f" "$saved/extension/" ;; esac
done

package_installed=no
restore() {  # what make install had put there, and nothing of the package
  if [ "$package_installed" = yes ]; then
    "${sudo[@]}" dpkg -r "$package" >/dev/null 2>&1
    package_installed=no
  fi
  for f in $(installed_files); do "${sudo[@]}" rm -f "$f"; done
  [ -z "$(ls "$saved/lib")" ] || "${sudo[@]}" cp -p "$saved"/lib/* "$libdir/"
  [ -z "$(ls "$saved/extension")" ] || "${sudo[@]}" cp -p "$saved"/extension/* "$extdir/"
}
trap 'cluster_stop "$work/cluster"; restore; rm -rf "$work"' EXIT

# A copy of the tree as git sees it (tracked and new files, not what is
# ignored: objects, build directories), so the build cannot pick up
# anything else and writes nothing into this tree. The .deb files land in
# the copy's parent directory.
src="$work/build/pg-tenant-backup"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | xargs -0 cp --parents -t "$src"
else
  tar --exclude='./build*' --exclude='*.o' --exclude='*.so' --exclude='./results' -cf - . | tar -xf - -C "$src"
fi

# nocheck: the build's own pg_regress run is the regress layer of
# scripts/test.sh; the checks below are this test's.
echo "building $package with dpkg-buildpackage (takes a few minutes)" >&2
started=$SECONDS
if ! (cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
      dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1); then
  tail -n 40 "$work/build.log"
fi
echo "built in $((SECONDS - started)) s" >&2
deb=$(ls "$work"/build/"$package"_*.deb 2>/dev/null | head -n 1 || true)
check "dpkg-buildpackage makes $package" yes "$([ -n "$deb" ] && echo yes || echo no)"
[ -n "$deb" ] || finish

# What the package holds, outside its docs: exactly these files.
expected=$( { echo "./usr/lib/postgresql/$major/lib/pg_tenant_backup.so"
  echo "./usr/share/postgresql/$major/extension/pg_tenant_backup.control"
  for f in sql/pg_tenant_backup--*.sql; do echo "./usr/share/postgresql/$major/extension/${f#sql/}"; done
} | sort)
check "the package holds the library, the control file and every version's SQL script, nothing else" \
  "$expected" "$(dpkg-deb -c "$deb" | awk '{print $6}' | grep -v '/$' | grep -v '^./usr/share/doc/' | sort)"
check "its control file names the package, the server it is for and the libraries it loads" \
  "$package|yes|yes|yes" \
  "$(dpkg-deb -f "$deb" Package)|$(dpkg-deb -f "$deb" Depends | grep -q "postgresql-$major" && echo yes)|$(dpkg-deb -f "$deb" Depends | grep -q libzstd && echo yes)|$(dpkg-deb -f "$deb" Depends | grep -q libssl && echo yes)"
check "the debug info went into the -dbgsym package" yes \
  "$(ls "$work"/build/"$package"-dbgsym_*.deb >/dev/null 2>&1 && echo yes || echo no)"

dpkg-deb -x "$deb" "$work/unpacked"
so="$work/unpacked/usr/lib/postgresql/$major/lib/pg_tenant_backup.so"
check "the packaged library has no debug info" "" "$(readelf -SW "$so" | grep -oE '\.debug_[a-z]+' | sort -u | tr '\n' ' ')"
# The server finds by name (dlsym): the magic block, _PG_init, each SQL
# function of the scripts and its pg_finfo_ record, the workers' entry
# points, the output plugin's init. Nothing else is exported.
needed=$( { printf '%s\n' Pg_magic_func _PG_init _PG_output_plugin_init \
    ptb_scheduler_main ptb_job_main ptb_capture_main ptb_autonomous_main
  grep -ohE "'MODULE_PATHNAME', *'[a-z_]+'" sql/pg_tenant_backup--*.sql | sed -E "s/.*'([a-z_]+)'$/\1/" |
    sort -u | while read -r fn; do echo "$fn"; echo "pg_finfo_$fn"; done
} | sort -u)
check "the library exports exactly the entry points the server looks up" \
  "$needed" "$(nm -D --defined-only "$so" | awk '{print $3}' | sort -u)"

"${sudo[@]}" dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || cat "$work/dpkg.log"
dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" && package_installed=yes
check "dpkg -i installs the package" yes "$package_installed"
check "the installed files are the package's (dpkg --verify)" "" "$(dpkg --verify "$package" 2>&1)"

PGPORT_FOR_TESTS=54357 cluster_start "$work/cluster" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'"
q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_tenant_backup;
\i test/fixtures/shop.sql
CREATE DATABASE upgrade_path;
SQL
check "CREATE EXTENSION installs the default version" 0.2.0 \
  "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
q -d upgrade_path -c "CREATE EXTENSION pg_tenant_backup VERSION '0.1.0'" -c "ALTER EXTENSION pg_tenant_backup UPDATE"
check "0.1.0 updates to 0.2.0 with the packaged scripts" 0.2.0 \
  "$(q -d upgrade_path -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenant_backup'")"
check "the scheduler worker starts from the packaged library" yes \
  "$(wait_for 30 "SELECT backup_scheduler_pid() IS NOT NULL" t && echo yes || echo no)"

# Round trip: export tenant 1, change its customers, import the export
# (soft-deleted rows stay out of a snapshot by default: tenancy.md).
# merge needs a key: the tables without one are left out, as in sql/import.sql.
customers="SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM customers WHERE tenant_id = 1 AND deleted_at IS NULL"
customers_before=$(q -c "$customers")
q -c "CREATE TABLE saved_snapshot AS SELECT backup_export('1') AS doc" >/dev/null
q -c "UPDATE customers SET name = 'changed' WHERE tenant_id = 1" >/dev/null
check "tenant 1's customers were changed" yes "$([ "$(q -c "$customers")" != "$customers_before" ] && echo yes)"
q -c "SELECT backup_import(doc, 'merge', '{\"exclude_tables\": [\"events\", \"audit_logs\", \"backup_logs\"]}') FROM saved_snapshot" >/dev/null
check "importing the export gives tenant 1's customers back" "$customers_before" "$(q -c "$customers")"
cluster_stop "$work/cluster"

restore
hashes() {  # FILE... -> "name sha256" lines
  local f
  for f in "$@"; do
    if [ -e "$f" ]; then echo "$(basename "$f") $(sha256sum <"$f" | cut -d' ' -f1)"; fi
  done | sort
}
check "after dpkg -r the package is gone and make install's files are back unchanged" \
  "$(hashes "$saved"/lib/* "$saved"/extension/*)|" \
  "$(hashes $(installed_files))|$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -o 'install ok installed' || true)"
finish
