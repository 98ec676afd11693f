-- Inspection and testing labs. Fields and activities are bit sets over the
-- vocabularies of src/domain/lab.rs (bit i = the i-th value), so a filter on
-- one of them is arithmetic on the row, never a LIKE over text.
CREATE TABLE labs (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    cma_no      TEXT,
    cnas_no     TEXT,
    field_mask  BIGINT NOT NULL,
    address     TEXT,
    region      TEXT NOT NULL REFERENCES regions (adcode),
    province    TEXT NOT NULL,
    city        TEXT,
    lat         DOUBLE NOT NULL,
    lon         DOUBLE NOT NULL,
    -- Unit vector of (lat, lon), as on events: chord arithmetic orders by distance.
    x           DOUBLE NOT NULL,
    y           DOUBLE NOT NULL,
    z           DOUBLE NOT NULL,
    precision   TEXT NOT NULL CHECK (precision IN ('exact', 'region')),
    phone       TEXT,
    website     TEXT,
    -- Search order key, unique; also the rowid of the SQLite text index.
    search_key  BIGINT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX labs_lat_lon ON labs (lat, lon);
CREATE INDEX labs_region ON labs (region, id);
CREATE INDEX labs_province ON labs (province, id);
CREATE INDEX labs_city ON labs (city, id);

-- Open-day sessions of a lab. Times are UTC. They belong to their lab and
-- go with it.
CREATE TABLE open_days (
    id                TEXT PRIMARY KEY NOT NULL,
    lab_id            TEXT NOT NULL REFERENCES labs (id) ON DELETE CASCADE,
    event_id          TEXT,
    starts_at         TIMESTAMP NOT NULL,
    ends_at           TIMESTAMP NOT NULL,
    period_text       TEXT,
    -- What this session offers, in the publisher's words.
    description       TEXT,
    activity_mask     BIGINT NOT NULL,
    audience          TEXT,
    capacity          INTEGER,
    -- NULL when the publisher does not say.
    booking_required  BOOLEAN,
    booking_url       TEXT,
    booking_phone     TEXT,
    -- Whether a visitor can book: a booking channel and a scheduled session.
    bookable          BOOLEAN NOT NULL,
    online_url        TEXT,
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'postponed', 'cancelled', 'completed')),
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX open_days_lab ON open_days (lab_id, starts_at);
CREATE INDEX open_days_starts ON open_days (starts_at, id);
CREATE INDEX open_days_ends ON open_days (ends_at);

-- Lab names (title) and name, address and fields (body), tokenized in Rust;
-- rowid = labs.search_key (see the event index).
CREATE VIRTUAL TABLE lab_fts USING fts5(title, body, tokenize = 'ascii');
