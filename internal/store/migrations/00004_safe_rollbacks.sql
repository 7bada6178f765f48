-- Safe rollbacks (R16): a deployment may name its Airflow metadata database,
-- and a revision records the snapshot taken before its metadata downgrade.
-- Snapshots are artifacts like images and bundles: cleanup (R12) removes a
-- snapshot with its revision.

-- +goose Up
ALTER TABLE deployments ADD COLUMN metadata_db TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN metadata_snapshot TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE revisions DROP COLUMN metadata_snapshot;
ALTER TABLE deployments DROP COLUMN metadata_db;
