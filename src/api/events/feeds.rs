//! The event list as iCalendar (RFC 5545 + RFC 7986), CSV for spreadsheets,
//! and schema.org JSON-LD for search engines. Each takes exactly the list's
//! filters (`EventsQuery`).

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use icalendar::{
    Calendar, CalendarDateTime, Component, EventLike, EventStatus as IcsStatus, Property,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{fetch, Event, EventsQuery, Format};
use crate::api::notices::Deadline;
use crate::api::query::Params;
use crate::api::{run, AppState};
use crate::domain::{Attendance, EventStatus};
use crate::error::{ApiError, Problem};

/// Calendar clients poll at most this often (RFC 7986 REFRESH-INTERVAL).
const REFRESH_INTERVAL: &str = "PT6H";

/// Events as an iCalendar feed to subscribe to.
///
/// One VEVENT per event of the same list (stable UID `<id>@ticweek`), times in
/// UTC. `include=deadlines` adds an all-day VEVENT for each deadline of the
/// notices behind the listed events' campaigns.
#[utoipa::path(
    operation_id = "list_events_ics",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "iCalendar feed", content_type = "text/calendar", body = String),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events.ics")]
pub async fn list_events_ics(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(Format::Ics)?;
    let include_deadlines = request.include_deadlines;
    let coord = request.coord;
    let (hits, next_cursor, _, _) = fetch(&state, request).await?;
    let events: Vec<Event> = hits
        .into_iter()
        .map(|hit| Event::from(hit).in_coord_sys(coord))
        .collect();
    let deadlines = if include_deadlines {
        let campaigns: Vec<String> = events.iter().map(|e| e.campaign_id.clone()).collect();
        run(&state, move |conn| {
            crate::db::events::deadlines(conn, campaigns)
        })
        .await?
    } else {
        Vec::new()
    };

    let mut calendar = Calendar::new();
    calendar
        .name("ticweek 质量月活动")
        .append_property(
            Property::new("REFRESH-INTERVAL", REFRESH_INTERVAL)
                .add_parameter("VALUE", "DURATION")
                .done(),
        )
        .append_property(Property::new("X-PUBLISHED-TTL", REFRESH_INTERVAL).done());
    let base = base_url(&req);
    for event in &events {
        calendar.push(vevent(event, &base));
    }
    for (notice_id, doc_number, json, updated_at) in deadlines {
        let list: Vec<Deadline> = serde_json::from_str(&json).unwrap_or_default();
        for deadline in list {
            // Stable across reorderings: the UID names the notice, the day and what is due.
            let digest = Sha256::digest(format!("{}|{}", deadline.due_on, deadline.title));
            let tag: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            calendar.push(
                icalendar::Event::new()
                    .uid(&format!(
                        "deadline-{notice_id}-{}-{tag}@ticweek",
                        deadline.due_on
                    ))
                    .summary(&format!("截止：{}", deadline.title))
                    .description(&format!("{doc_number}：{}", deadline.title))
                    .all_day(deadline.due_on)
                    .timestamp(updated_at.and_utc())
                    .add_property("CATEGORIES", "DEADLINE")
                    .done(),
            );
        }
    }
    let mut response = HttpResponse::Ok();
    response.content_type("text/calendar; charset=utf-8");
    link_next(&mut response, &req, next_cursor);
    Ok(response.body(with_vtimezone(calendar.done().to_string())))
}

/// Asia/Shanghai (UTC+8 all year since 1991). Times in the feed are UTC; the
/// zone is there for clients that show it, and keeps an empty feed a valid
/// calendar (RFC 5545 wants at least one component). Written as text because
/// the icalendar crate stamps every component it renders with DTSTAMP and
/// UID, which a VTIMEZONE must not have.
const SHANGHAI_VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Shanghai\r\n\
BEGIN:STANDARD\r\nDTSTART:19910915T020000\r\nTZOFFSETFROM:+0900\r\n\
TZOFFSETTO:+0800\r\nTZNAME:CST\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn with_vtimezone(calendar: String) -> String {
    let at = calendar
        .find("BEGIN:VEVENT\r\n")
        .or_else(|| calendar.find("END:VCALENDAR"))
        .unwrap_or(calendar.len());
    let mut text = calendar;
    text.insert_str(at, SHANGHAI_VTIMEZONE);
    text
}

