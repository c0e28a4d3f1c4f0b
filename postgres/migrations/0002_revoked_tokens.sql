-- Revoked token ids (a JWT's jti), kept until the token would have expired
-- anyway.
CREATE TABLE revoked_tokens (
	token_id   text        NOT NULL PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

-- Sweep deletes by expiry.
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
