-- Faster activity commits (issue 4).
--
-- Staged evidence carries the Entra user its Dataverse user maps to
-- (user_id, '' when unmapped), resolved when it is staged: the commit
-- merges it into activity_days without a join and counts unmapped rows
-- through a small partial index instead of sorting every staged row.
--
-- The staging tables lose their foreign key to runs (runs are never
-- deleted; every staging path checks its run): with a foreign key SQLite
-- checks the parent row for every staged row and cannot empty a table
-- with its truncate shortcut, which discarding a lone run's staging uses.
CREATE TABLE staging_activity_0040 (
    run_id INTEGER NOT NULL,
    environment_id INTEGER NOT NULL,
    system_user_id TEXT NOT NULL,
    day TEXT NOT NULL,
    source TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0,
    last_at TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT ''
);
INSERT INTO staging_activity_0040 (run_id, environment_id, system_user_id, day, source, events, last_at, user_id)
    SELECT a.run_id, a.environment_id, a.system_user_id, a.day, a.source, a.events, a.last_at,
        COALESCE((SELECT su.aad_object_id FROM staging_system_users su WHERE su.run_id = a.run_id
            AND su.environment_id = a.environment_id AND su.system_user_id = a.system_user_id), '')
    FROM staging_activity a;
DROP TABLE staging_activity;
ALTER TABLE staging_activity_0040 RENAME TO staging_activity;
CREATE INDEX staging_activity_run ON staging_activity (run_id);
CREATE INDEX staging_activity_unmapped ON staging_activity (run_id, environment_id, system_user_id, day, source)
    WHERE user_id = '';

CREATE TABLE staging_system_users_0040 (
    run_id INTEGER NOT NULL,
    environment_id INTEGER NOT NULL,
    system_user_id TEXT NOT NULL,
    aad_object_id TEXT NOT NULL DEFAULT '',
    domain_name TEXT NOT NULL DEFAULT '',
    full_name TEXT NOT NULL DEFAULT '',
    is_disabled INTEGER NOT NULL DEFAULT 0,
    access_mode INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, environment_id, system_user_id)
);
INSERT INTO staging_system_users_0040 SELECT run_id, environment_id, system_user_id, aad_object_id, domain_name,
    full_name, is_disabled, access_mode FROM staging_system_users;
DROP TABLE staging_system_users;
ALTER TABLE staging_system_users_0040 RENAME TO staging_system_users;

CREATE TABLE staging_users_0040 (
    run_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0,
    upn TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL DEFAULT '',
    country TEXT NOT NULL DEFAULT '',
    account_enabled INTEGER NOT NULL DEFAULT 1,
    last_sign_in TEXT,
    last_sign_in_day TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, user_id)
);
INSERT INTO staging_users_0040 SELECT run_id, user_id, removed, upn, display_name, department, country,
    account_enabled, last_sign_in, last_sign_in_day, seq FROM staging_users;
DROP TABLE staging_users;
ALTER TABLE staging_users_0040 RENAME TO staging_users;
CREATE INDEX staging_users_seq ON staging_users (run_id, seq);

CREATE TABLE staging_licenses_0040 (
    run_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    assigned_by_group TEXT NOT NULL DEFAULT '',
    assigned_at TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, user_id, sku_id)
);
INSERT INTO staging_licenses_0040 SELECT run_id, user_id, sku_id, assigned_by_group, assigned_at, seq FROM staging_licenses;
DROP TABLE staging_licenses;
ALTER TABLE staging_licenses_0040 RENAME TO staging_licenses;
