-- Users. timestamptz keeps microseconds; the stores truncate to them before
-- writing so that what CreateUser reports is what a later read returns.
CREATE TABLE users (
	id              uuid        NOT NULL PRIMARY KEY,
	email           text        NOT NULL,
	hashed_password text        NOT NULL,
	is_active       boolean     NOT NULL DEFAULT true,
	is_superuser    boolean     NOT NULL DEFAULT false,
	is_verified     boolean     NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	fields          jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(fields) = 'object')
);

-- The database, not the application, makes e-mails unique ignoring case, so
-- two concurrent registrations cannot both win.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- FindUsers pages in this order.
CREATE INDEX users_created_at_id ON users (created_at, id);

-- Later tables that belong to a user (sessions, tokens, OAuth accounts)
-- reference users (id) ON DELETE CASCADE, so that DeleteUser removes
-- everything of the user in one statement.
