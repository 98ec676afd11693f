//! `GET /labs`, `/labs/{id}`, `/open-days` and their GeoJSON twins: the
//! mobile app's "open days near me", on whichever Chinese map it draws.

use std::sync::Arc;

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{self, Page};
use super::query::{self, Checker, Params};
use super::regions::RegionRef;
use super::{run, AppState};
use crate::db::labs::{
    LabFilter, LabHit, LabKey, LabOrder, LabSummary, Listed, NearQuery, OpenDayFilter, OpenDayHit,
    OpenDayKey, OpenDayOrder, OpenDayRow, SessionReading,
};
use crate::domain::{
    to_shanghai, today_in_shanghai, Activity, Adcode, CoordSys, EventStatus, Invalid, LabField,
    LatLon, Precision, RecordId, SearchQuery, TimeBound, Window,
};
use crate::error::{ApiError, Problem};

/// How to book a place.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Booking {
    /// Whether visitors must book in advance; `null` when the publisher does not say.
    pub required: Option<bool>,
    /// Where to book online.
    pub url: Option<String>,
    /// Where to book by phone.
    pub phone: Option<String>,
}

/// One open-day session of a lab.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    /// Stable id.
    #[schema(example = "jiangxi-2022-open-day-industrial-institute")]
    pub id: String,
    /// The event this session is announced as, if any.
    pub event_id: Option<String>,
    /// Start, Asia/Shanghai. For a session the notice places only in a window, the window's start.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub starts_at: DateTime<FixedOffset>,
    /// End (exclusive), Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub ends_at: DateTime<FixedOffset>,
    /// The notice's own wording when it gives a window, not exact times.
    pub period_text: Option<String>,
    /// What this session offers, in the publisher's words.
    pub description: Option<String>,
    /// What visitors can do.
    pub activities: Vec<Activity>,
    /// Who it is for (public, students, enterprises…), in the publisher's words.
    pub audience: Option<String>,
    /// Places available, when limited.
    pub capacity: Option<i32>,
    /// How to book.
    pub booking: Booking,
    /// A booking channel exists and the session is scheduled.
    pub bookable: bool,
    /// Online tour or live stream.
    pub online_url: Option<String>,
    /// Whether it takes place as planned.
    pub status: EventStatus,
    /// Last change, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
}

impl From<OpenDayRow> for Session {
    fn from(row: OpenDayRow) -> Self {
        Self {
            activities: Activity::from_mask(row.activity_mask),
            starts_at: to_shanghai(row.starts_at),
            ends_at: to_shanghai(row.ends_at),
            booking: Booking {
                required: row.booking_required,
                url: row.booking_url,
                phone: row.booking_phone,
            },
            status: row.status.parse().unwrap_or(EventStatus::Scheduled),
            updated_at: to_shanghai(row.updated_at),
            id: row.id,
            event_id: row.event_id,
            period_text: row.period_text,
            description: row.description,
            audience: row.audience,
            capacity: row.capacity,
            bookable: row.bookable,
            online_url: row.online_url,
        }
    }
}

/// A session's representation as it is stored (`open_days.body`): its own
/// fields as a JSON object, which a listed session (`OpenDay`) extends with
/// its lab and distance.
pub fn session_body(row: &OpenDayRow) -> Vec<u8> {
    let row = OpenDayRow {
        body: None,
        ..row.clone()
    };
    serde_json::to_vec(&Session::from(row)).expect("a session serializes")
}

/// The lab of an open-day session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabRef {
    pub id: String,
    pub name: String,
    pub address: Option<String>,
    /// Latitude in the requested `coord_sys` (WGS-84 by default).
    pub lat: f64,
    /// Longitude in the requested `coord_sys` (WGS-84 by default).
    pub lon: f64,
    /// `exact`, or `region` when the point is the centroid of the lab's division.
    pub precision: Precision,
    /// The division the lab is in.
    pub region: String,
}

