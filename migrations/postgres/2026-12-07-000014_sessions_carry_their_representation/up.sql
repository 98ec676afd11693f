-- Each open-day session carries its JSON representation (the session's own
-- fields, as `GET /open-days` lists them before its lab), rendered when it
-- is written, so that a page of sessions copies it instead of mapping
-- sixteen columns and serializing them per read. Its lab and the distance
-- from the asked point are written beside it per read. Bytes, not text:
-- read back as written, they need no UTF-8 check. NULL until rendered:
-- readers then build the representation from the columns, and
-- `ticweek migrate` renders the rows it finds so.
ALTER TABLE open_days ADD COLUMN body BYTEA;
