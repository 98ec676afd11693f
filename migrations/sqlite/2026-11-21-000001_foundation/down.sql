DROP TABLE campaigns;
DROP TABLE notices;
DROP TABLE regions;
