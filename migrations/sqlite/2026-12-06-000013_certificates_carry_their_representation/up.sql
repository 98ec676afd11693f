-- Each certificate carries its JSON representation, rendered when it is
-- written, so that a look-up, an organic-code check or a search page copies
-- it instead of mapping twenty-odd columns and serializing them per read.
-- What depends on the day of reading (the derived `expired` status) or on
-- the build (the region's name, from the bundled divisions) is left as a
-- hole: a control byte that JSON text never holds unescaped, filled in at
-- read time. NULL until rendered: readers then build the representation
-- from the columns, and `ticweek migrate` renders the rows it finds so.
ALTER TABLE products ADD COLUMN body TEXT;
