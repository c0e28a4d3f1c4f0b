-- The session an opaque access token belongs to, so that ending the
-- session ends the token; NULL for a token issued without one. Sessions may
-- live in Redis, hence no foreign key.
ALTER TABLE access_tokens ADD COLUMN session_id uuid;
