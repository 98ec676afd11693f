CREATE TABLE organic_code_ranges_by_index (
    first_code      BIGINT PRIMARY KEY NOT NULL,
    last_code       BIGINT NOT NULL,
    certificate_no  TEXT NOT NULL REFERENCES products (certificate_no) ON DELETE CASCADE
);
INSERT INTO organic_code_ranges_by_index (first_code, last_code, certificate_no)
    SELECT first_code, last_code, certificate_no FROM organic_code_ranges;
DROP TABLE organic_code_ranges;
ALTER TABLE organic_code_ranges_by_index RENAME TO organic_code_ranges;
CREATE INDEX organic_code_ranges_certificate ON organic_code_ranges (certificate_no);
