-- Delivery metrics (issue 30, docs/metrics.md): the commit time recorded
-- with the git provenance (change lead time runs from it; 0 = unknown), and
-- two covering indexes on when a change finished (the window), one per
-- deployment and one across deployments, holding every column the metrics
-- read, so they never visit the table and cost what the window holds, not
-- what the history holds.

-- +goose Up
ALTER TABLE revisions ADD COLUMN git_committed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revisions_metrics_deployment ON revisions
    (deployment_id, finished_at, status, rollback_of, git_committed_at, forced_past, rolled_back_from, number, created_by);
CREATE INDEX revisions_metrics_finished ON revisions
    (finished_at, deployment_id, status, rollback_of, git_committed_at, forced_past, rolled_back_from, number, created_by);

-- +goose Down
DROP INDEX revisions_metrics_finished;
DROP INDEX revisions_metrics_deployment;
ALTER TABLE revisions DROP COLUMN git_committed_at;
