-- Opaque access tokens (the database strategy). Only the hex SHA-256 of a
-- token is kept, so reading this table yields no usable token.
-- last_used_at is NULL until the token is first used. Deleting a user
-- deletes its tokens.
CREATE TABLE access_tokens (
	hash         text        NOT NULL PRIMARY KEY,
	user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	last_used_at timestamptz,
	user_agent   text        NOT NULL DEFAULT '',
	ip           text        NOT NULL DEFAULT ''
);

-- DeleteUserTokens ("log out everywhere") and the cascade from users find
-- a user's tokens by this index.
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);

-- Sweep deletes by expiry.
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
