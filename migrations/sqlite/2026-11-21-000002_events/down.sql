DROP TABLE changes;
DROP TABLE event_fts;
DROP TABLE events;
