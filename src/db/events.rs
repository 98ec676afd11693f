//! Events: filters, keyset pages in three orders, nearby search and facets.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::dates::Stamp;
use super::memory::Slot;
use super::postings::Postings;
use super::rendered::columns;
use super::schema::{campaigns, events, regions};
use super::search::{Dialect, Field, EVENTS};
use super::{Backend, DbConn, DbError, DbResult};
use crate::domain::{
    Adcode, CampaignKind, EventStatus, LatLon, RadiusKm, RegionLevel, SearchQuery, Window,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = events, treat_none_as_null = true)]
pub struct EventRow {
    pub id: String,
    pub campaign_id: String,
    pub kind: String,
    pub year: i32,
    pub title: String,
    pub description: String,
    /// JSON array of activity names.
    pub activities: String,
    #[diesel(deserialize_as = Stamp)]
    pub starts_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub ends_at: NaiveDateTime,
    pub period_text: Option<String>,
    pub venue_name: Option<String>,
    pub venue_address: Option<String>,
    pub lat: f64,
    pub lon: f64,
    /// Unit vector of (lat, lon), written with them.
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub precision: String,
    pub region: String,
    /// Province of `region` (itself when it is a province).
    pub province: String,
    /// Prefecture-level city of `region`, if it has one.
    pub city: Option<String>,
    /// Search order key (see the migration); assigned by `upsert`.
    pub search_key: i64,
    pub organizer: Option<String>,
    pub online_url: Option<String>,
    pub attendance: String,
    pub status: String,
    pub source: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

/// An event with its region's name and, for nearby searches, its distance.
#[derive(Debug, Clone)]
pub struct EventHit {
    pub row: EventRow,
    pub region_name: String,
    pub distance_km: Option<f64>,
    /// 0 when the query matched the title, 1 when only the description.
    pub phase: u8,
    /// Squared chord to the `near` point, for distance cursors.
    pub chord2: f64,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<CampaignKind>,
    pub campaign: Option<String>,
    pub region: Option<Adcode>,
    pub window: Window,
    pub status: Option<EventStatus>,
    pub q: Option<SearchQuery>,
    pub updated_since: Option<NaiveDateTime>,
    pub near: Option<(LatLon, RadiusKm)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    StartsAt,
    StartsAtDesc,
    /// Title matches first, then description-only matches; newest first within each.
    Relevance,
    Distance,
}

/// Keyset position after the last item of a page.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKey {
    Time {
        starts_at: NaiveDateTime,
        id: String,
    },
    /// Search results: phase (0 title match, 1 description only), then search_key descending.
    Relevance { phase: u8, search_key: i64 },
    /// Nearby: squared chord to the query point (as SQL computed it), then id.
    Distance { chord2: f64, id: String },
}

impl EventHit {
    pub fn key(&self, order: Order) -> EventKey {
        match order {
            Order::Distance => EventKey::Distance {
                chord2: self.chord2,
                id: self.row.id.clone(),
            },
            Order::Relevance => EventKey::Relevance {
                phase: self.phase,
                search_key: self.row.search_key,
            },
            _ => EventKey::Time {
                starts_at: self.row.starts_at,
                id: self.row.id.clone(),
            },
        }
    }
}

/// Longest an event may last; enforced on write, relied on by window queries.
pub const MAX_EVENT_DAYS: i64 = 366;

type Source = events::table;
type Predicate = super::Filter<Source>;

/// Every filter except the text search phase, as one predicate; the same
/// predicate feeds the page query and the facet query.
fn predicate(filter: &EventFilter, level: Option<RegionLevel>, dialect: Dialect) -> Predicate {
    conditions(filter, level, dialect).boxed()
}

