-- Automatic rollback after a bad deploy (issue 16): a deployment's bake
-- settings, as JSON ('' when off).

-- +goose Up
ALTER TABLE deployments ADD COLUMN auto_rollback TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE deployments DROP COLUMN auto_rollback;
