-- Responsibility rosters (责任体系): who answers for a unit's work. kind: first (第一责任人), direct (直接责任人),
-- joint (一岗双责). A row is never edited: a change of post ends the old row (ends_on, the last day) and adds a
-- new one, so the roster as it stood on any day can be read back.
CREATE TABLE responsibilities (
    id         INTEGER PRIMARY KEY,
    unit_id    INTEGER NOT NULL REFERENCES units(id),
    kind       TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    post       TEXT NOT NULL,
    duties     TEXT NOT NULL DEFAULT '',
    starts_on  TEXT NOT NULL,
    ends_on    TEXT,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_us INTEGER NOT NULL,
    ended_by   INTEGER REFERENCES users(id),
    ended_us   INTEGER
);
CREATE INDEX responsibilities_unit ON responsibilities(unit_id, starts_on);
CREATE INDEX responsibilities_user ON responsibilities(user_id);
CREATE INDEX responsibilities_created_by ON responsibilities(created_by);
CREATE INDEX responsibilities_ended_by ON responsibilities(ended_by);

-- Warning cards (黄牌 when a duty clock is due soon, 红牌 when it is missed), raised by the sweeper: one per
-- clock run, deadline and colour. unit_id is the unit handling the case when the card was raised.
CREATE TABLE cards (
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL REFERENCES cases(id),
    clock     TEXT NOT NULL,
    due_us    INTEGER NOT NULL,
    colour    TEXT NOT NULL,
    unit_id   INTEGER NOT NULL REFERENCES units(id),
    unit_path TEXT NOT NULL,
    issued_us INTEGER NOT NULL,
    UNIQUE (case_id, clock, due_us, colour)
);
CREATE INDEX cards_issued ON cards(issued_us);
CREATE INDEX cards_unit ON cards(unit_id);

-- Accountability records (责任追究) about an official's conduct: the finding, the measure, who decided, the
-- cases concerned and the decision traced as the cause (原因倒查: a case event). Read only by the supervision
-- office above the official's unit and by the official, every read audited. Never edited; the official's
-- statements (陈述申辩) are appended.
CREATE TABLE accountability (
    id            INTEGER PRIMARY KEY,
    official_id   INTEGER NOT NULL REFERENCES users(id),
    unit_id       INTEGER NOT NULL REFERENCES units(id),
    unit_path     TEXT NOT NULL,
    finding       TEXT NOT NULL,
    measure       TEXT NOT NULL,
    decided_by    TEXT NOT NULL,
    decided_on    TEXT NOT NULL,
    case_ids      TEXT NOT NULL,
    cause_case_id INTEGER REFERENCES cases(id),
    cause_seq     INTEGER,
    recorded_by   INTEGER NOT NULL REFERENCES users(id),
    recorded_us   INTEGER NOT NULL
);
CREATE INDEX accountability_official ON accountability(official_id);
CREATE INDEX accountability_unit ON accountability(unit_id);
CREATE INDEX accountability_unit_path ON accountability(unit_path);
CREATE INDEX accountability_cause ON accountability(cause_case_id);
CREATE INDEX accountability_recorded_by ON accountability(recorded_by);
CREATE TABLE accountability_statements (
    id        INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL REFERENCES accountability(id),
    author_id INTEGER NOT NULL REFERENCES users(id),
    text      TEXT NOT NULL,
    at_us     INTEGER NOT NULL
);
CREATE INDEX accountability_statements_record ON accountability_statements(record_id);
CREATE INDEX accountability_statements_author ON accountability_statements(author_id);

-- The card sweep looks for cases whose warning time has passed.
CREATE INDEX cases_next_warn ON cases(next_warn_us, id);
