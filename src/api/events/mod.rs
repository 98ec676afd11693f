//! `GET /events`, `GET /events/{id}`: every filter, Chinese search, nearby,
//! facets. The feeds (`.ics`, `.csv`, JSON-LD) are in `feeds.rs` and share
//! this module's query type, so they take exactly the list's filters.

pub mod feeds;
pub mod pages;

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging;
use super::query::{Checker, Params};
use super::regions::RegionRef;
use super::{run, AppState};
use crate::db::events::{EventFilter, EventHit, EventKey, FacetCounts, Order};
use crate::domain::{
    to_shanghai, Activity, Adcode, Attendance, CampaignKind, CoordSys, EventSort, EventStatus,
    Invalid, Precision, SearchQuery, TimeBound, Window,
};
use crate::error::{ApiError, Problem};

/// Where an event takes place.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Venue {
    /// Name of the place, when the notice gives one.
    pub name: Option<String>,
    /// Street address, when known.
    pub address: Option<String>,
    /// Latitude, in the requested `coord_sys` (WGS-84 by default).
    pub lat: f64,
    /// Longitude, in the requested `coord_sys` (WGS-84 by default).
    pub lon: f64,
    /// `exact`, or `region` when the point is the centroid of the named division.
    pub precision: Precision,
}

/// A public activity of a campaign.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    /// Stable id.
    #[schema(example = "jiangxi-2022-organic-expert-visit-pengze")]
    pub id: String,
    /// The campaign the event belongs to.
    pub campaign_id: String,
    /// Kind of the campaign.
    pub kind: CampaignKind,
    /// Title.
    pub title: String,
    /// What happens, in the notice's words.
    pub description: String,
    /// What participants can do.
    pub activities: Vec<Activity>,
    /// Start, Asia/Shanghai. For an event the notice places only in a window, the window's start.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub starts_at: DateTime<FixedOffset>,
    /// End (exclusive), Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub ends_at: DateTime<FixedOffset>,
    /// The notice's own wording when it gives a window, not exact times.
    pub period_text: Option<String>,
    /// Where.
    pub venue: Venue,
    /// The most specific division the event is in.
    pub region: RegionRef,
    /// Who organizes it.
    pub organizer: Option<String>,
    /// Where to take part online.
    pub online_url: Option<String>,
    /// In person, online or both.
    pub attendance: Attendance,
    /// Whether it takes place as planned.
    pub status: EventStatus,
    /// The notice or import this record comes from.
    pub source: String,
    /// Last change, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
    /// Distance from `near`, in km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl From<EventHit> for Event {
    fn from(hit: EventHit) -> Self {
        let row = hit.row;
        Self {
            kind: row.kind.parse().unwrap_or(CampaignKind::SmeQms),
            activities: serde_json::from_str::<Vec<String>>(&row.activities)
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            starts_at: to_shanghai(row.starts_at),
            ends_at: to_shanghai(row.ends_at),
            venue: Venue {
                name: row.venue_name,
                address: row.venue_address,
                lat: row.lat,
                lon: row.lon,
                precision: row.precision.parse().unwrap_or(Precision::Region),
            },
            region: RegionRef {
                adcode: row.region,
                name: hit.region_name,
            },
            attendance: row.attendance.parse().unwrap_or(Attendance::Offline),
            status: row.status.parse().unwrap_or(EventStatus::Scheduled),
            updated_at: to_shanghai(row.updated_at),
            distance_km: hit.distance_km,
            id: row.id,
            campaign_id: row.campaign_id,
            title: row.title,
            description: row.description,
            period_text: row.period_text,
            organizer: row.organizer,
            online_url: row.online_url,
            source: row.source,
        }
    }
}

impl Event {
    /// The event with its venue in `coord` (stored points are WGS-84).
    pub fn in_coord_sys(mut self, coord: CoordSys) -> Self {
        let point = coord.from_wgs84(crate::domain::LatLon {
            lat: self.venue.lat,
            lon: self.venue.lon,
        });
        self.venue.lat = point.lat;
        self.venue.lon = point.lon;
        self
    }
}

/// One value of a facet and how many records (events, certificates) of the
/// filtered set have it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetValue {
    /// The value: a kind, adcode, status, year, scheme, category or
    /// certification body's approval number.
    pub value: String,
    /// For the region facet: the division's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Records of the whole filtered set with this value.
    pub count: i64,
}

