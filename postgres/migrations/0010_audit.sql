-- The audit log: security events, kept until pruned. There is no foreign
-- key to users: the history of a deleted user (user.deleted itself) must
-- outlive the user. user_id and actor_id are NULL when unknown; attrs is a
-- JSON object of strings. No password, token, hash or key is ever stored
-- here.
CREATE TABLE audit_events (
	id          uuid        NOT NULL PRIMARY KEY,
	occurred_at timestamptz NOT NULL,
	event       text        NOT NULL,
	user_id     uuid,
	actor_id    uuid,
	ip          text        NOT NULL DEFAULT '',
	user_agent  text        NOT NULL DEFAULT '',
	outcome     text        NOT NULL,
	detail      text        NOT NULL DEFAULT '',
	attrs       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attrs) = 'object')
);

-- ListAuditEvents by user, by event, or by time alone, each read newest
-- first straight from the index; PruneAuditEvents by time.
CREATE INDEX audit_events_user_id ON audit_events (user_id, occurred_at, id);
CREATE INDEX audit_events_event ON audit_events (event, occurred_at, id);
CREATE INDEX audit_events_occurred_at ON audit_events (occurred_at, id);
