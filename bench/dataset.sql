-- Benchmark dataset: :tenants tenants; tenant 1 (the measured one) has
-- :rows rows across a tenant table and two child levels, the others
-- :other_rows each. Text, numeric, timestamptz, jsonb and array columns;
-- a master table referenced by the tenant table.
SET client_min_messages = warning;
DROP TABLE IF EXISTS order_items, orders, accounts, tenants, plans CASCADE;
CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL);
CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  tenant_id int NOT NULL REFERENCES tenants,
  plan_id int NOT NULL REFERENCES plans,
  name text NOT NULL,
  balance numeric(14,2) NOT NULL,
  created_at timestamptz NOT NULL,
  profile jsonb NOT NULL,
  tags text[] NOT NULL
);
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts,
  total numeric(14,2) NOT NULL,
  placed_at timestamptz NOT NULL,
  notes text
);
CREATE INDEX ON orders (account_id);
CREATE TABLE order_items (
  id bigint PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders,
  sku text NOT NULL,
  qty int NOT NULL,
  price numeric(10,2) NOT NULL,
  attrs jsonb
);
CREATE INDEX ON order_items (order_id);
CREATE INDEX ON accounts (tenant_id);

INSERT INTO plans SELECT g, 'plan ' || g, g * 9.99 FROM generate_series(1, 20) g;
INSERT INTO tenants SELECT g, 'tenant ' || g FROM generate_series(1, :tenants) g;

-- Rows per tenant: 10% accounts, 30% orders, 60% items.
CREATE TEMP TABLE sizes AS
SELECT t AS tenant_id, CASE WHEN t = 1 THEN :rows ELSE :other_rows END AS total
  FROM generate_series(1, :tenants) t;
CREATE TEMP TABLE ranges AS
SELECT tenant_id,
       sum(total / 10) OVER (ORDER BY tenant_id) - total / 10 AS account_base, total / 10 AS n_accounts,
       sum(total * 3 / 10) OVER (ORDER BY tenant_id) - total * 3 / 10 AS order_base, total * 3 / 10 AS n_orders,
       sum(total * 6 / 10) OVER (ORDER BY tenant_id) - total * 6 / 10 AS item_base, total * 6 / 10 AS n_items
  FROM sizes;

INSERT INTO accounts
SELECT r.account_base + g, r.tenant_id, 1 + g % 20, 'account ' || g || ' of tenant ' || r.tenant_id,
       (g * 7.31) % 100000, timestamptz '2024-01-01' + g * interval '37 seconds',
       jsonb_build_object('tier', g % 5, 'email', 'user' || g || '@example.com', 'flags', jsonb_build_array(g % 2 = 0, g % 3 = 0)),
       ARRAY['t' || g % 7, 'region-' || g % 11]
  FROM ranges r, generate_series(1, r.n_accounts) g;
INSERT INTO orders
SELECT r.order_base + g, r.account_base + 1 + (g % r.n_accounts), (g * 3.17) % 5000,
       timestamptz '2025-01-01' + g * interval '11 seconds', CASE WHEN g % 4 = 0 THEN 'deliver to door ' || g END
  FROM ranges r, generate_series(1, r.n_orders) g;
INSERT INTO order_items
SELECT r.item_base + g, r.order_base + 1 + (g % r.n_orders), 'SKU-' || (g % 9973), 1 + g % 9, (g % 997) * 1.05,
       CASE WHEN g % 3 = 0 THEN jsonb_build_object('color', 'c' || g % 13, 'size', g % 5) END
  FROM ranges r, generate_series(1, r.n_items) g;
ANALYZE;
