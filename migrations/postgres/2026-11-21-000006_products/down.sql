DROP TABLE product_tokens;
DROP TABLE organic_code_ranges;
DROP TABLE product_status_changes;
DROP TABLE products;
