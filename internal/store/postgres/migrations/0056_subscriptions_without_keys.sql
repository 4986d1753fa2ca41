-- Faster subscriptions and activity commits (issue 4).
--
-- subscriptions lose their foreign keys to profiles and software_models,
-- and environment_users theirs to environments. PostgreSQL checks a key
-- with a trigger and a lookup per inserted row: 450,000 of them in a first
-- sync of 100,000 users (125,000 subscriptions, two keys each; 200,000
-- Dataverse users), about 2.5 µs each, half the cost of inserting such a
-- row. What the keys guarded, the store does itself:
-- - every writer of these tables (the subscriptions and activity commits)
--   holds the profile's row lock, and a subscriptions commit adds the
--   model of every SKU it stores first (models are never deleted);
-- - DeleteProfile deletes the profile's subscriptions and its
--   environments' Dataverse users itself, after the profile, as it does
--   activity days (migration 0054); removing an environment from a
--   profile deletes its users with it.
-- SQLite keeps its keys: it checks one with an index probe, 0.1 µs a row.
ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_profile_id_fkey;
ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_sku_id_fkey;
ALTER TABLE environment_users DROP CONSTRAINT IF EXISTS environment_users_environment_id_fkey;
