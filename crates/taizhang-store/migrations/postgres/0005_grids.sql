-- Unit grids (单元网格): 15-digit codes under the unit tree, each with the grid worker who owns it.
CREATE TABLE grids (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    layer         TEXT NOT NULL,
    unit_id       BIGINT NOT NULL REFERENCES units(id),
    owner_user_id BIGINT REFERENCES users(id),
    created_us    BIGINT NOT NULL
);
CREATE INDEX grids_unit ON grids(unit_id);
CREATE INDEX grids_owner ON grids(owner_user_id);
