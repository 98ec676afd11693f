DROP INDEX campaigns_region;
CREATE INDEX campaigns_region ON campaigns (region);
