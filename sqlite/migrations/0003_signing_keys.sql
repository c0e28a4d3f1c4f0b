-- Signing keys shared by every instance of a server. private is sealed by
-- the server before it gets here. Times are unix microseconds, UTC;
-- retired_at is NULL while the key may still sign.
CREATE TABLE signing_keys (
	id         TEXT    NOT NULL PRIMARY KEY,
	algorithm  TEXT    NOT NULL,
	private    BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER
) STRICT;
