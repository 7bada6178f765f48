-- Cleanup per host (issue 13): an image, an unpacked bundle directory and a
-- metadata snapshot live on one Docker host, so the outbox names the host
-- each row is garbage on, and an image is garbage on a host once no
-- revision of that host's deployments references it. Bundle objects are
-- shared (the registry or the store's own directory): host ''.
-- Rows recorded before hosts existed go to the deployment's host, or to
-- the single host 'local' that every deployment had then.

-- +goose Up
CREATE TABLE garbage_by_host (
    kind          TEXT NOT NULL,
    host          TEXT NOT NULL DEFAULT '',
    deployment_id TEXT NOT NULL DEFAULT '',
    ref           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    set_aside     BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (kind, host, deployment_id, ref)
);
INSERT INTO garbage_by_host (kind, host, deployment_id, ref, created_at, attempts, last_error, set_aside)
SELECT g.kind,
       CASE WHEN g.kind = 'bundle-object' THEN ''
            ELSE COALESCE((SELECT d.host FROM deployments d WHERE d.id = g.deployment_id), 'local') END,
       g.deployment_id, g.ref, g.created_at, g.attempts, g.last_error, g.set_aside
FROM garbage g;
DROP TABLE garbage;
ALTER TABLE garbage_by_host RENAME TO garbage;

-- +goose Down
CREATE TABLE garbage_global (
    kind          TEXT NOT NULL,
    deployment_id TEXT NOT NULL DEFAULT '',
    ref           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    set_aside     BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (kind, deployment_id, ref)
);
INSERT INTO garbage_global (kind, deployment_id, ref, created_at, attempts, last_error, set_aside)
SELECT kind, deployment_id, ref, MIN(created_at), MAX(attempts), MAX(last_error), MAX(CASE WHEN set_aside THEN 1 ELSE 0 END) = 1
FROM garbage GROUP BY kind, deployment_id, ref;
DROP TABLE garbage;
ALTER TABLE garbage_global RENAME TO garbage;
