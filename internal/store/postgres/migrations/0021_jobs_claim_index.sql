-- Claims read due jobs in (run_at, id) order and exclude profiles with a
-- running job: index both so that a claim reads a few rows, not the queue.
DROP INDEX jobs_ready;
CREATE INDEX jobs_ready ON jobs (state, run_at, id);
CREATE INDEX jobs_running ON jobs (profile_id) WHERE state = 'running';
