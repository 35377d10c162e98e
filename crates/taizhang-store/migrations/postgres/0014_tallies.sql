-- When a case entered its current state (its closing time once the state is terminal), and running tallies of
-- the case projection for the leader dashboard: kept by `append` in the same transaction as the case row, so a
-- month's or a unit's figure is a sum over a few thousand tally rows instead of a scan of every case.
ALTER TABLE cases ADD COLUMN state_since_us BIGINT NOT NULL DEFAULT 0;
UPDATE cases SET state_since_us = COALESCE((
    SELECT MIN(e.at_us) FROM case_events e
    WHERE e.case_id = cases.id AND e.case_seq > COALESCE((
        SELECT MAX(e2.case_seq) FROM case_events e2 WHERE e2.case_id = cases.id AND e2.to_state <> cases.state), 0)
), created_us);
CREATE INDEX cases_state_since ON cases(state_since_us);

-- Each case counts once in each tally, under the unit holding it (else the unit that registered it):
--   received  tag = category, bucket = month registered (yyyymm, China time)
--   state     tag = state,    bucket = month it entered that state
--   due       tag = '',       bucket = day its nearest running deadline falls (yyyymmdd); none when no clock runs
--   warn      tag = '',       bucket = day that deadline's warning period starts
CREATE TABLE tallies (
    name    TEXT NOT NULL,
    bucket  BIGINT NOT NULL,
    unit_id BIGINT NOT NULL REFERENCES units(id),
    kind    TEXT NOT NULL,
    tag     TEXT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (name, bucket, unit_id, kind, tag)
);
CREATE INDEX tallies_unit ON tallies(unit_id);

INSERT INTO tallies (name, bucket, unit_id, kind, tag, n)
SELECT 'received', CAST(to_char(to_timestamp(created_us / 1000000 + 28800) AT TIME ZONE 'UTC', 'YYYYMM') AS BIGINT),
       COALESCE(handling_unit, registered_unit), kind, COALESCE(category, ''), COUNT(*)
FROM cases GROUP BY 1, 2, 3, 4, 5;
INSERT INTO tallies (name, bucket, unit_id, kind, tag, n)
SELECT 'state', CAST(to_char(to_timestamp(state_since_us / 1000000 + 28800) AT TIME ZONE 'UTC', 'YYYYMM') AS BIGINT),
       COALESCE(handling_unit, registered_unit), kind, state, COUNT(*)
FROM cases GROUP BY 1, 2, 3, 4, 5;
INSERT INTO tallies (name, bucket, unit_id, kind, tag, n)
SELECT 'due', CAST(to_char(to_timestamp(next_due_us / 1000000 + 28800) AT TIME ZONE 'UTC', 'YYYYMMDD') AS BIGINT),
       COALESCE(handling_unit, registered_unit), kind, '', COUNT(*)
FROM cases WHERE next_due_us < 9223372036854775807 GROUP BY 1, 2, 3, 4, 5;
INSERT INTO tallies (name, bucket, unit_id, kind, tag, n)
SELECT 'warn', CAST(to_char(to_timestamp(next_warn_us / 1000000 + 28800) AT TIME ZONE 'UTC', 'YYYYMMDD') AS BIGINT),
       COALESCE(handling_unit, registered_unit), kind, '', COUNT(*)
FROM cases WHERE next_warn_us < 9223372036854775807 GROUP BY 1, 2, 3, 4, 5;
