#!/usr/bin/env bash
# Encryption at rest on a real server: with pg_tenant_backup.encryption on,
# stored snapshot files hold no plaintext, verify/read/restore/download/
# upload work through the key, any change to a file (even with its logged
# checksum forged) is refused with XX001 and nothing changes; a key that
# cannot be loaded fails the backup loudly (SQLSTATE, failed row, no file,
# no temporary file); key rotation keeps old snapshots readable through
# encryption_old_key_files and names the missing key otherwise; only a
# superuser may see or change the key settings.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/lib/cluster.sh
source test/lib/assert.sh
work=$(mktemp -d /tmp/ptb-encryption.XXXXXX)
chmod 755 "$work"
trap 'cluster_stop "$work/cluster"; rm -rf "$work"' EXIT
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Key files, owned by the server's user, private to it.
keys="$work/keys"
mkdir -p "$keys"
[ "$(id -u)" = 0 ] && chown postgres: "$keys"
new_key() { as_owner sh -c "umask 077; openssl rand -hex 32 > '$keys/$1'"; }
key_id() { xxd -r -p "$keys/$1" | sha256sum | cut -c1-16; }
new_key k1
new_key k2
new_key open
as_owner chmod 640 "$keys/open"
new_key unreadable
as_owner chmod 000 "$keys/unreadable"
as_owner sh -c "umask 077; openssl rand -hex 16 > '$keys/short'"
k1=$(key_id k1)
k2=$(key_id k2)

PGPORT_FOR_TESTS=54380 cluster_start "$work/cluster" \
  "pg_tenant_backup.encryption = 'aes-256-gcm'" \
  "pg_tenant_backup.encryption_key_file = '$keys/k1'" \
  "pg_tenant_backup.allow_restore = on" \
  "shared_preload_libraries = 'pg_tenant_backup'" "pg_tenant_backup.database = 'postgres'"
storage="$work/cluster/data/pg_tenant_backup"
# Settings for one session only (libpq's PGOPTIONS).
with() { local opts=$1; shift; PGOPTIONS="$opts" "$@"; }
file_of() { echo "$storage/$(q -c "SELECT file_name FROM backup_logs WHERE id = $1")"; }
temporaries() { find "$storage" -name '*.tmp' | wc -l; }

q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pg_tenant_backup" -f test/fixtures/shop.sql >/dev/null
q >/dev/null <<'SQL'
UPDATE customers SET name = 'Zebulon Plaintextmarker' WHERE id = 10;
CREATE FUNCTION tenant1() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(c::text, ',' ORDER BY c.id)) FROM customers c WHERE tenant_id = 1 $$;
CREATE ROLE app LOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO app;
GRANT EXECUTE ON FUNCTION backup_create(text, jsonb, text, text, boolean) TO app;
SQL

echo "# an encrypted snapshot holds no plaintext and reads back"
id=$(q -c "SELECT backup_create('1', '{\"compression\": \"none\"}')")
f=$(file_of "$id")
check "the row records the algorithm and the key id" "completed|aes-256-gcm|$k1" \
  "$(q -c "SELECT status, encryption, encryption_key_id FROM backup_logs WHERE id = $id")"
check "backup_list shows them" "aes-256-gcm|$k1" "$(q -c "SELECT encryption, encryption_key_id FROM backup_list WHERE id = $id")"
check_match "the file name ends in .json.enc" "^tenant-1-[0-9]{8}T[0-9]{6}Z-db[0-9]+-$id\.json\.enc$" "$(basename "$f")"
check "the file starts with the encryption header" PTBENC "$(head -c 6 "$f")"
check "no tenant value is in the file" 0 "$(grep -c -a Plaintextmarker "$f" || true)"
check "no JSON key is in the file" 0 "$(grep -c -a -e tenant_id -e pg_tenant_backup "$f" || true)"
check "the logged checksum is the SHA-256 of the stored bytes" "$(sha256sum "$f" | cut -d' ' -f1)" \
  "$(q -c "SELECT checksum FROM backup_logs WHERE id = $id")"
check "verify: ok, authenticated, with the key id" "true|true|\"$k1\"" \
  "$(q -c "SELECT r -> 'ok', r -> 'checks' -> 'decrypts_and_authenticates', r -> 'encryption' -> 'key_id' FROM backup_verify($id) r")"
check "backup_read gives the document with the tenant value" t \
  "$(q -c "SELECT strpos(backup_read($id)::text, 'Zebulon Plaintextmarker') > 0")"
