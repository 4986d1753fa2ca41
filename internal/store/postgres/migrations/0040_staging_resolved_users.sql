-- Faster activity commits (issue 4).
--
-- Staged evidence carries the Entra user its Dataverse user maps to
-- (user_id, '' when unmapped), resolved when it is staged: the commit
-- merges it into activity_days without a join and counts unmapped rows
-- through a small partial index instead of sorting every staged row.
ALTER TABLE staging_activity ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
UPDATE staging_activity a SET user_id = su.aad_object_id FROM staging_system_users su
    WHERE su.run_id = a.run_id AND su.environment_id = a.environment_id AND su.system_user_id = a.system_user_id;
CREATE INDEX staging_activity_unmapped ON staging_activity (run_id, environment_id, system_user_id, day, source)
    WHERE user_id = '';

-- The staging tables lose their foreign key to runs (runs are never
-- deleted; every staging path checks its run): the key cost a trigger and
-- a lookup of the run for every staged row.
ALTER TABLE staging_activity DROP CONSTRAINT IF EXISTS staging_activity_run_id_fkey;
ALTER TABLE staging_system_users DROP CONSTRAINT IF EXISTS staging_system_users_run_id_fkey;
ALTER TABLE staging_users DROP CONSTRAINT IF EXISTS staging_users_run_id_fkey;
ALTER TABLE staging_licenses DROP CONSTRAINT IF EXISTS staging_licenses_run_id_fkey;

-- Readers find activity days by (profile_id, user_id), a prefix of the
-- primary key; the second index only cost every merge an index update
-- (SQLite dropped it in 0025).
DROP INDEX IF EXISTS activity_days_user_last;