/// The conditions of `predicate`, one per filter given.
fn conditions(
    filter: &EventFilter,
    level: Option<RegionLevel>,
    dialect: Dialect,
) -> super::AllOf<Source> {
    let mut all = super::AllOf::new();
    if let Some(kind) = filter.kind {
        all.push(events::kind.eq(kind.as_str()));
    }
    if let Some(campaign) = &filter.campaign {
        all.push(events::campaign_id.eq(campaign.clone()));
    }
    if let (Some(region), Some(level)) = (&filter.region, level) {
        let code = region.as_str().to_owned();
        match level {
            RegionLevel::Province => all.push(events::province.eq(code)),
            RegionLevel::City => all.push(events::city.eq(code).assume_not_null()),
            RegionLevel::County => all.push(events::region.eq(code)),
        }
    }
    if let Some(start) = filter.window.start {
        // Events last at most MAX_EVENT_DAYS, so the index on starts_at
        // bounds the scan even for an open-ended `from`.
        let earliest = start - chrono::Duration::days(MAX_EVENT_DAYS);
        all.push(events::ends_at.gt(Stamp(start)));
        all.push(events::starts_at.gt(Stamp(earliest)));
    }
    if let Some(end) = filter.window.end {
        all.push(events::starts_at.lt(Stamp(end)));
    }
    if let Some(status) = filter.status {
        all.push(events::status.eq(status.as_str()));
    }
    if let Some(since) = filter.updated_since {
        all.push(events::updated_at.ge(Stamp(since)));
    }
    if let Some((point, radius)) = filter.near {
        // The indexed box narrows the rows; the chord test is exact.
        let b = point.bounding_box(radius);
        all.push(events::lat.between(b.min_lat, b.max_lat));
        all.push(events::lon.between(b.min_lon, b.max_lon));
        all.push(super::chord2!(events, point).le(radius.chord2()));
    }
    if let Some(q) = &filter.q {
        all.push(EVENTS.matches::<Source>(dialect, q, Field::Everything));
    }
    all
}

/// Event rows; a hit's region name comes from the bundled divisions
/// (`crate::data::divisions`), not from a join per row.
fn base() -> diesel::dsl::Select<events::table, EventColumns> {
    events::table.select(columns!(EventRow))
}

type EventColumns = super::rendered::Columns<diesel::dsl::AsSelect<EventRow, Backend>>;

/// One page of events in `order`, after `after`; `more` tells whether another
/// page follows.
pub fn list(
    conn: &mut DbConn,
    filter: &EventFilter,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
    lists: &Arc<Slot<Postings>>,
) -> DbResult<(Vec<EventHit>, bool)> {
    let scope = Scope::of(conn, filter)?;
    let mut hits = if order == Order::Distance {
        nearby(conn, &scope, after, limit)?
    } else if order == Order::Relevance && filter.q.is_some() {
        match lists.current(conn)? {
            Some(lists) => relevance_from_lists(conn, &scope, &lists, after, limit)?,
            None => relevance(conn, &scope, after, limit)?,
        }
    } else {
        by_time(conn, &scope, order, after, limit)?
    };
    if hits.is_empty() {
        require_campaign(conn, filter)?;
    }
    if let Some((point, _)) = filter.near {
        for hit in &mut hits {
            hit.distance_km = Some(super::distance_km(point, hit.row.lat, hit.row.lon));
        }
    }
    let more = super::cut_page(&mut hits, limit);
    Ok((hits, more))
}

/// What every query of one request shares.
struct Scope<'a> {
    filter: &'a EventFilter,
    level: Option<RegionLevel>,
    dialect: Dialect,
}

impl<'a> Scope<'a> {
    fn of(conn: &DbConn, filter: &'a EventFilter) -> DbResult<Self> {
        Ok(Self {
            filter,
            level: super::regions::filter_level(filter.region.as_ref())?,
            dialect: Dialect::of(conn),
        })
    }

    fn predicate(&self) -> Predicate {
        predicate(self.filter, self.level, self.dialect)
    }
}

fn hits(rows: Vec<EventRow>, phase: u8) -> Vec<EventHit> {
    rows.into_iter()
        .map(|row| EventHit::new(row, phase, 0.0))
        .collect()
}

impl EventHit {
    fn new(row: EventRow, phase: u8, chord2: f64) -> Self {
        Self {
            region_name: crate::data::divisions().name(&row.region).to_owned(),
            row,
            distance_km: None,
            phase,
            chord2,
        }
    }
}

