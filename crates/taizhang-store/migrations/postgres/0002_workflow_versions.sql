-- Every workflow definition version that has been current, with its text: cases keep the version they opened
-- under, so `verify` and later actions replay them with the same rules.
CREATE TABLE workflow_versions (
    kind        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    sha         TEXT NOT NULL,
    definition  TEXT NOT NULL,
    recorded_us BIGINT NOT NULL,
    PRIMARY KEY (kind, version)
);
