-- Cleanup never wedges (issue 15): an artifact that fails to be removed is
-- retried in later batches, counted, and set aside once retrying cannot
-- help, instead of failing every batch of every later run.

-- +goose Up
ALTER TABLE garbage ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE garbage ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE garbage ADD COLUMN set_aside BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE garbage DROP COLUMN set_aside;
ALTER TABLE garbage DROP COLUMN last_error;
ALTER TABLE garbage DROP COLUMN attempts;
