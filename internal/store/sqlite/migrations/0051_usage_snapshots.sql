-- A daily snapshot per profile of its open subscriptions by SKU, usage
-- class and idle bucket (days since the last activity), taken at the end of
-- every successful activity run: the history behind the dashboard's trend.
CREATE TABLE usage_snapshots (
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    sku_id TEXT NOT NULL,
    usage_class TEXT NOT NULL,
    idle TEXT NOT NULL,
    subscriptions INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (profile_id, day, sku_id, usage_class, idle)
);
CREATE INDEX usage_snapshots_day ON usage_snapshots (day);
