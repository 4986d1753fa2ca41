-- Faster activity commits (issue 4).
--
-- activity_days loses its foreign key to profiles, as on PostgreSQL (where
-- the per-row check cost a third of the activity merge): every writer of
-- activity_days (the subscriptions and activity commits) checks the profile
-- in the same transaction, and DeleteProfile deletes a profile's activity
-- days itself instead of the cascade. The table is rebuilt without the key
-- (SQLite cannot drop a constraint), still in its primary key's order.
CREATE TABLE activity_days_0054 (
    profile_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    environment_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, user_id, day, environment_id, source)
) WITHOUT ROWID;
INSERT INTO activity_days_0054 (profile_id, user_id, day, environment_id, source, events, last_at)
    SELECT profile_id, user_id, day, environment_id, source, events, last_at FROM activity_days;
DROP TABLE activity_days;
ALTER TABLE activity_days_0054 RENAME TO activity_days;
