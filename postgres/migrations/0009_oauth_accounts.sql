-- Accounts at identity providers linked to users. provider is the
-- configured provider name (FastAPI Users' oauth_name), account_id the
-- account's stable id there; an account is linked to one user at most.
-- access_token and refresh_token are sealed by the caller and kept as the
-- bytes given, '' when there is none, never NULL. expires_at is NULL when
-- the provider gave no expiry. Deleting a user deletes its accounts.
CREATE TABLE oauth_accounts (
	id            uuid        NOT NULL PRIMARY KEY,
	user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider      text        NOT NULL,
	account_id    text        NOT NULL,
	account_email text        NOT NULL DEFAULT '',
	access_token  bytea       NOT NULL DEFAULT '',
	refresh_token bytea       NOT NULL DEFAULT '',
	expires_at    timestamptz,
	created_at    timestamptz NOT NULL,
	UNIQUE (provider, account_id)
);

-- ListOAuthAccounts and the cascade from users.
CREATE INDEX oauth_accounts_user_id ON oauth_accounts (user_id);