/// A page of events, with facet counts when `facets` was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events of this page.
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Counts over the whole filtered set, per requested facet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<BTreeMap<String, Vec<FacetValue>>>,
}

/// Filters of `GET /events` and of its feeds.
// The `example`s are what the docs' "Try it out" fills in, all at once: they
// must find events together (Jiangxi, September 2022, 有机), so filters that
// would narrow that to nothing give theirs in the description instead.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events of campaigns of this kind.
    #[param(value_type = Option<CampaignKind>)]
    kind: Option<String>,
    /// Only events of this campaign (e.g. `jiangxi-2022-organic-week`).
    #[param(value_type = Option<crate::domain::RecordId>)]
    campaign: Option<String>,
    /// Only events in this division or any division below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    region: Option<String>,
    /// Only events that overlap the window from this date (Asia/Shanghai) or RFC 3339 instant.
    #[param(value_type = Option<crate::domain::TimeBound>, example = "2022-09-01")]
    from: Option<String>,
    /// Only events that overlap the window up to this date (inclusive) or RFC 3339 instant.
    #[param(value_type = Option<crate::domain::TimeBound>, example = "2022-09-30")]
    to: Option<String>,
    /// Only events with this status.
    #[param(value_type = Option<EventStatus>)]
    status: Option<String>,
    /// Chinese or Latin text in the title or description (1 to 100 characters).
    #[param(value_type = Option<crate::domain::SearchQuery>, example = "有机")]
    q: Option<String>,
    /// Only events changed at or after this instant (RFC 3339) or date, for sync.
    #[param(value_type = Option<crate::domain::TimeBound>)]
    updated_since: Option<String>,
    /// `lat,lon` in `coord_sys`: only events within `radius_km`, each with `distance_km`; sorted by distance unless `sort` says otherwise (e.g. `28.68,115.86`).
    #[param(value_type = Option<crate::domain::LatLon>)]
    near: Option<String>,
    /// Radius around `near` in km, > 0 and ≤ 500; default 50.
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 500)]
    radius_km: Option<String>,
    /// Coordinate system of `near` and of the venues returned: `wgs84` (default), `gcj02` (AMap, Tencent), `bd09` (Baidu).
    #[param(value_type = Option<CoordSys>)]
    coord_sys: Option<String>,
    /// `starts_at` (default), `-starts_at`, or `distance` (needs `near`). With `q` and no `sort`, title matches come first.
    #[param(value_type = Option<EventSort>)]
    sort: Option<String>,
    /// Comma-separated facets to count over the filtered set: `kind`, `region`, `status`, `year` (JSON list only).
    #[param(
        pattern = "^(kind|region|status|year)(,(kind|region|status|year))*$",
        example = "kind,region"
    )]
    facets: Option<String>,
    /// Only on `/events.ics`: `deadlines` adds the deadlines of the events' campaign notices.
    #[param(pattern = "^deadlines$")]
    include: Option<String>,
    /// Page size: 1 to 100 for the JSON list (default 20), 1 to 1000 for the feeds (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Which representation a request is for; decides page size and options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ics,
    Csv,
}

const FACETS: [&str; 4] = ["kind", "region", "status", "year"];

/// A parsed `EventsQuery`.
#[derive(Debug)]
pub struct EventRequest {
    pub filter: EventFilter,
    pub order: Order,
    pub after: Option<EventKey>,
    pub limit: i64,
    pub facets: Vec<&'static str>,
    pub include_deadlines: bool,
    pub coord: CoordSys,
}

