-- The installation-wide settings the workers decide with (issue 28), as the
-- last worker to start published them: `rewind serve` shows what the
-- workers will do (R9's switch, R6's window, the cleanup) rather than what
-- its own environment happens to say. One row.

-- +goose Up
CREATE TABLE installation (
    id                       INTEGER PRIMARY KEY CHECK (id = 1),
    rollbacks_enabled        BOOLEAN NOT NULL,
    rollback_window_days     INTEGER NOT NULL,
    cleanup_enabled          BOOLEAN NOT NULL,
    cleanup_older_than_days  INTEGER NOT NULL,
    published_by             TEXT NOT NULL,
    published_at             BIGINT NOT NULL
);

-- +goose Down
DROP TABLE installation;
