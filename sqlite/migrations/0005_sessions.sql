-- Sessions: one login each, and the family of refresh tokens it hands out.
-- Times are unix microseconds, UTC. ended_at is NULL while the session
-- lives; an ended session is kept until it expires, so that a rotated
-- refresh token presented after the end is still recognised as a reuse.
-- Deleting a user deletes its sessions, and those their refresh tokens.
CREATE TABLE sessions (
	id              TEXT    NOT NULL PRIMARY KEY,
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	backend         TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	last_used_at    INTEGER NOT NULL,
	idle_expires_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	user_agent      TEXT    NOT NULL DEFAULT '',
	ip              TEXT    NOT NULL DEFAULT '',
	ended_at        INTEGER
) STRICT;

-- ListSessions, EndUserSessions and the cascade from users.
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Sweep deletes by expiry.
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Refresh tokens, by the hex SHA-256 of the token only. A token is rotated
-- once: rotated_at and next_hash then name the moment and its successor.
CREATE TABLE refresh_tokens (
	hash       TEXT    NOT NULL PRIMARY KEY,
	session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	rotated_at INTEGER,
	next_hash  TEXT
) STRICT;

-- The cascade from sessions.
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
