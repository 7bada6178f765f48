-- R18: whether a revision's requester was verified (signed by rewind's own
-- clients) or only claimed (started from the Temporal CLI or UI). Revisions
-- recorded before signing existed were claimed.

-- +goose Up
ALTER TABLE revisions ADD COLUMN requested_by_verified BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE revisions DROP COLUMN requested_by_verified;
