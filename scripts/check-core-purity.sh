#!/usr/bin/env bash
# Fails when a file under the given core directory includes anything but
# the C++ standard library, nlohmann/json, zstd, OpenSSL or another core
# header. src/core must build and test without a PostgreSQL server.
set -euo pipefail
dir=${1:?usage: check-core-purity.sh DIR}
status=0
while IFS= read -r line; do
  file=${line%%:*}
  rest=${line#*:}
  lineno=${rest%%:*}
  inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]*[>"]).*/\1/' <<<"${rest#*:}")
  case "$inc" in
    \"core/*\") [ -f "$(dirname "$dir")/${inc//\"/}" ] && continue ;;
    \<nlohmann/*\>|\<zstd.h\>|\<openssl/*\>) continue ;;
    \<*\>)
      name=${inc:1:${#inc}-2}
      # Standard C++ headers have no extension and no directory.
      [[ "$name" =~ ^[a-z_]+$ ]] && continue ;;
  esac
  echo "$file:$lineno: src/core may not include $inc (no PostgreSQL or other server headers)" >&2
  status=1
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include' "$dir" --include='*.hpp' --include='*.cpp' --include='*.h' || true)
exit $status
