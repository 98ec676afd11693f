-- Keys and references use the "C" collation so that ordering (and keyset
-- pagination) is bytewise, as on SQLite, whatever the database's locale.
-- GB/T 2260 divisions. `province` and `city` are the ancestors (or the row
-- itself) so that "a region and all its descendants" is one indexed lookup.
CREATE TABLE regions (
    adcode   TEXT COLLATE "C" PRIMARY KEY NOT NULL CHECK (char_length(adcode) = 6),
    name     TEXT NOT NULL,
    level    TEXT NOT NULL CHECK (level IN ('province', 'city', 'county')),
    parent   TEXT COLLATE "C" REFERENCES regions (adcode),
    province TEXT COLLATE "C" NOT NULL,
    city     TEXT COLLATE "C",
    lat      DOUBLE PRECISION NOT NULL,
    lon      DOUBLE PRECISION NOT NULL
);
CREATE INDEX regions_parent ON regions (parent);
CREATE INDEX regions_province ON regions (province);
CREATE INDEX regions_city ON regions (city);
CREATE INDEX regions_level ON regions (level, adcode);

CREATE TABLE notices (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    doc_number  TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    region      TEXT COLLATE "C" REFERENCES regions (adcode),
    year        INTEGER NOT NULL,
    issued_on   DATE,
    body        TEXT NOT NULL,
    contacts    TEXT NOT NULL,
    deadlines   TEXT NOT NULL,
    forwards    TEXT NOT NULL,
    cites       TEXT NOT NULL,
    source_url  TEXT,
    source      TEXT NOT NULL,
    -- Key of the notice's entry in the full-text index (see event search).
    search_key  BIGINT NOT NULL UNIQUE,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX notices_year_id ON notices (year DESC, id);
CREATE INDEX notices_region ON notices (region);
-- Tokens of the title, and of title, document number and body together,
-- from the Rust tokenizer (see the event index).
CREATE TABLE notice_tokens (
    search_key BIGINT PRIMARY KEY NOT NULL REFERENCES notices (search_key) ON DELETE CASCADE ON UPDATE CASCADE,
    title      TSVECTOR NOT NULL,
    everything TSVECTOR NOT NULL
);
CREATE INDEX notice_tokens_everything ON notice_tokens USING GIN (everything);

CREATE TABLE campaigns (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('organic_week', 'green_week', 'service_week', 'lab_open_day', 'sme_qms')),
    year        INTEGER NOT NULL,
    title       TEXT NOT NULL,
    theme       TEXT,
    region      TEXT COLLATE "C" REFERENCES regions (adcode),
    starts_on   DATE,
    ends_on     DATE,
    period_text TEXT,
    notice_id   TEXT COLLATE "C" NOT NULL REFERENCES notices (id),
    source      TEXT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_year_id ON campaigns (year DESC, id);
CREATE INDEX campaigns_region ON campaigns (region);
CREATE INDEX campaigns_notice ON campaigns (notice_id);
