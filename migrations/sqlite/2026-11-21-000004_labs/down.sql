DROP TABLE lab_fts;
DROP TABLE open_days;
DROP TABLE labs;
