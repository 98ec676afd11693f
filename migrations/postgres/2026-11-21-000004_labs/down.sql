DROP TABLE lab_tokens;
DROP TABLE open_days;
DROP TABLE labs;
