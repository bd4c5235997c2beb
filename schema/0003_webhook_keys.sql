-- 0003_webhook_keys: the signed Event Webhook public keys that `webhook configure` stored.
--
-- Why a table and not the config file:
--  * `sendgrid-source webhook configure` turns signing on through the API and gets the
--    webhook's public key back. Keeping it in the source's own database means the running
--    daemon starts verifying with it without a config edit or a restart: it re-reads this
--    table (at most once a second, only when PRAGMA data_version says another connection
--    committed) and accepts a post that any key here or in webhook_verification_key verifies.
--  * Once a key is here, unsigned posts to the source are refused (403), as with a configured
--    key.
--  * Rows are never replaced: a key SendGrid rotated (signing turned off and on again) stays
--    accepted. That is harmless (SendGrid deleted its private half) and keeps retried posts
--    signed before the rotation acceptable. Delete a row with sqlite3 to stop accepting it.

CREATE TABLE webhook_verification_keys (
  public_key TEXT PRIMARY KEY,  -- base64 DER SubjectPublicKeyInfo ("MFkw..."), as SendGrid sent it
  webhook_id TEXT NOT NULL,     -- the Event Webhook's id at SendGrid
  webhook_url TEXT NOT NULL,    -- the Post URL it was configured with
  added_at TEXT NOT NULL        -- ISO-8601 UTC
);
