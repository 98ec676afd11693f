//! Events: filters, keyset pages in three orders, nearby search and facets.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, sql};
use diesel::expression::BoxableExpression;
use diesel::helper_types::InnerJoinQuerySource;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::schema::{campaigns, events, regions};
use super::search::{self, Dialect, Field};
use super::{Backend, DbConn, DbError, DbResult};
use crate::domain::{Adcode, CampaignKind, EventStatus, LatLon, RadiusKm, SearchQuery, Window};

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
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub period_text: Option<String>,
    pub venue_name: Option<String>,
    pub venue_address: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub precision: String,
    pub region: String,
    pub organizer: Option<String>,
    pub online_url: Option<String>,
    pub attendance: String,
    pub status: String,
    pub source: String,
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
        phase: u8,
        starts_at: NaiveDateTime,
        id: String,
    },
    Distance {
        km: f64,
        id: String,
    },
}

impl EventHit {
    pub fn key(&self, order: Order) -> EventKey {
        match order {
            Order::Distance => EventKey::Distance {
                km: self.distance_km.unwrap_or_default(),
                id: self.row.id.clone(),
            },
            _ => EventKey::Time {
                phase: self.phase,
                starts_at: self.row.starts_at,
                id: self.row.id.clone(),
            },
        }
    }
}

type Source = InnerJoinQuerySource<events::table, regions::table>;
type Predicate = Box<dyn BoxableExpression<Source, Backend, SqlType = Bool>>;

fn always() -> Predicate {
    Box::new(sql::<Bool>("1 = 1"))
}

/// Every filter except the text search phase, as one predicate; the same
/// predicate feeds the page query and the facet query.
fn predicate(filter: &EventFilter, dialect: Dialect) -> Predicate {
    let mut p = always();
    if let Some(kind) = filter.kind {
        p = Box::new(p.and(events::kind.eq(kind.as_str())));
    }
    if let Some(campaign) = &filter.campaign {
        p = Box::new(p.and(events::campaign_id.eq(campaign.clone())));
    }
    if let Some(region) = &filter.region {
        let code = region.as_str().to_owned();
        p = Box::new(
            p.and(
                regions::adcode
                    .eq(code.clone())
                    .or(regions::province.eq(code.clone()))
                    .or(regions::city.eq(code).assume_not_null()),
            ),
        );
    }
    if let Some(start) = filter.window.start {
        p = Box::new(p.and(events::ends_at.gt(start)));
    }
    if let Some(end) = filter.window.end {
        p = Box::new(p.and(events::starts_at.lt(end)));
    }
    if let Some(status) = filter.status {
        p = Box::new(p.and(events::status.eq(status.as_str())));
    }
    if let Some(since) = filter.updated_since {
        p = Box::new(p.and(events::updated_at.ge(since)));
    }
    if let Some((point, radius)) = filter.near {
        let b = point.bounding_box(radius);
        p = Box::new(
            p.and(events::lat.between(b.min_lat, b.max_lat))
                .and(events::lon.between(b.min_lon, b.max_lon)),
        );
    }
    if let Some(q) = &filter.q {
        p = Box::new(p.and(search::event_matches::<Source>(
            dialect,
            q,
            Field::Everything,
        )));
    }
    p
}

fn base() -> diesel::dsl::Select<
    diesel::dsl::InnerJoin<events::table, regions::table>,
    (diesel::dsl::AsSelect<EventRow, Backend>, regions::name),
> {
    events::table
        .inner_join(regions::table)
        .select((EventRow::as_select(), regions::name))
}

/// One page of events in `order`, after `after`; `more` tells whether another
/// page follows.
pub fn list(
    conn: &mut DbConn,
    filter: &EventFilter,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
) -> DbResult<(Vec<EventHit>, bool)> {
    let dialect = Dialect::of(conn);
    let mut hits = if filter.near.is_some() {
        nearby(conn, filter, order, after, limit, dialect)?
    } else if order == Order::Relevance && filter.q.is_some() {
        relevance(conn, filter, after, limit, dialect)?
    } else {
        by_time(conn, filter, order, after, limit, 0, None, dialect)?
    };
    if hits.is_empty() {
        require_references(conn, filter)?;
    }
    let more = hits.len() as i64 > limit;
    hits.truncate(limit as usize);
    Ok((hits, more))
}

/// Keyset scan ordered by (starts_at, id), optionally restricted to one
/// search phase.
#[allow(clippy::too_many_arguments)]
fn by_time(
    conn: &mut DbConn,
    filter: &EventFilter,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
    phase: u8,
    phase_predicate: Option<Predicate>,
    dialect: Dialect,
) -> DbResult<Vec<EventHit>> {
    let mut query = base()
        .filter(predicate(filter, dialect))
        .into_boxed::<Backend>();
    if let Some(extra) = phase_predicate {
        query = query.filter(extra);
    }
    let descending = order != Order::StartsAt;
    if let Some(EventKey::Time {
        phase: after_phase,
        starts_at,
        id,
    }) = after
    {
        if *after_phase == phase {
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
    }
    query = if descending {
        query.order((events::starts_at.desc(), events::id.asc()))
    } else {
        query.order((events::starts_at.asc(), events::id.asc()))
    };
    let rows: Vec<(EventRow, String)> = query.limit(limit + 1).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, region_name)| EventHit {
            row,
            region_name,
            distance_km: None,
            phase,
        })
        .collect())
}

