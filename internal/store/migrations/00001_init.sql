-- One schema for SQLite and PostgreSQL: only types and syntax both accept.
-- Times are Unix microseconds (BIGINT): exact, ordered, and the same in both.

-- +goose Up
CREATE TABLE deployments (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    dag_source         TEXT NOT NULL,
    dag_deploy_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    rollback_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    env                TEXT NOT NULL DEFAULT '{}',
    resources          TEXT NOT NULL DEFAULT '{}',
    components         TEXT NOT NULL DEFAULT '[]',
    current_revision   INTEGER NOT NULL DEFAULT 0,
    -- last_revision is the counter revision numbers are drawn from; bumping it
    -- in the same transaction as the insert keeps numbers gap-free under races.
    last_revision      INTEGER NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE revisions (
    deployment_id      TEXT NOT NULL REFERENCES deployments(id),
    number             INTEGER NOT NULL,
    created_at         BIGINT NOT NULL,
    created_by         TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    type               TEXT NOT NULL,
    image_ref          TEXT NOT NULL DEFAULT '',
    image_digest       TEXT NOT NULL DEFAULT '',
    runtime_version    TEXT NOT NULL DEFAULT '',
    airflow_version    TEXT NOT NULL DEFAULT '',
    dag_bundle_version TEXT NOT NULL DEFAULT '',
    dag_bundle_digest  TEXT NOT NULL DEFAULT '',
    dag_deploy_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    status             TEXT NOT NULL,
    rollback_of        INTEGER NOT NULL DEFAULT 0,
    workflow_id        TEXT NOT NULL,
    run_id             TEXT NOT NULL,
    failure_reason     TEXT NOT NULL DEFAULT '',
    finished_at        BIGINT,
    -- History reads walk this key backwards: newest first, no sort, no scan.
    PRIMARY KEY (deployment_id, number)
);
-- A retried "record revision" activity finds its own row by its run.
CREATE UNIQUE INDEX revisions_run ON revisions (run_id, workflow_id);
-- Cleanup selects by age.
CREATE INDEX revisions_created ON revisions (created_at);

CREATE TABLE grants (
    username      TEXT NOT NULL,
    deployment_id TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL, -- 'role' or 'permission'
    name          TEXT NOT NULL,
    PRIMARY KEY (username, deployment_id, kind, name)
);

-- +goose Down
DROP TABLE grants;
DROP TABLE revisions;
DROP TABLE deployments;
