-- Reconciliation splits rights used by department: this partial index gives
-- the open subscriptions of a profile in (model, department) order, so the
-- count needs neither the table nor a sort.
CREATE INDEX subscriptions_open_department ON subscriptions (profile_id, sku_id, department) WHERE closed_at IS NULL;