impl EventsQuery {
    pub fn parse(self, format: Format) -> Result<EventRequest, ApiError> {
        let mut check = Checker::default();
        let from = check.parse("from", self.from.as_deref(), TimeBound::parse);
        let to = check.parse("to", self.to.as_deref(), TimeBound::parse);
        let window = Window::new(from, to).unwrap_or_else(|Invalid(m)| {
            check.refuse("from", m);
            Window::default()
        });
        let coord = super::query::coord_sys(&mut check, self.coord_sys.as_deref());
        let near = super::query::near(
            &mut check,
            self.near.as_deref(),
            self.radius_km.as_deref(),
            coord,
        );
        let sort = check.parse("sort", self.sort.as_deref(), str::parse::<EventSort>);
        let q = check.parse("q", self.q.as_deref(), SearchQuery::parse);
        let order = match (sort, near.is_some(), q.is_some()) {
            (Some(EventSort::StartsAt), ..) => Order::StartsAt,
            (Some(EventSort::StartsAtDesc), ..) => Order::StartsAtDesc,
            (Some(EventSort::Distance), false, _) => {
                check.refuse("sort", "`distance` needs `near`");
                Order::StartsAt
            }
            (Some(EventSort::Distance), true, _) | (None, true, _) => Order::Distance,
            (None, false, true) => Order::Relevance,
            (None, false, false) => Order::StartsAt,
        };
        let facets = match (self.facets.as_deref(), format) {
            (None, _) => Vec::new(),
            (Some(_), Format::Ics | Format::Csv) => {
                check.refuse("facets", "is only available on the JSON list");
                Vec::new()
            }
            (Some(raw), Format::Json) => super::query::facets(&mut check, raw, &FACETS),
        };
        let include_deadlines = match (self.include.as_deref(), format) {
            (None, _) => false,
            (Some("deadlines"), Format::Ics) => true,
            (Some(_), Format::Ics) => {
                check.refuse("include", "must be `deadlines`");
                false
            }
            (Some(_), _) => {
                check.refuse("include", "is only available on /events.ics");
                false
            }
        };
        let limit = match format {
            Format::Json => check.limit(self.limit.as_deref()),
            Format::Ics | Format::Csv => {
                super::query::feed_limit(&mut check, self.limit.as_deref())
            }
        };
        let request = EventRequest {
            filter: EventFilter {
                kind: check.parse("kind", self.kind.as_deref(), str::parse),
                campaign: check.parse("campaign", self.campaign.as_deref(), |raw| {
                    raw.parse::<crate::domain::RecordId>()
                        .map(|id| id.into_string())
                }),
                region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
                window,
                status: check.parse("status", self.status.as_deref(), str::parse),
                q,
                updated_since: check
                    .parse(
                        "updated_since",
                        self.updated_since.as_deref(),
                        TimeBound::parse,
                    )
                    .map(TimeBound::start_utc),
                near,
            },
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                decode_cursor(raw, order)
            }),
            order,
            limit,
            facets,
            include_deadlines,
            coord,
        };
        check.finish(request)
    }
}

fn order_tag(order: Order) -> &'static str {
    match order {
        Order::StartsAt => "asc",
        Order::StartsAtDesc => "desc",
        Order::Relevance => "rel",
        Order::Distance => "dist",
    }
}

pub fn encode_cursor(order: Order, key: &EventKey) -> String {
    let tag = order_tag(order);
    let body = match key {
        EventKey::Time { starts_at, id } => {
            format!("{tag}|{}|{id}", starts_at.and_utc().timestamp_micros())
        }
        EventKey::Relevance { phase, search_key } => format!("{tag}|{phase}|{search_key}"),
        EventKey::Distance { chord2, id } => format!("{tag}|{chord2:?}|{id}"),
    };
    paging::encode("events", &body)
}

fn decode_cursor(raw: &str, order: Order) -> Result<EventKey, Invalid> {
    let refuse =
        || Invalid::new("is not a cursor of this list and order; follow the Link rel=\"next\" URL");
    let body = paging::decode_list("events", raw)?;
    let parts: Vec<&str> = body.split('|').collect();
    let [tag, first, second] = parts.as_slice() else {
        return Err(refuse());
    };
    if *tag != order_tag(order) {
        return Err(refuse());
    }
    match order {
        Order::Distance => Ok(EventKey::Distance {
            chord2: paging::decode_chord2(first).map_err(|_| refuse())?,
            id: paging::decode_id(second).map_err(|_| refuse())?,
        }),
        Order::Relevance => Ok(EventKey::Relevance {
            phase: first
                .parse()
                .ok()
                .filter(|p: &u8| *p <= 1)
                .ok_or_else(refuse)?,
            search_key: second
                .parse()
                .ok()
                .filter(|k: &i64| *k >= 0)
                .ok_or_else(refuse)?,
        }),
        Order::StartsAt | Order::StartsAtDesc => Ok(EventKey::Time {
            starts_at: paging::decode_micros(first).map_err(|_| refuse())?,
            id: paging::decode_id(second).map_err(|_| refuse())?,
        }),
    }
}

