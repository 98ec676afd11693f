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
    precision     TEXT NOT NULL CHECK (precision IN ('exact', 'region')),
    region        TEXT NOT NULL REFERENCES regions (adcode),
    organizer     TEXT,
    online_url    TEXT,
    attendance    TEXT NOT NULL CHECK (attendance IN ('offline', 'online', 'mixed')),
    status        TEXT NOT NULL CHECK (status IN ('scheduled', 'postponed', 'cancelled', 'completed')),
    source        TEXT NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX events_starts_id ON events (starts_at, id);
CREATE INDEX events_ends ON events (ends_at);
CREATE INDEX events_region ON events (region);
CREATE INDEX events_campaign ON events (campaign_id);
CREATE INDEX events_lat_lon ON events (lat, lon);
CREATE INDEX events_updated ON events (updated_at, id);

-- Search tokens (from the one Rust tokenizer) in an FTS5 index whose rowid is
-- that of event_tokens; event_tokens maps it to the event id.
CREATE TABLE event_tokens (
    rowid_key INTEGER PRIMARY KEY,
    event_id  TEXT NOT NULL UNIQUE REFERENCES events (id) ON DELETE CASCADE,
    title     TEXT NOT NULL,
    body      TEXT NOT NULL
);
CREATE VIRTUAL TABLE event_fts USING fts5(
    title, body, content = 'event_tokens', content_rowid = 'rowid_key', tokenize = 'unicode61'
);
CREATE TRIGGER event_tokens_ai AFTER INSERT ON event_tokens BEGIN
    INSERT INTO event_fts (rowid, title, body) VALUES (new.rowid_key, new.title, new.body);
END;
CREATE TRIGGER event_tokens_ad AFTER DELETE ON event_tokens BEGIN
    INSERT INTO event_fts (event_fts, rowid, title, body) VALUES ('delete', old.rowid_key, old.title, old.body);
END;

-- Every create, update and delete, in order, for mirrors (GET /changes).
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    resource   TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('upserted', 'deleted')),
    changed_at TIMESTAMP NOT NULL
);
