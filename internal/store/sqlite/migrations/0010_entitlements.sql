-- Entitlements (rights bought per tenant and software model) and the licence
-- position snapshots taken by reconciliation runs (issue 7).

CREATE TABLE entitlements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    sku_id TEXT NOT NULL REFERENCES software_models (sku_id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_cost INTEGER NOT NULL CHECK (unit_cost >= 0),
    currency TEXT NOT NULL,
    term_start TEXT NOT NULL,
    term_end TEXT NOT NULL,
    commitment TEXT NOT NULL,
    cost_center TEXT NOT NULL DEFAULT '',
    purchase_order TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (term_end >= term_start)
);
-- The same purchase (tenant, model, term, order, cost centre) is recorded once.
CREATE UNIQUE INDEX entitlements_key ON entitlements (profile_id, sku_id, term_start, term_end, purchase_order, cost_center);
CREATE INDEX entitlements_term_end ON entitlements (term_end);

-- One row per software model per reconciliation run. Snapshots outlive their
-- profile, like runs. Money in minor units per month.
CREATE TABLE position_snapshots (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    profile_id INTEGER NOT NULL,
    sku_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    owned INTEGER NOT NULL,
    used INTEGER NOT NULL,
    available INTEGER NOT NULL,
    shortfall INTEGER NOT NULL,
    currency TEXT NOT NULL DEFAULT '',
    monthly_cost INTEGER NOT NULL DEFAULT 0,
    average_unit_price INTEGER NOT NULL DEFAULT 0,
    over_licensed INTEGER NOT NULL DEFAULT 0,
    true_up_cost INTEGER NOT NULL DEFAULT 0,
    potential_savings INTEGER NOT NULL DEFAULT 0,
    realised_savings INTEGER NOT NULL DEFAULT 0,
    compliant INTEGER NOT NULL,
    position TEXT NOT NULL,
    PRIMARY KEY (run_id, sku_id)
);
CREATE INDEX position_snapshots_model ON position_snapshots (profile_id, sku_id, as_of);

-- Counting open subscriptions per model reads this index only.
CREATE INDEX subscriptions_open_sku ON subscriptions (profile_id, sku_id) WHERE closed_at IS NULL;
