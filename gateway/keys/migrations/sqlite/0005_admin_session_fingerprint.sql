-- Admin console sessions are tied to the admin token they signed in with.
-- admin_fp is a fingerprint of that token (the first 16 bytes of its
-- SHA-256, in hex; never the token): the console refuses an admin session
-- whose fingerprint is not the current token's, so changing or removing the
-- admin token ends every admin session. Admin sessions from before this
-- migration have no fingerprint to check, so they are ended here (their
-- admins sign in again).
DELETE FROM console_sessions WHERE role = 'admin';
ALTER TABLE console_sessions ADD COLUMN admin_fp TEXT
    CHECK ((role = 'admin') = (admin_fp IS NOT NULL) AND (admin_fp IS NULL OR length(admin_fp) = 32));
