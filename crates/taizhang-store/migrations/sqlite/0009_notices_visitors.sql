-- Notifications inside the workspace (an escalation rung reaching whoever is on duty, a red card): derived from
-- the event that caused them, never part of the history; a user marks them read.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_us INTEGER NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    case_id    INTEGER REFERENCES cases(id),
    read_us    INTEGER
);
CREATE INDEX notifications_user ON notifications(user_id, created_us);
CREATE INDEX notifications_case ON notifications(case_id);

-- Visitor registration at a site's gate (凡进必问、凡问必记). Name and phone are kept SM4-sealed with masked
-- copies for display; rows are deleted once older than the site's retention period (personal information
-- minimisation), and each deletion is audited.
ALTER TABLE sites ADD COLUMN visitor_retention_days INTEGER NOT NULL DEFAULT 30;
CREATE TABLE visitor_logs (
    id            INTEGER PRIMARY KEY,
    site_code     TEXT NOT NULL REFERENCES sites(code),
    name_sealed   TEXT NOT NULL,
    name_masked   TEXT NOT NULL,
    phone_sealed  TEXT NOT NULL,
    phone_masked  TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    host          TEXT NOT NULL,
    signed_in_us  INTEGER NOT NULL,
    signed_out_us INTEGER,
    recorded_by   INTEGER NOT NULL REFERENCES users(id)
);
CREATE INDEX visitor_logs_site ON visitor_logs(site_code, signed_in_us);
CREATE INDEX visitor_logs_recorded_by ON visitor_logs(recorded_by);
