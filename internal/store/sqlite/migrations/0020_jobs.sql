-- Background jobs (internal/job): a durable queue shared by every running
-- `seatwise serve`, and the editable schedules that fill it. Times are Unix
-- microseconds (UTC) so that the queue's SQL is the same in both dialects.

CREATE TABLE job_schedules (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    next_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    profile_id BIGINT NOT NULL DEFAULT 0,
    schedule TEXT NOT NULL DEFAULT '',
    slot BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    run_ids TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
-- A schedule enqueues one job per profile and slot, however many instances see the slot.
CREATE UNIQUE INDEX jobs_slot ON jobs (schedule, profile_id, slot) WHERE schedule <> '';
CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_profile ON jobs (profile_id, id);

-- One row per attempt: who ran it, when, and how it ended.
CREATE TABLE job_attempts (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    owner TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, attempt)
);
