-- Start checks that passed (issue 17): a change whose check containers
-- would be identical to those of a pass on the same host, within
-- REWIND_PREFLIGHT_REUSE, does not run them again. One row per deployment,
-- host and fingerprint (a SHA-256 of the image ID, the checks and every
-- setting of the check containers); the newest pass wins.

-- +goose Up
CREATE TABLE preflight_passes (
    host           TEXT NOT NULL,
    deployment_id  TEXT NOT NULL REFERENCES deployments(id),
    fingerprint    TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    passed_at      BIGINT NOT NULL,
    PRIMARY KEY (host, deployment_id, fingerprint)
);

-- +goose Down
DROP TABLE preflight_passes;
