-- Posters and their files. File bytes live in the database, addressed by
-- their SHA-256, so a poster replicates with the data and an upload is
-- atomic with its metadata; identical files are stored once.
CREATE TABLE blobs (
    sha256  TEXT PRIMARY KEY NOT NULL,
    bytes   BYTEA NOT NULL
);

CREATE TABLE posters (
    id           TEXT PRIMARY KEY NOT NULL,
    title        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    year         INTEGER NOT NULL,
    campaign_id  TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    language     TEXT NOT NULL,
    source       TEXT NOT NULL,
    usage_note   TEXT,
    -- Where the uploader may write it: NULL for a national poster.
    region       TEXT REFERENCES regions (adcode),
    updated_at   TIMESTAMP NOT NULL
);
CREATE INDEX posters_year ON posters (year, id);
CREATE INDEX posters_campaign ON posters (campaign_id, id);

CREATE TABLE poster_files (
    poster_id  TEXT NOT NULL REFERENCES posters (id) ON DELETE CASCADE,
    -- `original`, or a rendition's width (`w480`, `w1080`).
    variant    TEXT NOT NULL,
    format     TEXT NOT NULL CHECK (format IN ('png', 'jpeg', 'webp', 'pdf')),
    width      INTEGER,
    height     INTEGER,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES blobs (sha256),
    -- As uploaded; metadata only (never a path).
    file_name  TEXT,
    PRIMARY KEY (poster_id, variant)
);
CREATE INDEX poster_files_sha ON poster_files (sha256);
