-- Faster usage recomputes (issue 4): PostgreSQL gets statistics on the
-- expression +profile_id that the usage recompute filters on. SQLite keeps
-- no such statistics (the unary plus is there to keep its planner off the
-- profile's index); nothing changes here, the version keeps both databases'
-- migrations in step.
SELECT 1;
