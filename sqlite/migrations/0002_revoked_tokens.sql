-- Revoked token ids (a JWT's jti), kept until the token would have expired
-- anyway. expires_at is unix microseconds, UTC.
CREATE TABLE revoked_tokens (
	token_id   TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;

-- Sweep deletes by expiry.
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);
