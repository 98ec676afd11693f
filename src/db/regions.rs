//! GB/T 2260 divisions and the "region and all its descendants" rule.

use diesel::prelude::*;

use super::rendered::columns;
use super::schema::regions;
use super::{DbConn, DbError, DbResult};
use crate::domain::{Adcode, RegionLevel};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = regions)]
pub struct RegionRow {
    pub adcode: String,
    pub name: String,
    pub level: String,
    pub parent: Option<String>,
    pub province: String,
    pub city: Option<String>,
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Default)]
pub struct RegionFilter {
    pub parent: Option<Adcode>,
    pub level: Option<RegionLevel>,
    pub q: Option<String>,
    /// Keyset: only regions with an adcode after this one.
    pub after: Option<String>,
    pub limit: i64,
}

/// One page plus whether more rows follow, from the bundled divisions: the
/// stored table is the same fixed national list (~3,200 rows), so a page
/// scans at most that many in memory and runs no statement.
pub fn list(filter: &RegionFilter) -> DbResult<(Vec<RegionRow>, bool)> {
    let all = crate::data::divisions().all();
    let start = (filter.after.as_deref()).map_or(0, |after| {
        all.partition_point(|r| r.adcode.as_str() <= after)
    });
    let needle = filter.q.as_deref().map(str::to_lowercase);
    let mut rows: Vec<RegionRow> = all[start..]
        .iter()
        .filter(|r| {
            filter
                .parent
                .as_ref()
                .is_none_or(|p| r.parent.as_deref() == Some(p.as_str()))
                && filter.level.is_none_or(|level| r.level == level.as_str())
                && (needle.as_deref()).is_none_or(|q| r.name.to_lowercase().contains(q))
        })
        .take(usize::try_from(filter.limit).unwrap_or(0) + 1)
        .cloned()
        .collect();
    if let (true, Some(parent)) = (rows.is_empty(), &filter.parent) {
        require_known("parent", parent)?;
    }
    let more = super::cut_page(&mut rows, filter.limit);
    Ok((rows, more))
}

/// Division `adcode`, from the bundled divisions.
pub fn get(adcode: &Adcode) -> DbResult<RegionRow> {
    (crate::data::divisions().get(adcode.as_str()).cloned())
        .ok_or_else(|| DbError::NotFound(format!("no region with adcode {adcode}")))
}

/// The stored region table, in adcode order: notice filters join it, so it
/// must hold exactly the bundled divisions (a test compares them).
pub fn stored(conn: &mut DbConn) -> DbResult<Vec<RegionRow>> {
    Ok(regions::table
        .select(columns!(RegionRow))
        .order(regions::adcode)
        .load(conn)?)
}

/// A well-formed adcode used as a filter must name a known division: an
/// unknown one is a client error (400 naming `field`), not an empty list.
pub fn require_known(field: &str, adcode: &Adcode) -> DbResult<()> {
    level_of(field, adcode).map(drop)
}

/// The level of division `adcode`, from the bundled divisions; an unknown
/// adcode is a client error naming `field`.
fn level_of(field: &str, adcode: &Adcode) -> DbResult<RegionLevel> {
    crate::data::divisions()
        .level(adcode.as_str())
        .ok_or_else(|| unknown(field, adcode))
}

/// The level of a `region` filter (from the bundled divisions): it picks the one
/// indexed column (`province`, `city` or `region`) that the filter compares.
/// `None` without a filter; an unknown adcode is a 400.
pub fn filter_level(region: Option<&Adcode>) -> DbResult<Option<RegionLevel>> {
    region.map(|adcode| level_of("region", adcode)).transpose()
}

/// The adcodes of `code` and every division below it, as an inclusive
/// range: GB/T 2260 codes share their province's first two digits and
/// their city's first four (a test checks this holds for every bundled
/// division), so "in or below" is a range on an indexed adcode column,
/// with no join to the region table.
pub fn code_range(code: &Adcode) -> (String, String) {
    let code = code.as_str();
    if let Some(province) = code.strip_suffix("0000") {
        (format!("{province}0000"), format!("{province}9999"))
    } else if let Some(city) = code.strip_suffix("00") {
        (format!("{city}00"), format!("{city}99"))
    } else {
        (code.to_owned(), code.to_owned())
    }
}

/// The division a region facet counts a record under: its province without
/// a region filter, else one level below the filter's.
pub fn facet_bucket(
    level: Option<RegionLevel>,
    province: &str,
    city: Option<&str>,
    region: &str,
) -> String {
    match level {
        None => province.to_owned(),
        Some(RegionLevel::Province) => city.unwrap_or(region).to_owned(),
        Some(_) => region.to_owned(),
    }
}

fn unknown(field: &str, adcode: &Adcode) -> DbError {
    DbError::Unknown(
        field.to_owned(),
        format!("no region with adcode {adcode}; see /api/v1/regions"),
    )
}

pub fn count(conn: &mut DbConn) -> DbResult<i64> {
    Ok(regions::table.count().get_result(conn)?)
}

/// Inserts rows in multi-row statements of 500 (under SQLite's bound-parameter
/// limit). Diesel's multi-backend connection has no batch insert, so this is
/// written per backend.
pub fn insert_all(conn: &mut DbConn, rows: &[RegionRow]) -> DbResult<()> {
    for chunk in rows.chunks(500) {
        let insert = diesel::insert_into(regions::table).values(chunk);
        match conn {
            DbConn::Sqlite(c) => insert.execute(c)?,
            DbConn::Pg(c) => insert.execute(c)?,
        };
    }
    Ok(())
}
