-- Target responsibility letters (目标责任书): a unit's undertaking to the unit above for a period — indicators of
-- the assessment scheme with targets and weights (JSON), the signatories and the day signed. Never edited; one per
-- unit, period and scheme. Progress is computed from the cases, never stored.
CREATE TABLE target_letters (
    id             INTEGER PRIMARY KEY,
    unit_id        INTEGER NOT NULL REFERENCES units(id),
    unit_path      TEXT NOT NULL,
    issuer_unit_id INTEGER NOT NULL REFERENCES units(id),
    period         TEXT NOT NULL,
    title          TEXT NOT NULL,
    unit_signer    TEXT NOT NULL,
    issuer_signer  TEXT NOT NULL,
    signed_on      TEXT NOT NULL,
    items_json     TEXT NOT NULL,
    scheme_id      TEXT NOT NULL,
    scheme_version INTEGER NOT NULL,
    created_by     INTEGER NOT NULL REFERENCES users(id),
    created_us     INTEGER NOT NULL,
    UNIQUE (unit_id, period, scheme_id)
);
CREATE INDEX target_letters_issuer ON target_letters(issuer_unit_id);
CREATE INDEX target_letters_created_by ON target_letters(created_by);
