-- A campaign list for a region and a year (a portal's "this year's
-- campaigns here") read every campaign of the region's subtree, all years,
-- from the table to test the year: with the year in the index, only the
-- matching rows are read.
DROP INDEX campaigns_region;
CREATE INDEX campaigns_region ON campaigns (region, year);
