DROP TABLE changes;
DROP TRIGGER event_tokens_ad;
DROP TRIGGER event_tokens_ai;
DROP TABLE event_fts;
DROP TABLE event_tokens;
DROP TABLE events;
