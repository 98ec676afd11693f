//! Labs and their open-day sessions: filters, keyset pages, nearby search.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::expression::BoxableExpression;
use diesel::helper_types::InnerJoinQuerySource;
use diesel::prelude::*;
use diesel::sql_types::Double;

use super::dates::Stamp;
use super::memory::{Indexes, Slot};
use super::nearby::{Near, Nearby};
use super::rendered::columns;
use super::schema::{labs, open_days};
use super::search::{Dialect, Field, LABS};
use super::{Backend, DbConn, DbError, DbResult};
use crate::domain::{
    Activity, Adcode, LabField, LatLon, RadiusKm, RegionLevel, SearchQuery, Window,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = labs, treat_none_as_null = true)]
pub struct LabRow {
    pub id: String,
    pub name: String,
    pub cma_no: Option<String>,
    pub cnas_no: Option<String>,
    /// `LabField` set (see `LabField::mask`).
    pub field_mask: i64,
    pub address: Option<String>,
    pub region: String,
    /// Province of `region` (itself when it is a province).
    pub province: String,
    /// Prefecture-level city of `region`, if it has one.
    pub city: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// Unit vector of (lat, lon), written with them.
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub precision: String,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// Search order key; assigned by `upsert`.
    pub search_key: i64,
    pub source: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = open_days, treat_none_as_null = true)]
pub struct OpenDayRow {
    pub id: String,
    pub lab_id: String,
    pub event_id: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub starts_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub ends_at: NaiveDateTime,
    pub period_text: Option<String>,
    pub description: Option<String>,
    /// `Activity` set (see `Activity::mask`).
    pub activity_mask: i64,
    pub audience: Option<String>,
    pub capacity: Option<i32>,
    pub booking_required: Option<bool>,
    pub booking_url: Option<String>,
    pub booking_phone: Option<String>,
    /// A booking channel exists and the session is scheduled.
    pub bookable: bool,
    pub online_url: Option<String>,
    pub status: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// Its representation, rendered when written (`api::labs::session_body`);
    /// `None` before it is.
    pub body: Option<Vec<u8>>,
}

/// What a session shows of its lab.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = labs)]
pub struct LabSummary {
    pub id: String,
    pub name: String,
    pub address: Option<String>,
    pub region: String,
    pub lat: f64,
    pub lon: f64,
    pub precision: String,
}

/// A lab with its region's name and, for nearby searches, its distance.
#[derive(Debug, Clone)]
pub struct LabHit {
    pub row: LabRow,
    pub region_name: String,
    pub distance_km: Option<f64>,
    /// Squared chord to the `near` point, for distance cursors.
    pub chord2: f64,
}

impl LabHit {
    /// A lab away from any point; its region's name comes from the bundled
    /// divisions (`crate::data::divisions`), not a join per row.
    fn new(row: LabRow) -> Self {
        Self {
            region_name: crate::data::divisions().name(&row.region).to_owned(),
            row,
            distance_km: None,
            chord2: 0.0,
        }
    }
}

/// A session with its lab and, for nearby searches, its distance: the
/// session as its whole row, or (`Listed`) as a page of them reads it.
#[derive(Debug, Clone)]
pub struct OpenDayHit<S = OpenDayRow> {
    pub row: S,
    pub lab: Arc<LabSummary>,
    pub distance_km: Option<f64>,
    pub chord2: f64,
}

/// A session as a JSON page reads it.
#[derive(Debug, Clone)]
pub enum Listed {
    /// Its stored representation (`api::labs::session_body`), and what a
    /// cursor needs.
    Stored {
        id: String,
        starts_at: NaiveDateTime,
        body: Vec<u8>,
    },
    /// Its whole row, before a representation is stored.
    Row(Box<OpenDayRow>),
}

/// The columns of a session that a JSON page reads.
#[derive(Queryable)]
struct StoredSession {
    id: String,
    #[diesel(deserialize_as = Stamp)]
    starts_at: NaiveDateTime,
    body: Option<Vec<u8>>,
}

/// `SELECT id, starts_at, body` of the sessions at `rows`: where the
/// database keeps them, a hint that the caller checks against the ids.
/// On SQLite a JSON array of rowids, joined one row at a time in that
/// order; on PostgreSQL an array of `ctid`s, a TID scan. Its own statement
/// type, not `sql_query`: diesel prepares a `sql_query` anew for every
/// call and reads its columns by name (together two fifths of this read's
/// instructions on SQLite), and keeps this one prepared.
#[derive(Debug, Clone)]
struct SessionsAtRows {
    rows: String,
}

