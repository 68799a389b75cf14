-- Attempt claims become leases (issue #13): the instance verifying an attempt and until when no
-- other may claim it. Attempts a previous version left "verifying" had no owner: that version's
-- process is gone (SQLite is one machine's database), so they go back to pending, as that
-- version's own start-up recovery did.
ALTER TABLE attempts ADD COLUMN lease_owner TEXT;
ALTER TABLE attempts ADD COLUMN lease_expires_at INTEGER;
UPDATE attempts SET state = 'pending' WHERE state = 'verifying';
