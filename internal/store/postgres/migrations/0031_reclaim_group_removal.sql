-- Removing a user from a licensing group may take away more than one
-- licence: an admin can forbid it (allowed by default; the Graph permission
-- GroupMember.ReadWrite.All is needed as well).
ALTER TABLE reclaim_settings ADD COLUMN allow_group_removal BOOLEAN NOT NULL DEFAULT true;
