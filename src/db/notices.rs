//! Issued notices (通知): the documents every other record cites as its source.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::notices;
use super::{contains_pattern, lower, Backend, DbConn, DbError, DbResult, YearIdKey};
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
    pub q: Option<String>,
    pub after: Option<YearIdKey>,
    pub limit: i64,
}

pub fn list(conn: &mut DbConn, filter: &NoticeFilter) -> DbResult<(Vec<NoticeWithRegion>, bool)> {
    let subtree = match &filter.region {
        Some(region) => Some(super::regions::subtree(conn, "region", region)?),
        None => None,
    };
    let mut query = notices::table.into_boxed::<Backend>();
    if let Some(year) = filter.year {
        query = query.filter(notices::year.eq(year));
    }
    if let Some(codes) = subtree {
        query = query.filter(notices::region.assume_not_null().eq_any(codes));
    }
    if let Some(q) = &filter.q {
        // Bounded by the number of notices (a few hundred a year nationally);
        // the events issue brings the shared bigram index for large tables.
        let pattern = contains_pattern(q);
        query = query.filter(
            lower(notices::title)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(notices::doc_number)
                    .like(pattern.clone())
                    .escape('\\'))
                .or(lower(notices::body).like(pattern).escape('\\')),
        );
    }
    if let Some(after) = &filter.after {
        query = query.filter(
            notices::year.lt(after.year).or(notices::year
                .eq(after.year)
                .and(notices::id.gt(after.id.clone()))),
        );
    }
    let mut rows: Vec<NoticeRow> = query
        .select(NoticeRow::as_select())
        .order((notices::year.desc(), notices::id.asc()))
        .limit(filter.limit + 1)
        .load(conn)?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit as usize);
    let named = super::regions::with_names(conn, rows, |r| r.region.as_deref())?;
    Ok((named, more))
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<NoticeWithRegion> {
    let row = notices::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("no notice with id {id:?}")))?;
    Ok(super::regions::with_names(conn, vec![row], |r| r.region.as_deref())?.remove(0))
}

/// Every notice, in id order, for `ticweek export`.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<NoticeWithRegion>> {
    let rows = notices::table
        .select(NoticeRow::as_select())
        .order(notices::id)
        .load(conn)?;
    super::regions::with_names(conn, rows, |r| r.region.as_deref())
}

pub fn exists(conn: &mut DbConn, id: &str) -> DbResult<bool> {
    let n: i64 = notices::table
        .filter(notices::id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Inserts or replaces by id.
pub fn upsert(conn: &mut DbConn, notice: &NoticeChanges) -> DbResult<()> {
    let updated = diesel::update(notices::table.find(&notice.id))
        .set(notice)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(notices::table)
            .values(notice)
            .execute(conn)?;
    }
    Ok(())
}
