-- A counter per in-memory index beside the database-wide one: a write
-- bumps those of the records it changed, so that a poster upload or a new
-- token leaves the certificate, event and open-day indexes in place
-- instead of rebuilding them all.
ALTER TABLE data_version ADD COLUMN events_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE data_version ADD COLUMN labs_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE data_version ADD COLUMN products_version BIGINT NOT NULL DEFAULT 0;
