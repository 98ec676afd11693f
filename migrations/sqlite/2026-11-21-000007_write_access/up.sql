-- Write access: bearer tokens (only their SHA-256 is kept), the audit log of
-- every write, and the replies to POSTs sent with an Idempotency-Key.
CREATE TABLE tokens (
    name        TEXT PRIMARY KEY NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('national', 'region', 'lab')),
    -- The adcode (region) or lab id (lab); NULL for national.
    scope       TEXT CHECK ((role = 'national') = (scope IS NULL)),
    -- Hex SHA-256 of the token: the token itself is shown once and never stored.
    hash        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TIMESTAMP NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    target_type  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    -- The record's representation (JSON) before and after; NULL when absent.
    before_json  TEXT,
    after_json   TEXT
);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id);

CREATE TABLE idempotent_replies (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    -- SHA-256 of method, path and body: a key reused for another request is refused.
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    location     TEXT,
    body         TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (actor, key)
);