check "backup_read equals a fresh export's data (with soft-deleted rows, as a backup holds them)" t "$(q -c "SELECT backup_read($id) -> 'data' = backup_export('1', '{\"include_deleted\": true}') -> 'data'")"
id_md5=$(q -c "SELECT md5(backup_read($id)::text)")
zid=$(q -c "SELECT backup_create('1')")
zf=$(file_of "$zid")
check_match "a compressed snapshot is encrypted too (.json.zst.enc)" "\.json\.zst\.enc$" "$zf"
check "it is not a zstd frame" PTBENC "$(head -c 6 "$zf")"
check "it reads back" t "$(q -c "SELECT backup_read($zid) -> 'data' = backup_export('1', '{\"include_deleted\": true}') -> 'data'")"
salt() { head -c 48 "$1" | tail -c 32 | xxd -p | tr -d '\n'; }
check "each file has its own salt" different "$([ "$(salt "$f")" != "$(salt "$zf")" ] && [ "$(salt "$f")" != "$(printf '%064d' 0)" ] && echo different || echo same)"
aid=$(PGUSER=app q -c "SELECT backup_create('1')")
check "a non-superuser's backup is encrypted all the same" "aes-256-gcm|$k1" \
  "$(q -c "SELECT encryption, encryption_key_id FROM backup_logs WHERE id = $aid")"

echo "# scheduled snapshots are encrypted"
q -c "SELECT backup_schedule_create('enc', '2', '2 seconds', '{\"max_backups\": 5}')" >/dev/null
for i in $(seq 100); do  # up to 20 s for the first run
  [ "$(q -c "SELECT count(*) > 0 FROM backup_logs WHERE trigger = 'scheduled' AND status <> 'running'")" = t ] && break
  sleep 0.2
done
q -c "SELECT backup_schedule_disable('enc')" >/dev/null
sid=$(q -c "SELECT min(id) FROM backup_logs WHERE trigger = 'scheduled' AND status <> 'running'")
check "a scheduled snapshot completes, encrypted with the key" "completed|aes-256-gcm|$k1" \
  "$(q -c "SELECT status, encryption, encryption_key_id FROM backup_logs WHERE id = ${sid:-0}")"
check "its file is encrypted and verifies" "PTBENC|true" "$(head -c 6 "$(file_of "${sid:-0}")")|$(q -c "SELECT backup_verify(${sid:-0}) -> 'ok'")"
# A run may have started before the disable: let it finish before files are counted.
for i in $(seq 100); do
  [ "$(q -c "SELECT count(*) FROM backup_logs WHERE status = 'running'")" = 0 ] && break
  sleep 0.2
done

echo "# restore through the key"
snapshot=$(q -c "SELECT tenant1()")
q -c "UPDATE customers SET name = 'changed' WHERE id = 10" >/dev/null
report=$(q -c "SELECT backup_restore($zid)")
check "the tenant's rows equal the snapshot again" "$snapshot" "$(q -c "SELECT tenant1()")"
pre=$(q -c "SELECT ('$report'::jsonb ->> 'pre_restore_id')::bigint")
check "the pre_restore snapshot is encrypted" "pre_restore|aes-256-gcm|$k1|PTBENC" \
  "$(q -c "SELECT trigger, encryption, encryption_key_id FROM backup_logs WHERE id = $pre")|$(head -c 6 "$(file_of "$pre")")"
check "the pre_restore snapshot holds the changed row, not in the clear" "t|0" \
  "$(q -c "SELECT backup_read($pre)::text ~ 'changed'")|$(grep -c -a changed "$(file_of "$pre")" || true)"

echo "# a changed file is refused, even with its checksum forged"
cp "$zf" "$work/pristine"
chmod 644 "$work/pristine"
size=$(stat -c %s "$zf")
q -c "UPDATE customers SET name = 'after the snapshot' WHERE id = 11" >/dev/null
before=$(q -c "SELECT tenant1()")
forge() {  # the attacker also rewrites backup_logs
  q -c "UPDATE backup_logs SET checksum = '$(sha256sum "$zf" | cut -d' ' -f1)', size_bytes = $(stat -c %s "$zf") WHERE id = $zid" >/dev/null
}
tampered() {  # $1: what; the file is already changed
  check "$1: verify reports the checksum" "false|false" \
    "$(q -c "SELECT r -> 'ok', r -> 'checks' -> 'checksum_matches' FROM backup_verify($zid) r")"
  check_match "$1: read refuses it" "XX001: snapshot file of backup $zid is corrupted" "$(q_error "SELECT backup_read($zid)")"
  forge
  check "$1, checksum forged: verify says it does not authenticate" "false|false" \
    "$(q -c "SELECT r -> 'ok', r -> 'checks' -> 'decrypts_and_authenticates' FROM backup_verify($zid) r")"
  check_match "$1, checksum forged: read refuses it" "XX001: snapshot file is corrupted: .*" "$(q_error "SELECT backup_read($zid)")"
  # backup_restore reports what failed its check under 55000.
  check_match "$1, checksum forged: restore refuses it" "55000: backup $zid does not pass verification: snapshot file is corrupted" \
    "$(q_error "SELECT backup_restore($zid)")"
  check "$1: the tenant's data did not change" "$before" "$(q -c "SELECT tenant1()")"
  as_owner cp "$work/pristine" "$zf"
  forge
}
printf '\x01' | as_owner dd of="$zf" bs=1 seek=$((size / 2)) conv=notrunc status=none
tampered "a flipped byte in the middle"
printf '\x01' | as_owner dd of="$zf" bs=1 seek=20 conv=notrunc status=none
tampered "a flipped byte in the header's salt"
as_owner truncate -s $((size - 1)) "$zf"
tampered "the last byte cut off"
as_owner truncate -s 52 "$zf"
tampered "only the header left"
printf 'more' | as_owner dd of="$zf" bs=1 seek="$size" conv=notrunc status=none
tampered "bytes appended"
check "the pristine file verifies again" true "$(q -c "SELECT backup_verify($zid) -> 'ok'")"
check_match "upload of a changed file is refused" "XX001: snapshot file is corrupted" \
  "$(q_error "SELECT backup_upload(overlay(pg_read_binary_file('$zf') PLACING '\\x00'::bytea FROM 100))")"

