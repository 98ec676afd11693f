//! Writes a validated import document: all or nothing.

use diesel::Connection;

use super::campaigns::{self, CampaignRow};
use super::notices::{self, NoticeChanges};
use super::regions::{self, RegionRow};
use super::{DbConn, DbError, DbResult};

/// Upserts every record in one transaction; any failure leaves the database
/// as it was.
pub fn write_all(
    conn: &mut DbConn,
    notice_rows: &[NoticeChanges],
    campaign_rows: &[CampaignRow],
) -> DbResult<()> {
    conn.transaction::<_, DbError, _>(|conn| {
        for notice in notice_rows {
            notices::upsert(conn, notice)?;
        }
        for campaign in campaign_rows {
            campaigns::upsert(conn, campaign)?;
        }
        Ok(())
    })
}

/// Loads the region table in one transaction.
pub fn write_regions(conn: &mut DbConn, rows: &[RegionRow]) -> DbResult<()> {
    conn.transaction::<_, DbError, _>(|conn| regions::insert_all(conn, rows))
}

/// Adcodes of every known region, to validate references before writing.
pub fn known_regions(conn: &mut DbConn) -> DbResult<std::collections::HashSet<String>> {
    use diesel::prelude::*;
    Ok(super::schema::regions::table
        .select(super::schema::regions::adcode)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Ids of every notice, to validate campaign references.
pub fn known_notices(conn: &mut DbConn) -> DbResult<std::collections::HashSet<String>> {
    use diesel::prelude::*;
    Ok(super::schema::notices::table
        .select(super::schema::notices::id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

pub fn is_empty(conn: &mut DbConn) -> DbResult<bool> {
    Ok(regions::count(conn)? == 0)
}
