-- Issue 16: where a deploy came from (git), which revision a rollback moved
-- away from (the guard that keeps a rollback rolled back), and a deploy that
-- overrode that guard on purpose.

-- +goose Up
ALTER TABLE revisions ADD COLUMN git_commit TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN git_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN git_author TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN git_remote TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN git_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE revisions ADD COLUMN rolled_back_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE revisions ADD COLUMN forced_past INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE revisions DROP COLUMN forced_past;
ALTER TABLE revisions DROP COLUMN rolled_back_from;
ALTER TABLE revisions DROP COLUMN git_subject;
ALTER TABLE revisions DROP COLUMN git_remote;
ALTER TABLE revisions DROP COLUMN git_author;
ALTER TABLE revisions DROP COLUMN git_branch;
ALTER TABLE revisions DROP COLUMN git_commit;