/// `by_time`'s query, of any selection (whole rows, or keys).
macro_rules! by_time_query {
    ($select:expr, $scope:expr, $order:expr, $after:expr, $limit:expr $(,)?) => {{
        let (scope, order, after, limit) = ($scope, $order, $after, $limit);
        let mut query = $select.filter(scope.predicate()).into_boxed::<Backend>();
        let descending = order == Order::StartsAtDesc;
        if let Some(EventKey::Time { starts_at, id }) = after {
            let (s, i) = (*starts_at, id.clone());
            query = if descending {
                query.filter(
                    events::starts_at
                        .lt(s)
                        .or(events::starts_at.eq(s).and(events::id.gt(i))),
                )
            } else {
                query.filter(
                    events::starts_at
                        .gt(s)
                        .or(events::starts_at.eq(s).and(events::id.gt(i))),
                )
            };
        }
        query = if descending {
            query.order((events::starts_at.desc(), events::id.asc()))
        } else {
            query.order((events::starts_at.asc(), events::id.asc()))
        };
        query.limit(limit + 1)
    }};
}

/// Keyset scan ordered by (starts_at, id), ascending or descending.
fn by_time(
    conn: &mut DbConn,
    scope: &Scope,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
) -> DbResult<Vec<EventHit>> {
    Ok(hits(
        by_time_query!(base(), scope, order, after, limit).load(conn)?,
        0,
    ))
}

/// Title matches (phase 0) before description-only matches (phase 1), each
/// newest first by `search_key`: a ranking both backends compute identically,
/// and on SQLite a scan in FTS rowid order that stops after one page.
fn relevance(
    conn: &mut DbConn,
    scope: &Scope,
    after: Option<&EventKey>,
    limit: i64,
) -> DbResult<Vec<EventHit>> {
    let (q, start_phase, after_key) = relevance_start(scope, after);
    let mut found = Vec::new();
    for phase in start_phase..=1 {
        let wanted = limit + 1 - found.len() as i64;
        if wanted <= 0 {
            break;
        }
        let title = EVENTS.matches::<Source>(scope.dialect, q, Field::Title);
        let mut query = base().filter(scope.predicate()).into_boxed::<Backend>();
        query = if phase == 0 {
            query.filter(title)
        } else {
            query.filter(diesel::dsl::not(title))
        };
        if let (Some(key), true) = (after_key, phase == start_phase) {
            query = query.filter(events::search_key.lt(key));
        }
        let rows = query
            .order(events::search_key.desc())
            .limit(wanted)
            .load(conn)?;
        found.extend(hits(rows, phase));
    }
    Ok(found)
}

/// A relevance walk's query, and the phase and key it resumes after.
fn relevance_start<'a>(
    scope: &Scope<'a>,
    after: Option<&EventKey>,
) -> (&'a SearchQuery, u8, Option<i64>) {
    let q = scope.filter.q.as_ref().expect("relevance needs a query");
    match after {
        Some(EventKey::Relevance { phase, search_key }) => (q, *phase, Some(*search_key)),
        _ => (q, 0, None),
    }
}

/// `relevance` from the in-memory posting lists (current for the data):
/// title matches, then the other matches, each newest first by key.
fn relevance_from_lists(
    conn: &mut DbConn,
    scope: &Scope,
    lists: &Postings,
    after: Option<&EventKey>,
    limit: i64,
) -> DbResult<Vec<EventHit>> {
    let dialect = scope.dialect;
    let found = walk_lists(
        scope,
        lists,
        after,
        limit,
        |row: &EventRow| row.search_key,
        |keys, others| {
            Ok(base()
                .filter(predicate(others, scope.level, dialect))
                .filter(EVENTS.among(dialect, keys))
                .load(conn)?)
        },
    )?;
    Ok(found
        .into_iter()
        .map(|(row, phase)| EventHit::new(row, phase, 0.0))
        .collect())
}

