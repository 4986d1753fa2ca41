-- Faster subscriptions and activity commits (issue 4): PostgreSQL's
-- subscriptions and environment_users lose their foreign keys (checked by
-- a trigger per inserted row there). SQLite keeps them: it checks a key
-- with an index probe, 0.1 µs a row. Nothing changes here; the version
-- keeps both databases' migrations in step.
SELECT 1;
