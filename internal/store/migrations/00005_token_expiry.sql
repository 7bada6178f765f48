-- Issue 14: API tokens expire, and page sessions live in the store so that
-- signing out ends them on every `rewind serve` replica sharing it.

-- +goose Up
-- NULL: a token made before expiry existed; it lasts until revoked.
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;

-- A page session, found by the SHA-256 of the random id its signed cookie
-- carries (the store never holds a usable session id). A session is valid
-- while it is unended, unexpired and its token is neither revoked nor
-- expired; signing out sets ended_at, and so does revoking the token.
CREATE TABLE api_sessions (
    id_hash     TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX api_sessions_token ON api_sessions (token_id);
CREATE INDEX api_sessions_expires ON api_sessions (expires_at);

-- +goose Down
DROP TABLE api_sessions;
ALTER TABLE api_tokens DROP COLUMN expires_at;
