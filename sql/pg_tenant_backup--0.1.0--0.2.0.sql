-- pg_tenant_backup 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tenant_backup UPDATE).
-- A fresh CREATE EXTENSION runs pg_tenant_backup--0.1.0.sql and then this
-- script, so every change to the SQL surface after 0.1.0 lives here only.
\echo Use "ALTER EXTENSION pg_tenant_backup UPDATE" to load this file. \quit
