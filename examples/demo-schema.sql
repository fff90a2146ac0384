-- Sample multi-tenant SaaS schema for the demo: a project tracker.
-- organizations are the tenants; users and projects carry tenant_id; tasks
-- and comments hang off projects; countries and plans are shared master data.
SET client_min_messages = warning;

CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL, seats int NOT NULL);
CREATE TABLE countries (code char(2) PRIMARY KEY, name text NOT NULL);
CREATE TABLE organizations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL,
  plan_id int NOT NULL REFERENCES plans,
  country char(2) REFERENCES countries
);
CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id bigint NOT NULL REFERENCES organizations,
  email text NOT NULL UNIQUE,
  profile jsonb NOT NULL DEFAULT '{}',
  deleted_at timestamptz
);
CREATE TABLE projects (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id bigint NOT NULL REFERENCES organizations,
  title text NOT NULL,
  owner_id bigint REFERENCES users,
  budget numeric(12,2)
);
CREATE TABLE tasks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
  parent_id bigint REFERENCES tasks,
  title text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  due date
);
CREATE TABLE comments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id bigint NOT NULL REFERENCES tasks ON DELETE CASCADE,
  author_id bigint REFERENCES users,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans VALUES (1, 'Free', 3), (2, 'Team', 25), (3, 'Enterprise', 1000);
INSERT INTO countries VALUES ('DE', 'Germany'), ('US', 'United States'), ('JP', 'Japan'), ('BR', 'Brazil');
INSERT INTO organizations (name, plan_id, country)
VALUES ('Acme GmbH', 2, 'DE'), ('Globex Inc', 3, 'US'), ('Initech KK', 1, 'JP');

INSERT INTO users (tenant_id, email, profile, deleted_at)
SELECT o.id, format('user%s@%s.example', g, lower(split_part(o.name, ' ', 1))),
       jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END),
       CASE WHEN g = 5 THEN now() END
  FROM organizations o, generate_series(1, 5 + o.id::int * 3) g;
INSERT INTO projects (tenant_id, title, owner_id, budget)
SELECT u.tenant_id, format('Project %s-%s', u.tenant_id, u.id), u.id, (u.id * 1000.5)
  FROM users u WHERE u.id % 3 = 0;
INSERT INTO tasks (project_id, title, tags, due)
SELECT p.id, format('Task %s of %s', g, p.title), ARRAY['t' || g, 'p' || p.id], date '2026-12-01' + g
  FROM projects p, generate_series(1, 20) g;
UPDATE tasks t SET parent_id = t.id - 1 WHERE t.id % 5 <> 1;
INSERT INTO comments (task_id, author_id, body)
SELECT t.id, u.id, format('Comment on %s', t.title)
  FROM tasks t JOIN projects p ON p.id = t.project_id JOIN users u ON u.id = p.owner_id
 WHERE t.id % 2 = 0;
RESET client_min_messages;
