-- An organic-code check finds the range with the greatest first code not
-- above the code, then the certificate's other ranges. With `BIGINT PRIMARY
-- KEY` the first code was an index beside the rowid table, so each range
-- cost two B-tree descents; as `INTEGER PRIMARY KEY` it is the rowid itself
-- (17-digit codes fit in 64 bits), and the certificate index covers the
-- columns a certificate's ranges are read for. Nothing references this
-- table, so it is rebuilt in place.
CREATE TABLE organic_code_ranges_by_first (
    first_code      INTEGER PRIMARY KEY NOT NULL,
    last_code       BIGINT NOT NULL,
    certificate_no  TEXT NOT NULL REFERENCES products (certificate_no) ON DELETE CASCADE
);
INSERT INTO organic_code_ranges_by_first (first_code, last_code, certificate_no)
    SELECT first_code, last_code, certificate_no FROM organic_code_ranges;
DROP TABLE organic_code_ranges;
ALTER TABLE organic_code_ranges_by_first RENAME TO organic_code_ranges;
CREATE INDEX organic_code_ranges_certificate
    ON organic_code_ranges (certificate_no, first_code, last_code);
