-- Removing a user from a licensing group may take away more than one
-- licence: reclamation does it only when an admin allows it.
ALTER TABLE reclaim_settings ADD COLUMN allow_group_removal INTEGER NOT NULL DEFAULT 0;
