-- Nearby session pages are chosen from index entries alone: the box, the
-- chord (unit vector) and the lab id from labs_near; the window and page
-- order from open_days_lab. Table rows are read only for the page itself.
DROP INDEX labs_lat_lon;
CREATE INDEX labs_near ON labs (lat, lon, x, y, z, id);
DROP INDEX open_days_lab;
CREATE INDEX open_days_lab ON open_days (lab_id, starts_at, id, ends_at);
