//! Campaigns: one kind of Quality Month campaign in one region and year.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::dates::{MaybeDay, Stamp};
use super::rendered::columns;
use super::schema::campaigns;
use super::{Backend, DbConn, DbError, DbResult, YearIdKey};
use crate::domain::{Adcode, CampaignKind};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = campaigns, treat_none_as_null = true)]
pub struct CampaignRow {
    pub id: String,
    pub kind: String,
    pub year: i32,
    pub title: String,
    pub theme: Option<String>,
    pub region: Option<String>,
    #[diesel(deserialize_as = MaybeDay)]
    pub starts_on: Option<NaiveDate>,
    #[diesel(deserialize_as = MaybeDay)]
    pub ends_on: Option<NaiveDate>,
    pub period_text: Option<String>,
    pub notice_id: String,
    pub source: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

/// A campaign with the name of its region (None for national campaigns).
pub type CampaignWithRegion = (CampaignRow, Option<String>);

#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub year: Option<i32>,
    pub kind: Option<CampaignKind>,
    pub region: Option<Adcode>,
    pub after: Option<YearIdKey>,
    pub limit: i64,
}

/// A page's query, of any selection (whole rows, or ids).
macro_rules! page_query {
    ($select:expr, $filter:expr $(,)?) => {{
        let filter: &CampaignFilter = $filter;
        let mut query = campaigns::table.select($select).into_boxed::<Backend>();
        if let Some(year) = filter.year {
            query = query.filter(campaigns::year.eq(year));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(campaigns::kind.eq(kind.as_str()));
        }
        if let Some(region) = &filter.region {
            // The region itself or any division below it: a range of adcodes.
            // (Through the joined region's ancestor columns this read every
            // campaign of the year and its region row: 140 µs a page.)
            let (low, high) = super::regions::code_range(region);
            query = query.filter(campaigns::region.between(low, high));
        }
        if let Some(after) = &filter.after {
            query = query.filter(
                campaigns::year.lt(after.year).or(campaigns::year
                    .eq(after.year)
                    .and(campaigns::id.gt(after.id.clone()))),
            );
        }
        query
            .order((campaigns::year.desc(), campaigns::id.asc()))
            .limit(filter.limit + 1)
    }};
}

/// One page of campaigns, newest year first; `more` tells whether another
/// page follows.
pub fn list(
    conn: &mut DbConn,
    filter: &CampaignFilter,
) -> DbResult<(Vec<CampaignWithRegion>, bool)> {
    let rows: Vec<CampaignRow> = page_query!(columns!(CampaignRow), filter).load(conn)?;
    let (rows, more) = page(rows, filter)?;
    Ok((rows.into_iter().map(with_region).collect(), more))
}

/// Cuts a page read one past the limit.
pub(super) fn page<T>(mut rows: Vec<T>, filter: &CampaignFilter) -> DbResult<(Vec<T>, bool)> {
    let more = super::cut_page(&mut rows, filter.limit);
    if rows.is_empty() {
        // An empty page may mean the region filter names no region at all.
        if let Some(region) = &filter.region {
            super::regions::require_known("region", region)?;
        }
    }
    Ok((rows, more))
}

/// A campaign with its region's name, from the bundled divisions
/// (`crate::data::divisions`) rather than a join per row.
fn with_region(row: CampaignRow) -> CampaignWithRegion {
    let name = (row.region.as_deref()).map(|code| crate::data::divisions().name(code).to_owned());
    (row, name)
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<CampaignWithRegion> {
    campaigns::table
        .filter(campaigns::id.eq(id))
        .select(columns!(CampaignRow))
        .first(conn)
        .optional()?
        .map(with_region)
        .ok_or_else(|| DbError::NotFound(format!("no campaign with id {id:?}")))
}

/// Every campaign, in id order, for `ticweek export`.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<CampaignWithRegion>> {
    Ok(campaigns::table
        .select(columns!(CampaignRow))
        .order(campaigns::id)
        .load(conn)?
        .into_iter()
        .map(with_region)
        .collect())
}

/// Inserts or replaces by id.
pub fn upsert(conn: &mut DbConn, campaign: &CampaignRow) -> DbResult<()> {
    super::touch(super::Indexed::Campaigns);
    let updated = diesel::update(campaigns::table.find(&campaign.id))
        .set(campaign)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(campaigns::table)
            .values(campaign)
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes a campaign and logs it; refused while it still has events.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    use super::schema::events;
    super::exclusive_transaction(conn, |conn| {
        super::touch(super::Indexed::Campaigns);
        let users: i64 = events::table
            .filter(events::campaign_id.eq(id))
            .count()
            .get_result(conn)?;
        if users > 0 {
            return Err(DbError::Conflict(format!(
                "campaign {id:?} still has {users} event(s); delete them first"
            )));
        }
        if diesel::delete(campaigns::table.find(id)).execute(conn)? == 0 {
            return Err(DbError::NotFound(format!("no campaign with id {id:?}")));
        }
        super::changes::record(conn, "campaign", id, true, at)
    })
}
