-- Issue 25 (R20): where each recorded version came from (a label, or the
-- image's own `airflow version`), and whether the requester allowed a
-- version that could not be determined.

-- +goose Up
ALTER TABLE revisions ADD COLUMN runtime_version_source TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN airflow_version_source TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN allow_unknown_version BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE revisions DROP COLUMN allow_unknown_version;
ALTER TABLE revisions DROP COLUMN airflow_version_source;
ALTER TABLE revisions DROP COLUMN runtime_version_source;