/// An open-day session with its lab.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenDay {
    #[serde(flatten)]
    pub session: Session,
    /// The lab that opens its doors.
    pub lab: LabRef,
    /// Distance from `near` to the lab, in km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl OpenDay {
    pub fn new(hit: OpenDayHit, coord: CoordSys) -> Self {
        Self {
            session: Session::from(hit.row),
            lab: LabRef::new(&hit.lab, coord),
            distance_km: hit.distance_km,
        }
    }
}

impl LabRef {
    fn new(lab: &LabSummary, coord: CoordSys) -> Self {
        let point = coord.from_wgs84(LatLon {
            lat: lab.lat,
            lon: lab.lon,
        });
        Self {
            id: lab.id.clone(),
            name: lab.name.clone(),
            address: lab.address.clone(),
            lat: point.lat,
            lon: point.lon,
            precision: lab.precision.parse().unwrap_or(Precision::Region),
            region: lab.region.clone(),
        }
    }
}

/// The lab last written into a page of sessions, and where: a nearby page
/// lists a lab's sessions together, and each copies the lab's JSON from
/// the one before rather than serializing it again.
#[derive(Default)]
struct LastLab(Option<(Arc<LabSummary>, std::ops::Range<usize>)>);

/// Writes a listed session as `OpenDay` serializes it: a stored one is its
/// stored fields (`session_body`) with its lab and distance written after
/// them, where `OpenDay` puts them.
fn write_open_day(
    out: &mut Vec<u8>,
    hit: &OpenDayHit<Listed>,
    coord: CoordSys,
    last: &mut LastLab,
) {
    match &hit.row {
        Listed::Stored { body, .. } => {
            // Up to the object's closing brace.
            out.extend_from_slice(&body[..body.len() - 1]);
            out.extend_from_slice(br#","lab":"#);
            match &last.0 {
                Some((lab, at)) if lab.id == hit.lab.id => out.extend_from_within(at.clone()),
                _ => {
                    let start = out.len();
                    serde_json::to_writer(&mut *out, &LabRef::new(&hit.lab, coord))
                        .expect("a lab serializes");
                    last.0 = Some((Arc::clone(&hit.lab), start..out.len()));
                }
            }
            if let Some(km) = hit.distance_km {
                out.extend_from_slice(br#","distance_km":"#);
                serde_json::to_writer(&mut *out, &km).expect("a distance serializes");
            }
            out.push(b'}');
        }
        Listed::Row(row) => {
            let hit = OpenDayHit {
                row: (**row).clone(),
                lab: hit.lab.clone(),
                distance_km: hit.distance_km,
                chord2: hit.chord2,
            };
            serde_json::to_writer(out, &OpenDay::new(hit, coord)).expect("a session serializes");
        }
    }
}

/// An inspection and testing institution and its open-day sessions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lab {
    /// Stable id.
    #[schema(example = "jiangxi-lab-food-institute")]
    pub id: String,
    pub name: String,
    /// CMA certificate number (12 digits), when published.
    pub cma_no: Option<String>,
    /// CNAS accreditation number, if any.
    pub cnas_no: Option<String>,
    /// What the lab tests.
    pub fields: Vec<LabField>,
    pub address: Option<String>,
    /// The most specific division the lab is in.
    pub region: RegionRef,
    /// Latitude in the requested `coord_sys` (WGS-84 by default).
    pub lat: f64,
    /// Longitude in the requested `coord_sys` (WGS-84 by default).
    pub lon: f64,
    /// `exact`, or `region` when the point is the centroid of the lab's division.
    pub precision: Precision,
    pub phone: Option<String>,
    pub website: Option<String>,
    /// Its open-day sessions by start time (at most 200).
    pub open_days: Vec<Session>,
    /// The notice or import this record comes from.
    pub source: String,
    /// Last change, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
    /// Distance from `near`, in km (only with `near`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl Lab {
    pub fn new(hit: LabHit, sessions: Vec<OpenDayRow>, coord: CoordSys) -> Self {
        let row = hit.row;
        let point = coord.from_wgs84(LatLon {
            lat: row.lat,
            lon: row.lon,
        });
        Self {
            fields: LabField::from_mask(row.field_mask),
            region: RegionRef {
                adcode: row.region,
                name: hit.region_name,
            },
            lat: point.lat,
            lon: point.lon,
            precision: row.precision.parse().unwrap_or(Precision::Region),
            open_days: sessions.into_iter().map(Session::from).collect(),
            updated_at: to_shanghai(row.updated_at),
            distance_km: hit.distance_km,
            id: row.id,
            name: row.name,
            cma_no: row.cma_no,
            cnas_no: row.cnas_no,
            address: row.address,
            phone: row.phone,
            website: row.website,
            source: row.source,
        }
    }
}

/// The GeoJSON type members as the constants they are, so that a typed
/// client sees `"Point"`, not any string (a map library checks them).
#[derive(Debug, Serialize, ToSchema)]
pub enum GeoJsonPoint {
    Point,
}

#[derive(Debug, Serialize, ToSchema)]
pub enum GeoJsonFeature {
    Feature,
}

#[derive(Debug, Serialize, ToSchema)]
pub enum GeoJsonFeatureCollection {
    FeatureCollection,
}

/// A GeoJSON `Point` (RFC 7946 §3.1.2): `[lon, lat]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    #[serde(rename = "type")]
    pub kind: GeoJsonPoint,
    /// `[longitude, latitude]`.
    pub coordinates: [f64; 2],
}