fn facet_values(counts: FacetCounts, wanted: &[&str]) -> BTreeMap<String, Vec<FacetValue>> {
    let sorted = |mut values: Vec<FacetValue>| {
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        values
    };
    let plain = |map: HashMap<String, i64>| {
        sorted(
            map.into_iter()
                .map(|(value, count)| FacetValue {
                    value,
                    name: None,
                    count,
                })
                .collect(),
        )
    };
    // Ordered keys: the same request must give the same bytes (and ETag).
    let mut out = BTreeMap::new();
    let FacetCounts {
        kind,
        region,
        status,
        year,
    } = counts;
    let mut parts = HashMap::from([
        ("kind", plain(kind)),
        ("status", plain(status)),
        (
            "year",
            plain(year.into_iter().map(|(y, n)| (y.to_string(), n)).collect()),
        ),
        (
            "region",
            sorted(
                region
                    .into_iter()
                    .map(|((value, name), count)| FacetValue {
                        value,
                        name: Some(name),
                        count,
                    })
                    .collect(),
            ),
        ),
    ]);
    for name in wanted {
        if let Some(values) = parts.remove(name) {
            out.insert((*name).to_owned(), values);
        }
    }
    out
}

/// Runs the page query (and the facet query when asked) in one blocking call.
pub async fn fetch(
    state: &AppState,
    request: EventRequest,
) -> Result<
    (
        Vec<EventHit>,
        Option<String>,
        Option<FacetCounts>,
        EventRequest,
    ),
    ApiError,
> {
    let lists = state.indexes.events.clone();
    let counts = !request.facets.is_empty();
    crate::api::run_counting(state, counts, move |conn| {
        let (hits, more) = crate::db::events::list(
            conn,
            &request.filter,
            request.order,
            request.after.as_ref(),
            request.limit,
            &lists,
        )?;
        let next = more
            .then(|| {
                hits.last()
                    .map(|h| encode_cursor(request.order, &h.key(request.order)))
            })
            .flatten();
        let facets = if request.facets.is_empty() {
            None
        } else {
            Some(crate::db::events::facets(conn, &request.filter)?)
        };
        Ok((hits, next, facets, request))
    })
    .await
}

/// True when the client prefers JSON-LD (schema.org) to plain JSON.
fn wants_json_ld(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/ld+json"))
}

/// List events.
///
/// Filters combine with AND. An event matches `from`/`to` when it overlaps the
/// window. `Accept: application/ld+json` returns a schema.org `ItemList` of
/// `Event`s for search engines.
#[utoipa::path(
    operation_id = "list_events",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events", body = EventPage,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(Format::Json)?;
    if !wants_json_ld(&req) {
        if let Some(response) = pages::respond(&req, &state, &request).await? {
            return Ok(response);
        }
    }
    let (hits, next_cursor, facets, request) = fetch(&state, request).await?;
    let items: Vec<Event> = hits
        .into_iter()
        .map(|hit| Event::from(hit).in_coord_sys(request.coord))
        .collect();
    if wants_json_ld(&req) {
        return Ok(feeds::json_ld_list(&req, items, next_cursor));
    }
    let page = EventPage {
        items,
        next_cursor,
        facets: facets.map(|counts| facet_values(counts, &request.facets)),
    };
    let next = page.next_cursor.clone();
    let mut response = paging::respond(&req, page, next.as_deref());
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    Ok(response)
}

/// Get one event. `Accept: application/ld+json` returns a schema.org `Event`.
#[utoipa::path(
    operation_id = "get_event",
    tag = "events",
    params(("id" = crate::domain::RecordId, Path, description = "Event id"), super::query::CoordQuery),
    responses(
        (status = 200, description = "The event", body = Event),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(coord): Params<super::query::CoordQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let coord = coord.parse()?;
    let event = Event::from(run(&state, move |conn| crate::db::events::get(conn, &id)).await?)
        .in_coord_sys(coord);
    if wants_json_ld(&req) {
        return Ok(feeds::json_ld_one(&req, event));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::VARY, "Accept, Accept-Encoding"))
        .json(event))
}
