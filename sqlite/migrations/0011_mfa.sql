-- Second factors and the logins waiting for one.
--
-- user_totp: a user's authenticator app, at most one. secret is sealed by
-- the caller and kept as the bytes given. confirmed_at is NULL while the
-- enrolment is in progress; last_step is the newest 30 s time step a code
-- was accepted for (about 5.9e7 today), 0 before any. Times are unix
-- microseconds, UTC. Deleting a user deletes all four kinds of rows.
CREATE TABLE user_totp (
	user_id      TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       BLOB    NOT NULL,
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes, by hash only; a used code is deleted.
CREATE TABLE recovery_codes (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, hash)
) STRICT;

-- Passkeys (WebAuthn credentials). credential_id is the authenticator's id
-- of the credential, unique among all users; credential is the WebAuthn
-- library's record of it, serialized by the caller. last_used_at is NULL
-- until the passkey is first used.
CREATE TABLE passkeys (
	id            TEXT    NOT NULL PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name          TEXT    NOT NULL DEFAULT '',
	credential_id BLOB    NOT NULL UNIQUE,
	credential    BLOB    NOT NULL,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER
) STRICT;

-- ListPasskeys and the cascade from users.
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- Logins waiting for their second factor, by the hex SHA-256 of the
-- mfa_token only. webauthn is the session data of a passkey assertion
-- begun for the challenge, NULL when none was.
CREATE TABLE mfa_challenges (
	hash       TEXT    NOT NULL PRIMARY KEY,
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	backend    TEXT    NOT NULL,
	webauthn   BLOB,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

-- Sweep deletes by expiry.
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- The cascade from users.
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
