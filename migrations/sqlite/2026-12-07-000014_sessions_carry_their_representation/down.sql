ALTER TABLE open_days DROP COLUMN body;
