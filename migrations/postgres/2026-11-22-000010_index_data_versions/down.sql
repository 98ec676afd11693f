ALTER TABLE data_version DROP COLUMN products_version;
ALTER TABLE data_version DROP COLUMN labs_version;
ALTER TABLE data_version DROP COLUMN events_version;
