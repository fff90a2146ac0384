#!/usr/bin/env bash
# Builds a PostgreSQL server (and pgTAP into it) from the release sources in
# ../shared/vendor/postgresql, for testing on a version Debian 12 does not
# package. Prints the path of its pg_config on the last line.
#
#   scripts/build-postgres.sh [MAJOR]        (default 18)
#
# The install is cached under $PTB_PG_CACHE (default /var/cache/ptb-postgres)
# in a directory named after the version and a hash of the configure flags:
# a second run with the same sources and flags builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/step.sh
major=${1:-18}
# The sources: $PTB_VENDOR, else ../shared/vendor/postgresql next to this
# checkout, else the team machines' /work/shared/vendor/postgresql.
vendor=${PTB_VENDOR:-}
for candidate in "$(cd .. && pwd)/shared/vendor/postgresql" /work/shared/vendor/postgresql; do
  [ -n "$vendor" ] || { [ -d "$candidate" ] && vendor=$candidate; }
done
[ -n "$vendor" ] || { echo "build-postgres: no ../shared/vendor/postgresql; set PTB_VENDOR" >&2; exit 1; }
cache=${PTB_PG_CACHE:-/var/cache/ptb-postgres}
tarball=$(ls "$vendor"/postgresql-"$major"_"$major".*.orig.tar.bz2 2>/dev/null | sort -V | tail -n 1)
pgtap=$(ls "$vendor"/pgtap_*.orig.tar.gz 2>/dev/null | sort -V | tail -n 1)
[ -n "$tarball" ] || { echo "build-postgres: no PostgreSQL $major source in $vendor" >&2; exit 1; }
[ -n "$pgtap" ] || { echo "build-postgres: no pgTAP source in $vendor" >&2; exit 1; }
version=$(basename "$tarball" | sed -E 's/.*_([0-9.]+)\.orig\.tar\.bz2/\1/')

# Without NLS on purpose: the headers then define gettext() as a macro,
# which the extension must build with (src/pg/server.hpp).
flags=(--without-icu --with-openssl --with-zstd --with-lz4 --with-libxml)
key=$(printf '%s\n' "$version" "${flags[@]}" "$(sha256sum "$tarball" "$pgtap" | cut -c1-64)" |
      sha256sum | cut -c1-12)
prefix="$cache/$version-$key"
if [ -x "$prefix/bin/pg_config" ] && [ -f "$prefix/.complete" ]; then
  echo "build-postgres: PostgreSQL $version already built in $prefix" >&2
  echo "$prefix/bin/pg_config"
  exit 0
fi

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
# Since 17 the release tarball ships no generated parser: bison and flex.
need=(bison flex libreadline-dev zlib1g-dev libssl-dev libzstd-dev liblz4-dev libxml2-dev pkg-config)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=$(mktemp -d /tmp/ptb-pg-build.XXXXXX)
trap 'rm -rf "$build"' EXIT
echo "build-postgres: building PostgreSQL $version into $prefix" >&2
tar -xjf "$tarball" -C "$build"
src=$(ls -d "$build"/postgresql-*/)
"${sudo[@]}" rm -rf "$prefix"
"${sudo[@]}" mkdir -p "$prefix"
"${sudo[@]}" chown "$(id -u)" "$prefix"
configure() { (cd "$src" && ./configure --prefix="$prefix" "${flags[@]}" >"$build/configure.log" 2>&1); }
step "build-postgres: configure" configure || { tail -n 30 "$build/configure.log" >&2; exit 1; }
server_make() { make -C "$src" -s -j"$(nproc)" >"$build/make.log" 2>&1; }
step "build-postgres: make (several minutes)" server_make || { tail -n 30 "$build/make.log" >&2; exit 1; }
step "build-postgres: make install" make -C "$src" -s install >/dev/null
tar -xzf "$pgtap" -C "$build"
tapsrc=$(ls -d "$build"/pgtap-*/)
pgtap_build() {
  make -C "$tapsrc" -s PG_CONFIG="$prefix/bin/pg_config" >/dev/null 2>&1 &&
    make -C "$tapsrc" -s PG_CONFIG="$prefix/bin/pg_config" install >/dev/null
}
step "build-postgres: pgTAP" pgtap_build
touch "$prefix/.complete"
echo "$prefix/bin/pg_config"
