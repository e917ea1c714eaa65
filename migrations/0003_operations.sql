-- Operating Headstart: admin tokens (hashed, like every credential), tenants that can be disabled,
-- API keys and worker tokens with public ids (to list and revoke them without their secrets) and
-- a last-used time, per-tenant daily request counts, and the workers that have reported in.
CREATE TABLE admin_tokens (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

ALTER TABLE tenants ADD COLUMN disabled_at TEXT;

ALTER TABLE api_keys ADD COLUMN id TEXT;
ALTER TABLE api_keys ADD COLUMN last_used_at TEXT;
UPDATE api_keys SET id = 'key_' || lower(hex(randomblob(9))) WHERE id IS NULL;
CREATE UNIQUE INDEX api_keys_id ON api_keys(id);
CREATE INDEX api_keys_by_tenant ON api_keys(tenant_id, created_at);

ALTER TABLE worker_tokens ADD COLUMN id TEXT;
UPDATE worker_tokens SET id = 'wtk_' || lower(hex(randomblob(9))) WHERE id IS NULL;
CREATE UNIQUE INDEX worker_tokens_id ON worker_tokens(id);

CREATE TABLE tenant_requests (
  tenant_id TEXT NOT NULL,
  day TEXT NOT NULL,
  requests INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, day)
);

CREATE TABLE workers (
  worker_id TEXT PRIMARY KEY,
  token_name TEXT NOT NULL,
  provider TEXT,
  jobs_held INTEGER NOT NULL DEFAULT 0,
  last_seen_at TEXT NOT NULL
);
