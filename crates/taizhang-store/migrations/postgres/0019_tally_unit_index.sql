-- The dashboard sums a tally over the units of a subtree: `unit_id IN (units of the subtree)` with the bucket
-- range. With only the primary key (name, bucket, unit_id, …), a plan that loops over the units walks the whole
-- bucket range once per unit: on PostgreSQL, whose prepared statements use such a plan, the overdue tally of a
-- million cases in 141 units took 370 ms. Keyed by unit first, each unit reads only its own rows (39 ms).
CREATE INDEX tallies_by_unit ON tallies (name, unit_id, bucket);
