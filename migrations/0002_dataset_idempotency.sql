-- Dataset uploads accept an Idempotency-Key: a retried upload answers the dataset the first one
-- made (same bytes) instead of making a second. request_hash is the archive's sha256.
ALTER TABLE datasets ADD COLUMN idempotency_key TEXT;
ALTER TABLE datasets ADD COLUMN request_hash TEXT;
CREATE UNIQUE INDEX datasets_idempotency ON datasets(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
