-- Delivery through the optional outbound channel (`outbound.toml`): when a notification was delivered, and how
-- many tries failed. Untouched when no channel is configured.
ALTER TABLE notifications ADD COLUMN sent_us BIGINT;
ALTER TABLE notifications ADD COLUMN send_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notifications_unsent ON notifications(sent_us, id);