/// The relevance walk over the posting lists: `fetch` reads a batch of
/// keys' records that pass the other filters (given without the text).
/// Each record comes with its phase.
fn walk_lists<R>(
    scope: &Scope,
    lists: &Postings,
    after: Option<&EventKey>,
    limit: i64,
    key_of: impl Fn(&R) -> i64 + Copy,
    mut fetch: impl FnMut(&[i64], &EventFilter) -> DbResult<Vec<R>>,
) -> DbResult<Vec<(R, u8)>> {
    let (q, start_phase, after_key) = relevance_start(scope, after);
    let title = lists.matching(q, Field::Title);
    let rest = lists.matching(q, Field::Everything).without(&title);
    // The lists stand for the text match: the other filters only.
    let others = EventFilter {
        q: None,
        ..scope.filter.clone()
    };
    let mut found = Vec::new();
    for (phase, matches) in [(0, &title), (1, &rest)] {
        let wanted = limit as usize + 1 - found.len();
        if phase < start_phase || wanted == 0 {
            continue;
        }
        let below = after_key.filter(|_| phase == start_phase);
        let rows = super::postings::page(matches, below, wanted, key_of, |records| {
            let keys: Vec<i64> = records.iter().map(|record| record.key).collect();
            fetch(&keys, &others)
        })?;
        found.extend(rows.into_iter().map(|row| (row, phase)));
    }
    Ok(found)
}

/// The keys (`search_key`) and relevance phases of a page's events, in
/// order, and whether another page follows.
pub type KeyPage = (Vec<(i64, u8)>, bool);

/// A page as the keys (`search_key`) of its events in order, each with its
/// relevance phase, and whether another page follows: for pages written
/// from representations held in memory. It chooses what `list` chooses.
/// `None` for the pages that need rows: nearest first or with a distance,
/// and a text search while the posting lists are not current.
pub fn page_keys(
    conn: &mut DbConn,
    filter: &EventFilter,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
    lists: &Arc<Slot<Postings>>,
) -> DbResult<Option<KeyPage>> {
    if order == Order::Distance || filter.near.is_some() {
        return Ok(None);
    }
    let scope = Scope::of(conn, filter)?;
    let (level, dialect) = (scope.level, scope.dialect);
    let mut keys: Vec<(i64, u8)> = if order == Order::Relevance && filter.q.is_some() {
        let Some(lists) = lists.current(conn)? else {
            return Ok(None);
        };
        walk_lists(
            &scope,
            &lists,
            after,
            limit,
            |key: &i64| *key,
            |keys, others| {
                // Nothing else to test: every key in a current list is an event.
                if conditions(others, level, dialect).is_empty() {
                    return Ok(keys.to_vec());
                }
                Ok(events::table
                    .select(events::search_key)
                    .filter(predicate(others, level, dialect))
                    .filter(EVENTS.among(dialect, keys))
                    .load(conn)?)
            },
        )?
    } else {
        let query = by_time_query!(
            events::table.select(events::search_key),
            &scope,
            order,
            after,
            limit
        );
        query
            .load::<i64>(conn)?
            .into_iter()
            .map(|key| (key, 0))
            .collect()
    };
    if keys.is_empty() {
        require_campaign(conn, filter)?;
    }
    let more = super::cut_page(&mut keys, limit);
    Ok(Some((keys, more)))
}

/// Nearby, closest first: the predicate keeps the points within the radius
/// (indexed box, exact chord); SQL orders by chord and pages by (chord, id),
/// so a page costs the same however many events are near.
fn nearby(
    conn: &mut DbConn,
    scope: &Scope,
    after: Option<&EventKey>,
    limit: i64,
) -> DbResult<Vec<EventHit>> {
    let (point, _) = scope.filter.near.expect("nearby needs a point");
    let mut query = events::table
        .select((columns!(EventRow), super::chord2!(events, point)))
        .filter(scope.predicate())
        .into_boxed::<Backend>();
    if let Some(EventKey::Distance { chord2, id }) = after {
        query = query.filter(
            super::chord2!(events, point)
                .gt(*chord2)
                .or(super::chord2!(events, point)
                    .eq(*chord2)
                    .and(events::id.gt(id.clone()))),
        );
    }
    let rows: Vec<(EventRow, f64)> = query
        .order((super::chord2!(events, point).asc(), events::id.asc()))
        .limit(limit + 1)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, chord2)| EventHit::new(row, 0, chord2))
        .collect())
}

