-- Published assessment results and the circulars (通报) announcing them: the report as computed when it was
-- published, frozen with its scheme's id and version, and the leader's own words. One per period, assessing unit
-- and scheme; later records about the period change the live assessment, never a published one.
CREATE TABLE circulars (
    id             INTEGER PRIMARY KEY,
    period         TEXT NOT NULL,
    unit_id        INTEGER NOT NULL REFERENCES units(id),
    unit_path      TEXT NOT NULL,
    scheme_id      TEXT NOT NULL,
    scheme_version INTEGER NOT NULL,
    title          TEXT NOT NULL,
    leader_text    TEXT NOT NULL,
    report_json    TEXT NOT NULL,
    published_by   INTEGER NOT NULL REFERENCES users(id),
    published_us   INTEGER NOT NULL,
    UNIQUE (period, unit_id, scheme_id)
);
CREATE INDEX circulars_unit ON circulars(unit_id);
CREATE INDEX circulars_published_by ON circulars(published_by);
