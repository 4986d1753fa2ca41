-- Seatwise schema, SQLite dialect. Timestamps are TEXT in UTC,
-- 2006-01-02T15:04:05.000000Z (fixed width: text order is time order);
-- days are TEXT 2006-01-02; booleans are INTEGER 0/1; JSON is TEXT.

CREATE TABLE profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL,
    client_id TEXT NOT NULL DEFAULT '',
    auth_mode TEXT NOT NULL,
    login_url TEXT NOT NULL,
    graph_url TEXT NOT NULL,
    ca_file TEXT NOT NULL DEFAULT '',
    analyze_from TEXT,
    state TEXT NOT NULL,
    state_message TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE environments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    reachable INTEGER NOT NULL DEFAULT 0,
    audit_error TEXT NOT NULL DEFAULT '',
    audit_enabled INTEGER NOT NULL DEFAULT 0,
    user_access_audit_enabled INTEGER NOT NULL DEFAULT 0,
    retention_days INTEGER NOT NULL DEFAULT 0,
    watermark TEXT,
    checked_at TEXT,
    UNIQUE (profile_id, url)
);

CREATE TABLE secrets (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, name)
);

CREATE TABLE sync_state (
    profile_id INTEGER PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    delta_link TEXT NOT NULL DEFAULT '',
    last_subscriptions_sync TEXT,
    last_activity_sync TEXT
);

CREATE TABLE software_models (
    sku_id TEXT PRIMARY KEY,
    part_number TEXT NOT NULL DEFAULT '',
    publisher TEXT NOT NULL DEFAULT '',
    product TEXT NOT NULL DEFAULT '',
    edition TEXT NOT NULL DEFAULT '',
    family TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    metric TEXT NOT NULL DEFAULT '',
    tracked INTEGER NOT NULL DEFAULT 0,
    mapped INTEGER NOT NULL DEFAULT 0,
    unit_price INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '',
    service_plans TEXT NOT NULL DEFAULT '[]',
    updated_at TEXT NOT NULL
);
CREATE INDEX software_models_part_number ON software_models (part_number);

CREATE TABLE sku_units (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    sku_id TEXT NOT NULL,
    day TEXT NOT NULL,
    part_number TEXT NOT NULL DEFAULT '',
    capability_status TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 0,
    warning INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 0,
    locked_out INTEGER NOT NULL DEFAULT 0,
    consumed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (profile_id, day, sku_id)
);

-- Runs outlive their profile (kept for audit): no foreign key on profile_id.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    full_run INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    counts TEXT NOT NULL DEFAULT '{}',
    requests INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT NOT NULL DEFAULT '',
    checkpoint BLOB
);
CREATE INDEX runs_profile_kind ON runs (profile_id, kind, status, started_at);
CREATE INDEX runs_started ON runs (started_at);

CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL REFERENCES software_models (sku_id),
    upn TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    account_enabled INTEGER NOT NULL DEFAULT 1,
    assigned_by_group TEXT NOT NULL DEFAULT '',
    assigned_at TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    closed_at TEXT,
    last_activity TEXT,
    last_activity_source TEXT NOT NULL DEFAULT '',
    active_days_30 INTEGER NOT NULL DEFAULT 0,
    active_days_90 INTEGER NOT NULL DEFAULT 0,
    usage_class TEXT NOT NULL DEFAULT 'unknown'
);
-- One open subscription per user and SKU; closed ones are history.
CREATE UNIQUE INDEX subscriptions_open ON subscriptions (profile_id, user_id, sku_id) WHERE closed_at IS NULL;
CREATE INDEX subscriptions_profile_user ON subscriptions (profile_id, user_id);
CREATE INDEX subscriptions_profile_sku ON subscriptions (profile_id, sku_id);
CREATE INDEX subscriptions_profile_class ON subscriptions (profile_id, usage_class);

-- environment_id 0 is an Entra sign-in (not tied to an environment).
CREATE TABLE activity_days (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    environment_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, user_id, day, environment_id, source)
);
CREATE INDEX activity_days_user_last ON activity_days (profile_id, user_id, last_at);

CREATE TABLE environment_users (
    environment_id INTEGER NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    system_user_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL DEFAULT '',
    domain_name TEXT NOT NULL DEFAULT '',
    full_name TEXT NOT NULL DEFAULT '',
    is_disabled INTEGER NOT NULL DEFAULT 0,
    access_mode INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (environment_id, system_user_id)
);
CREATE INDEX environment_users_aad ON environment_users (aad_object_id);

-- Staging: what an unfinished run has read, invisible to readers until commit.
CREATE TABLE staging_users (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    upn TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    account_enabled INTEGER NOT NULL DEFAULT 1,
    last_sign_in TEXT,
    last_sign_in_day TEXT,
    PRIMARY KEY (run_id, user_id)
);

CREATE TABLE staging_licenses (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    assigned_by_group TEXT NOT NULL DEFAULT '',
    assigned_at TEXT,
    PRIMARY KEY (run_id, user_id, sku_id)
);

CREATE TABLE staging_system_users (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    environment_id INTEGER NOT NULL,
    system_user_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL DEFAULT '',
    domain_name TEXT NOT NULL DEFAULT '',
    full_name TEXT NOT NULL DEFAULT '',
    is_disabled INTEGER NOT NULL DEFAULT 0,
    access_mode INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, environment_id, system_user_id)
);

CREATE TABLE staging_activity (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    environment_id INTEGER NOT NULL,
    system_user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL,
    PRIMARY KEY (run_id, environment_id, system_user_id, day, source)
);
