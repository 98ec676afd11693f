-- Certified organic and green products: one row per certificate.
CREATE TABLE products (
    -- Normalized (upper case, half-width, trimmed): the natural key.
    certificate_no         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    scheme                 TEXT NOT NULL CHECK (scheme IN ('organic', 'green')),
    certification_type     TEXT NOT NULL CHECK (certification_type IN ('organic', 'in_conversion', 'full_green', 'green_attribute')),
    -- The one green attribute of a 涉绿 certificate (节能, 节水, 低碳 …).
    green_attribute        TEXT,
    holder_name            TEXT NOT NULL,
    holder_credit_code     TEXT,
    -- [{"name", "category"}] as JSON.
    items                  TEXT NOT NULL,
    -- The certificate's category: its first product's (filters and facets
    -- count each certificate once).
    category               TEXT NOT NULL,
    base_address           TEXT,
    region                 TEXT COLLATE "C" NOT NULL REFERENCES regions (adcode),
    province               TEXT COLLATE "C" NOT NULL,
    city                   TEXT COLLATE "C",
    certifier_name         TEXT NOT NULL,
    certifier_approval_no  TEXT COLLATE "C" NOT NULL,
    -- The certifier's code in organic codes (from the approval number).
    certifier_code         TEXT COLLATE "C" NOT NULL,
    standard               TEXT NOT NULL,
    issued_on              DATE NOT NULL,
    expires_on             DATE NOT NULL,
    -- As the registry records it; `expired` is derived from expires_on.
    status                 TEXT COLLATE "C" NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked', 'withdrawn')),
    -- Search order key, unique; the key of the token table.
    search_key             BIGINT NOT NULL UNIQUE,
    source                 TEXT NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);
CREATE INDEX products_region ON products (region, certificate_no);
CREATE INDEX products_province ON products (province, certificate_no);
CREATE INDEX products_city ON products (city, certificate_no);
CREATE INDEX products_certifier ON products (certifier_approval_no, certificate_no);
CREATE INDEX products_certifier_code ON products (certifier_code);
CREATE INDEX products_status ON products (status, certificate_no);
CREATE INDEX products_scheme ON products (scheme, certificate_no);
CREATE INDEX products_category ON products (category, certificate_no);
CREATE INDEX products_expires ON products (expires_on);

-- Every status change of a certificate, oldest first (its first row is the
-- status it was first imported with).
CREATE TABLE product_status_changes (
    id              BIGSERIAL PRIMARY KEY,
    certificate_no  TEXT COLLATE "C" NOT NULL REFERENCES products (certificate_no) ON DELETE CASCADE,
    changed_on      DATE NOT NULL,
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    reason          TEXT,
    recorded_at     TIMESTAMP NOT NULL
);
CREATE INDEX product_status_changes_certificate ON product_status_changes (certificate_no, changed_on, id);
CREATE INDEX product_status_changes_day ON product_status_changes (changed_on, id);

-- Organic codes issued under a certificate, as inclusive ranges of the
-- 17-digit number. Ranges never overlap (checked on import), so the range of
-- a code is the one with the greatest first code not above it.
CREATE TABLE organic_code_ranges (
    first_code      BIGINT PRIMARY KEY NOT NULL,
    last_code       BIGINT NOT NULL,
    certificate_no  TEXT COLLATE "C" NOT NULL REFERENCES products (certificate_no) ON DELETE CASCADE
);
CREATE INDEX organic_code_ranges_certificate ON organic_code_ranges (certificate_no);

-- Product search tokens (see event_tokens).
CREATE TABLE product_tokens (
    search_key BIGINT PRIMARY KEY NOT NULL REFERENCES products (search_key) ON DELETE CASCADE ON UPDATE CASCADE,
    title      TSVECTOR NOT NULL,
    everything TSVECTOR NOT NULL
);
CREATE INDEX product_tokens_title ON product_tokens USING GIN (title);
CREATE INDEX product_tokens_everything ON product_tokens USING GIN (everything);
