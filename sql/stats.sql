-- backup_stats: which tables a tenant's snapshot contains, and how many rows.
\set QUIET on
\i test/fixtures/shop.sql
\set QUIET off

-- Tenant 1: tenant, child, grandchild, composite-key, quoted, partitioned
-- and master tables; the soft-deleted customer and its rows are left out.
SELECT * FROM backup_stats('1');

-- Tenant 2 has different counts in every table: nothing of tenant 1 leaks.
SELECT * FROM backup_stats('2');

-- Master rows are only the referenced ones (Acme references DE only,
-- once FR's customer is soft-deleted); with include_deleted FR comes back.
SELECT table_name, row_count FROM backup_stats('1', '{"include_deleted": true}')
 WHERE table_name IN ('public.customers', 'public.orders', 'public.countries', 'public.currencies');

-- Audit tables only on request; exclude_tables and tables filter the list.
SELECT table_name, row_count FROM backup_stats('2', '{"include_audit_logs": true}')
 WHERE role = 'tenant' ORDER BY table_name;
SELECT table_name FROM backup_stats('2', '{"exclude_tables": ["orders", "public.countries"]}');
SELECT * FROM backup_stats('2', '{"tables": "orders, order_lines"}');

-- A tenant with no rows yet still has a snapshot: its own row.
SELECT * FROM backup_stats('3') WHERE row_count > 0;

-- The whole database (tenant NULL): every table of the scanned schemas.
SELECT * FROM backup_stats(NULL);

-- Settings work like options.
SET pg_tenant_backup.soft_delete_column = '';
SELECT row_count FROM backup_stats('1') WHERE table_name = 'public.customers';
RESET pg_tenant_backup.soft_delete_column;

-- returns reach a tenant through orders (NOT NULL, owning by default) and
-- through handled_by (nullable): returns 2 and 3 belong to Globex, whose
-- orders they are, although Acme's customers handled them. An override
-- switches the chain and they count for Acme.
SELECT table_name, row_count FROM backup_stats('1') WHERE table_name = 'public.returns';
SELECT table_name, row_count FROM backup_stats('2') WHERE table_name = 'public.returns';
SELECT table_name, row_count FROM backup_stats('1', '{"owning_fks": {"returns": "returns_handled_by_fkey"}}')
 WHERE table_name = 'public.returns';

-- The coverage report: every user table of the database, its role in
-- tenant 1's snapshot and why: tenant, child and master tables, the audit
-- table left out (excluded) and app_settings (global: no path to a tenant).
-- Partitions are listed with their parent's role.
SELECT * FROM backup_coverage('1');
-- An option that leaves a table out says so; the whole database has no
-- master data (every table of the scanned schemas is in whole).
SELECT table_name, role, reason FROM backup_coverage('1', '{"exclude_tables": ["orders"], "include_audit_logs": true}')
 WHERE table_name IN ('public.orders', 'public.order_lines', 'public.audit_logs');
SELECT role, count(*) FROM backup_coverage(NULL) GROUP BY role ORDER BY role;

-- Schema tenancy: the tenant is a schema; references out of it are master data.
CREATE SCHEMA "Tenant A";
CREATE TABLE "Tenant A".invoices (id int PRIMARY KEY, country text REFERENCES countries, amount int);
CREATE TABLE "Tenant A".payments (id int PRIMARY KEY, invoice_id int REFERENCES "Tenant A".invoices);
INSERT INTO "Tenant A".invoices VALUES (1, 'JP', 5), (2, 'JP', 6);
INSERT INTO "Tenant A".payments VALUES (1, 1);
SELECT * FROM backup_stats('Tenant A', '{"tenancy": "schema"}');
SELECT * FROM backup_coverage('Tenant A', '{"tenancy": "schema"}') WHERE role <> 'global';
SELECT count(*) AS global_tables FROM backup_coverage('Tenant A', '{"tenancy": "schema"}') WHERE role = 'global';