impl diesel::query_builder::QueryId for SessionsAtRows {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for SessionsAtRows {
    type SqlType = (
        diesel::sql_types::Text,
        diesel::sql_types::Timestamp,
        diesel::sql_types::Nullable<diesel::sql_types::Binary>,
    );
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for SessionsAtRows {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT o.id, o.starts_at, o.body FROM json_each(");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.rows)?;
        out.push_sql(") AS k JOIN open_days AS o ON o.rowid = k.value");
        Ok(())
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for SessionsAtRows {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT id, starts_at, body FROM open_days WHERE ctid = ANY(CAST(");
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.rows)?;
        out.push_sql(" AS tid[]))");
        Ok(())
    }
}

impl<C> RunQueryDsl<C> for SessionsAtRows {}

/// Records by id, a page's worth: hashed by foldhash, where SipHash (the
/// standard map's) was 2 % of a nearby page. Its keys are ids a page read.
pub type ById<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// How a page reads its sessions by id, once they are chosen.
pub trait SessionReading: Sized + Clone {
    fn id(&self) -> &str;
    fn starts_at(&self) -> NaiveDateTime;
    /// The sessions `ids`, by id.
    fn by_id(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<Self>>;
    /// The sessions `ids` with their labs, by id.
    fn with_labs(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<(Self, LabSummary)>>;
    /// The sessions of nearby pages, by id; `row` is where the database
    /// keeps each (`Near::row`: SQLite's rowid, PostgreSQL's `ctid`), a
    /// hint that the id is still checked against.
    fn near(conn: &mut DbConn, page: &[Near]) -> DbResult<ById<Self>> {
        let ids: Vec<&str> = page.iter().map(|near| near.id).collect();
        Self::by_id(conn, &ids)
    }
}

impl SessionReading for OpenDayRow {
    fn id(&self) -> &str {
        &self.id
    }

    fn starts_at(&self) -> NaiveDateTime {
        self.starts_at
    }

    fn by_id(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<Self>> {
        sessions_by_id(conn, ids)
    }

    fn with_labs(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<(Self, LabSummary)>> {
        Ok(sessions_with_labs(conn, ids)?
            .into_iter()
            .map(|(row, lab)| (row.id.clone(), (row, lab)))
            .collect())
    }
}

impl SessionReading for Listed {
    fn id(&self) -> &str {
        match self {
            Self::Stored { id, .. } => id,
            Self::Row(row) => &row.id,
        }
    }

    fn starts_at(&self) -> NaiveDateTime {
        match self {
            Self::Stored { starts_at, .. } => *starts_at,
            Self::Row(row) => row.starts_at,
        }
    }

    fn by_id(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<Self>> {
        if ids.is_empty() {
            return Ok(ById::default());
        }
        let read: Vec<StoredSession> = super::on_backend!(conn, |c| open_days::table
            .select((open_days::id, open_days::starts_at, open_days::body))
            .filter(super::one_of(open_days::id, ids))
            .load(c))?;
        Self::complete(conn, ids, read)
    }

    /// Each row is read where the database keeps it: on SQLite at its
    /// rowid (one B-tree descent, where an id is two: its index, then the
    /// table), from a JSON array joined row by row (an `IN` list builds a
    /// temporary B-tree first); on PostgreSQL at its `ctid`, a TID scan. The
    /// place is a hint: a VACUUM may renumber SQLite's rows, and any UPDATE
    /// moves a PostgreSQL row, so a row read there that is not a session
    /// asked for is dropped, and whatever did not come back is read by id.
    fn near(conn: &mut DbConn, page: &[Near]) -> DbResult<ById<Self>> {
        let ids: Vec<&str> = page.iter().map(|near| near.id).collect();
        if ids.is_empty() {
            return Ok(ById::default());
        }
        let read: Vec<StoredSession> =
            match super::places_param(conn, page.iter().map(|near| near.row)) {
                Some(rows) => super::on_backend!(conn, |c| SessionsAtRows { rows }.load(c))?,
                None => Vec::new(),
            };
        Self::complete(conn, &ids, read)
    }

    fn with_labs(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<(Self, LabSummary)>> {
        // The SQL path (nearby index not current, or another order) reads
        // whole rows: it is not the one that pages are served by.
        Ok(OpenDayRow::with_labs(conn, ids)?
            .into_iter()
            .map(|(id, (row, lab))| (id, (Self::Row(Box::new(row)), lab)))
            .collect())
    }
}

impl Listed {
    /// The sessions `ids`, from what a read of them found (`read`): each
    /// with a stored representation as that, the others (not rendered yet,
    /// or not where they were looked for) as their whole rows, by id. A
    /// row of `read` that is not one of `ids` is kept under its own id: a
    /// page that asks for that id (another of a batch) gets the right row.
    fn complete(conn: &mut DbConn, ids: &[&str], read: Vec<StoredSession>) -> DbResult<ById<Self>> {
        let mut found = ById::with_capacity_and_hasher(ids.len(), Default::default());
        for session in read {
            if let Some(body) = session.body {
                let listed = Self::Stored {
                    id: session.id.clone(),
                    starts_at: session.starts_at,
                    body,
                };
                found.insert(session.id, listed);
            }
        }
        let rest: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| !found.contains_key(*id))
            .collect();
        for (id, row) in sessions_by_id(conn, &rest)? {
            found.insert(id, Self::Row(Box::new(row)));
        }
        Ok(found)
    }
}

/// Longest session accepted; window queries rely on it to stay bounded.
pub const MAX_SESSION_DAYS: i64 = 366;

/// Most sessions shown inside one lab.
pub const SESSIONS_PER_LAB: i64 = 200;

#[derive(Debug, Clone, Default)]
pub struct LabFilter {
    pub region: Option<Adcode>,
    pub field: Option<LabField>,
    pub q: Option<SearchQuery>,
    pub near: Option<(LatLon, RadiusKm)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabOrder {
    Id,
    /// Search results, most recently added lab first.
    Relevance,
    Distance,
}

/// Keyset position after the last lab of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum LabKey {
    Id(String),
    Relevance(i64),
    Distance { chord2: f64, id: String },
}

#[derive(Debug, Clone, Default)]
pub struct OpenDayFilter {
    pub window: Window,
    pub region: Option<Adcode>,
    pub lab: Option<String>,
    pub activity: Option<Activity>,
    pub bookable: Option<bool>,
    pub near: Option<(LatLon, RadiusKm)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenDayOrder {
    StartsAt,
    /// Closest lab first, then start time.
    Distance,
}

/// Keyset position after the last session of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenDayKey {
    Time {
        starts_at: NaiveDateTime,
        id: String,
    },
    Distance {
        chord2: f64,
        starts_at: NaiveDateTime,
        id: String,
    },
}

impl LabHit {
    pub fn key(&self, order: LabOrder) -> LabKey {
        match order {
            LabOrder::Id => LabKey::Id(self.row.id.clone()),
            LabOrder::Relevance => LabKey::Relevance(self.row.search_key),
            LabOrder::Distance => LabKey::Distance {
                chord2: self.chord2,
                id: self.row.id.clone(),
            },
        }
    }
}

impl<S: SessionReading> OpenDayHit<S> {
    pub fn key(&self, order: OpenDayOrder) -> OpenDayKey {
        match order {
            OpenDayOrder::StartsAt => OpenDayKey::Time {
                starts_at: self.row.starts_at(),
                id: self.row.id().to_owned(),
            },
            OpenDayOrder::Distance => OpenDayKey::Distance {
                chord2: self.chord2,
                starts_at: self.row.starts_at(),
                id: self.row.id().to_owned(),
            },
        }
    }
}

type LabSource = labs::table;
type OpenDaySource = InnerJoinQuerySource<open_days::table, labs::table>;
type Predicate<QS> = super::Filter<QS>;
type Number<QS> = Box<dyn BoxableExpression<QS, Backend, SqlType = Double>>;

/// Squared chord from each lab to `near`'s point (0 without one).
fn chord<QS: 'static>(near: Option<(LatLon, RadiusKm)>) -> Number<QS>
where
    labs::x: SelectableExpression<QS>,
    labs::y: SelectableExpression<QS>,
    labs::z: SelectableExpression<QS>,
{
    match near {
        Some((point, _)) => Box::new(super::chord2!(labs, point)),
        None => Box::new(0.0.into_sql::<Double>()),
    }
}

/// The lab-side filters shared by lab lists and session lists: region
/// subtree (one indexed column per level), field, and the nearby box plus
/// exact chord test. Every value is a bound parameter.
fn lab_predicate<QS: 'static>(
    region: Option<(&Adcode, RegionLevel)>,
    field: Option<LabField>,
    near: Option<(LatLon, RadiusKm)>,
) -> Predicate<QS>
where
    labs::lat: SelectableExpression<QS>,
    labs::lon: SelectableExpression<QS>,
    labs::x: SelectableExpression<QS>,
    labs::y: SelectableExpression<QS>,
    labs::z: SelectableExpression<QS>,
    labs::region: SelectableExpression<QS>,
    labs::province: SelectableExpression<QS>,
    labs::city: SelectableExpression<QS>,
    labs::field_mask: SelectableExpression<QS>,
    diesel::dsl::AssumeNotNull<diesel::dsl::Eq<labs::city, String>>: SelectableExpression<QS>,
{
    let mut all = super::AllOf::new();
    if let Some((code, level)) = region {
        let code = code.as_str().to_owned();
        match level {
            RegionLevel::Province => all.push(labs::province.eq(code)),
            RegionLevel::City => all.push(labs::city.eq(code).assume_not_null()),
            RegionLevel::County => all.push(labs::region.eq(code)),
        }
    }
    if let Some(field) = field {
        all.push(super::has_bit(labs::field_mask, field.bit()));
    }
    if let Some((point, radius)) = near {
        // The indexed box narrows the rows; the chord test is exact.
        let b = point.bounding_box(radius);
        all.push(labs::lat.between(b.min_lat, b.max_lat));
        all.push(labs::lon.between(b.min_lon, b.max_lon));
        all.push(super::chord2!(labs, point).le(radius.chord2()));
    }
    all.boxed()
}

fn distance_to(point: LatLon, lab: &LabRow) -> f64 {
    super::distance_km(point, lab.lat, lab.lon)
}

/// "After this (chord, …)": `chord > k OR (chord = k AND rest)`.
fn after_chord<QS: 'static>(
    near: Option<(LatLon, RadiusKm)>,
    chord2: f64,
    rest: Predicate<QS>,
) -> Predicate<QS>
where
    labs::x: SelectableExpression<QS>,
    labs::y: SelectableExpression<QS>,
    labs::z: SelectableExpression<QS>,
{
    Box::new(
        chord::<QS>(near)
            .gt(chord2)
            .or(chord::<QS>(near).eq(chord2).and(rest)),
    )
}

/// One page of labs in `order`, after `after`; `more` tells whether another
/// page follows.
pub fn list_labs(
    conn: &mut DbConn,
    filter: &LabFilter,
    order: LabOrder,
    after: Option<&LabKey>,
    limit: i64,
) -> DbResult<(Vec<LabHit>, bool)> {
    let dialect = Dialect::of(conn);
    let level = super::regions::filter_level(filter.region.as_ref())?;
    let mut query = labs::table
        .select((columns!(LabRow), chord::<LabSource>(filter.near)))
        .filter(lab_predicate::<LabSource>(
            filter.region.as_ref().zip(level),
            filter.field,
            filter.near,
        ))
        .into_boxed::<Backend>();
    if let Some(q) = &filter.q {
        query = query.filter(LABS.matches::<LabSource>(dialect, q, Field::Everything));
    }
    query =
        match (order, after) {
            (LabOrder::Id, Some(LabKey::Id(id))) => query.filter(labs::id.gt(id.clone())),
            (LabOrder::Relevance, Some(LabKey::Relevance(key))) => {
                query.filter(labs::search_key.lt(*key))
            }
            (LabOrder::Distance, Some(LabKey::Distance { chord2, id })) => query.filter(
                after_chord(filter.near, *chord2, Box::new(labs::id.gt(id.clone()))),
            ),
            _ => query,
        };
    query = match order {
        LabOrder::Id => query.order(labs::id.asc()),
        LabOrder::Relevance => query.order(labs::search_key.desc()),
        LabOrder::Distance => query.order((chord::<LabSource>(filter.near).asc(), labs::id.asc())),
    };
    let rows: Vec<(LabRow, f64)> = query.limit(limit + 1).load(conn)?;
    let mut hits: Vec<LabHit> = rows
        .into_iter()
        .map(|(row, chord2)| LabHit {
            distance_km: filter.near.map(|(point, _)| distance_to(point, &row)),
            chord2,
            ..LabHit::new(row)
        })
        .collect();
    let more = super::cut_page(&mut hits, limit);
    Ok((hits, more))
}

/// One lab, by id.
pub fn get_lab(conn: &mut DbConn, id: &str) -> DbResult<LabHit> {
    labs::table
        .filter(labs::id.eq(id))
        .select(columns!(LabRow))
        .first::<LabRow>(conn)
        .optional()?
        .map(LabHit::new)
        .ok_or_else(|| DbError::NotFound(format!("no lab with id {id}")))
}

/// The sessions of `lab_ids` by start time, at most `SESSIONS_PER_LAB` each.
pub fn sessions_of(
    conn: &mut DbConn,
    lab_ids: &[String],
) -> DbResult<HashMap<String, Vec<OpenDayRow>>> {
    let mut by_lab: HashMap<String, Vec<OpenDayRow>> = HashMap::new();
    if lab_ids.is_empty() {
        return Ok(by_lab);
    }
    let rows: Vec<OpenDayRow> = open_days::table
        .filter(open_days::lab_id.eq_any(lab_ids))
        .order((open_days::lab_id, open_days::starts_at, open_days::id))
        .limit(SESSIONS_PER_LAB * lab_ids.len() as i64)
        .select(columns!(OpenDayRow))
        .load(conn)?;
    for row in rows {
        let sessions = by_lab.entry(row.lab_id.clone()).or_default();
        if (sessions.len() as i64) < SESSIONS_PER_LAB {
            sessions.push(row);
        }
    }
    Ok(by_lab)
}

/// Orders a boxed session query (any selection): start time, or distance
/// then start time.
macro_rules! in_order {
    ($query:expr, $order:expr, $near:expr $(,)?) => {
        match $order {
            OpenDayOrder::StartsAt => {
                $query.order((open_days::starts_at.asc(), open_days::id.asc()))
            }
            OpenDayOrder::Distance => $query.order((
                chord::<OpenDaySource>($near).asc(),
                open_days::starts_at.asc(),
                open_days::id.asc(),
            )),
        }
    };
}

/// Ids and chords of the next `limit + 1` sessions, with `near` as the
/// circle (the filter's own, or a smaller one around the same point).
fn page_of_ids(
    conn: &mut DbConn,
    filter: &OpenDayFilter,
    near: Option<(LatLon, RadiusKm)>,
    level: Option<RegionLevel>,
    order: OpenDayOrder,
    after: Option<&OpenDayKey>,
    limit: i64,
) -> DbResult<Vec<(String, f64)>> {
    let mut page = open_days::table
        .inner_join(labs::table)
        .select((open_days::id, chord::<OpenDaySource>(near)))
        .filter(lab_predicate::<OpenDaySource>(
            filter.region.as_ref().zip(level),
            None,
            near,
        ))
        .into_boxed::<Backend>();
    if let Some(start) = filter.window.start {
        // Sessions last at most MAX_SESSION_DAYS, so the index on starts_at
        // bounds the scan even for an open-ended `from`.
        let earliest = start - chrono::Duration::days(MAX_SESSION_DAYS);
        page = page
            .filter(open_days::ends_at.gt(Stamp(start)))
            .filter(open_days::starts_at.gt(Stamp(earliest)));
    }
    if let Some(end) = filter.window.end {
        page = page.filter(open_days::starts_at.lt(Stamp(end)));
    }
    if let Some(lab) = &filter.lab {
        page = page.filter(open_days::lab_id.eq(lab.clone()));
    }
    if let Some(activity) = filter.activity {
        page = page.filter(super::has_bit(open_days::activity_mask, activity.bit()));
    }
    if let Some(bookable) = filter.bookable {
        page = page.filter(open_days::bookable.eq(bookable));
    }
    let later = |starts_at: NaiveDateTime, id: &str| -> Predicate<OpenDaySource> {
        Box::new(
            open_days::starts_at.gt(starts_at).or(open_days::starts_at
                .eq(starts_at)
                .and(open_days::id.gt(id.to_owned()))),
        )
    };
    page = match after {
        Some(OpenDayKey::Time { starts_at, id }) => page.filter(later(*starts_at, id)),
        Some(OpenDayKey::Distance {
            chord2,
            starts_at,
            id,
        }) => page.filter(after_chord(near, *chord2, later(*starts_at, id))),
        None => page,
    };
    Ok(in_order!(page, order, near).limit(limit + 1).load(conn)?)
}

/// Radii tried in turn for a nearest-first page, as fractions of the one
/// asked for. Rows within a smaller radius all come before rows outside it,
/// so when a smaller circle already holds a full page, that page is the
/// answer. Labs cluster in cities: on the bench data a third of the 30 km
/// circle's candidates are examined on average (1.5 queries).
const NEARBY_STEPS: [f64; 2] = [0.25, 0.5];

/// Ids and chords of the next `limit + 1` sessions, from SQL.
fn page_by_sql(
    conn: &mut DbConn,
    filter: &OpenDayFilter,
    level: Option<RegionLevel>,
    order: OpenDayOrder,
    after: Option<&OpenDayKey>,
    limit: i64,
) -> DbResult<Vec<(String, f64)>> {
    if let (OpenDayOrder::Distance, Some((point, radius))) = (order, filter.near) {
        for fraction in NEARBY_STEPS {
            let near = Some((point, radius.scaled(fraction)));
            let page = page_of_ids(conn, filter, near, level, order, after, limit)?;
            if page.len() as i64 > limit {
                return Ok(page);
            }
        }
    }
    page_of_ids(conn, filter, filter.near, level, order, after, limit)
}

/// One page of sessions (with their labs) in `order`, after `after`.
///
/// Two steps: the page's session ids are chosen, filtered, ordered and
/// limited over narrow index entries (`labs_near`, `open_days_lab`), then
/// only those rows are read whole. Sorting whole rows of every candidate (a
/// city holds hundreds of sessions) cost twice as much. (One statement with
/// an `IN (subquery)` would do, but diesel's multi-backend connection cannot
/// nest a boxed query.)
///
/// A nearest-first page comes from the in-memory `Nearby` index when it is
/// current: the same ids in the same order, without reading the circle's
/// candidates.
pub fn list_open_days<S: SessionReading>(
    conn: &mut DbConn,
    filter: &OpenDayFilter,
    order: OpenDayOrder,
    after: Option<&OpenDayKey>,
    limit: i64,
    nearby: &Arc<Slot<Nearby>>,
) -> DbResult<(Vec<OpenDayHit<S>>, bool)> {
    if order == OpenDayOrder::Distance && filter.near.is_some() {
        if let Some(index) = nearby.current(conn)? {
            let mut pages = pages_from_index::<S>(conn, &index, &[(filter, after, limit)])?;
            return pages.pop().expect("one page asked, one answered");
        }
    }
    list_by_sql(conn, filter, order, after, limit)
}

/// `list_open_days` without the nearby index.
fn list_by_sql<S: SessionReading>(
    conn: &mut DbConn,
    filter: &OpenDayFilter,
    order: OpenDayOrder,
    after: Option<&OpenDayKey>,
    limit: i64,
) -> DbResult<(Vec<OpenDayHit<S>>, bool)> {
    let level = super::regions::filter_level(filter.region.as_ref())?;
    // A page is chosen with one extra id, which only says that another page
    // follows: its row is not read. A session deleted between the two reads
    // just leaves the page.
    let mut page = page_by_sql(conn, filter, level, order, after, limit)?;
    let more = super::cut_page(&mut page, limit);
    let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
    let mut loaded = S::with_labs(conn, &ids)?;
    let rows = page
        .into_iter()
        .filter_map(|(id, chord2)| {
            loaded
                .remove(&id)
                .map(|(row, lab)| (row, Arc::new(lab), chord2))
        })
        .collect();
    Ok((open_day_hits(conn, filter, rows)?, more))
}

/// A nearest-first page of `GET /open-days` as it waits in a batch
/// (`api::batch`): what `list_open_days` is asked, owned.
#[derive(Debug, Clone)]
pub struct NearQuery {
    /// With `near`.
    pub filter: OpenDayFilter,
    pub after: Option<OpenDayKey>,
    pub limit: i64,
}

/// A page of `list_open_days`, or its own error.
pub type OpenDayPage<S> = DbResult<(Vec<OpenDayHit<S>>, bool)>;

/// The nearest-first pages `queries`, as `list_open_days` answers each,
/// their sessions read in one statement when the nearby index is current.
pub fn near_pages(
    conn: &mut DbConn,
    indexes: &Indexes,
    queries: &[NearQuery],
) -> DbResult<Vec<OpenDayPage<Listed>>> {
    let nearby = &indexes.open_days;
    let Some(index) = nearby.current(conn)? else {
        // Stale or not built yet: each page by SQL.
        return Ok(queries
            .iter()
            .map(|q| {
                let order = OpenDayOrder::Distance;
                list_by_sql(conn, &q.filter, order, q.after.as_ref(), q.limit)
            })
            .collect());
    };
    let pages: Vec<NearPage> = queries
        .iter()
        .map(|q| (&q.filter, q.after.as_ref(), q.limit))
        .collect();
    pages_from_index(conn, &index, &pages)
}

/// What `pages_from_index` is asked for a page: the filter (with `near`), the
/// cursor and the page size of `list_open_days`, nearest first.
pub type NearPage<'a> = (&'a OpenDayFilter, Option<&'a OpenDayKey>, i64);

/// Nearest-first pages of sessions from the in-memory `index`, each as
/// `list_open_days` answers it, their sessions read in one statement: on
/// PostgreSQL the pages of requests that arrived together
/// (`api::batch`). A page's own error (an unknown region or lab) is its
/// own; a failed read fails them all.
pub fn pages_from_index<S: SessionReading>(
    conn: &mut DbConn,
    index: &Nearby,
    pages: &[NearPage],
) -> DbResult<Vec<OpenDayPage<S>>> {
    let chosen: Vec<DbResult<(Vec<Near>, bool)>> = pages
        .iter()
        .map(|&(filter, after, limit)| {
            let level = super::regions::filter_level(filter.region.as_ref())?;
            let near = filter.near.expect("a nearest-first page has a point");
            // One extra session, which only says that another page
            // follows: its row is not read.
            let wanted = usize::try_from(limit + 1).unwrap_or(0);
            let mut page = index.page(filter, level, near, after, wanted);
            let more = super::cut_page(&mut page, limit);
            Ok((page, more))
        })
        .collect();
    let all: Vec<Near> = chosen
        .iter()
        .flatten()
        .flat_map(|(page, _)| page.iter().cloned())
        .collect();
    let mut loaded = S::near(conn, &all)?;
    // Two pages of a batch may share a session: each gets its own copy.
    let shared = pages.len() > 1;
    let mut answers = Vec::with_capacity(pages.len());
    for (page, &(filter, _, _)) in chosen.into_iter().zip(pages) {
        answers.push(page.and_then(|(page, more)| {
            // A session deleted since the index was built just leaves the page.
            let rows = page
                .into_iter()
                .filter_map(|near| {
                    let row = if shared {
                        loaded.get(near.id).cloned()
                    } else {
                        loaded.remove(near.id)
                    };
                    row.map(|row| (row, near.lab.clone(), near.chord2))
                })
                .collect();
            Ok((open_day_hits(conn, filter, rows)?, more))
        }));
    }
    Ok(answers)
}

/// A page's sessions as hits, with their distances from `filter.near`;
/// an empty page of an unknown lab is that lab's 404.
fn open_day_hits<S>(
    conn: &mut DbConn,
    filter: &OpenDayFilter,
    rows: Vec<(S, Arc<LabSummary>, f64)>,
) -> DbResult<Vec<OpenDayHit<S>>> {
    if rows.is_empty() {
        if let Some(lab) = &filter.lab {
            require_lab(conn, lab)?;
        }
    }
    Ok(rows
        .into_iter()
        .map(|(row, lab, chord2)| OpenDayHit {
            distance_km: filter
                .near
                .map(|(point, _)| super::distance_km(point, lab.lat, lab.lon)),
            row,
            lab,
            chord2,
        })
        .collect())
}

/// Sessions by id with their labs, in no order.
fn sessions_with_labs(conn: &mut DbConn, ids: &[&str]) -> DbResult<Vec<(OpenDayRow, LabSummary)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // On the concrete connection (see `db::on_backend!`): columns rather
    // than `as_select()`, which is typed for one backend.
    Ok(super::on_backend!(conn, |c| open_days::table
        .inner_join(labs::table)
        .select((
            open_days::all_columns,
            (
                labs::id,
                labs::name,
                labs::address,
                labs::region,
                labs::lat,
                labs::lon,
                labs::precision,
            ),
        ))
        .filter(super::one_of(open_days::id, ids))
        .load(c))?)
}

/// Sessions by id, by id.
fn sessions_by_id(conn: &mut DbConn, ids: &[&str]) -> DbResult<ById<OpenDayRow>> {
    if ids.is_empty() {
        return Ok(ById::default());
    }
    let rows: Vec<OpenDayRow> = super::on_backend!(conn, |c| open_days::table
        .select(open_days::all_columns)
        .filter(super::one_of(open_days::id, ids))
        .load(c))?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

/// One session with its lab.
pub fn get_open_day(conn: &mut DbConn, id: &str) -> DbResult<OpenDayHit> {
    let (row, lab) = sessions_with_labs(conn, &[id])?
        .pop()
        .ok_or_else(|| DbError::NotFound(format!("no open-day session with id {id}")))?;
    Ok(OpenDayHit {
        row,
        lab: Arc::new(lab),
        distance_km: None,
        chord2: 0.0,
    })
}

/// A `lab` filter must name a lab: an unknown one is a 422, not an empty list.
fn require_lab(conn: &mut DbConn, id: &str) -> DbResult<()> {
    let found: i64 = labs::table
        .filter(labs::id.eq(id))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(DbError::Unknown(
            "lab".into(),
            format!("no lab with id {id}; see /api/v1/labs"),
        ));
    }
    Ok(())
}

/// Creates or replaces a lab and its whole set of sessions (sessions not in
/// `sessions` are removed), indexes it for search and logs the change.
pub fn upsert(conn: &mut DbConn, lab: &LabRow, sessions: &[OpenDayRow]) -> DbResult<()> {
    super::touch(super::Indexed::Labs);
    let existing: Option<i64> = labs::table
        .find(&lab.id)
        .select(labs::search_key)
        .first(conn)
        .optional()?;
    let search_key = match existing {
        Some(key) => key,
        None => {
            let max: Option<i64> = labs::table
                .select(diesel::dsl::max(labs::search_key))
                .first(conn)?;
            max.map_or(1, |m| m + 1)
        }
    };
    let row = LabRow {
        search_key,
        ..lab.clone()
    };
    if existing.is_some() {
        diesel::update(labs::table.find(&lab.id))
            .set(&row)
            .execute(conn)?;
    } else {
        diesel::insert_into(labs::table)
            .values(&row)
            .execute(conn)?;
    }
    let keep: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    // Sessions taken over from another lab change that lab too.
    let moved_from: Vec<String> = open_days::table
        .filter(open_days::id.eq_any(&keep))
        .filter(open_days::lab_id.ne(&lab.id))
        .select(open_days::lab_id)
        .distinct()
        .load(conn)?;
    diesel::delete(
        open_days::table
            .filter(open_days::lab_id.eq(&lab.id))
            .filter(open_days::id.ne_all(&keep)),
    )
    .execute(conn)?;
    for session in sessions {
        let updated = diesel::update(open_days::table.find(&session.id))
            .set(session)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(open_days::table)
                .values(session)
                .execute(conn)?;
        }
    }
    let body = row.address.clone().unwrap_or_default();
    LABS.put(conn, existing, search_key, &row.name, &body)?;
    for other in moved_from {
        diesel::update(labs::table.find(&other))
            .set(labs::updated_at.eq(row.updated_at))
            .execute(conn)?;
        super::changes::record(conn, "lab", &other, false, row.updated_at)?;
    }
    super::changes::record(conn, "lab", &row.id, false, row.updated_at)
}

/// Deletes a lab with its sessions and search entry, and logs the deletion.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        super::touch(super::Indexed::Labs);
        let key: i64 = labs::table
            .find(id)
            .select(labs::search_key)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("no lab with id {id}")))?;
        diesel::delete(open_days::table.filter(open_days::lab_id.eq(id))).execute(conn)?;
        diesel::delete(labs::table.find(id)).execute(conn)?;
        LABS.remove(conn, key)?;
        super::changes::record(conn, "lab", id, true, at)
    })
}