/// An empty result may mean the campaign filter names no campaign.
fn require_campaign(conn: &mut DbConn, filter: &EventFilter) -> DbResult<()> {
    if let Some(campaign) = &filter.campaign {
        let found: i64 = campaigns::table
            .filter(campaigns::id.eq(campaign))
            .count()
            .get_result(conn)?;
        if found == 0 {
            return Err(DbError::Unknown(
                "campaign".into(),
                format!("no campaign with id {campaign:?}; see /api/v1/campaigns"),
            ));
        }
    }
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<EventHit> {
    base()
        .filter(events::id.eq(id))
        .first::<EventRow>(conn)
        .optional()?
        .map(|row| EventHit::new(row, 0, 0.0))
        .ok_or_else(|| DbError::NotFound(format!("no event with id {id:?}")))
}

/// Counts of the filtered set by kind, region bucket, status and year, from one
/// grouped query (each event counted once per dimension).
#[derive(Debug, Default)]
pub struct FacetCounts {
    pub kind: HashMap<String, i64>,
    /// (bucket adcode, its name) → count.
    pub region: HashMap<(String, String), i64>,
    pub status: HashMap<String, i64>,
    pub year: HashMap<i32, i64>,
}

pub fn facets(conn: &mut DbConn, filter: &EventFilter) -> DbResult<FacetCounts> {
    let dialect = Dialect::of(conn);
    let level = super::regions::filter_level(filter.region.as_ref())?;
    // (kind, region, province, city, status, year, count)
    type Group = (String, String, String, Option<String>, String, i32, i64);
    // One grouped query over the exact filtered set (the radius test is SQL too).
    let groups: Vec<Group> = events::table
        .filter(predicate(filter, level, dialect))
        .group_by((
            events::kind,
            events::region,
            events::province,
            events::city,
            events::status,
            events::year,
        ))
        .select((
            events::kind,
            events::region,
            events::province,
            events::city,
            events::status,
            events::year,
            count_star(),
        ))
        .load::<Group>(conn)?;
    let mut counts = FacetCounts::default();
    let mut buckets: HashMap<String, i64> = HashMap::new();
    for (kind, region, province, city, status, year, n) in groups {
        *counts.kind.entry(kind).or_default() += n;
        *counts.status.entry(status).or_default() += n;
        *counts.year.entry(year).or_default() += n;
        let bucket = super::regions::facet_bucket(level, &province, city.as_deref(), &region);
        *buckets.entry(bucket).or_default() += n;
    }
    for (code, n) in buckets {
        let name = crate::data::divisions().name(&code).to_owned();
        counts.region.insert((code, name), n);
    }
    Ok(counts)
}

/// Inserts or replaces an event, its search entry and its change-log row.
/// Keeps the event's `search_key` while its start is unchanged, else takes
/// the first free key at or after the start's microsecond.
pub fn upsert(conn: &mut DbConn, event: &EventRow) -> DbResult<()> {
    super::touch(super::Indexed::Events);
    let existing: Option<(i64, NaiveDateTime)> = events::table
        .find(&event.id)
        .select((events::search_key, events::starts_at))
        .first(conn)
        .optional()?;
    let search_key = match existing {
        Some((key, starts_at)) if starts_at == event.starts_at => key,
        _ => free_search_key(conn, event.starts_at)?,
    };
    let row = EventRow {
        search_key,
        ..event.clone()
    };
    if existing.is_some() {
        diesel::update(events::table.find(&event.id))
            .set(&row)
            .execute(conn)?;
    } else {
        diesel::insert_into(events::table)
            .values(&row)
            .execute(conn)?;
    }
    let old_key = existing.map(|(key, _)| key);
    EVENTS.put(conn, old_key, search_key, &row.title, &row.description)?;
    super::changes::record(conn, "event", &row.id, false, row.updated_at)
}

fn free_search_key(conn: &mut DbConn, starts_at: NaiveDateTime) -> DbResult<i64> {
    let base = starts_at.and_utc().timestamp_micros();
    let taken: Option<i64> = events::table
        .filter(
            events::search_key
                .ge(base)
                .and(events::search_key.lt(base + 1_000_000)),
        )
        .select(diesel::dsl::max(events::search_key))
        .first(conn)?;
    Ok(taken.map_or(base, |max| max + 1))
}

/// Deletes an event (its search entry goes with it) and logs the deletion.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        super::touch(super::Indexed::Events);
        let key: i64 = events::table
            .find(id)
            .select(events::search_key)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::NotFound(format!("no event with id {id:?}")))?;
        EVENTS.remove(conn, key)?;
        diesel::delete(events::table.find(id)).execute(conn)?;
        super::changes::record(conn, "event", id, true, at)
    })
}

