#!/usr/bin/env bash
# Builds Citus from ../shared/vendor/citus for the server of $PG_CONFIG and
# installs it into that server, for test/system/citus.sh. Citus is a test
# dependency only: nothing of it is linked into or shipped with this project.
#
#   PG_CONFIG=... scripts/build-citus.sh
#
# Exit 77 (skipped) when the Citus source is absent. The build is cached
# under $PTB_CITUS_CACHE (default /var/cache/ptb-citus) in a directory named
# after the tarball, the patch and the server version; a second run only
# copies the cached files into the server's directories.
set -euo pipefail
cd "$(dirname "$0")/.."
pg_config=${PG_CONFIG:-pg_config}
vendor=${PTB_CITUS_VENDOR:-}
for candidate in "$(cd .. && pwd)/shared/vendor/citus" /work/shared/vendor/citus; do
  [ -n "$vendor" ] || { [ -d "$candidate" ] && vendor=$candidate; }
done
tarball=$(ls "${vendor:-/nonexistent}"/citus-*.tar.gz 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$tarball" ]; then
  echo "build-citus: no Citus source in ../shared/vendor/citus (set PTB_CITUS_VENDOR): skipped" >&2
  exit 77
fi
patches=$(ls "$vendor"/*.patch 2>/dev/null || true)
server=$("$pg_config" --version)
key=$(printf '%s\n' "$server" "$("$pg_config" --pkglibdir)" "$(sha256sum "$tarball" $patches | cut -c1-64)" | sha256sum | cut -c1-12)
cache=${PTB_CITUS_CACHE:-/var/cache/ptb-citus}/$(basename "$tarball" .tar.gz)-$key

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
if ! [ -f "$cache/.complete" ]; then
  need=(libkrb5-dev liblz4-dev libzstd-dev libssl-dev)
  missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  build=$(mktemp -d /tmp/ptb-citus-build.XXXXXX)
  trap 'rm -rf "$build"' EXIT
  echo "build-citus: building $(basename "$tarball") for $server (1-3 minutes)" >&2
  source scripts/step.sh
  tar -xzf "$tarball" -C "$build"
  src=$(ls -d "$build"/citus-*/)
  for p in $patches; do (cd "$src" && patch -s -p0 <"$p"); done
  configure() { (cd "$src" && ./configure PG_CONFIG="$pg_config" --without-libcurl >"$build/configure.log" 2>&1); }
  citus_make() { make -C "$src" -s -j"$(nproc)" with_llvm=no >"$build/make.log" 2>&1; }
  step "build-citus: configure" configure || { tail -n 30 "$build/configure.log" >&2; exit 1; }
  step "build-citus: make" citus_make || { tail -n 30 "$build/make.log" >&2; exit 1; }
  "${sudo[@]}" rm -rf "$cache"
  "${sudo[@]}" mkdir -p "$cache"
  "${sudo[@]}" make -C "$src" -s with_llvm=no DESTDIR="$cache/root" install >"$build/install.log" 2>&1 ||
    { tail -n 30 "$build/install.log" >&2; exit 1; }
  "${sudo[@]}" touch "$cache/.complete"
fi
# The cached tree mirrors the server's own paths (DESTDIR): copy it over.
"${sudo[@]}" cp -a "$cache/root/." /
echo "build-citus: Citus installed into $("$pg_config" --pkglibdir)" >&2
