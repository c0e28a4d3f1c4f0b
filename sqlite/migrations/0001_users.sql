-- Users. Times are unix microseconds, UTC: the same precision PostgreSQL's
-- timestamptz keeps, so both engines give back identical values. The id is
-- the canonical lower-case UUID text, which sorts like PostgreSQL's uuid.
CREATE TABLE users (
	id              TEXT    NOT NULL PRIMARY KEY,
	email           TEXT    NOT NULL,
	hashed_password TEXT    NOT NULL,
	is_active       INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
	is_superuser    INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
	is_verified     INTEGER NOT NULL DEFAULT 0 CHECK (is_verified IN (0, 1)),
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	fields          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(fields))
) STRICT;

-- The database, not the application, makes e-mails unique ignoring case, so
-- two concurrent registrations cannot both win. SQLite's lower() folds ASCII
-- only.
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- FindUsers pages in this order.
CREATE INDEX users_created_at_id ON users (created_at, id);

-- Later tables that belong to a user (sessions, tokens, OAuth accounts)
-- reference users (id) ON DELETE CASCADE, so that DeleteUser removes
-- everything of the user in one statement.
