-- One counter that every write transaction bumps, so that API processes
-- sharing this database can tell cheaply whether their cached
-- representations are still current.
CREATE TABLE data_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO data_version (id, version) VALUES (1, 0);