/// Every event in id order, for `ticweek export`.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<EventHit>> {
    Ok(hits(base().order(events::id).load(conn)?, 0))
}

/// Kind and region of the campaigns `ids` refer to, for import validation.
pub fn campaign_kinds(conn: &mut DbConn, ids: Vec<String>) -> DbResult<HashMap<String, String>> {
    let mut kinds = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = campaigns::table
            .filter(campaigns::id.eq_any(chunk))
            .select((campaigns::id, campaigns::kind))
            .load(conn)?;
        kinds.extend(rows);
    }
    Ok(kinds)
}

/// Centroid and ancestors of a region, for events placed in it.
#[derive(Debug, Clone)]
pub struct RegionFacts {
    pub lat: f64,
    pub lon: f64,
    pub province: String,
    pub city: Option<String>,
}

/// Which of `ids` are stored events, in bounded chunks.
pub fn existing(
    conn: &mut DbConn,
    ids: Vec<String>,
) -> DbResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        found.extend(
            events::table
                .select(events::id)
                .filter(events::id.eq_any(chunk))
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// Facts about the regions `codes`, in bounded chunks.
pub fn region_facts(
    conn: &mut DbConn,
    codes: Vec<String>,
) -> DbResult<HashMap<String, RegionFacts>> {
    let mut facts = HashMap::new();
    let mut codes = codes;
    codes.sort();
    codes.dedup();
    for chunk in codes.chunks(500) {
        let rows: Vec<(String, f64, f64, String, Option<String>)> = regions::table
            .filter(regions::adcode.eq_any(chunk))
            .select((
                regions::adcode,
                regions::lat,
                regions::lon,
                regions::province,
                regions::city,
            ))
            .load(conn)?;
        facts.extend(rows.into_iter().map(|(code, lat, lon, province, city)| {
            (
                code,
                RegionFacts {
                    lat,
                    lon,
                    province,
                    city,
                },
            )
        }));
    }
    Ok(facts)
}

/// A notice's deadlines (JSON) and what identifies them.
pub type NoticeDeadlines = (String, String, String, NaiveDateTime);

/// `(notice id, doc number, deadlines JSON, updated_at)` of the notices behind `campaign_ids`.
pub fn deadlines(conn: &mut DbConn, campaign_ids: Vec<String>) -> DbResult<Vec<NoticeDeadlines>> {
    use super::schema::notices;
    let mut ids = campaign_ids;
    ids.sort();
    ids.dedup();
    let mut rows: Vec<NoticeDeadlines> = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            campaigns::table
                .inner_join(notices::table)
                .filter(campaigns::id.eq_any(chunk))
                .select((
                    notices::id,
                    notices::doc_number,
                    notices::deadlines,
                    notices::updated_at,
                ))
                .distinct()
                .load::<NoticeDeadlines>(conn)?,
        );
    }
    rows.sort();
    rows.dedup();
    Ok(rows)
}
