-- Cases naming an accused unit or person (信访工作条例 Art. 30) are few. The leader dashboard reads those
-- accusing its viewer, to leave them out of its counts as the case list leaves them out, through this partial
-- index instead of a scan of every case.
CREATE INDEX cases_accusing ON cases (id) WHERE accused_unit_path IS NOT NULL OR accused_users <> '';
