//! Open-day sessions as resources of their own. A session is stored with
//! its lab and written through it (one validation, one scope rule: the
//! lab's), so a session write is a lab write that changes one element of
//! `open_days`, refused if the lab changed meanwhile.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, patch, post, put, web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{
    body_fields, guard, header_text, if_match_text, new_record_id, require_json, write_one, Bearer,
    Expect, Kind, Op, Refusals, Reply, Stale,
};
use crate::api::labs::OpenDay;
use crate::api::{run_write, AppState};
use crate::db::{DbConn, DbError, DbResult};
use crate::domain::{Actor, CoordSys};
use crate::error::{ApiError, Problem};

/// Fields of a session the server sets.
pub(super) const SERVER_SET: [&str; 4] = ["bookable", "updated_at", "lab", "distance_km"];

/// The session as `GET /open-days/{id}` serves it, or `None`.
fn representation(conn: &mut DbConn, id: &str) -> DbResult<Option<String>> {
    match crate::db::labs::get_open_day(conn, id) {
        Ok(hit) => serde_json::to_string(&OpenDay::new(hit, CoordSys::Wgs84))
            .map(Some)
            .map_err(|e| DbError::Query(e.to_string())),
        Err(DbError::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

fn location(id: &str) -> String {
    format!("/api/v1/open-days/{id}")
}

/// How a write changes the lab's session list.
enum Change {
    Add(serde_json::Map<String, Value>),
    Replace(serde_json::Map<String, Value>),
    Merge(serde_json::Map<String, Value>),
    Remove,
}

/// Applies `change` to session `id` of `lab` and writes the lab; answers
/// with the session as it is afterwards.
fn write_session(
    conn: &mut DbConn,
    actor: &Actor,
    lab: &str,
    id: &str,
    if_match: Option<&str>,
    change: Change,
) -> Result<Reply, ApiError> {
    guard(conn, actor, Kind::Lab, lab, Op::Change)?;
    let Some(base) = super::representation(conn, Kind::Lab, lab)? else {
        return Err(ApiError::NotFound(format!("no lab {lab:?}")));
    };
    if let Some(header) = if_match {
        let current = representation(conn, id)?.unwrap_or_default();
        if !if_match_text(header, &current) {
            return Err(DbError::PreconditionFailed(
                "If-Match does not name the stored session; GET it again".into(),
            )
            .into());
        }
    }
    let mut item: serde_json::Map<String, Value> = serde_json::from_str(&base)
        .map_err(|e| ApiError::Internal(format!("stored representation: {e}")))?;
    for field in Kind::Lab.server_set() {
        item.remove(*field);
    }
    let days = match item.get_mut("open_days") {
        Some(Value::Array(days)) => days,
        _ => return Err(ApiError::Internal("a lab without open_days".into())),
    };
    let position = days.iter().position(|d| d["id"] == id);
    let created = matches!(change, Change::Add(_));
    match (change, position) {
        (Change::Add(mut session), None) => {
            session.insert("id".into(), Value::String(id.to_owned()));
            days.push(Value::Object(session));
        }
        (Change::Replace(mut session), Some(at)) => {
            session.insert("id".into(), Value::String(id.to_owned()));
            days[at] = Value::Object(session);
        }
        (Change::Merge(patch), Some(at)) => {
            json_patch::merge(&mut days[at], &Value::Object(patch));
            if let Value::Object(session) = &mut days[at] {
                for field in SERVER_SET {
                    session.remove(field);
                }
            }
        }
        (Change::Remove, Some(at)) => {
            days.remove(at);
        }
        (Change::Add(_), Some(_)) => {
            return Err(ApiError::status(
                StatusCode::CONFLICT,
                format!("session {id:?} exists; PUT {} replaces it", location(id)),
            ))
        }
        (_, None) => return Err(ApiError::NotFound(format!("no open-day session {id:?}"))),
    }
    write_one(conn, actor, Kind::Lab, lab, item, Expect::Base(base), None)?;
    let body = representation(conn, id)?.unwrap_or_default();
    Ok(Reply {
        status: if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        location: created.then(|| location(id)),
        body,
    })
}

/// The lab holding session `id`.
fn lab_of(conn: &mut DbConn, id: &str) -> Result<String, ApiError> {
    match crate::db::labs::get_open_day(conn, id) {
        Ok(hit) => Ok(hit.lab.id.clone()),
        Err(DbError::NotFound(_)) => Err(ApiError::NotFound(format!(
            "no open-day session {id:?}; create one with POST /api/v1/labs/{{lab}}/open-days"
        ))),
        Err(err) => Err(err.into()),
    }
}

/// A session body: a JSON object without server-set fields; an id in it
/// must be `id` when one is given.
fn session_body(body: &[u8], id: Option<&str>) -> Result<serde_json::Map<String, Value>, ApiError> {
    let mut session = body_fields(body, &SERVER_SET)?;
    match (session.remove("id"), id) {
        (None, _) => {}
        (Some(Value::String(given)), Some(id)) if given == id => {}
        (Some(Value::String(given)), None) => {
            session.insert("id".into(), Value::String(given));
        }
        (Some(_), _) => {
            return Err(ApiError::invalid(
                "id",
                "must be the session's id, as in the path: ids never change",
            ))
        }
    }
    Ok(session)
}

/// Add an open-day session to a lab.
#[utoipa::path(
    operation_id = "create_open_day",
    tag = "labs",
    summary = "Add an open-day session to a lab",
    description = "Needs a token whose scope covers the lab (its region, or the lab itself).",
    request_body(content = crate::import::OpenDayInput, content_type = "application/json",
        description = "The session without server-set fields; a missing id is generated."),
    params(("id" = crate::domain::RecordId, Path, description = "The lab's id")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OpenDay,
            headers(("Location" = String, description = "The session's URL"))),
        (status = 404, description = "No such lab", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        Refusals,
    )
)]
#[post("/{id}/open-days")]
pub async fn create_open_day(
    state: web::Data<AppState>,
    req: HttpRequest,
    Bearer(actor): Bearer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let lab = crate::api::path_id(&path)?.into_string();
    require_json(&req)?;
    let mut session = session_body(&body, None)?;
    let id = match session.remove("id") {
        Some(Value::String(id)) => crate::api::path_id(&id)
            .map_err(|_| ApiError::invalid("id", "must be 1 to 64 characters of a-z, 0-9 and '-'"))?
            .into_string(),
        _ => new_record_id("open-day")?,
    };
    run_write(&state, move |conn| {
        Ok(match representation(conn, &id)? {
            Some(_) => Err(ApiError::status(
                StatusCode::CONFLICT,
                format!("session {id:?} exists; PUT {} replaces it", location(&id)),
            )),
            None => write_session(conn, &actor, &lab, &id, None, Change::Add(session)),
        })
    })
    .await?
    .map(Reply::into_response)
}

/// The session writes that address a session by id: its lab is looked up.
async fn change_session(
    state: web::Data<AppState>,
    req: &HttpRequest,
    actor: Actor,
    raw_id: &str,
    change: impl FnOnce(&str) -> Result<Change, ApiError> + Send + 'static,
) -> Result<Reply, ApiError> {
    let id = crate::api::path_id(raw_id)?.into_string();
    let if_match = header_text(req, header::IF_MATCH.as_str())?;
    let change = change(&id)?;
    run_write(&state, move |conn| {
        Ok(lab_of(conn, &id)
            .and_then(|lab| write_session(conn, &actor, &lab, &id, if_match.as_deref(), change)))
    })
    .await?
}

/// Replace an open-day session.
#[utoipa::path(
    operation_id = "replace_open_day",
    tag = "labs",
    summary = "Replace an open-day session",
    description = "Needs a token whose scope covers the session's lab.",
    request_body(content = crate::import::OpenDayInput, content_type = "application/json"),
    params(("id" = crate::domain::RecordId, Path, description = "The session's id"),
        ("If-Match" = Option<String>, Header, description = "The session's ETag last read: 412 if it changed since.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = OpenDay),
        Refusals,
        Stale,
    )
)]
#[put("/{id}")]
pub async fn replace_open_day(
    state: web::Data<AppState>,
    req: HttpRequest,
    Bearer(actor): Bearer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    change_session(state, &req, actor, &path, move |id| {
        session_body(&body, Some(id)).map(Change::Replace)
    })
    .await
    .map(Reply::into_response)
}

