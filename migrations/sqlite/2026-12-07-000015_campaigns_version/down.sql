ALTER TABLE data_version DROP COLUMN campaigns_version;
