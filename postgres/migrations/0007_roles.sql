-- Roles: named sets of permissions, kept in the order given; an empty role
-- has '{}'.
CREATE TABLE roles (
	name        text        NOT NULL PRIMARY KEY,
	description text        NOT NULL DEFAULT '',
	permissions text[]      NOT NULL DEFAULT '{}' CHECK (array_position(permissions, NULL) IS NULL),
	created_at  timestamptz NOT NULL
);

-- Who has which role. Deleting a user or a role deletes its rows here.
CREATE TABLE user_roles (
	user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role_name text NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
	PRIMARY KEY (user_id, role_name)
);

-- The cascade from roles (the primary key serves users).
CREATE INDEX user_roles_role_name ON user_roles (role_name);