/// Change fields of an open-day session (JSON merge patch).
#[utoipa::path(
    operation_id = "patch_open_day",
    tag = "labs",
    summary = "Change fields of an open-day session",
    description = "A JSON merge patch (RFC 7396) of the session as it appears in its lab's `open_days`.",
    request_body(content = Object, content_type = "application/merge-patch+json"),
    params(("id" = crate::domain::RecordId, Path, description = "The session's id"),
        ("If-Match" = Option<String>, Header, description = "The session's ETag last read: 412 if it changed since.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = OpenDay),
        Refusals,
        Stale,
        (status = 409, description = "Changed by another write meanwhile; retry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/{id}")]
pub async fn patch_open_day(
    state: web::Data<AppState>,
    req: HttpRequest,
    Bearer(actor): Bearer,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    change_session(state, &req, actor, &path, move |id| {
        session_body(&body, Some(id)).map(Change::Merge)
    })
    .await
    .map(Reply::into_response)
}

/// Delete an open-day session.
#[utoipa::path(
    operation_id = "delete_open_day",
    tag = "labs",
    summary = "Delete an open-day session",
    description = "Needs a token whose scope covers the session's lab.",
    params(("id" = crate::domain::RecordId, Path, description = "The session's id"),
        ("If-Match" = Option<String>, Header, description = "The session's ETag last read: 412 if it changed since.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Outside the token's scope", body = Problem, content_type = "application/problem+json"),
        Stale,
    )
)]
#[delete("/{id}")]
pub async fn delete_open_day(
    state: web::Data<AppState>,
    req: HttpRequest,
    Bearer(actor): Bearer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_session(state, &req, actor, &path, |_| Ok(Change::Remove)).await?;
    Ok(HttpResponse::NoContent().finish())
}
