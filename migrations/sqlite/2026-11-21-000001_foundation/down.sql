DROP TABLE campaigns;
DROP TABLE notice_fts;
DROP TABLE notices;
DROP TABLE regions;
