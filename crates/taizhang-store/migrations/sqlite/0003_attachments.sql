-- Files attached to a case by an event (images, PDF). The content is SM4-sealed (IV ‖ ciphertext ‖ tag);
-- the event's payload holds each file's name, type, size and SM3 digest, so `verify` checks the stored
-- content against the chain.
CREATE TABLE attachments (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id),
    event_seq   INTEGER NOT NULL REFERENCES case_events(seq),
    name        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sm3         TEXT NOT NULL,
    content     BLOB NOT NULL
);
CREATE INDEX attachments_case ON attachments(case_id);
CREATE INDEX attachments_event ON attachments(event_seq);