/// A GeoJSON `Feature` (RFC 7946 §3.2) whose properties are the JSON record.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feature<T> {
    #[serde(rename = "type")]
    pub kind: GeoJsonFeature,
    pub id: String,
    pub geometry: Point,
    pub properties: T,
}

/// A GeoJSON `FeatureCollection` (RFC 7946 §3.3), one page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureCollection<T> {
    #[serde(rename = "type")]
    pub kind: GeoJsonFeatureCollection,
    pub features: Vec<Feature<T>>,
    /// Pass as `cursor` for the next page; `null` on the last page (a foreign member, RFC 7946 §6.1).
    pub next_cursor: Option<String>,
}

fn feature<T>(id: String, lat: f64, lon: f64, properties: T) -> Feature<T> {
    Feature {
        kind: GeoJsonFeature::Feature,
        id,
        geometry: Point {
            kind: GeoJsonPoint::Point,
            coordinates: [lon, lat],
        },
        properties,
    }
}

/// 200 with a FeatureCollection as `application/geo+json`, and `Link` to the next page.
fn respond_geojson<T: Serialize>(
    req: &HttpRequest,
    features: Vec<Feature<T>>,
    next_cursor: Option<String>,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = &next_cursor {
        response.insert_header((
            actix_web::http::header::LINK,
            paging::next_link(req, "cursor", cursor),
        ));
    }
    response
        .content_type("application/geo+json")
        .json(FeatureCollection {
            kind: GeoJsonFeatureCollection::FeatureCollection,
            features,
            next_cursor,
        })
}

