//! Event pages written from representations held in memory.
//!
//! There are few events (3,018 in the national data: 2.3 MB of JSON) and
//! they change a few times a day, while a page of them is read far more
//! often. So each event's representation is rendered once per version of
//! the events and kept here (`EventBodies`, an in-memory index like the
//! search lists, rebuilt when the events change). A JSON page copies their
//! representations, instead of reading twenty-odd columns of each and
//! serializing them. Which events make a page in time order is chosen in
//! memory too, from the listing built with them (`db::listings::Events`),
//! with no statement at all while the events' version is fresh; a search
//! page asks the database at most for its keys (`db::events::page_keys`).
//!
//! Used only while current (`Slot::current`), so never stale; pages that
//! need what is decided per request (a distance, a coordinate system other
//! than WGS-84, JSON-LD, facets) are built from rows as before.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::NaiveDateTime;

use super::{encode_cursor, Event, EventRequest};
use crate::api::held::Held;
use crate::api::{paging, run, AppState};
use crate::db::events::{EventFilter, EventKey, Order};
use crate::db::listings::Events;
use crate::db::{DbConn, DbResult};
use crate::domain::CoordSys;
use crate::error::ApiError;

/// Every event's representation at one version of the events, by
/// `search_key`, with its id and start for cursors, and their listing.
pub type EventBodies = Held<i64, (Box<str>, NaiveDateTime), Events>;

/// The representations of the events `conn` reads, labelled `version`.
pub fn build(conn: &mut DbConn, version: i64) -> DbResult<EventBodies> {
    let hits = crate::db::events::all(conn)?;
    let listing = Events::new(hits.iter().map(|hit| &hit.row));
    let records = hits.into_iter().map(|hit| {
        let cursor = (hit.row.id.clone().into_boxed_str(), hit.row.starts_at);
        let key = hit.row.search_key;
        let body = serde_json::to_vec(&Event::from(hit)).expect("an event serializes");
        (key, cursor, body)
    });
    Ok(Held::new(version, records.collect::<Vec<_>>(), listing))
}

/// The page `request` asks for, written from the representations in
/// memory; `None` when it needs rows (see the module), or when the
/// representations are not current.
pub async fn respond(
    req: &HttpRequest,
    state: &AppState,
    request: &EventRequest,
) -> Result<Option<HttpResponse>, ApiError> {
    if request.coord != CoordSys::Wgs84 || !request.facets.is_empty() {
        return Ok(None);
    }
    let (order, limit) = (request.order, request.limit);
    let in_memory =
        move |held: Arc<EventBodies>, filter: &EventFilter, after: Option<&EventKey>| {
            let page = held.listing.page(filter, order, after, limit)?;
            DbResult::Ok(page.map(|page| (held, page)))
        };
    // While the events' version is fresh, a page in time order is chosen
    // here, on the worker, with no connection.
    let fresh = state.event_bodies.fresh();
    // Chosen here, or not a page the listing can choose (a search): the
    // SQL path alone, without asking the listing again.
    let tried = fresh.is_some();
    let chosen = match fresh {
        Some(held) => in_memory(held, &request.filter, request.after.as_ref())?,
        None => None,
    };
    let found = match chosen {
        Some(found) => Some(found),
        None => {
            let bodies = state.event_bodies.clone();
            let lists = state.indexes.events.clone();
            let (filter, after) = (request.filter.clone(), request.after.clone());
            run(state, move |conn| {
                let Some(held) = bodies.current(conn)? else {
                    return Ok(None);
                };
                if !tried {
                    if let Some(found) = in_memory(held.clone(), &filter, after.as_ref())? {
                        return Ok(Some(found));
                    }
                }
                let page = crate::db::events::page_keys(
                    conn,
                    &filter,
                    order,
                    after.as_ref(),
                    limit,
                    &lists,
                )?;
                Ok(page.map(|page| (held, page)))
            })
            .await?
        }
    };
    let Some((held, (keys, more))) = found else {
        return Ok(None);
    };
    let Some(records) = held.all(keys.iter().map(|(key, _)| key)) else {
        // An event written after the representations were read: rows.
        return Ok(None);
    };
    let next_cursor = more
        .then(|| {
            let (record, (key, phase)) = records.last().zip(keys.last())?;
            // As `EventHit::key` has it.
            let position = match order {
                Order::Relevance => EventKey::Relevance {
                    phase: *phase,
                    search_key: *key,
                },
                _ => EventKey::Time {
                    starts_at: record.cursor.1,
                    id: record.cursor.0.to_string(),
                },
            };
            Some(encode_cursor(order, &position))
        })
        .flatten();
    // As an `EventPage` without facets.
    let mut response = paging::respond_items(
        req,
        next_cursor,
        &records,
        |record| record.body.len(),
        |out, record| out.extend_from_slice(&record.body),
    );
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("Accept"));
    Ok(Some(response))
}