echo "# a key that cannot be loaded: the backup fails loudly, leaves no file"
before_files=$(find "$storage" -type f | wc -l)
refused() {  # $1 what, $2 PGOPTIONS, $3 expected error regex, $4 expected sqlstate
  local err last
  err=$(with "$2" q_error "SELECT backup_create('1')")
  check_match "$1: backup_create fails" "$3" "$err"
  last=$(q -c "SELECT id FROM backup_logs WHERE operation = 'backup' ORDER BY id DESC LIMIT 1")
  check "$1: a failed row with the SQLSTATE" "failed|aes-256-gcm|$4" \
    "$(q -c "SELECT status, encryption, error ->> 'sqlstate' FROM backup_logs WHERE id = $last")"
  check "$1: no file, no temporary file" "$before_files|0" "$(find "$storage" -type f | wc -l)|$(temporaries)"
}
refused "no key file set" "-c pg_tenant_backup.encryption_key_file=" \
  'F0000: pg_tenant_backup.encryption is aes-256-gcm but pg_tenant_backup.encryption_key_file is not set' F0000
refused "a missing key file" "-c pg_tenant_backup.encryption_key_file=$keys/nothing" \
  "58P01: encryption key file \"$keys/nothing\" \(pg_tenant_backup.encryption_key_file\) does not exist" 58P01
refused "an unreadable key file" "-c pg_tenant_backup.encryption_key_file=$keys/unreadable" \
  'F0000: could not open encryption key file .*Permission denied' F0000
refused "a key file others can read" "-c pg_tenant_backup.encryption_key_file=$keys/open" \
  'F0000: encryption key file .* has group or world access' F0000
refused "a key of the wrong length" "-c pg_tenant_backup.encryption_key_file=$keys/short" \
  'does not hold a valid key: an encryption key must be 64 hexadecimal digits, found 32 characters' 22023
short_key=$(as_owner cat "$keys/short")
short_error=$(with "-c pg_tenant_backup.encryption_key_file=$keys/short" psql -qXAt -v VERBOSITY=verbose -c "SELECT backup_create('1')" 2>&1 || true)
check "the error never shows the key" no "$([[ "$short_error" == *"$short_key"* ]] && echo yes || echo no)"
check "nor does backup_logs" 0 "$(q -c "SELECT count(*) FROM backup_logs WHERE strpos(error::text, '$short_key') > 0")"
check_match "an upload fails the same way" '58P01: encryption key file' \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/nothing" q_error "SELECT backup_upload(convert_to(backup_export('2')::text, 'UTF8'))")"
check "no file, no temporary file after all that" "$before_files|0" "$(find "$storage" -type f | wc -l)|$(temporaries)"

echo "# only a superuser sees or changes the key settings"
for setting in encryption_key_file encryption_old_key_files; do
  check_match "SHOW $setting as app: 42501" '42501' \
    "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SHOW pg_tenant_backup.$setting")"
  check "pg_settings hides $setting from app" 0 \
    "$(q -c "LOAD 'pg_tenant_backup'" -c "SET ROLE app" -c "SELECT count(*) FROM pg_settings WHERE name = 'pg_tenant_backup.$setting'")"
  check "a superuser sees $setting" 1 \
    "$(q -c "LOAD 'pg_tenant_backup'" -c "SELECT count(*) FROM pg_settings WHERE name = 'pg_tenant_backup.$setting'")"
done
for setting in "encryption = off" "encryption_key_file = '/tmp/k'" "encryption_old_key_files = '/tmp/k'"; do
  check_match "SET $setting as app: 42501" '42501: permission denied to set parameter' \
    "$(q_error "LOAD 'pg_tenant_backup'; SET ROLE app; SET pg_tenant_backup.$setting")"
