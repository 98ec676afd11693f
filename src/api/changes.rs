//! `GET /changes`: every create, update and delete of notices, campaigns and
//! events, in order, so a mirror that polls it never drifts.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging;
use super::query::{Checker, Params};
use super::{run, AppState};
use crate::domain::{to_shanghai, Invalid};
use crate::error::{ApiError, Problem};

/// One change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Change {
    /// The kind of record: fetch it at `/{resource}s/{id}`.
    #[schema(value_type = ChangeResource)]
    pub resource: String,
    /// Id of the record.
    pub id: String,
    /// `upserted` (created or updated: fetch it) or `deleted` (remove your copy).
    #[schema(value_type = ChangeAction)]
    pub action: String,
    /// When, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub changed_at: DateTime<FixedOffset>,
}

/// The kinds of record the change log names (the `resource` strings that
/// `db::changes::record` is called with). Open-day sessions change as their lab.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ChangeResource {
    Notice,
    Campaign,
    Event,
    Lab,
    Product,
    Poster,
}

/// What happened to the record.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ChangeAction {
    /// Created or updated: fetch it.
    Upserted,
    /// Deleted: remove your copy.
    Deleted,
}

/// A page of changes, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePage {
    /// The changes of this page.
    pub items: Vec<Change>,
    /// Where to resume: pass as `since` on the next poll. Unlike other lists it
    /// is never `null`; the `Link` header is present only while more changes
    /// are already waiting.
    pub next_cursor: String,
}

/// Parameters of `GET /changes`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `next_cursor` of the previous poll; omit to start from the beginning.
    since: Option<String>,
    /// Page size, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
}

fn decode_since(raw: &str) -> Result<i64, Invalid> {
    paging::decode_list("changes", raw)?
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 0)
        .ok_or_else(|| Invalid::new("is not a cursor of this feed; use the last next_cursor"))
}

/// Changes since a cursor, for mirrors.
///
/// Poll with the last `next_cursor`; apply `upserted` by fetching the record
/// and `deleted` by removing it.
#[utoipa::path(
    operation_id = "list_changes",
    tag = "sync",
    params(ChangesQuery),
    responses(
        (status = 200, description = "Changes after `since`", body = ChangePage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/changes")]
pub async fn list_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut check = Checker::default();
    let since = check.parse("since", query.since.as_deref(), decode_since);
    let limit = check.limit(query.limit.as_deref());
    let since = check.finish(since.unwrap_or(0))?;
    let (rows, more) = run(&state, move |conn| {
        crate::db::changes::after(conn, since, limit)
    })
    .await?;
    let last = rows.last().map_or(since, |r| r.seq);
    let next_cursor = paging::encode("changes", &last.to_string());
    let items = rows
        .into_iter()
        .map(|r| Change {
            resource: r.resource,
            id: r.record_id,
            action: r.action,
            changed_at: to_shanghai(r.changed_at),
        })
        .collect();
    let mut response = HttpResponse::Ok();
    if more {
        let link = paging::next_link(&req, "since", &next_cursor);
        response.insert_header((actix_web::http::header::LINK, link));
    }
    Ok(response.json(ChangePage { items, next_cursor }))
}
