DROP TABLE changes;
DROP TABLE event_tokens;
DROP TABLE events;