/// Title matches (phase 0) before description-only matches (phase 1), each
/// newest first: a ranking both backends compute identically.
fn relevance(
    conn: &mut DbConn,
    filter: &EventFilter,
    after: Option<&EventKey>,
    limit: i64,
    dialect: Dialect,
) -> DbResult<Vec<EventHit>> {
    let q = filter.q.as_ref().expect("relevance needs a query");
    let start_phase = match after {
        Some(EventKey::Time { phase, .. }) => *phase,
        _ => 0,
    };
    let mut hits = Vec::new();
    if start_phase == 0 {
        let title = search::event_matches::<Source>(dialect, q, Field::Title);
        hits = by_time(
            conn,
            filter,
            Order::StartsAtDesc,
            after,
            limit,
            0,
            Some(title),
            dialect,
        )?;
    }
    if hits.len() as i64 <= limit {
        let not_title: Predicate = Box::new(diesel::dsl::not(search::event_matches::<Source>(
            dialect,
            q,
            Field::Title,
        )));
        let rest = by_time(
            conn,
            filter,
            Order::StartsAtDesc,
            after,
            limit - hits.len() as i64,
            1,
            Some(not_title),
            dialect,
        )?;
        hits.extend(rest);
    }
    Ok(hits)
}

/// Nearby: the indexed bounding box narrows the candidates (bounded by the
/// 500 km radius), the exact haversine distance filters and orders them.
fn nearby(
    conn: &mut DbConn,
    filter: &EventFilter,
    order: Order,
    after: Option<&EventKey>,
    limit: i64,
    dialect: Dialect,
) -> DbResult<Vec<EventHit>> {
    let (point, radius) = filter.near.expect("nearby needs a point");
    let rows: Vec<(EventRow, String)> = base().filter(predicate(filter, dialect)).load(conn)?;
    let mut hits: Vec<EventHit> = rows
        .into_iter()
        .filter_map(|(row, region_name)| {
            let km = point.distance_km(LatLon {
                lat: row.lat,
                lon: row.lon,
            });
            (km <= radius.get()).then(|| EventHit {
                row,
                region_name,
                distance_km: Some(round_km(km)),
                phase: 0,
            })
        })
        .collect();
    let key = |h: &EventHit| h.key(order);
    hits.sort_by(|a, b| compare(order, &key(a), &key(b)));
    if let Some(after) = after {
        hits.retain(|h| compare(order, &key(h), after).is_gt());
    }
    hits.truncate(limit as usize + 1);
    Ok(hits)
}

fn round_km(km: f64) -> f64 {
    (km * 1000.0).round() / 1000.0
}

fn compare(order: Order, a: &EventKey, b: &EventKey) -> std::cmp::Ordering {
    match (a, b) {
        (EventKey::Distance { km: ka, id: ia }, EventKey::Distance { km: kb, id: ib }) => {
            ka.total_cmp(kb).then_with(|| ia.cmp(ib))
        }
        (
            EventKey::Time {
                starts_at: sa,
                id: ia,
                ..
            },
            EventKey::Time {
                starts_at: sb,
                id: ib,
                ..
            },
        ) => {
            let by_time = if order == Order::StartsAt {
                sa.cmp(sb)
            } else {
                sb.cmp(sa)
            };
            by_time.then_with(|| ia.cmp(ib))
        }
        // A cursor of another order than the request's: start from the top.
        _ => std::cmp::Ordering::Greater,
    }
}

