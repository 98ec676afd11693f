DROP TABLE campaigns;
DROP TABLE notice_tokens;
DROP TABLE notices;
DROP TABLE regions;
