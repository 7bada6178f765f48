-- Delivery metrics (issue 30, docs/metrics.md): the commit time recorded
-- with the git provenance (change lead time runs from it; 0 = unknown), and
-- the indexes that keep the metrics flat at 100k revisions: changes by when
-- they finished (the window), per deployment and across deployments, and
-- rollbacks by the revision they moved away from (a deploy was rolled back).

-- +goose Up
ALTER TABLE revisions ADD COLUMN git_committed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revisions_finished ON revisions (finished_at);
CREATE INDEX revisions_deployment_finished ON revisions (deployment_id, finished_at);
CREATE INDEX revisions_rolled_back_from ON revisions (deployment_id, rolled_back_from) WHERE rolled_back_from > 0;

-- +goose Down
DROP INDEX revisions_rolled_back_from;
DROP INDEX revisions_deployment_finished;
DROP INDEX revisions_finished;
ALTER TABLE revisions DROP COLUMN git_committed_at;
