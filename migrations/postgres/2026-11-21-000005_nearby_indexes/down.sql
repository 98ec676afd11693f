DROP INDEX open_days_lab;
CREATE INDEX open_days_lab ON open_days (lab_id, starts_at);
DROP INDEX labs_near;
CREATE INDEX labs_lat_lon ON labs (lat, lon);
