-- A case opened from another (a dispute from a petition, a plan's task from an incident) names it; the
-- source lists what was opened from it.
ALTER TABLE cases ADD COLUMN parent_id BIGINT REFERENCES cases(id);
CREATE INDEX cases_parent ON cases(parent_id);
-- The earliest time a timer action (`on_expiry`) falls due on the case: what the sweeper looks for. A cache of
-- the clocks like next_due_us, recomputable; NO_DEADLINE when none is pending.
ALTER TABLE cases ADD COLUMN next_timer_us BIGINT NOT NULL DEFAULT 9223372036854775807;
CREATE INDEX cases_next_timer ON cases(next_timer_us);
