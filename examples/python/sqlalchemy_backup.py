#!/usr/bin/python3
"""pg_tenant_backup from SQLAlchemy: back up a tenant, list the snapshots,
and try a restore, telling "not allowed" (42501) and "busy" (55P03) apart by
the SQLSTATE of the driver's error.

    python3 sqlalchemy_backup.py postgresql+psycopg2://... 42
"""
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError


def main(url, tenant):
    engine = create_engine(url)
    with engine.begin() as conn:
        backup_id = conn.execute(text("SELECT tenant_backup.backup_create(:tenant, name => 'from sqlalchemy')"),
                                 {"tenant": tenant}).scalar_one()
        listed = conn.execute(text("SELECT count(*) FROM tenant_backup.backup_list WHERE tenant = :tenant"),
                              {"tenant": tenant}).scalar_one()
    print(f"backup {backup_id}, {listed} stored for tenant {tenant}")
    try:
        with engine.begin() as conn:
            report = conn.execute(text("SELECT tenant_backup.backup_restore(:id)"), {"id": backup_id}).scalar_one()
        print("restored", report["totals"])
    except DBAPIError as e:
        code = getattr(e.orig, "pgcode", None)
        if code == "42501":
            print("restore not allowed here")
        elif code == "55P03":
            print("tenant busy, try later")
        else:
            raise


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
