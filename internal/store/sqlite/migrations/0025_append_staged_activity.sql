-- Faster activity runs (issue 4: a full sync within 1.5 times the time it
-- takes to read the pages).
--
-- Staged activity is appended, not upserted: the unique key made every
-- staged row a search and a write in a second B-tree. Rows of the same
-- (run, environment, system user, day, source) may now repeat; the commit
-- adds them up (GROUP BY), as it already did across users. The index on
-- run_id finds a run's rows for the commit and for discarding.
CREATE TABLE staging_activity_0025 (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    environment_id INTEGER NOT NULL,
    system_user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL
);
INSERT INTO staging_activity_0025 (run_id, environment_id, system_user_id, day, source, events, last_at)
    SELECT run_id, environment_id, system_user_id, day, source, events, last_at FROM staging_activity;
DROP TABLE staging_activity;
ALTER TABLE staging_activity_0025 RENAME TO staging_activity;
CREATE INDEX staging_activity_run ON staging_activity (run_id);

-- activity_days is stored in its primary key's order (WITHOUT ROWID): one
-- B-tree instead of a table, its key index and a second index. Every reader
-- looks rows up by (profile_id, user_id), a prefix of the key, and a user
-- has at most a few rows per day, so the index on (profile_id, user_id,
-- last_at) is dropped with the old table.
CREATE TABLE activity_days_0025 (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    environment_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, user_id, day, environment_id, source)
) WITHOUT ROWID;
INSERT INTO activity_days_0025 (profile_id, user_id, day, environment_id, source, events, last_at)
    SELECT profile_id, user_id, day, environment_id, source, events, last_at FROM activity_days;
DROP TABLE activity_days;
ALTER TABLE activity_days_0025 RENAME TO activity_days;
