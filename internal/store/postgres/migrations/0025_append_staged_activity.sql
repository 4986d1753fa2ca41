-- Faster activity runs (issue 4: a full sync within 1.5 times the time it
-- takes to read the pages).
--
-- Staged activity is appended, not upserted: the unique key made every
-- staged row a search and a write in a second B-tree. Rows of the same
-- (run, environment, system user, day, source) may now repeat; the commit
-- adds them up (GROUP BY), as it already did across users. The index on
-- run_id finds a run's rows for the commit and for discarding.
ALTER TABLE staging_activity DROP CONSTRAINT staging_activity_pkey;
CREATE INDEX staging_activity_run ON staging_activity (run_id);
