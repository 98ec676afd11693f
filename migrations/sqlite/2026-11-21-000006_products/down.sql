DROP TABLE product_fts;
DROP TABLE organic_code_ranges;
DROP TABLE product_status_changes;
DROP TABLE products;
