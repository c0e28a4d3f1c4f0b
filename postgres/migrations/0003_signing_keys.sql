-- Signing keys shared by every instance of a server. private is sealed by
-- the server before it gets here; retired_at is NULL while the key may still
-- sign.
CREATE TABLE signing_keys (
	id         text        NOT NULL PRIMARY KEY,
	algorithm  text        NOT NULL,
	private    bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	retired_at timestamptz
);