fn vevent(event: &Event, base: &str) -> icalendar::Event {
    let status = match event.status {
        EventStatus::Cancelled => IcsStatus::Cancelled,
        EventStatus::Postponed => IcsStatus::Tentative,
        EventStatus::Scheduled | EventStatus::Completed => IcsStatus::Confirmed,
    };
    let location = [
        event.venue.name.as_deref(),
        event.venue.address.as_deref(),
        Some(event.region.name.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("，");
    let mut vevent = icalendar::Event::new();
    vevent
        .uid(&format!("{}@ticweek", event.id))
        .summary(&event.title)
        .description(&event.description)
        .starts(CalendarDateTime::from(event.starts_at.to_utc()))
        .ends(CalendarDateTime::from(event.ends_at.to_utc()))
        .timestamp(event.updated_at.to_utc())
        .last_modified(event.updated_at.to_utc())
        .status(status)
        .location(&location)
        .add_property("GEO", format!("{};{}", event.venue.lat, event.venue.lon));
    vevent.url(&format!("{base}/api/v1/events/{}", event.id));
    if let Some(online) = &event.online_url {
        // RFC 7986: where to join online.
        vevent.append_property(
            Property::new("CONFERENCE", online)
                .add_parameter("VALUE", "URI")
                .add_parameter("FEATURE", "VIDEO")
                .done(),
        );
    }
    vevent.done()
}

/// Events as CSV that opens correctly in Excel: UTF-8 with BOM, a header row,
/// RFC 4180 quoting, and cells that a spreadsheet would read as a formula
/// (`=`, `+`, `-`, `@`, tab, CR) prefixed with `'`.
#[utoipa::path(
    operation_id = "list_events_csv",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "CSV export", content_type = "text/csv", body = String),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/events.csv")]
pub async fn list_events_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(Format::Csv)?;
    let coord = request.coord;
    let (hits, next_cursor, _, _) = fetch(&state, request).await?;
    let mut body = "\u{feff}".as_bytes().to_vec();
    {
        // RFC 4180 wants CRLF between records.
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut body);
        let write_error = |e: csv::Error| ApiError::Internal(format!("csv: {e}"));
        writer.write_record(CSV_HEADER).map_err(write_error)?;
        for hit in hits {
            writer
                .write_record(csv_row(&Event::from(hit).in_coord_sys(coord)))
                .map_err(write_error)?;
        }
        writer
            .flush()
            .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"events.csv\"",
        ));
    link_next(&mut response, &req, next_cursor);
    Ok(response.body(body))
}

pub const CSV_HEADER: [&str; 22] = [
    "id",
    "campaign_id",
    "kind",
    "title",
    "description",
    "activities",
    "starts_at",
    "ends_at",
    "period_text",
    "venue_name",
    "venue_address",
    "lat",
    "lon",
    "precision",
    "region_adcode",
    "region_name",
    "organizer",
    "online_url",
    "attendance",
    "status",
    "source",
    "updated_at",
];

fn csv_row(e: &Event) -> Vec<String> {
    let text = |s: &str| neutralize(s);
    let opt = |s: &Option<String>| s.as_deref().map(neutralize).unwrap_or_default();
    let activities: Vec<&str> = e.activities.iter().map(|a| a.as_str()).collect();
    vec![
        text(&e.id),
        text(&e.campaign_id),
        e.kind.as_str().to_owned(),
        text(&e.title),
        text(&e.description),
        activities.join(";"),
        e.starts_at.to_rfc3339(),
        e.ends_at.to_rfc3339(),
        opt(&e.period_text),
        opt(&e.venue.name),
        opt(&e.venue.address),
        e.venue.lat.to_string(),
        e.venue.lon.to_string(),
        e.venue.precision.as_str().to_owned(),
        e.region.adcode.clone(),
        text(&e.region.name),
        opt(&e.organizer),
        opt(&e.online_url),
        e.attendance.as_str().to_owned(),
        e.status.as_str().to_owned(),
        text(&e.source),
        e.updated_at.to_rfc3339(),
    ]
}