/// Filters of `GET /labs` and `/labs.geojson`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LabsQuery {
    /// Only labs in this division or any division below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    region: Option<String>,
    /// Only labs that test in this field.
    #[param(value_type = Option<LabField>)]
    field: Option<String>,
    /// Chinese or Latin text in the name or address (1 to 100 characters).
    #[param(value_type = Option<crate::domain::SearchQuery>, example = "食品")]
    q: Option<String>,
    /// `lat,lon` in `coord_sys`: only labs within `radius_km`, closest first, each with `distance_km`.
    #[param(value_type = Option<crate::domain::LatLon>, example = "28.68,115.86")]
    near: Option<String>,
    /// Radius around `near` in km, > 0 and ≤ 500; default 50.
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 500, example = 30)]
    radius_km: Option<String>,
    /// Coordinate system of `near` and of the points returned: `wgs84` (default), `gcj02` (AMap, Tencent), `bd09` (Baidu).
    #[param(value_type = Option<CoordSys>)]
    coord_sys: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Filters of `GET /open-days` and `/open-days.geojson`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OpenDaysQuery {
    /// `lat,lon` in `coord_sys`: only sessions of labs within `radius_km`, each with `distance_km`; ordered by distance, then start time.
    #[param(value_type = Option<crate::domain::LatLon>, example = "28.68,115.86")]
    near: Option<String>,
    /// Radius around `near` in km, > 0 and ≤ 500; default 50.
    #[param(value_type = Option<f64>, exclusive_minimum = 0, maximum = 500, example = 30)]
    radius_km: Option<String>,
    /// Coordinate system of `near` and of the points returned: `wgs84` (default), `gcj02` (AMap, Tencent), `bd09` (Baidu).
    #[param(value_type = Option<CoordSys>)]
    coord_sys: Option<String>,
    /// Only sessions that overlap the window from this date (Asia/Shanghai) or RFC 3339 instant. Default: today in Asia/Shanghai, so past sessions are left out.
    #[param(value_type = Option<crate::domain::TimeBound>, example = "2026-09-01")]
    from: Option<String>,
    /// Only sessions that overlap the window up to this date (inclusive) or RFC 3339 instant.
    #[param(value_type = Option<crate::domain::TimeBound>, example = "2026-09-30")]
    to: Option<String>,
    /// Only sessions of labs in this division or any division below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360100")]
    region: Option<String>,
    /// Only sessions of this lab.
    #[param(value_type = Option<crate::domain::RecordId>)]
    lab: Option<String>,
    /// Only sessions offering this activity.
    #[param(value_type = Option<Activity>)]
    activity: Option<String>,
    /// `true`: only sessions one can book (a booking channel, and scheduled); `false`: only the others.
    #[param(value_type = Option<bool>)]
    bookable: Option<String>,
    /// `distance` (default with `near`; needs it) or `starts_at` (default without).
    #[param(value_type = Option<OpenDaySort>)]
    sort: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

crate::domain::vocabulary! {
    /// Order of the open-day list.
    OpenDaySort { Distance = "distance", StartsAt = "starts_at" }
}

struct LabRequest {
    filter: LabFilter,
    order: LabOrder,
    after: Option<LabKey>,
    limit: i64,
    coord: CoordSys,
}

impl LabsQuery {
    fn parse(self) -> Result<LabRequest, ApiError> {
        let mut check = Checker::default();
        let coord = query::coord_sys(&mut check, self.coord_sys.as_deref());
        let near = query::near(
            &mut check,
            self.near.as_deref(),
            self.radius_km.as_deref(),
            coord,
        );
        let q = check.parse("q", self.q.as_deref(), SearchQuery::parse);
        let order = match (near.is_some(), q.is_some()) {
            (true, _) => LabOrder::Distance,
            (false, true) => LabOrder::Relevance,
            (false, false) => LabOrder::Id,
        };
        let request = LabRequest {
            filter: LabFilter {
                region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
                field: check.parse("field", self.field.as_deref(), str::parse::<LabField>),
                q,
                near,
            },
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                decode_lab_cursor(raw, order)
            }),
            order,
            limit: check.limit(self.limit.as_deref()),
            coord,
        };
        check.finish(request)
    }
}

struct OpenDayRequest {
    filter: OpenDayFilter,
    order: OpenDayOrder,
    after: Option<OpenDayKey>,
    limit: i64,
    coord: CoordSys,
}

