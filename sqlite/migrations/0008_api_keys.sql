-- API keys, by the hex SHA-256 of the key only; prefix is the key's first
-- characters, to tell keys apart in a list. scopes is a JSON array of
-- strings, [] for a key that may do nothing. Times are unix microseconds,
-- UTC; last_used_at is NULL until the key is first used, expires_at NULL
-- for a key that never expires. Deleting a user deletes its keys.
CREATE TABLE api_keys (
	id           TEXT    NOT NULL PRIMARY KEY,
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL DEFAULT '',
	prefix       TEXT    NOT NULL DEFAULT '',
	hash         TEXT    NOT NULL UNIQUE,
	scopes       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	expires_at   INTEGER
) STRICT;

-- ListAPIKeys and the cascade from users.
CREATE INDEX api_keys_user_id ON api_keys (user_id);
