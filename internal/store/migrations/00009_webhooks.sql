-- Notifications (issue 16): webhooks for one deployment, or for every
-- deployment when deployment_id is ''. The secret signs each delivery; it
-- is read by the delivering activity only and never listed.

-- +goose Up
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL DEFAULT '',
    url           TEXT NOT NULL,
    secret        TEXT NOT NULL,
    events        TEXT NOT NULL DEFAULT '',   -- comma-separated; '' is every event
    created_at    BIGINT NOT NULL
);
CREATE INDEX webhooks_deployment ON webhooks (deployment_id);

-- +goose Down
DROP TABLE webhooks;
