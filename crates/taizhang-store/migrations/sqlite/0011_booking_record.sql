-- A confirmed appointment request (约访) is marked held when the reception is recorded; the record (a case of
-- kind `reception`) is linked here.
ALTER TABLE reception_bookings ADD COLUMN record_case_id INTEGER REFERENCES cases(id);
CREATE INDEX reception_bookings_record ON reception_bookings(record_case_id);
