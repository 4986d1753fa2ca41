-- The API and web UI list subscriptions by keyset pages in every sort order
-- they offer: index each sort key with the id that breaks ties, so that a
-- page reads its rows in order instead of sorting the whole table.
CREATE INDEX subscriptions_display_name ON subscriptions (display_name, id);
CREATE INDEX subscriptions_department ON subscriptions (department, id);
CREATE INDEX subscriptions_usage_class ON subscriptions (usage_class, id);
CREATE INDEX subscriptions_sku ON subscriptions (sku_id, id);
CREATE INDEX subscriptions_last_activity ON subscriptions (COALESCE(last_activity, '0001-01-01 00:00:00+00'::timestamptz), id);