impl OpenDaysQuery {
    fn parse(self) -> Result<OpenDayRequest, ApiError> {
        let mut check = Checker::default();
        let coord = query::coord_sys(&mut check, self.coord_sys.as_deref());
        let near = query::near(
            &mut check,
            self.near.as_deref(),
            self.radius_km.as_deref(),
            coord,
        );
        let from = match self.from.as_deref() {
            Some(raw) => check.parse("from", Some(raw), TimeBound::parse),
            None => Some(TimeBound::Date(today_in_shanghai())),
        };
        let to = check.parse("to", self.to.as_deref(), TimeBound::parse);
        let window = Window::new(from, to).unwrap_or_else(|Invalid(m)| {
            check.refuse("from", m);
            Window::default()
        });
        let sort = check.parse("sort", self.sort.as_deref(), str::parse::<OpenDaySort>);
        let order = match (sort, near.is_some()) {
            (Some(OpenDaySort::StartsAt), _) | (None, false) => OpenDayOrder::StartsAt,
            (Some(OpenDaySort::Distance), true) | (None, true) => OpenDayOrder::Distance,
            (Some(OpenDaySort::Distance), false) => {
                check.refuse("sort", "`distance` needs `near`");
                OpenDayOrder::StartsAt
            }
        };
        let request = OpenDayRequest {
            filter: OpenDayFilter {
                window,
                region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
                lab: check.parse("lab", self.lab.as_deref(), |raw| {
                    raw.parse::<RecordId>().map(RecordId::into_string)
                }),
                activity: check.parse("activity", self.activity.as_deref(), str::parse),
                bookable: check.parse("bookable", self.bookable.as_deref(), query::boolean),
                near,
            },
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                decode_open_day_cursor(raw, order)
            }),
            order,
            limit: check.limit(self.limit.as_deref()),
            coord,
        };
        check.finish(request)
    }
}

fn encode_lab_cursor(key: &LabKey) -> String {
    let body = match key {
        LabKey::Id(id) => format!("id|{id}"),
        LabKey::Relevance(search_key) => format!("rel|{search_key}"),
        LabKey::Distance { chord2, id } => format!("dist|{chord2:?}|{id}"),
    };
    paging::encode("labs", &body)
}

fn refuse_cursor() -> Invalid {
    Invalid::new("is not a cursor of this list and order; follow the Link rel=\"next\" URL")
}

fn decode_lab_cursor(raw: &str, order: LabOrder) -> Result<LabKey, Invalid> {
    let body = paging::decode_list("labs", raw)?;
    let parts: Vec<&str> = body.split('|').collect();
    match (order, parts.as_slice()) {
        (LabOrder::Id, ["id", id]) => Ok(LabKey::Id(paging::decode_id(id)?)),
        (LabOrder::Relevance, ["rel", key]) => key
            .parse()
            .ok()
            .filter(|k: &i64| *k >= 0)
            .map(LabKey::Relevance)
            .ok_or_else(refuse_cursor),
        (LabOrder::Distance, ["dist", chord2, id]) => Ok(LabKey::Distance {
            chord2: paging::decode_chord2(chord2)?,
            id: paging::decode_id(id)?,
        }),
        _ => Err(refuse_cursor()),
    }
}

fn encode_open_day_cursor(key: &OpenDayKey) -> String {
    let micros = |t: &NaiveDateTime| t.and_utc().timestamp_micros();
    let body = match key {
        OpenDayKey::Time { starts_at, id } => format!("asc|{}|{id}", micros(starts_at)),
        OpenDayKey::Distance {
            chord2,
            starts_at,
            id,
        } => format!("dist|{chord2:?}|{}|{id}", micros(starts_at)),
    };
    paging::encode("open-days", &body)
}

fn decode_open_day_cursor(raw: &str, order: OpenDayOrder) -> Result<OpenDayKey, Invalid> {
    let body = paging::decode_list("open-days", raw)?;
    let parts: Vec<&str> = body.split('|').collect();
    match (order, parts.as_slice()) {
        (OpenDayOrder::StartsAt, ["asc", micros, id]) => Ok(OpenDayKey::Time {
            starts_at: paging::decode_micros(micros)?,
            id: paging::decode_id(id)?,
        }),
        (OpenDayOrder::Distance, ["dist", chord2, micros, id]) => Ok(OpenDayKey::Distance {
            chord2: paging::decode_chord2(chord2)?,
            starts_at: paging::decode_micros(micros)?,
            id: paging::decode_id(id)?,
        }),
        _ => Err(refuse_cursor()),
    }
}

