-- Second factors and the logins waiting for one.
--
-- user_totp: a user's authenticator app, at most one. secret is sealed by
-- the caller and kept as the bytes given. confirmed_at is NULL while the
-- enrolment is in progress; last_step is the newest 30 s time step a code
-- was accepted for (about 5.9e7 today, hence bigint), 0 before any.
-- Deleting a user deletes all four kinds of rows.
CREATE TABLE user_totp (
	user_id      uuid        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       bytea       NOT NULL,
	confirmed_at timestamptz,
	last_step    bigint      NOT NULL DEFAULT 0,
	created_at   timestamptz NOT NULL
);

-- Single-use recovery codes, by hash only; a used code is deleted.
CREATE TABLE recovery_codes (
	user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       text        NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, hash)
);

-- Passkeys (WebAuthn credentials). credential_id is the authenticator's id
-- of the credential, unique among all users; credential is the WebAuthn
-- library's record of it, serialized by the caller. last_used_at is NULL
-- until the passkey is first used.
CREATE TABLE passkeys (
	id            uuid        NOT NULL PRIMARY KEY,
	user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name          text        NOT NULL DEFAULT '',
	credential_id bytea       NOT NULL UNIQUE,
	credential    bytea       NOT NULL,
	created_at    timestamptz NOT NULL,
	last_used_at  timestamptz
);

-- ListPasskeys and the cascade from users.
CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- Logins waiting for their second factor, by the hex SHA-256 of the
-- mfa_token only. webauthn is the session data of a passkey assertion
-- begun for the challenge, NULL when none was.
CREATE TABLE mfa_challenges (
	hash       text        NOT NULL PRIMARY KEY,
	user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	backend    text        NOT NULL,
	webauthn   bytea,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- Sweep deletes by expiry.
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);

-- The cascade from users.
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
