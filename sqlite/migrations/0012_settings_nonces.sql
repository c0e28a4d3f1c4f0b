-- Settings that superusers change at run time, and the nonces that make
-- client-carried state single use.
--
-- settings: one row per key ever set; a key without a row is unset.
-- updated_at is when the value was last written, for whoever reads the
-- table: the stores never read it. Times are unix microseconds, UTC.
CREATE TABLE settings (
	key        TEXT    NOT NULL PRIMARY KEY,
	value      TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

-- Nonces used up, each kept until expires_at: the state that carried it
-- expires by then, so after it the row only takes space. The primary key
-- is what makes a second use fail, however concurrent.
CREATE TABLE used_nonces (
	nonce      TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;

-- Sweep deletes by expiry.
CREATE INDEX used_nonces_expires_at ON used_nonces (expires_at);
