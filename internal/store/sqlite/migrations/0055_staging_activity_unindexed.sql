-- Faster activity staging (issue 4): PostgreSQL's staging_activity loses
-- its index on run_id. SQLite keeps its own (a run's rows are found
-- through it when the commit discards them); nothing changes here, the
-- version keeps both databases' migrations in step.
SELECT 1;
