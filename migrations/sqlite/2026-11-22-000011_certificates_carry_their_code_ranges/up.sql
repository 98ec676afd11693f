-- Each certificate carries a copy of its organic-code ranges, so that a page
-- of certificates is read with its ranges in one statement (a second one
-- for the page's ranges was 13-18 % of a search). `organic_code_ranges`
-- stays the table code look-ups use; the import writes both.
-- Format: `first:last` pairs in ascending order joined by commas; NULL for none.
ALTER TABLE products ADD COLUMN code_ranges TEXT;
UPDATE products SET code_ranges = (
    SELECT group_concat(first_code || ':' || last_code)
    FROM (SELECT first_code, last_code FROM organic_code_ranges r
          WHERE r.certificate_no = products.certificate_no ORDER BY first_code)
);
