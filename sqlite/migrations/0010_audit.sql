-- The audit log: security events, kept until pruned. There is no foreign
-- key to users: the history of a deleted user (user.deleted itself) must
-- outlive the user. user_id and actor_id are '' when unknown; occurred_at
-- is unix microseconds, UTC; attrs is a JSON object of strings. No
-- password, token, hash or key is ever stored here.
CREATE TABLE audit_events (
	id          TEXT    NOT NULL PRIMARY KEY,
	occurred_at INTEGER NOT NULL,
	event       TEXT    NOT NULL,
	user_id     TEXT    NOT NULL DEFAULT '',
	actor_id    TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	user_agent  TEXT    NOT NULL DEFAULT '',
	outcome     TEXT    NOT NULL,
	detail      TEXT    NOT NULL DEFAULT '',
	attrs       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(attrs) AND json_type(attrs) = 'object')
) STRICT;

-- ListAuditEvents by user, by event, or by time alone, each read newest
-- first straight from the index; PruneAuditEvents by time.
CREATE INDEX audit_events_user_id ON audit_events (user_id, occurred_at, id);
CREATE INDEX audit_events_event ON audit_events (event, occurred_at, id);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, id);
