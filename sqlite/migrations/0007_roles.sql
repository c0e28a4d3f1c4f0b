-- Roles: named sets of permissions. permissions is a JSON array of strings,
-- kept in the order given; an empty role has []. created_at is unix
-- microseconds, UTC.
CREATE TABLE roles (
	name        TEXT    NOT NULL PRIMARY KEY,
	description TEXT    NOT NULL DEFAULT '',
	permissions TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(permissions) AND json_type(permissions) = 'array'),
	created_at  INTEGER NOT NULL
) STRICT;

-- Who has which role. Deleting a user or a role deletes its rows here.
CREATE TABLE user_roles (
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role_name TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
	PRIMARY KEY (user_id, role_name)
) STRICT;

-- The cascade from roles (the primary key serves users).
CREATE INDEX user_roles_role_name ON user_roles (role_name);
