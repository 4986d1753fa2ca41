-- Faster activity commits (issue 4).
--
-- activity_days loses its foreign key to profiles: PostgreSQL checked it
-- with a trigger and a lookup of the profile for every merged row (1.2
-- million a first full sync of 100,000 users, a third of the CPU time of
-- the activity merge), while every writer of activity_days (the
-- subscriptions and activity commits) already holds the profile's row lock.
-- DeleteProfile deletes a profile's activity days itself, after the
-- profile, instead of the cascade (SQLite drops the key too).
ALTER TABLE activity_days DROP CONSTRAINT IF EXISTS activity_days_profile_id_fkey;