done
check "app may see whether encryption is on" aes-256-gcm \
  "$(q -c "LOAD 'pg_tenant_backup'" -c "SET ROLE app" -c "SHOW pg_tenant_backup.encryption")"

echo "# key rotation"
rotated="-c pg_tenant_backup.encryption_key_file=$keys/k2 -c pg_tenant_backup.encryption_old_key_files=$keys/unreadable,$keys/k1"
new=$(with "$rotated" q -c "SELECT backup_create('1')")
check "a new snapshot uses the new key" "$k2" "$(q -c "SELECT encryption_key_id FROM backup_logs WHERE id = $new")"
check "an old snapshot reads through the old key file" "$id_md5" \
  "$(with "$rotated" q -c "SELECT md5(backup_read($id)::text)")"
check "and verifies" true "$(with "$rotated" q -c "SELECT backup_verify($id) -> 'ok'")"
check "the new one too" true "$(with "$rotated" q -c "SELECT backup_verify($new) -> 'ok'")"
check_match "with the old key file gone, read names the key needed" \
  "F0000: snapshot file is encrypted with key $k1, which is not configured" \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2" q_error "SELECT backup_read($id)")"
hint=$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2" psql -qXAt -v VERBOSITY=verbose -c "SELECT backup_read($id)" 2>&1 || true)
check_match "the detail lists the keys configured" "DETAIL:  The keys configured are $k2\." "$hint"
check_match "the hint says to add the old key file" "HINT:  Add the key file that holds key $k1 to pg_tenant_backup.encryption_old_key_files" "$hint"
check_match "verify raises it too (not a fault of the file)" "F0000: snapshot file is encrypted with key $k1" \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2" q_error "SELECT backup_verify($id)")"
before=$(q -c "SELECT tenant1()")
check_match "restore refuses it with the key error (F0000), not as a bad file" "F0000: snapshot file is encrypted with key $k1, which is not configured" \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2" q_error "SELECT backup_restore($id)")"
check "and changes nothing" "$before" "$(q -c "SELECT tenant1()")"
check_match "an unreadable old key file is named in the detail" "Unreadable: could not open encryption key file \"$keys/unreadable\"" \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2 -c pg_tenant_backup.encryption_old_key_files=$keys/unreadable" \
      psql -qXAt -v VERBOSITY=verbose -c "SELECT backup_read($id)" 2>&1 || true)"

echo "# download and upload of an encrypted snapshot"
q -c "SELECT encode(c, 'hex') FROM backup_download($zid) c" | xxd -r -p > "$work/downloaded"
check "download gives the stored (encrypted) bytes" "$(sha256sum < "$zf")" "$(sha256sum < "$work/downloaded")"
hex=$(xxd -p "$work/downloaded" | tr -d '\n')
up=$(with "$rotated" q -c "SELECT backup_upload(decode('$hex', 'hex'), 'uploaded')")
check "the upload is stored as it came, with its key id" "completed|aes-256-gcm|$k1|zstd" \
  "$(q -c "SELECT status, encryption, encryption_key_id, compression FROM backup_logs WHERE id = $up")"
check "the stored file is byte for byte the upload" "$(sha256sum < "$work/downloaded")" "$(sha256sum < "$(file_of "$up")")"
check "and reads as the original" t "$(q -c "SELECT backup_read($up) = backup_read($zid)")"
check_match "an upload whose key is not configured is refused" "F0000: snapshot file is encrypted with key $k1" \
  "$(with "-c pg_tenant_backup.encryption_key_file=$keys/k2" q_error "SELECT backup_upload(decode('$hex', 'hex'))")"
plain=$(q -c "SELECT backup_upload(convert_to(backup_export('2')::text, 'UTF8'))")
check "a plain upload is encrypted when encryption is on" "aes-256-gcm|$k1|PTBENC" \
  "$(q -c "SELECT encryption, encryption_key_id FROM backup_logs WHERE id = $plain")|$(head -c 6 "$(file_of "$plain")")"
check "and reads back" t "$(q -c "SELECT backup_read($plain) -> 'data' = backup_export('2') -> 'data'")"

echo "# encryption off"
off=$(with "-c pg_tenant_backup.encryption=off" q -c "SELECT backup_create('2', '{\"compression\": \"none\"}')")
check "a snapshot taken with encryption off is plain JSON, recorded so" "|{" \
  "$(q -c "SELECT encryption FROM backup_logs WHERE id = $off")|$(head -c 1 "$(file_of "$off")")"
check "encrypted snapshots stay readable with encryption off" t \
  "$(with "-c pg_tenant_backup.encryption=off" q -c "SELECT backup_read($id) IS NOT NULL")"

check "no backend crashed" no "$(cluster_crashed "$work/cluster" && echo yes || echo no)"
finish
