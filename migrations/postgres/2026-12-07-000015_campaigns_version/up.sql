-- A counter for campaigns beside those of the other in-memory indexes: the
-- representations of campaigns are held in memory for their list, and a
-- write that changes a campaign bumps it, so that no page is written from
-- a stale one.
ALTER TABLE data_version ADD COLUMN campaigns_version BIGINT NOT NULL DEFAULT 0;
