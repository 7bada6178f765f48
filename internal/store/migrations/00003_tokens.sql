-- API tokens for `rewind serve` (bearer tokens and the page's sign-in).
-- Only the SHA-256 of a token is kept: the token itself is shown once, when
-- `rewind token create` makes it. The public id (also inside the token) finds
-- the row; the hash is then compared in constant time.

-- +goose Up
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    hash         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (username);

-- +goose Down
DROP TABLE api_tokens;
