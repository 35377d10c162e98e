-- Duty rosters (值班/带班): one row per person per shift and post. A shift row is never changed; a swap is its
-- own row, and once approved names who actually serves. History stays whole.
CREATE TABLE duty_shifts (
    id         INTEGER PRIMARY KEY,
    unit_id    INTEGER NOT NULL REFERENCES units(id),
    starts_us  INTEGER NOT NULL,
    ends_us    INTEGER NOT NULL,
    post       TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    phone      TEXT NOT NULL DEFAULT '',
    created_by INTEGER REFERENCES users(id),
    created_us INTEGER NOT NULL
);
CREATE INDEX duty_shifts_unit ON duty_shifts(unit_id, starts_us);
CREATE INDEX duty_shifts_user ON duty_shifts(user_id);
CREATE INDEX duty_shifts_created_by ON duty_shifts(created_by);
CREATE TABLE duty_swaps (
    id           INTEGER PRIMARY KEY,
    shift_id     INTEGER NOT NULL REFERENCES duty_shifts(id),
    to_user_id   INTEGER NOT NULL REFERENCES users(id),
    reason       TEXT NOT NULL,
    requested_by INTEGER NOT NULL REFERENCES users(id),
    requested_us INTEGER NOT NULL,
    status       TEXT NOT NULL,
    decided_by   INTEGER REFERENCES users(id),
    decided_us   INTEGER
);
CREATE INDEX duty_swaps_shift ON duty_swaps(shift_id);
CREATE INDEX duty_swaps_to_user ON duty_swaps(to_user_id);
CREATE INDEX duty_swaps_requested_by ON duty_swaps(requested_by);
CREATE INDEX duty_swaps_decided_by ON duty_swaps(decided_by);
