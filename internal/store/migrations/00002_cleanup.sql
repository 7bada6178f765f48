-- Cleanup (R12): indexes for its reference checks, and an outbox of artifacts
-- that lost their last reference.

-- +goose Up
-- "Does any revision still use this artifact?" must be an index probe, not a
-- scan of every revision: images and bundle objects are shared across
-- deployments, bundle directories within one.
CREATE INDEX revisions_image_digest ON revisions (image_digest);
CREATE INDEX revisions_bundle_digest ON revisions (dag_bundle_digest);
CREATE INDEX revisions_bundle_version ON revisions (deployment_id, dag_bundle_version);

-- The outbox: ExpireBatch deletes revisions and inserts the artifacts they
-- were the last to reference in the same transaction; the cleanup activity
-- removes each artifact, then deletes its row. A crash in between leaves the
-- row here to be retried, never an artifact nobody remembers.
CREATE TABLE garbage (
    kind          TEXT NOT NULL,             -- 'bundle-dir', 'bundle-object' or 'image'
    deployment_id TEXT NOT NULL DEFAULT '',  -- '' for the global kinds
    ref           TEXT NOT NULL,             -- bundle version, or digest
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (kind, deployment_id, ref)
);

-- +goose Down
DROP TABLE garbage;
DROP INDEX revisions_bundle_version;
DROP INDEX revisions_bundle_digest;
DROP INDEX revisions_image_digest;
