-- What authorises a change is accepted once (R22, issue 26). A requester
-- signature's nonce is recorded by the first run that accepts it; any other
-- run presenting it is refused. A failed bake records its decision to roll
-- back, with the digest of the rollback's input and who enabled the bake;
-- the automatic rollback is authorised by that row, once, instead of by a
-- string in its own input. Only bakes that a landed deploy started (their
-- run ids are recorded here) may record a decision.

-- +goose Up
CREATE TABLE used_signatures (
    nonce        TEXT PRIMARY KEY,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    used_at      BIGINT NOT NULL
);

CREATE TABLE bake_decisions (
    bake_run_id      TEXT PRIMARY KEY,
    deployment_id    TEXT NOT NULL,
    input_digest     TEXT NOT NULL,
    enabled_by       TEXT NOT NULL,
    decided_at       BIGINT NOT NULL,
    rollback_run_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX bake_decisions_deployment ON bake_decisions (deployment_id, input_digest);

CREATE TABLE bake_runs (
    run_id         TEXT PRIMARY KEY,
    deployment_id  TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    started_at     BIGINT NOT NULL
);

-- +goose Down
DROP TABLE bake_runs;
DROP TABLE bake_decisions;
DROP TABLE used_signatures;
