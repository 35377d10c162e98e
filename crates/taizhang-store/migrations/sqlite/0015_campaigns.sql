-- Campaigns to clear backlog cases (积案化解专项行动): a unit's campaign over its subtree's backlog cases between
-- two days, with the clearance rate to reach. Progress is computed from the cases, never stored.
CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    unit_path   TEXT NOT NULL,
    starts_on   TEXT NOT NULL,
    ends_on     TEXT NOT NULL,
    target_rate INTEGER NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_us  INTEGER NOT NULL
);
CREATE INDEX campaigns_unit ON campaigns(unit_id);
CREATE INDEX campaigns_created_by ON campaigns(created_by);