/// A page of labs (each with its sessions) and the next cursor.
async fn fetch_labs(
    state: &AppState,
    request: LabRequest,
) -> Result<(Vec<Lab>, Option<String>), ApiError> {
    run(state, move |conn| {
        let (hits, more) = crate::db::labs::list_labs(
            conn,
            &request.filter,
            request.order,
            request.after.as_ref(),
            request.limit,
        )?;
        let next = more
            .then(|| {
                hits.last()
                    .map(|h| encode_lab_cursor(&h.key(request.order)))
            })
            .flatten();
        let ids: Vec<String> = hits.iter().map(|h| h.row.id.clone()).collect();
        let mut sessions = crate::db::labs::sessions_of(conn, &ids)?;
        let labs = hits
            .into_iter()
            .map(|hit| {
                let own = sessions.remove(&hit.row.id).unwrap_or_default();
                Lab::new(hit, own, request.coord)
            })
            .collect();
        Ok((labs, next))
    })
    .await
}

/// A page of open-day sessions, read as `S`, and the next cursor.
async fn fetch_open_days<S: SessionReading + Send + 'static>(
    state: &AppState,
    request: &OpenDayRequest,
) -> Result<(Vec<OpenDayHit<S>>, Option<String>), ApiError> {
    let nearby = state.indexes.open_days.clone();
    let (filter, order, after, limit) = (
        request.filter.clone(),
        request.order,
        request.after.clone(),
        request.limit,
    );
    run(state, move |conn| {
        let (hits, more) = crate::db::labs::list_open_days::<S>(
            conn,
            &filter,
            order,
            after.as_ref(),
            limit,
            &nearby,
        )?;
        let next = open_day_cursor(&hits, more, order);
        Ok((hits, next))
    })
    .await
}

/// A nearest-first page of sessions and the next cursor: batched with the
/// pages of other requests on PostgreSQL (`api::batch`), where a page is
/// one statement and two thread hand-offs for about 20 rows.
async fn fetch_open_days_near(
    state: &AppState,
    request: &OpenDayRequest,
) -> Result<(Vec<OpenDayHit<Listed>>, Option<String>), ApiError> {
    let query = NearQuery {
        filter: request.filter.clone(),
        after: request.after.clone(),
        limit: request.limit,
    };
    let (hits, more) = state.open_day_pages.get(state, query).await??;
    let next = open_day_cursor(&hits, more, OpenDayOrder::Distance);
    Ok((hits, next))
}

/// The cursor after the last of `hits` when `more` follow.
fn open_day_cursor<S: SessionReading>(
    hits: &[OpenDayHit<S>],
    more: bool,
    order: OpenDayOrder,
) -> Option<String> {
    more.then(|| hits.last().map(|h| encode_open_day_cursor(&h.key(order))))
        .flatten()
}

