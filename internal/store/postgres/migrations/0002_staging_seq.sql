-- Re-staging a user (a resumed run repeating a page) no longer deletes its
-- earlier licences: each StageUsers call stamps its users and licences with
-- a sequence number, and a commit reads the licences of a user's latest
-- stamp only.
ALTER TABLE staging_users ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staging_licenses ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX staging_users_seq ON staging_users (run_id, seq);
