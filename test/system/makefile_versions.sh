#!/usr/bin/env bash
# The Makefile builds against any PostgreSQL install through PG_CONFIG, and
# warns (but still builds) when that server's version is outside the
# supported range 15 to 18. A fake pg_config points PGXS at a copy of the
# real PGXS tree whose Makefile.global reports another version; `make -n`
# shows what would be built without building it.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-makefile.XXXXXX)
trap 'rm -rf "$work"' EXIT
real=$(command -v "${PG_CONFIG:-pg_config}")
pgxs_root=$(dirname "$(dirname "$(dirname "$("$real" --pgxs)")")")   # .../lib/pgxs

fake_pg_config() {  # VERSION VERSION_NUM -> path of a pg_config reporting them
  local dir="$work/pg$2"
  mkdir -p "$dir"
  cp -r "$pgxs_root" "$dir/pgxs"
  sed -i "s/^VERSION = .*/VERSION = $1/; s/^VERSION_NUM = .*/VERSION_NUM = $2/; s/^MAJORVERSION = .*/MAJORVERSION = ${1%%.*}/" \
    "$dir/pgxs/src/Makefile.global"
  cat >"$dir/pg_config" <<EOF
#!/bin/sh
case "\$1" in
  --pgxs) echo "$dir/pgxs/src/makefiles/pgxs.mk" ;;
  --version) echo "PostgreSQL $1" ;;
  *) exec "$real" "\$@" ;;
esac
EOF
  chmod +x "$dir/pg_config"
  echo "$dir/pg_config"
}

for v in "14.9 140009" "19.0 190000" "15.5 150005" "16.4 160004" "17.2 170002" "18.1 180001"; do
  set -- $v
  out=$(make -n -B PG_CONFIG="$(fake_pg_config "$1" "$2")" 2>&1) || { check "make -n against PostgreSQL $1 runs" 0 1; echo "$out" | tail -5; continue; }
  warned=$(grep -c "supports PostgreSQL 15 to 18; $1 is untested" <<<"$out" || true)
  case $1 in
    14.*|19.*) check "PostgreSQL $1: the Makefile warns that it is untested" 1 "$warned" ;;
    *) check "PostgreSQL $1: no warning" 0 "$warned" ;;
  esac
  check_match "PostgreSQL $1: it would still build the module" 'pg_tenant_backup\.so' "$out"
done
check "the real pg_config ($("$real" --version)): no warning" 0 "$(make -n PG_CONFIG="$real" 2>&1 | grep -c untested || true)"

# The library a server loads is built without debug info unless DEBUG=1
# (docs/operations.md, "The library's size"); the link drops unused
# sections and exports through the version script either way.
compiles() { make -n -B PG_CONFIG="$real" "$@" src/core/names.o src/pg/module.o 2>&1 | grep -E '^(g\+\+|c\+\+|clang)'; }
check "by default no object is compiled with -g" 0 "$(compiles | grep -cE '(^| )-g( |$)' || true)"
check "make DEBUG=1 compiles every object with -g" 2 "$(compiles DEBUG=1 | grep -cE '(^| )-g( |$)' || true)"
check_match "the link collects unused sections and exports through src/pg/exports.map" \
  '--gc-sections.*--version-script=src/pg/exports\.map' "$(make -n -B PG_CONFIG="$real" 2>&1 | grep -- '-shared')"
finish
