-- The case list's default order (nearest deadline first) filtered by category: without this index the
-- planner fetched every case of the category and sorted them (40 ms at 100 k cases; BENCHMARKS.md).
CREATE INDEX cases_category_due ON cases(category, next_due_us, id);
