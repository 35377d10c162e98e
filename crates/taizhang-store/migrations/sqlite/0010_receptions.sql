-- Leaders' reception schedule (领导接访日程), published on the resident portal, and residents' appointment
-- requests (约访) on their case. What was said at a reception is a case (kind `reception`) opened from the
-- resident's case; these rows are the schedule and the requests only.
CREATE TABLE reception_slots (
    id         INTEGER PRIMARY KEY,
    unit_id    INTEGER NOT NULL REFERENCES units(id),
    leader_id  INTEGER NOT NULL REFERENCES users(id),
    starts_us  INTEGER NOT NULL,
    ends_us    INTEGER NOT NULL,
    place      TEXT NOT NULL,
    topic      TEXT NOT NULL,
    capacity   INTEGER NOT NULL,
    created_by INTEGER REFERENCES users(id),
    created_us INTEGER NOT NULL
);
CREATE INDEX reception_slots_starts ON reception_slots(starts_us);
CREATE INDEX reception_slots_unit ON reception_slots(unit_id);
CREATE INDEX reception_slots_leader ON reception_slots(leader_id);
CREATE INDEX reception_slots_created_by ON reception_slots(created_by);
CREATE TABLE reception_bookings (
    id           INTEGER PRIMARY KEY,
    slot_id      INTEGER NOT NULL REFERENCES reception_slots(id),
    case_id      INTEGER NOT NULL REFERENCES cases(id),
    request      TEXT NOT NULL,
    requested_us INTEGER NOT NULL,
    status       TEXT NOT NULL,
    reply        TEXT NOT NULL DEFAULT '',
    decided_by   INTEGER REFERENCES users(id),
    decided_us   INTEGER
);
CREATE INDEX reception_bookings_slot ON reception_bookings(slot_id);
CREATE INDEX reception_bookings_case ON reception_bookings(case_id);
CREATE INDEX reception_bookings_decided_by ON reception_bookings(decided_by);
