-- Opaque access tokens (the database strategy). Only the hex SHA-256 of a
-- token is kept, so reading this table yields no usable token. Times are
-- unix microseconds, UTC; last_used_at is NULL until the token is first
-- used. Deleting a user deletes its tokens.
CREATE TABLE access_tokens (
	hash         TEXT    NOT NULL PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	user_agent   TEXT    NOT NULL DEFAULT '',
	ip           TEXT    NOT NULL DEFAULT ''
) STRICT;

-- DeleteUserTokens ("log out everywhere") and the cascade from users find
-- a user's tokens by this index.
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);

-- Sweep deletes by expiry.
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
