ALTER TABLE products DROP COLUMN code_ranges;
