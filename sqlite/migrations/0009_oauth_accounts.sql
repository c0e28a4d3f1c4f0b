-- Accounts at identity providers linked to users. provider is the
-- configured provider name (FastAPI Users' oauth_name), account_id the
-- account's stable id there; an account is linked to one user at most.
-- access_token and refresh_token are sealed by the caller and kept as the
-- bytes given, X'' when there is none. Times are unix microseconds, UTC;
-- expires_at is NULL when the provider gave no expiry. Deleting a user
-- deletes its accounts.
CREATE TABLE oauth_accounts (
	id            TEXT    NOT NULL PRIMARY KEY,
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider      TEXT    NOT NULL,
	account_id    TEXT    NOT NULL,
	account_email TEXT    NOT NULL DEFAULT '',
	access_token  BLOB    NOT NULL DEFAULT X'',
	refresh_token BLOB    NOT NULL DEFAULT X'',
	expires_at    INTEGER,
	created_at    INTEGER NOT NULL,
	UNIQUE (provider, account_id)
) STRICT;

-- ListOAuthAccounts and the cascade from users.
CREATE INDEX oauth_accounts_user_id ON oauth_accounts (user_id);
