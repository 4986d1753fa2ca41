-- Reclamation (issue 6): installation settings, rules per profile and
-- tracked software model, exclusions, removal candidates and the
-- append-only history of their transitions. Rules, candidates and history
-- outlive their profile (kept for audit), so they carry profile_id without
-- a foreign key.

CREATE TABLE reclaim_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    dry_run INTEGER NOT NULL,
    cap_count INTEGER NOT NULL,
    cap_percent INTEGER NOT NULL,
    staleness_seconds INTEGER NOT NULL,
    undo_seconds INTEGER NOT NULL,
    updated_at TEXT,
    updated_by TEXT NOT NULL DEFAULT ''
);
-- A new installation starts in dry run.
INSERT INTO reclaim_settings (id, dry_run, cap_count, cap_percent, staleness_seconds, undo_seconds)
    VALUES (1, 1, 20, 10, 172800, 2592000);

CREATE TABLE reclaim_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL,
    sku_id TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    inactive_days INTEGER NOT NULL,
    include_never_active INTEGER NOT NULL,
    include_disabled INTEGER NOT NULL,
    include_low_usage INTEGER NOT NULL,
    include_duplicate_base INTEGER NOT NULL,
    grace_days INTEGER NOT NULL,
    notify_user INTEGER NOT NULL,
    response_days INTEGER NOT NULL,
    departments TEXT NOT NULL DEFAULT '[]',
    countries TEXT NOT NULL DEFAULT '[]',
    assignment_path TEXT NOT NULL DEFAULT 'any',
    approval_group TEXT NOT NULL DEFAULT '',
    manager_approval INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    UNIQUE (profile_id, sku_id)
);

CREATE TABLE reclaim_exclusions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    UNIQUE (profile_id, kind, value)
);

CREATE TABLE reclaim_candidates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL,
    rule_id INTEGER NOT NULL DEFAULT 0,
    user_id TEXT NOT NULL,
    upn TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    sku_id TEXT NOT NULL,
    assigned_by_group TEXT NOT NULL DEFAULT '',
    justification TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    inactive_days INTEGER NOT NULL,
    last_activity TEXT,
    saving INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    open INTEGER NOT NULL,
    due_at TEXT,
    message TEXT NOT NULL DEFAULT '',
    approvers TEXT NOT NULL DEFAULT '[]',
    intent TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    intent_at TEXT,
    disabled_plans TEXT NOT NULL DEFAULT '[]',
    removed_at TEXT,
    undo_until TEXT,
    undone_at TEXT,
    notified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT
);
-- At most one open candidate per subscription.
CREATE UNIQUE INDEX reclaim_candidates_open ON reclaim_candidates (subscription_id) WHERE open = 1;
CREATE INDEX reclaim_candidates_profile ON reclaim_candidates (profile_id, sku_id, id);
CREATE INDEX reclaim_candidates_due ON reclaim_candidates (due_at) WHERE open = 1;

CREATE TABLE reclaim_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id INTEGER NOT NULL REFERENCES reclaim_candidates (id),
    at TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reclaim_transitions_candidate ON reclaim_transitions (candidate_id, id);

CREATE TRIGGER reclaim_transitions_no_update BEFORE UPDATE ON reclaim_transitions
BEGIN
    SELECT RAISE(ABORT, 'reclaim_transitions is append-only');
END;
CREATE TRIGGER reclaim_transitions_no_delete BEFORE DELETE ON reclaim_transitions
BEGIN
    SELECT RAISE(ABORT, 'reclaim_transitions is append-only');
END;
