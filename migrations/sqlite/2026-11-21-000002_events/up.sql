-- Events: concrete public activities of a campaign. Times are UTC.
CREATE TABLE events (
    id            TEXT PRIMARY KEY NOT NULL,
    campaign_id   TEXT NOT NULL REFERENCES campaigns (id),
    kind          TEXT NOT NULL,
    year          INTEGER NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    activities    TEXT NOT NULL,
    starts_at     TIMESTAMP NOT NULL,
    ends_at       TIMESTAMP NOT NULL,
    period_text   TEXT,
    venue_name    TEXT,
    venue_address TEXT,
    lat           DOUBLE NOT NULL,
    lon           DOUBLE NOT NULL,
    -- The point as a unit vector: squared chord length to another point is
    -- plain arithmetic (no math functions in bundled SQLite) and orders and
    -- bounds by great-circle distance exactly.
    x             DOUBLE NOT NULL,
    y             DOUBLE NOT NULL,
    z             DOUBLE NOT NULL,
    precision     TEXT NOT NULL CHECK (precision IN ('exact', 'region')),
    region        TEXT NOT NULL REFERENCES regions (adcode),
    -- Ancestors of region (or region itself), copied from regions so that a
    -- region filter is one indexed equality whatever the level.
    province      TEXT NOT NULL,
    city          TEXT,
    -- Orders search results newest first: starts_at in microseconds, made
    -- unique by the writer; also the FTS5 rowid on SQLite.
    search_key    BIGINT NOT NULL UNIQUE,
    organizer     TEXT,
    online_url    TEXT,
    attendance    TEXT NOT NULL CHECK (attendance IN ('offline', 'online', 'mixed')),
    status        TEXT NOT NULL CHECK (status IN ('scheduled', 'postponed', 'cancelled', 'completed')),
    source        TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX events_starts_id ON events (starts_at, id);
CREATE INDEX events_ends ON events (ends_at);
CREATE INDEX events_region ON events (region, starts_at, id);
CREATE INDEX events_province ON events (province, starts_at, id);
CREATE INDEX events_city ON events (city, starts_at, id);
CREATE INDEX events_campaign ON events (campaign_id);
CREATE INDEX events_lat_lon ON events (lat, lon);
CREATE INDEX events_updated ON events (updated_at, id);

-- Search tokens (from the one Rust tokenizer), space-separated, in an FTS5
-- table whose rowid is events.search_key: results come out in search order.
-- The `ascii` tokenizer only splits on the spaces: it keeps every non-ASCII
-- character and folds nothing the Rust tokenizer has not already folded, so
-- SQLite sees exactly the tokens PostgreSQL's array_to_tsvector does.
CREATE VIRTUAL TABLE event_fts USING fts5(title, body, tokenize = 'ascii');

-- Every create, update and delete, in order, for mirrors (GET /changes).
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    resource   TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('upserted', 'deleted')),
    changed_at TIMESTAMP NOT NULL
);
