-- Many Docker hosts (issue 13): the host a deployment runs on. Its host
-- activities go to the task queue <queue>@<host>; deployments made before
-- hosts existed run on the single host, 'local'.

-- +goose Up
ALTER TABLE deployments ADD COLUMN host TEXT NOT NULL DEFAULT 'local';

-- +goose Down
ALTER TABLE deployments DROP COLUMN host;
