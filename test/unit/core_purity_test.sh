#!/usr/bin/env bash
# The purity check must pass on clean core code and fail on a core file
# that includes a server header.
set -u
check=${1:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/core"
printf '#include <string>\n#include "core/error.hpp"\n' > "$tmp/src/core/ok.cpp"
touch "$tmp/src/core/error.hpp"
if ! "$check" "$tmp/src/core" 2>/dev/null; then echo "clean core rejected"; exit 1; fi
for bad in '#include "postgres.h"' '#include <utils/elog.h>' '#include "fmgr.h"' '#include <postgresql/15/server/postgres.h>'; do
  printf '%s\n' "$bad" > "$tmp/src/core/bad.cpp"
  if "$check" "$tmp/src/core" 2>/dev/null; then echo "accepted: $bad"; exit 1; fi
done
echo "purity check accepts clean core and rejects server headers"