/// OWASP's advice against CSV injection: a leading quote makes the cell text.
pub(crate) fn neutralize(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn link_next(
    response: &mut actix_web::HttpResponseBuilder,
    req: &HttpRequest,
    next: Option<String>,
) {
    if let Some(cursor) = next {
        response.insert_header((
            header::LINK,
            crate::api::paging::next_link(req, "cursor", &cursor),
        ));
    }
}

/// `scheme://host` of the request, so links in feeds are absolute URIs as
/// iCalendar and JSON-LD consumers expect.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    // The Host header only: X-Forwarded-* from an arbitrary client must not
    // end up in publicly cached responses.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// schema.org `Event` for one event.
fn schema_org(event: &Event, base: &str) -> Value {
    let status = match event.status {
        EventStatus::Cancelled => "https://schema.org/EventCancelled",
        EventStatus::Postponed => "https://schema.org/EventPostponed",
        EventStatus::Scheduled | EventStatus::Completed => "https://schema.org/EventScheduled",
    };
    let mode = match event.attendance {
        Attendance::Offline => "https://schema.org/OfflineEventAttendanceMode",
        Attendance::Online => "https://schema.org/OnlineEventAttendanceMode",
        Attendance::Mixed => "https://schema.org/MixedEventAttendanceMode",
    };
    let place = json!({
        "@type": "Place",
        "name": event.venue.name.clone().unwrap_or_else(|| event.region.name.clone()),
        "address": {
            "@type": "PostalAddress",
            "streetAddress": event.venue.address,
            "addressRegion": event.region.name,
            "addressCountry": "CN",
        },
        "geo": {"@type": "GeoCoordinates", "latitude": event.venue.lat, "longitude": event.venue.lon},
    });
    let location = match (&event.online_url, event.attendance) {
        (Some(url), Attendance::Online) => json!({"@type": "VirtualLocation", "url": url}),
        (Some(url), _) => json!([place, {"@type": "VirtualLocation", "url": url}]),
        (None, _) => place,
    };
    let mut doc = json!({
        "@type": "Event",
        "@id": format!("{base}/api/v1/events/{}", event.id),
        "url": format!("{base}/api/v1/events/{}", event.id),
        "identifier": event.id,
        "name": event.title,
        "description": event.description,
        "startDate": event.starts_at.to_rfc3339(),
        "endDate": event.ends_at.to_rfc3339(),
        "eventStatus": status,
        "eventAttendanceMode": mode,
        "location": location,
        "inLanguage": "zh-CN",
    });
    if let Some(name) = &event.organizer {
        doc["organizer"] = json!({"@type": "Organization", "name": name});
    }
    doc
}

const LD_JSON: &str = "application/ld+json";

pub fn json_ld_one(req: &HttpRequest, event: Event) -> HttpResponse {
    let mut doc = schema_org(&event, &base_url(req));
    doc["@context"] = json!("https://schema.org");
    HttpResponse::Ok()
        .content_type(LD_JSON)
        .insert_header((header::VARY, "Accept, Accept-Encoding"))
        .body(doc.to_string())
}

pub fn json_ld_list(req: &HttpRequest, events: Vec<Event>, next: Option<String>) -> HttpResponse {
    let base = base_url(req);
    let elements: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"@type": "ListItem", "position": i + 1, "item": schema_org(e, &base)}))
        .collect();
    let doc = json!({
        "@context": "https://schema.org",
        "@type": "ItemList",
        "numberOfItems": elements.len(),
        "itemListElement": elements,
    });
    let mut response = HttpResponse::Ok();
    response
        .content_type(LD_JSON)
        .insert_header((header::VARY, "Accept, Accept-Encoding"));
    link_next(&mut response, req, next);
    response.body(doc.to_string())
}
