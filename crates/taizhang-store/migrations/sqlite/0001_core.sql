-- Taizhang core schema (SQLite). Timestamps are microseconds since the Unix epoch, UTC (columns ending _us).
CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES units(id),
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL,
    path        TEXT NOT NULL,
    created_us  INTEGER NOT NULL
);
CREATE INDEX units_parent ON units(parent_id);
CREATE INDEX units_path ON units(path);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    display_name        TEXT NOT NULL,
    unit_id             INTEGER NOT NULL REFERENCES units(id),
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL,
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until_us     INTEGER,
    password_changed_us INTEGER NOT NULL,
    id_index            TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    active              INTEGER NOT NULL DEFAULT 1,
    created_us          INTEGER NOT NULL
);
CREATE INDEX users_unit ON users(unit_id);

CREATE TABLE sessions (
    token_hash    TEXT PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id),
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    expires_us    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE cases (
    id                   INTEGER PRIMARY KEY,
    code                 TEXT NOT NULL UNIQUE,
    kind                 TEXT NOT NULL,
    state                TEXT NOT NULL,
    version              INTEGER NOT NULL,
    region               TEXT,
    registered_unit      INTEGER NOT NULL REFERENCES units(id),
    registered_unit_path TEXT NOT NULL,
    handling_unit        INTEGER REFERENCES units(id),
    handling_unit_path   TEXT,
    cohandling           TEXT NOT NULL DEFAULT '',
    accused_unit_path    TEXT,
    accused_users        TEXT NOT NULL DEFAULT '',
    matter_type          TEXT,
    category             TEXT,
    channel              TEXT,
    title                TEXT NOT NULL,
    query_secret_hash    TEXT,
    client_request_id    TEXT UNIQUE,
    created_us           INTEGER NOT NULL,
    updated_us           INTEGER NOT NULL,
    -- Deadline cache; 9223372036854775807 (i64::MAX) when no clock is running.
    next_due_us          INTEGER NOT NULL,
    next_warn_us         INTEGER NOT NULL,
    state_json           TEXT NOT NULL
);
CREATE INDEX cases_kind_state ON cases(kind, state);
CREATE INDEX cases_registered_path ON cases(registered_unit_path);
CREATE INDEX cases_registered_unit ON cases(registered_unit);
CREATE INDEX cases_handling ON cases(handling_unit);
CREATE INDEX cases_handling_path ON cases(handling_unit_path);
CREATE INDEX cases_next_due ON cases(next_due_us, id);
CREATE INDEX cases_state_due ON cases(state, next_due_us);
CREATE INDEX cases_created ON cases(created_us, id);
CREATE INDEX cases_category ON cases(category, created_us);

CREATE TABLE case_events (
    seq         INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    case_seq    INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    actor_id    INTEGER REFERENCES users(id),
    actor_unit  INTEGER REFERENCES units(id),
    actor_role  TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    payload     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    UNIQUE (case_id, case_seq)
);
CREATE INDEX case_events_actor ON case_events(actor_id);
CREATE INDEX case_events_actor_unit ON case_events(actor_unit);

CREATE TABLE parties (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases(id),
    role             TEXT NOT NULL,
    name_enc         TEXT NOT NULL,
    phone_enc        TEXT,
    id_number_enc    TEXT,
    address_enc      TEXT,
    name_masked      TEXT NOT NULL,
    phone_masked     TEXT,
    id_number_masked TEXT,
    address_masked   TEXT,
    phone_index      TEXT,
    id_index         TEXT
);
CREATE INDEX parties_case ON parties(case_id);
CREATE INDEX parties_phone ON parties(phone_index);
CREATE INDEX parties_id ON parties(id_index);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at_us      INTEGER NOT NULL,
    user_id    INTEGER,
    username   TEXT,
    role       TEXT,
    unit_id    INTEGER,
    source     TEXT,
    event      TEXT NOT NULL,
    object     TEXT,
    result     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_user ON audit_log(user_id);
CREATE INDEX audit_event ON audit_log(event);

CREATE TABLE chain_heads (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO chain_heads (name, seq, hash) VALUES
    ('events', 0, '0000000000000000000000000000000000000000000000000000000000000000'),
    ('audit', 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE doc_counters (
    series  TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
);
