#!/usr/bin/env bash
# Installs the Debian 12 packages pg_tenant_backup needs to build and test.
# Runs apt only for what is missing; uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake pkg-config xxd bc bsdextrautils clang libclang-rt-14-dev
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron
  nlohmann-json3-dev libgtest-dev libzstd-dev libssl-dev
  libipc-run-perl python3 python3-jsonschema python3-croniter python3-dateutil python3-psycopg2 python3-sqlalchemy
  zstd
  debhelper dpkg-dev fakeroot postgresql-all
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the node-postgres example: the machine's own, else Debian's.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
echo "Installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
