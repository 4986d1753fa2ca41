-- Faster usage recomputes (issue 4).
--
-- The usage recompute walks a profile's open subscriptions by primary key,
-- filtering on +profile_id (the unary plus keeps SQLite, which has no
-- statistics, from choosing the profile's index and sorting it for every
-- batch). PostgreSQL has no statistics for that expression either: it
-- guesses that 0.5% of the rows match, concludes that a batch of 500 needs
-- the whole table, and reads and sorts every remaining subscription for
-- each batch (30-120 ms a batch at 100,000 subscriptions, quadratic over a
-- recompute). Statistics on the expression give it the true share, and the
-- batch becomes an ordered primary key scan that stops after 500 rows.
CREATE STATISTICS subscriptions_profile_expr ON (+profile_id) FROM subscriptions;
ANALYZE subscriptions;