/// Every lab with its sessions, for export.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<(LabHit, Vec<OpenDayRow>)>> {
    let rows: Vec<LabRow> = labs::table
        .select(columns!(LabRow))
        .order(labs::id)
        .load(conn)?;
    let sessions: Vec<OpenDayRow> = open_days::table
        .select(columns!(OpenDayRow))
        .order((open_days::lab_id, open_days::starts_at, open_days::id))
        .load(conn)?;
    let mut by_lab: HashMap<String, Vec<OpenDayRow>> = HashMap::new();
    for session in sessions {
        by_lab
            .entry(session.lab_id.clone())
            .or_default()
            .push(session);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let sessions = by_lab.remove(&row.id).unwrap_or_default();
            (LabHit::new(row), sessions)
        })
        .collect())
}

/// Up to `limit` sessions after id `after` whose representation is not
/// stored yet (written before sessions carried one), by id.
pub fn unrendered_sessions(
    conn: &mut DbConn,
    after: &str,
    limit: i64,
) -> DbResult<Vec<OpenDayRow>> {
    Ok(open_days::table
        .select(columns!(OpenDayRow))
        .filter(open_days::body.is_null())
        .filter(open_days::id.gt(after))
        .order(open_days::id)
        .limit(limit)
        .load(conn)?)
}

/// Stores a session's representation, leaving its data as it is (no change
/// is recorded: nothing a client sees changes).
pub fn store_session_body(conn: &mut DbConn, id: &str, body: &[u8]) -> DbResult<()> {
    diesel::update(open_days::table.find(id))
        .set(open_days::body.eq(body))
        .execute(conn)?;
    Ok(())
}
