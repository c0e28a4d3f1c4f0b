-- API keys, by the hex SHA-256 of the key only; prefix is the key's first
-- characters, to tell keys apart in a list. scopes is '{}' for a key that
-- may do nothing, never NULL. last_used_at is NULL until the key is first
-- used, expires_at NULL for a key that never expires. Deleting a user
-- deletes its keys.
CREATE TABLE api_keys (
	id           uuid        NOT NULL PRIMARY KEY,
	user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         text        NOT NULL DEFAULT '',
	prefix       text        NOT NULL DEFAULT '',
	hash         text        NOT NULL UNIQUE,
	scopes       text[]      NOT NULL DEFAULT '{}' CHECK (array_position(scopes, NULL) IS NULL),
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,
	expires_at   timestamptz
);

-- ListAPIKeys and the cascade from users.
CREATE INDEX api_keys_user_id ON api_keys (user_id);