/// List labs.
///
/// Filters combine with AND. With `near`, labs come closest first; with `q`
/// (and no `near`), most recently added first; otherwise by id.
#[utoipa::path(
    operation_id = "list_labs",
    tag = "labs",
    params(LabsQuery),
    responses(
        (status = 200, description = "A page of labs", body = Page<Lab>,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_labs(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<LabsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (items, next_cursor) = fetch_labs(&state, query.parse()?).await?;
    let next = next_cursor.clone();
    Ok(paging::respond(
        &req,
        Page { items, next_cursor },
        next.as_deref(),
    ))
}

/// Labs as a GeoJSON FeatureCollection (RFC 7946), the same filters and pages as `GET /labs`.
///
/// Coordinates are `[lon, lat]`. With `coord_sys=gcj02` or `bd09` they are in
/// that system for Chinese map SDKs, which RFC 7946 (WGS-84 only) does not cover.
#[utoipa::path(
    operation_id = "list_labs_geojson",
    tag = "labs",
    params(LabsQuery),
    responses(
        (status = 200, description = "A page of labs as GeoJSON", body = FeatureCollection<Lab>,
            content_type = "application/geo+json",
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/labs.geojson")]
pub async fn list_labs_geojson(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<LabsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (labs, next_cursor) = fetch_labs(&state, query.parse()?).await?;
    let features = labs
        .into_iter()
        .map(|lab| feature(lab.id.clone(), lab.lat, lab.lon, lab))
        .collect();
    Ok(respond_geojson(&req, features, next_cursor))
}

/// Get one lab with its open-day sessions.
#[utoipa::path(
    operation_id = "get_lab",
    tag = "labs",
    params(("id" = crate::domain::RecordId, Path, description = "Lab id"), query::CoordQuery),
    responses(
        (status = 200, description = "The lab", body = Lab),
        (status = 400, description = "Malformed id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lab", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_lab(
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(coord): Params<query::CoordQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let coord = coord.parse()?;
    let lab = run(&state, move |conn| {
        let hit = crate::db::labs::get_lab(conn, &id)?;
        let sessions = crate::db::labs::sessions_of(conn, std::slice::from_ref(&id))?
            .remove(&id)
            .unwrap_or_default();
        Ok(Lab::new(hit, sessions, coord))
    })
    .await?;
    Ok(HttpResponse::Ok().json(lab))
}

/// Get one open-day session with its lab.
#[utoipa::path(
    operation_id = "get_open_day",
    tag = "labs",
    params(("id" = crate::domain::RecordId, Path, description = "Session id"), query::CoordQuery),
    responses(
        (status = 200, description = "The session", body = OpenDay),
        (status = 400, description = "Malformed id or parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_open_day(
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(coord): Params<query::CoordQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let coord = coord.parse()?;
    let hit = run(&state, move |conn| crate::db::labs::get_open_day(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(OpenDay::new(hit, coord)))
}

/// List open-day sessions with their labs.
///
/// Past sessions are left out unless `from` says otherwise. With `near`,
/// every item has `distance_km` and the list is ordered by distance, then
/// start time.
#[utoipa::path(
    operation_id = "list_open_days",
    tag = "labs",
    params(OpenDaysQuery),
    responses(
        (status = 200, description = "A page of sessions", body = Page<OpenDay>,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_open_days(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<OpenDaysQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse()?;
    let (hits, next_cursor) =
        if request.order == OpenDayOrder::Distance && request.filter.near.is_some() {
            fetch_open_days_near(&state, &request).await?
        } else {
            fetch_open_days::<Listed>(&state, &request).await?
        };
    Ok(paging::respond_items(
        &req,
        next_cursor,
        &hits,
        |hit| match &hit.row {
            Listed::Stored { body, .. } => body.len() + 256,
            Listed::Row(_) => 1024,
        },
        {
            let mut last = LastLab::default();
            move |out, hit| write_open_day(out, hit, request.coord, &mut last)
        },
    ))
}

/// Open-day sessions as a GeoJSON FeatureCollection (RFC 7946), one point per
/// session at its lab; the same filters and pages as `GET /open-days`.
#[utoipa::path(
    operation_id = "list_open_days_geojson",
    tag = "labs",
    params(OpenDaysQuery),
    responses(
        (status = 200, description = "A page of sessions as GeoJSON", body = FeatureCollection<OpenDay>,
            content_type = "application/geo+json",
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/open-days.geojson")]
pub async fn list_open_days_geojson(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<OpenDaysQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse()?;
    let (hits, next_cursor) = fetch_open_days::<OpenDayRow>(&state, &request).await?;
    let features = hits
        .into_iter()
        .map(|hit| OpenDay::new(hit, request.coord))
        .map(|day| feature(day.session.id.clone(), day.lab.lat, day.lab.lon, day))
        .collect();
    Ok(respond_geojson(&req, features, next_cursor))
}
