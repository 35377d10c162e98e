-- Sites (场所: schools, markets, enterprises, building sites) that are inspected: each in one sector (which
-- decides its inspection checklist) and under the unit responsible for it (属地/主管).
CREATE TABLE sites (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    sector     TEXT NOT NULL,
    unit_id    INTEGER NOT NULL REFERENCES units(id),
    address    TEXT NOT NULL DEFAULT '',
    created_us INTEGER NOT NULL
);
CREATE INDEX sites_unit ON sites(unit_id);
-- The site a case is about (a hazard, an inspection): derived from the case's own site field, like parent_id.
ALTER TABLE cases ADD COLUMN site_code TEXT REFERENCES sites(code);
CREATE INDEX cases_site ON cases(site_code);