/// An empty result may mean a filter names something that does not exist.
fn require_references(conn: &mut DbConn, filter: &EventFilter) -> DbResult<()> {
    if let Some(region) = &filter.region {
        super::regions::require_known(conn, "region", region)?;
    }
    if let Some(campaign) = &filter.campaign {
        let found: i64 = campaigns::table
            .filter(campaigns::id.eq(campaign))
            .count()
            .get_result(conn)?;
        if found == 0 {
            return Err(DbError::Invalid(vec![(
                "campaign".into(),
                format!("no campaign with id {campaign:?}; see /api/v1/campaigns"),
            )]));
        }
    }
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<EventHit> {
    let (row, region_name) = base()
        .filter(events::id.eq(id))
        .first::<(EventRow, String)>(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("no event with id {id:?}")))?;
    Ok(EventHit {
        row,
        region_name,
        distance_km: None,
        phase: 0,
    })
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

/// The level at which the region facet counts: provinces, or one level below
/// the region filter.
fn bucket_of(
    filter_level: Option<&str>,
    province: &str,
    city: Option<&str>,
    region: &str,
) -> String {
    match filter_level {
        None => province.to_owned(),
        Some("province") => city.unwrap_or(region).to_owned(),
        Some(_) => region.to_owned(),
    }
}

pub fn facets(conn: &mut DbConn, filter: &EventFilter) -> DbResult<FacetCounts> {
    let dialect = Dialect::of(conn);
    let filter_level: Option<String> = match &filter.region {
        Some(code) => Some(
            super::regions::get(conn, code)
                .map_err(|_| {
                    DbError::Invalid(vec![(
                        "region".into(),
                        format!("no region with adcode {code}"),
                    )])
                })?
                .level,
        ),
        None => None,
    };
    // (kind, region, province, city, status, year, lat, lon, count)
    type Group = (
        String,
        String,
        String,
        Option<String>,
        String,
        i32,
        f64,
        f64,
        i64,
    );
    let groups: Vec<Group> = if let Some((point, radius)) = filter.near {
        // Exact distances are computed in Rust, so count the exact set there.
        events::table
            .inner_join(regions::table)
            .filter(predicate(filter, dialect))
            .select((
                events::kind,
                events::region,
                regions::province,
                regions::city,
                events::status,
                events::year,
                events::lat,
                events::lon,
                sql::<diesel::sql_types::BigInt>("1"),
            ))
            .load::<Group>(conn)?
            .into_iter()
            .filter(|g| point.distance_km(LatLon { lat: g.6, lon: g.7 }) <= radius.get())
            .collect()
    } else {
        events::table
            .inner_join(regions::table)
            .filter(predicate(filter, dialect))
            .group_by((
                events::kind,
                events::region,
                regions::province,
                regions::city,
                events::status,
                events::year,
            ))
            .select((
                events::kind,
                events::region,
                regions::province,
                regions::city,
                events::status,
                events::year,
                sql::<diesel::sql_types::Double>("0.0"),
                sql::<diesel::sql_types::Double>("0.0"),
                count_star(),
            ))
            .load::<Group>(conn)?
    };
    let mut counts = FacetCounts::default();
    let mut buckets: HashMap<String, i64> = HashMap::new();
    for (kind, region, province, city, status, year, _, _, n) in groups {
        *counts.kind.entry(kind).or_default() += n;
        *counts.status.entry(status).or_default() += n;
        *counts.year.entry(year).or_default() += n;
        let bucket = bucket_of(filter_level.as_deref(), &province, city.as_deref(), &region);
        *buckets.entry(bucket).or_default() += n;
    }
    let names: HashMap<String, String> = regions::table
        .filter(regions::adcode.eq_any(buckets.keys().cloned().collect::<Vec<_>>()))
        .select((regions::adcode, regions::name))
        .load(conn)?
        .into_iter()
        .collect();
    for (code, n) in buckets {
        let name = names.get(&code).cloned().unwrap_or_default();
        counts.region.insert((code, name), n);
    }
    Ok(counts)
}

/// Inserts or replaces an event, its search entry and its change-log row.
pub fn upsert(conn: &mut DbConn, event: &EventRow) -> DbResult<()> {
    let updated = diesel::update(events::table.find(&event.id))
        .set(event)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(events::table)
            .values(event)
            .execute(conn)?;
    }
    search::index_event(conn, &event.id, &event.title, &event.description)?;
    super::changes::record(conn, "event", &event.id, false, event.updated_at)
}

/// Deletes an event (its search entry goes with it) and logs the deletion.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        let deleted = diesel::delete(events::table.find(id)).execute(conn)?;
        if deleted == 0 {
            return Err(DbError::NotFound(format!("no event with id {id:?}")));
        }
        super::changes::record(conn, "event", id, true, at)
    })
}

/// Every event in id order, for `ticweek export`.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<EventHit>> {
    let rows: Vec<(EventRow, String)> = base().order(events::id).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, region_name)| EventHit {
            row,
            region_name,
            distance_km: None,
            phase: 0,
        })
        .collect())
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

/// Region centroids for events whose venue gives no point.
pub fn centroids(conn: &mut DbConn, codes: Vec<String>) -> DbResult<HashMap<String, (f64, f64)>> {
    let mut points = HashMap::new();
    for chunk in codes.chunks(500) {
        let rows: Vec<(String, f64, f64)> = regions::table
            .filter(regions::adcode.eq_any(chunk))
            .select((regions::adcode, regions::lat, regions::lon))
            .load(conn)?;
        points.extend(rows.into_iter().map(|(c, lat, lon)| (c, (lat, lon))));
    }
    Ok(points)
}

/// `(notice id, doc number, deadlines JSON)` of the notices behind `campaign_ids`.
pub fn deadlines(
    conn: &mut DbConn,
    campaign_ids: Vec<String>,
) -> DbResult<Vec<(String, String, String)>> {
    use super::schema::notices;
    let mut ids = campaign_ids;
    ids.sort();
    ids.dedup();
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            campaigns::table
                .inner_join(notices::table)
                .filter(campaigns::id.eq_any(chunk))
                .select((notices::id, notices::doc_number, notices::deadlines))
                .distinct()
                .load::<(String, String, String)>(conn)?,
        );
    }
    rows.sort();
    rows.dedup();
    Ok(rows)
}
