#!/usr/bin/python3
"""A Python application using pg_tenant_backup through psycopg2.

Backs up a tenant, lists snapshots, streams one to a local file with
backup_download, uploads it back with backup_upload, previews an import
with dry_run, restores, and handles the errors an application must expect
by their SQLSTATE: 55P03 (an import or restore of the tenant is running)
and 42501 (not allowed).

    python3 tenant_backup.py "dbname=app" 42 /tmp/snapshot.json.zst
"""
import sys

import psycopg2
import psycopg2.errorcodes


def backup(conn, tenant):
    with conn.cursor() as cur:
        cur.execute("SELECT tenant_backup.backup_create(%s, name => %s)", (tenant, "from python"))
        return cur.fetchone()[0]


def list_snapshots(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT id, tenant, size_mb, row_count FROM tenant_backup.backup_list ORDER BY id")
        return cur.fetchall()


def download(conn, backup_id, path):
    """Streams the stored file chunk by chunk (a named cursor fetches lazily)."""
    size = 0
    with conn.cursor(name="download") as cur, open(path, "wb") as out:
        cur.execute("SELECT chunk FROM tenant_backup.backup_download(%s) AS chunk", (backup_id,))
        for (chunk,) in cur:
            out.write(chunk)
            size += len(chunk)
    return size


def upload(conn, path):
    with open(path, "rb") as f, conn.cursor() as cur:
        cur.execute("SELECT tenant_backup.backup_upload(%s, %s)", (psycopg2.Binary(f.read()), "uploaded from python"))
        return cur.fetchone()[0]


def expected_refusal(conn, what, error):
    """The refusals an application handles by SQLSTATE; anything else is raised."""
    conn.rollback()
    if error.pgcode == psycopg2.errorcodes.LOCK_NOT_AVAILABLE:  # 55P03
        print(what + ": another import or restore of this tenant is running; try later")
    elif error.pgcode == psycopg2.errorcodes.INSUFFICIENT_PRIVILEGE:  # 42501
        print(what + ": not allowed here (pg_tenant_backup.allow_restore is off)")
    else:
        raise error


def preview_restore(conn, backup_id):
    """What a restore would change (a dry run changes nothing), or None."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tenant_backup.backup_import(tenant_backup.backup_read(%s), 'replace', '{\"dry_run\": true}') -> 'totals'",
                        (backup_id,))
            return cur.fetchone()[0]
    except psycopg2.Error as e:
        expected_refusal(conn, "preview", e)
        return None


def restore(conn, backup_id):
    """Returns the report, or None when the restore must wait or is not allowed."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tenant_backup.backup_restore(%s)", (backup_id,))
            report = cur.fetchone()[0]
        conn.commit()
        return report
    except psycopg2.Error as e:
        expected_refusal(conn, "restore", e)
        return None


def main(dsn, tenant, path):
    conn = psycopg2.connect(dsn)
    conn.autocommit = False
    backup_id = backup(conn, tenant)
    conn.commit()
    print("backup", backup_id, "snapshots", len(list_snapshots(conn)))
    print("downloaded", download(conn, backup_id, path), "bytes")
    print("uploaded as", upload(conn, path))
    conn.commit()
    print("restore would change", preview_restore(conn, backup_id))
    conn.rollback()
    report = restore(conn, backup_id)
    print("restored", report["totals"] if report else None)
    conn.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
