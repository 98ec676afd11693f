-- A certificate's ranges are read for their codes only: the certificate
-- index covers them (an index-only scan). The first code stays the primary
-- key (the SQLite twin makes it the rowid).
DROP INDEX organic_code_ranges_certificate;
CREATE INDEX organic_code_ranges_certificate
    ON organic_code_ranges (certificate_no, first_code, last_code);
