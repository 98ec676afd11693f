//! Issued notices (通知): the documents every other record cites as its source.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::dates::{MaybeDay, Stamp};
use super::rendered::columns;
use super::schema::{notices, regions};
use super::search::{Dialect, Field, NOTICES};
use super::{Backend, DbConn, DbError, DbResult, YearIdKey};
use crate::domain::Adcode;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notices)]
pub struct NoticeRow {
    pub id: String,
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    pub region: Option<String>,
    pub year: i32,
    #[diesel(deserialize_as = MaybeDay)]
    pub issued_on: Option<chrono::NaiveDate>,
    pub body: String,
    /// JSON array of `{name, phone, email}`.
    pub contacts: String,
    /// JSON array of `{title, due_on}`.
    pub deadlines: String,
    /// JSON array of document numbers this notice forwards (转发).
    pub forwards: String,
    /// JSON array of document numbers this notice cites (根据…).
    pub cites: String,
    pub source_url: Option<String>,
    pub source: String,
    /// Key of the full-text index entry.
    pub search_key: i64,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

/// A notice with the name of its region (None for national notices).
pub type NoticeWithRegion = (NoticeRow, Option<String>);

#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = notices, treat_none_as_null = true)]
pub struct NoticeChanges {
    pub id: String,
    pub doc_number: String,
    pub title: String,
    pub issuer: String,
    pub region: Option<String>,
    pub year: i32,
    pub issued_on: Option<chrono::NaiveDate>,
    pub body: String,
    pub contacts: String,
    pub deadlines: String,
    pub forwards: String,
    pub cites: String,
    pub source_url: Option<String>,
    pub source: String,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default)]
pub struct NoticeFilter {
    pub year: Option<i32>,
    pub region: Option<Adcode>,
    pub q: Option<crate::domain::SearchQuery>,
    pub after: Option<YearIdKey>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, filter: &NoticeFilter) -> DbResult<(Vec<NoticeWithRegion>, bool)> {
    let mut query = notices::table
        .left_join(regions::table.on(notices::region.eq(regions::adcode.nullable())))
        .select((columns!(NoticeRow), regions::name.nullable()))
        .into_boxed::<Backend>();
    if let Some(year) = filter.year {
        query = query.filter(notices::year.eq(year));
    }
    if let Some(region) = &filter.region {
        // The region itself or any division below it: ancestors are stored
        // per region row, so this is a join on indexed columns.
        let code = region.as_str().to_owned();
        query = query.filter(
            regions::adcode
                .nullable()
                .eq(code.clone())
                .or(regions::province.nullable().eq(code.clone()))
                .or(regions::city.eq(code)),
        );
    }
    if let Some(q) = &filter.q {
        query = query.filter(NOTICES.matches(Dialect::of(conn), q, Field::Everything));
    }
    if let Some(after) = &filter.after {
        query = query.filter(
            notices::year.lt(after.year).or(notices::year
                .eq(after.year)
                .and(notices::id.gt(after.id.clone()))),
        );
    }
    let mut rows: Vec<(NoticeRow, Option<String>)> = query
        .order((notices::year.desc(), notices::id.asc()))
        .limit(filter.limit + 1)
        .load(conn)?;
    let more = super::cut_page(&mut rows, filter.limit);
    if rows.is_empty() {
        // An empty page may mean the region filter names no region at all.
        if let Some(region) = &filter.region {
            super::regions::require_known("region", region)?;
        }
    }
    Ok((rows, more))
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<NoticeWithRegion> {
    notices::table
        .left_join(regions::table.on(notices::region.eq(regions::adcode.nullable())))
        .filter(notices::id.eq(id))
        .select((columns!(NoticeRow), regions::name.nullable()))
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("no notice with id {id:?}")))
}

/// Every notice, in id order, for `ticweek export`.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<NoticeWithRegion>> {
    Ok(notices::table
        .left_join(regions::table.on(notices::region.eq(regions::adcode.nullable())))
        .select((columns!(NoticeRow), regions::name.nullable()))
        .order(notices::id)
        .load(conn)?)
}

/// Inserts or replaces by id, and re-indexes its text for search.
pub fn upsert(conn: &mut DbConn, notice: &NoticeChanges) -> DbResult<()> {
    let updated = diesel::update(notices::table.find(&notice.id))
        .set(notice)
        .execute(conn)?;
    let (old_key, key) = if updated == 0 {
        let max: Option<i64> = notices::table
            .select(diesel::dsl::max(notices::search_key))
            .first(conn)?;
        let key = max.unwrap_or(0) + 1;
        diesel::insert_into(notices::table)
            .values((notice, notices::search_key.eq(key)))
            .execute(conn)?;
        (None, key)
    } else {
        let key = notices::table
            .find(&notice.id)
            .select(notices::search_key)
            .first(conn)?;
        (Some(key), key)
    };
    let body = format!("{} {}", notice.doc_number, notice.body);
    NOTICES.put(conn, old_key, key, &notice.title, &body)
}

/// Deletes a notice and logs it; refused while campaigns still cite it.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    use super::schema::campaigns;
    super::exclusive_transaction(conn, |conn| {
        let users: i64 = campaigns::table
            .filter(campaigns::notice_id.eq(id))
            .count()
            .get_result(conn)?;
        if users > 0 {
            return Err(DbError::Conflict(format!(
                "{users} campaign(s) are announced by notice {id:?}; delete them first"
            )));
        }
        let key: i64 = notices::table
            .find(id)
            .select(notices::search_key)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("no notice with id {id:?}")))?;
        NOTICES.remove(conn, key)?;
        diesel::delete(notices::table.find(id)).execute(conn)?;
        super::changes::record(conn, "notice", id, true, at)
    })
}
