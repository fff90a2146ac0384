#!/usr/bin/env bash
# The Makefile builds a src/pg file that is not in PG_SERVER_SRCS (a logic
# file) without the server's include path: one that includes a server
# header, itself or through another header, must fail to build, saying
# why; one that uses only the server-free headers must build; and listing
# a file in PG_SERVER_SRCS must let it see the server. Another compile
# error says nothing of the boundary.
set -u
root=${1:?usage: server_boundary_test.sh PROJECT_ROOT}
pg_config=${PG_CONFIG:-pg_config}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/Makefile" "$root/pg_tenant_backup.control" "$root/sql" "$root/scripts" "$tmp/"
mkdir -p "$tmp/src" && cp -r "$root/src/core" "$root/src/pg" "$tmp/src/"
find "$tmp/src" -name '*.o' -delete

build() {  # build FILE [make arguments]: make's output in $tmp/out
  local file=$1; shift
  make -C "$tmp" -s PG_CONFIG="$pg_config" "src/pg/${file%.cpp}.o" "$@" >"$tmp/out" 2>&1
}

printf '#include "pg/server.hpp"\nint probe() { return 0; }\n' > "$tmp/src/pg/probe_direct.cpp"
if build probe_direct.cpp; then echo "a logic file including pg/server.hpp built"; exit 1; fi
grep -q 'is a logic file and may not see a server header' "$tmp/out" ||
  { echo "the failure does not say why:"; cat "$tmp/out"; exit 1; }

printf '#include "pg/guarded.hpp"\nint probe() { return 0; }\n' > "$tmp/src/pg/probe_through.cpp"
if build probe_through.cpp; then echo "a logic file including a server header through pg/guarded.hpp built"; exit 1; fi

printf '#include "pg/backup_log.hpp"\n#include "pg/server_log.hpp"\n#include "pg/session.hpp"\n#include "pg/spi.hpp"\n#include "pg/subtransaction.hpp"\nint probe() { return 0; }\n' \
  > "$tmp/src/pg/probe_logic.cpp"
build probe_logic.cpp || { echo "a logic file using only server-free headers did not build:"; cat "$tmp/out"; exit 1; }

# Any other compile error is the compiler's alone: no word of the boundary.
printf '#include "pg/spi.hpp"\nint probe() { return undeclared_name; }\n' > "$tmp/src/pg/probe_typo.cpp"
if build probe_typo.cpp; then echo "a logic file with a compile error built"; exit 1; fi
grep -q 'undeclared_name' "$tmp/out" || { echo "the compiler's error is not shown:"; cat "$tmp/out"; exit 1; }
if grep -q 'is a logic file and may not see a server header' "$tmp/out"; then
  echo "a compile error that is not a server header blames the boundary:"; cat "$tmp/out"; exit 1
fi

# A misspelt project header is not a server header either.
printf '#include "pg/sesion.hpp"\nint probe() { return 0; }\n' > "$tmp/src/pg/probe_misspelt.cpp"
if build probe_misspelt.cpp; then echo "a logic file including a missing project header built"; exit 1; fi
if grep -q 'is a logic file and may not see a server header' "$tmp/out"; then
  echo "a missing project header blames the boundary:"; cat "$tmp/out"; exit 1
fi

build probe_direct.cpp PG_SERVER_SRCS=src/pg/probe_direct.cpp ||
  { echo "a file listed in PG_SERVER_SRCS could not include pg/server.hpp:"; cat "$tmp/out"; exit 1; }
echo "logic files build without server headers; a server header there fails the build, saying why"
