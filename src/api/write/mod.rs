//! The write API: bearer tokens, scoped create / replace / merge-patch /
//! delete of every resource, and the bulk import. Every write goes through
//! the import's validation (one rule set for the command line, a bulk
//! import and a single record), runs in one transaction with its audit
//! entries, and is refused whole when any part is outside the token's scope.

mod sessions;

pub use sessions::{create_open_day, delete_open_day, patch_open_day, replace_open_day};

use actix_web::http::{header, StatusCode};
use actix_web::{delete, patch, post, put, web, FromRequest, HttpRequest, HttpResponse};
use chrono::{NaiveDateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::caching::{if_match, json_tags, tag_of};
use super::campaigns::Campaign;
use super::events::Event;
use super::labs::Lab;
use super::notices::Notice;
use super::products::Product;
use super::{run_write, AppState};
use crate::db::access::{self, AuditEntry, IdempotentReply};
use crate::db::import::{Observer, Target};
use crate::db::{DbConn, DbError, DbResult};
use crate::domain::{looks_like_token, token_hash, Actor, CoordSys, Scope};
use crate::error::{ApiError, FieldError};
use crate::import::{Report, RowError};

/// The token holder of a write, from `Authorization: Bearer`. Looked up on
/// every request (a revoked token is refused at once, in every process);
/// never read from a query parameter, never logged.
pub struct Bearer(pub Actor);

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let header = req.headers().get(header::AUTHORIZATION).cloned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let header = header.ok_or(ApiError::Unauthorized { presented: false })?;
            let token = header
                .to_str()
                .ok()
                .and_then(|value| {
                    let (scheme, token) = value.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|token| looks_like_token(token))
                .ok_or(ApiError::Unauthorized { presented: true })?;
            let hash = token_hash(token);
            let state = state.ok_or_else(|| ApiError::Internal("no app state".into()))?;
            run_write(&state, move |conn| access::actor_by_hash(conn, &hash))
                .await?
                .map(Bearer)
                .ok_or(ApiError::Unauthorized { presented: true })
        })
    }
}

/// What a path segment must escape (RFC 3986 §3.3).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The resources written through this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Notice,
    Campaign,
    Event,
    Lab,
    Product,
}

impl Kind {
    /// The import document's section (and the collection's path segment).
    pub fn section(self) -> &'static str {
        match self {
            Self::Notice => "notices",
            Self::Campaign => "campaigns",
            Self::Event => "events",
            Self::Lab => "labs",
            Self::Product => "products",
        }
    }

    /// The name in the audit log and in messages.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Campaign => "campaign",
            Self::Event => "event",
            Self::Lab => "lab",
            Self::Product => "product",
        }
    }

    fn of_noun(noun: &str) -> Option<Self> {
        [
            Self::Notice,
            Self::Campaign,
            Self::Event,
            Self::Lab,
            Self::Product,
        ]
        .into_iter()
        .find(|kind| kind.noun() == noun)
    }

    /// The body field holding the record's id.
    fn key(self) -> &'static str {
        match self {
            Self::Product => "certificate_no",
            _ => "id",
        }
    }

    /// Fields the server sets or derives: refused in a write body (the
    /// import document accepts and ignores them, so that an export loads).
    fn server_set(self) -> &'static [&'static str] {
        match self {
            Self::Event => &["kind", "updated_at", "distance_km"],
            Self::Product => &["category", "updated_at"],
            Self::Lab => &["updated_at", "distance_km"],
            Self::Notice | Self::Campaign => &["updated_at"],
        }
    }

    /// The record's URL.
    pub fn location(self, id: &str) -> String {
        let id = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT);
        format!("/api/v1/{}/{id}", self.section())
    }
}

/// The record as `GET` serves it with default parameters (the same bytes,
/// so the same ETag), or `None` when there is none.
pub fn representation(conn: &mut DbConn, kind: Kind, id: &str) -> DbResult<Option<String>> {
    let json = match kind {
        Kind::Notice => crate::db::notices::get(conn, id).map(|r| to_json(&Notice::from(r))),
        Kind::Campaign => crate::db::campaigns::get(conn, id).map(|r| to_json(&Campaign::from(r))),
        Kind::Event => crate::db::events::get(conn, id)
            .map(|hit| to_json(&Event::from(hit).in_coord_sys(CoordSys::Wgs84))),
        Kind::Lab => crate::db::labs::get_lab(conn, id).and_then(|hit| {
            let sessions = crate::db::labs::sessions_of(conn, &[id.to_owned()])?
                .remove(id)
                .unwrap_or_default();
            Ok(to_json(&Lab::new(hit, sessions, CoordSys::Wgs84)))
        }),
        Kind::Product => crate::db::products::get(conn, id)
            .map(|hit| to_json(&Product::new(hit, crate::domain::today_in_shanghai()))),
    };
    match json {
        Ok(text) => text.map(Some),
        Err(DbError::NotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| DbError::Query(e.to_string()))
}

/// What a write does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Change,
    Delete,
}

/// Refuses a write to a stored record outside the actor's scope, before
/// anything else is looked at: the answer is the same 403 whether or not
/// the record exists, so a write never tells what lies outside a scope.
fn guard(conn: &mut DbConn, actor: &Actor, kind: Kind, id: &str, op: Op) -> DbResult<()> {
    let allowed = match &actor.scope {
        Scope::National => true,
        // A lab token changes its own lab and its sessions; labs are
        // registered and removed by their region.
        Scope::Lab(lab) => kind == Kind::Lab && lab.as_str() == id && op == Op::Change,
        Scope::Region(_) => {
            match access::stored_regions(conn, kind.section(), &[id.to_owned()])?.remove(id) {
                None => true,
                Some(region) => {
                    actor
                        .scope
                        .covers(&access::place_of(conn, region.as_deref(), None)?)
                }
            }
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(DbError::Forbidden(format!("{} {id}", kind.noun())))
    }
}

/// What a single-record write expects of the stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// A create: no record with the id.
    Absent,
    /// A replace: anything, or what `If-Match` names.
    IfMatch(Option<String>),
    /// A merge patch: the representation it was computed from.
    Base(String),
}

/// Audits a write inside its transaction (the representations before and
/// after of every record written), checks a single write's expectation of
/// the stored record there, and keeps the reply to an idempotent create.
struct Audit<'a> {
    actor: &'a Actor,
    at: NaiveDateTime,
    /// For a single write: what the stored record must be.
    expect: Option<Expect>,
    /// For an idempotent create: (key, fingerprint).
    idempotency: Option<(String, String)>,
    before: Vec<Option<String>>,
    /// The representation of the (first) record after the write, and
    /// whether the write created it.
    after: Option<String>,
    created: bool,
}

impl<'a> Audit<'a> {
    fn new(actor: &'a Actor, at: NaiveDateTime) -> Self {
        Self {
            actor,
            at,
            expect: None,
            idempotency: None,
            before: Vec::new(),
            after: None,
            created: false,
        }
    }
}

fn kind_of(target: &Target) -> DbResult<Kind> {
    Kind::of_noun(target.0).ok_or_else(|| DbError::Query(format!("unknown kind {}", target.0)))
}

impl Observer for Audit<'_> {
    fn before(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()> {
        self.before = targets
            .iter()
            .map(|t| representation(conn, kind_of(t)?, &t.1))
            .collect::<DbResult<_>>()?;
        let stored = self.before.first().cloned().flatten();
        match (&self.expect, &stored) {
            (Some(Expect::Absent), Some(_)) => {
                return Err(DbError::Conflict("the id was taken meanwhile".into()))
            }
            (Some(Expect::IfMatch(Some(header))), stored) => {
                let tags = stored.as_ref().map(|s| json_tags(s.as_bytes()));
                if !if_match(header, tags.as_deref()) {
                    return Err(DbError::PreconditionFailed(
                        "If-Match does not name the stored representation; GET it again".into(),
                    ));
                }
            }
            (Some(Expect::Base(base)), stored) if stored.as_ref() != Some(base) => {
                return Err(DbError::Conflict(
                    "the record changed while the patch was applied; retry".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn after(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()> {
        let mut entries = Vec::with_capacity(targets.len());
        self.created = self.before.first().is_some_and(Option::is_none);
        for (target, before) in targets.iter().zip(std::mem::take(&mut self.before)).rev() {
            let after = representation(conn, kind_of(target)?, &target.1)?;
            entries.push(AuditEntry {
                at: self.at,
                actor: self.actor.name.clone(),
                action: if before.is_some() { "update" } else { "create" },
                target_type: target.0,
                target_id: target.1.clone(),
                before,
                after: after.clone(),
            });
            self.after = after;
        }
        access::record(conn, &entries)?;
        if let (Some((key, fingerprint)), Some((kind, id))) = (&self.idempotency, targets.first()) {
            let reply = IdempotentReply {
                fingerprint: fingerprint.clone(),
                status: 201,
                location: Some(Kind::of_noun(kind).map_or_else(String::new, |k| k.location(id))),
                body: self.after.clone().unwrap_or_default(),
            };
            access::keep_reply(conn, &self.actor.name, key, &reply, self.at)?;
        }
        Ok(())
    }
}

fn now() -> NaiveDateTime {
    // Microseconds: what PostgreSQL keeps.
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// The refusals of a single write, as the API answers them.
fn refusal(report: Report) -> ApiError {
    if !report.forbidden.is_empty() {
        return ApiError::Forbidden(Vec::new());
    }
    ApiError::Invalid(
        report
            .errors
            .into_iter()
            .map(|RowError { field, reason, .. }| {
                let field = if field == "(item)" {
                    "body".into()
                } else {
                    field
                };
                FieldError::new(field, reason)
            })
            .collect(),
    )
}

/// A write body: a JSON object without the fields in `server_set`.
fn body_fields(
    body: &[u8],
    server_set: &[&str],
) -> Result<serde_json::Map<String, Value>, ApiError> {
    // serde_json keeps the last of a repeated key; a body that says two
    // things is refused instead of read as one of them.
    serde_json::from_slice::<UniqueKeys>(body)
        .map_err(|e| ApiError::invalid("body", format!("not JSON: {e}")))?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("not JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let refused: Vec<FieldError> = server_set
        .iter()
        .filter(|field| object.contains_key(**field))
        .map(|field| FieldError::new(*field, "is set by the server and cannot be written"))
        .collect();
    if refused.is_empty() {
        Ok(object)
    } else {
        Err(ApiError::Invalid(refused))
    }
}

/// Any JSON value in which no object names a key twice (at any depth).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key {key:?} appears twice"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
}

/// A record's write body; for a lab, its sessions' server-set fields too.
fn body_object(kind: Kind, body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    let object = body_fields(body, kind.server_set())?;
    let mut refused = Vec::new();
    if let (Kind::Lab, Some(Value::Array(days))) = (kind, object.get("open_days")) {
        for (i, day) in days.iter().enumerate() {
            for field in sessions::SERVER_SET {
                if day.get(field).is_some() {
                    refused.push(FieldError::new(
                        format!("open_days[{i}].{field}"),
                        "is set by the server and cannot be written",
                    ));
                }
            }
        }
    }
    if refused.is_empty() {
        Ok(object)
    } else {
        Err(ApiError::Invalid(refused))
    }
}

/// The result of a single-record write.
struct Written {
    created: bool,
    body: String,
}

/// Writes one record (create or replace) through the import, in one
/// transaction with its audit entry.
fn write_one(
    conn: &mut DbConn,
    actor: &Actor,
    kind: Kind,
    id: &str,
    mut item: serde_json::Map<String, Value>,
    expect: Expect,
    idempotency: Option<(String, String)>,
) -> Result<Written, ApiError> {
    let op = if expect == Expect::Absent {
        Op::Create
    } else {
        Op::Change
    };
    guard(conn, actor, kind, id, op)?;
    item.insert(kind.key().to_owned(), Value::String(id.to_owned()));
    let document = serde_json::json!({ kind.section(): [item] }).to_string();
    let mut audit = Audit {
        expect: Some(expect),
        idempotency,
        ..Audit::new(actor, now())
    };
    let report = crate::import::submit(conn, &document, false, actor, &mut audit)?;
    if !report.is_clean() {
        return Err(refusal(report));
    }
    Ok(Written {
        created: audit.created,
        body: audit.after.unwrap_or_default(),
    })
}

/// The id in a write's path, as stored: a record id, or a certificate
/// number normalized as look-ups normalize it.
fn path_key(kind: Kind, raw: &str) -> Result<String, ApiError> {
    match kind {
        Kind::Product => raw
            .parse::<crate::domain::CertificateNo>()
            .map(|number| number.as_str().to_owned())
            .map_err(|crate::domain::Invalid(message)| {
                ApiError::invalid("certificate_no", message)
            }),
        _ => Ok(super::path_id(raw)?.into_string()),
    }
}

fn header_text(req: &HttpRequest, name: &str) -> Result<Option<String>, ApiError> {
    req.headers()
        .get(name)
        .map(|value| {
            value
                .to_str()
                .map(|v| v.trim().to_owned())
                .map_err(|_| ApiError::invalid(name, "must be visible ASCII"))
        })
        .transpose()
}

/// Writes take JSON (a merge patch may say `application/merge-patch+json`).
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json")
    {
        Ok(())
    } else {
        Err(ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, got {content_type:?}"),
        ))
    }
}

/// A write's answer, built on the blocking pool and sent by the worker.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Reply {
    fn written(kind: Kind, id: &str, written: Written) -> Self {
        Self {
            status: if written.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            location: written.created.then(|| kind.location(id)),
            body: written.body,
        }
    }

    /// The kept answer to an earlier request with this `Idempotency-Key`;
    /// the key sent with another request is refused.
    fn replayed(kept: IdempotentReply, fingerprint: &str) -> Result<Self, ApiError> {
        if kept.fingerprint != fingerprint {
            return Err(ApiError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this Idempotency-Key was used for another request; use a new key per create",
            ));
        }
        Ok(Self {
            status: StatusCode::from_u16(kept.status as u16).unwrap_or(StatusCode::CREATED),
            location: kept.location,
            body: kept.body,
        })
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(location) = self.location {
            response.insert_header((header::LOCATION, location));
        }
        response
            .insert_header((header::ETAG, tag_of(self.body.as_bytes())))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/json")
            .body(self.body)
    }
}

/// Longest `Idempotency-Key` kept.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `POST /{collection}`: creates a record; an id missing from the body is
/// generated. With `Idempotency-Key`, a retry of the same request answers
/// what the first answered and creates nothing more.
pub async fn create_record(
    state: web::Data<AppState>,
    req: HttpRequest,
    actor: Actor,
    kind: Kind,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let mut item = body_object(kind, &body)?;
    let key = header_text(&req, "Idempotency-Key")?;
    if key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY)
    {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    let fingerprint = {
        let mut hasher = Sha256::new();
        hasher.update(req.path().as_bytes());
        hasher.update([0]);
        hasher.update(&body);
        hex::encode(hasher.finalize())
    };
    let id = match item.remove(kind.key()) {
        Some(Value::String(id)) => path_key(kind, &id).map_err(|e| match e {
            ApiError::Invalid(mut errors) => {
                for error in &mut errors {
                    error.field = kind.key().to_owned();
                }
                ApiError::Invalid(errors)
            }
            other => other,
        })?,
        Some(_) => return Err(ApiError::invalid(kind.key(), "must be a string")),
        None if kind == Kind::Product => {
            return Err(ApiError::invalid(
                "certificate_no",
                "is required: a certificate is known by its number",
            ))
        }
        None => new_record_id(kind.noun())?,
    };
    run_write(&state, move |conn| {
        let attempt = |conn: &mut DbConn| -> Result<Reply, ApiError> {
            if let Some(key) = &key {
                if let Some(kept) = access::idempotent_reply(conn, &actor.name, key)? {
                    return Reply::replayed(kept, &fingerprint);
                }
            }
            if representation(conn, kind, &id)?.is_some() {
                guard(conn, &actor, kind, &id, Op::Create)?;
                return Err(ApiError::status(
                    StatusCode::CONFLICT,
                    format!(
                        "a {} with {} {id:?} exists; PUT {} replaces it",
                        kind.noun(),
                        kind.key(),
                        kind.location(&id)
                    ),
                ));
            }
            let idempotency = key.clone().map(|k| (k, fingerprint.clone()));
            write_one(
                conn,
                &actor,
                kind,
                &id,
                item.clone(),
                Expect::Absent,
                idempotency,
            )
            .map(|w| Reply::written(kind, &id, w))
        };
        Ok(match attempt(conn) {
            // A concurrent request with the same key committed first:
            // the second attempt answers as it did.
            Err(ApiError::Status { status, .. })
                if status == StatusCode::CONFLICT && key.is_some() =>
            {
                attempt(conn)
            }
            other => other,
        })
    })
    .await?
    .map(Reply::into_response)
}

/// A fresh id (`{prefix}-` and 80 random bits) for a created record whose
/// body names none.
pub(crate) fn new_record_id(prefix: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("random: {e}")))?;
    Ok(format!("{prefix}-{}", hex::encode(bytes)))
}

/// `PUT /{collection}/{id}`: replaces the record, or creates it.
pub async fn replace_record(
    state: web::Data<AppState>,
    req: HttpRequest,
    actor: Actor,
    kind: Kind,
    raw_id: &str,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path_key(kind, raw_id)?;
    require_json(&req)?;
    let item = body_object(kind, &body)?;
    same_id(kind, &item, &id)?;
    let if_match = header_text(&req, "If-Match")?;
    run_write(&state, move |conn| {
        Ok(write_one(
            conn,
            &actor,
            kind,
            &id,
            item,
            Expect::IfMatch(if_match),
            None,
        )
        .map(|w| Reply::written(kind, &id, w)))
    })
    .await?
    .map(Reply::into_response)
}

/// An id in a body must be the one in the path: ids never change.
fn same_id(kind: Kind, item: &serde_json::Map<String, Value>, id: &str) -> Result<(), ApiError> {
    match item.get(kind.key()) {
        None => Ok(()),
        Some(Value::String(given)) if path_key(kind, given).ok().as_deref() == Some(id) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            kind.key(),
            format!("must be {id:?}, as in the path: a record's id never changes"),
        )),
    }
}

/// `PATCH /{collection}/{id}`: an RFC 7396 merge patch of the record's
/// representation, written as a replace of the merged result.
pub async fn patch_record(
    state: web::Data<AppState>,
    req: HttpRequest,
    actor: Actor,
    kind: Kind,
    raw_id: &str,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = path_key(kind, raw_id)?;
    require_json(&req)?;
    let patch = body_object(kind, &body)?;
    same_id(kind, &patch, &id)?;
    let if_match = header_text(&req, "If-Match")?;
    run_write(&state, move |conn| {
        let apply = |conn: &mut DbConn| -> Result<Reply, ApiError> {
            guard(conn, &actor, kind, &id, Op::Change)?;
            let Some(base) = representation(conn, kind, &id)? else {
                return Err(ApiError::NotFound(format!("no {} {id:?}", kind.noun())));
            };
            if let Some(header) = &if_match {
                if !if_match_text(header, &base) {
                    return Err(DbError::PreconditionFailed(
                        "If-Match does not name the stored representation; GET it again".into(),
                    )
                    .into());
                }
            }
            let mut merged: Value = serde_json::from_str(&base)
                .map_err(|e| ApiError::Internal(format!("stored representation: {e}")))?;
            json_patch::merge(&mut merged, &Value::Object(patch.clone()));
            let Value::Object(mut item) = merged else {
                return Err(ApiError::invalid("body", "must be a JSON object"));
            };
            for field in kind.server_set() {
                item.remove(*field);
            }
            write_one(conn, &actor, kind, &id, item, Expect::Base(base), None)
                .map(|w| Reply::written(kind, &id, w))
        };
        Ok(apply(conn))
    })
    .await?
    .map(Reply::into_response)
}

fn if_match_text(header: &str, representation: &str) -> bool {
    if_match(header, Some(&json_tags(representation.as_bytes())))
}

/// `DELETE /{collection}/{id}`: 204; mirrors learn of it from the change feed.
pub async fn delete_record(
    state: web::Data<AppState>,
    req: HttpRequest,
    actor: Actor,
    kind: Kind,
    raw_id: &str,
) -> Result<HttpResponse, ApiError> {
    let id = path_key(kind, raw_id)?;
    let if_match = header_text(&req, "If-Match")?;
    run_write(&state, move |conn| {
        crate::db::exclusive_transaction(conn, |conn| {
            guard(conn, &actor, kind, &id, Op::Delete)?;
            let Some(before) = representation(conn, kind, &id)? else {
                return Err(DbError::NotFound(format!("no {} {id:?}", kind.noun())));
            };
            if let Some(header) = &if_match {
                if !if_match_text(header, &before) {
                    return Err(DbError::PreconditionFailed(
                        "If-Match does not name the stored representation; GET it again".into(),
                    ));
                }
            }
            let at = now();
            match kind {
                Kind::Notice => crate::db::notices::delete(conn, &id, at),
                Kind::Campaign => crate::db::campaigns::delete(conn, &id, at),
                Kind::Event => crate::db::events::delete(conn, &id, at),
                Kind::Lab => crate::db::labs::delete(conn, &id, at),
                Kind::Product => crate::db::products::delete(conn, &id, at),
            }?;
            access::record(
                conn,
                &[AuditEntry {
                    at,
                    actor: actor.name.clone(),
                    action: "delete",
                    target_type: kind.noun(),
                    target_id: id.clone(),
                    before: Some(before),
                    after: None,
                }],
            )
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The four write operations of one resource, with their OpenAPI
/// descriptions: each handler hands its `Kind` to the shared code above.
macro_rules! write_routes {
    (
        kind: $kind:expr, tag: $tag:tt, noun: $noun:tt,
        collection: $collection:tt, item: $item:tt, id: $id:tt = $key:ty,
        input: $input:ty, output: $output:ty,
        create: $create:ident $create_op:tt,
        replace: $replace:ident $replace_op:tt,
        patch: $patch:ident $patch_op:tt,
        delete: $delete:ident $delete_op:tt $(,)?
    ) => {
        #[utoipa::path(
            operation_id = $create_op,
            summary = concat!("Create ", $noun),
            description = "Needs a token whose scope covers where the record is.",
            tag = $tag,
            request_body(content = $input, content_type = "application/json",
                description = "The record in its read shape without server-set fields; `region` may be a bare adcode; a missing id is generated."),
            params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
                description = "A retried create with the same key answers as the first did and creates one record.")),
            security(("bearer" = [])),
            responses(
                (status = 201, description = "Created", body = $output,
                    headers(("Location" = String, description = "The record's URL"), ("ETag" = String, description = "The record's tag"))),
                (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Idempotency-Key reused for another request", body = Problem, content_type = "application/problem+json"),
                Refusals,
            )
        )]
        #[post($collection)]
        pub async fn $create(
            state: web::Data<AppState>,
            req: HttpRequest,
            Bearer(actor): Bearer,
            body: web::Bytes,
        ) -> Result<HttpResponse, ApiError> {
            create_record(state, req, actor, $kind, body).await
        }

        #[utoipa::path(
            operation_id = $replace_op,
            summary = concat!("Replace ", $noun, ", or create it with this id"),
            description = "Moving a record (another region) needs scope over where it is and where it goes.",
            tag = $tag,
            request_body(content = $input, content_type = "application/json",
                description = "The whole record. Its key is the path's: a key in the body, if any, must equal it."),
            params(($id = $key, Path, description = "The record's id"),
                ("If-Match" = Option<String>, Header, description = "The ETag last read: the write fails with 412 if the record changed since.")),
            security(("bearer" = [])),
            responses(
                (status = 200, description = "Replaced", body = $output),
                (status = 201, description = "Created", body = $output),
                Refusals,
                Stale,
            )
        )]
        #[put($item)]
        pub async fn $replace(
            state: web::Data<AppState>,
            req: HttpRequest,
            Bearer(actor): Bearer,
            path: web::Path<String>,
            body: web::Bytes,
        ) -> Result<HttpResponse, ApiError> {
            replace_record(state, req, actor, $kind, &path, body).await
        }

        #[utoipa::path(
            operation_id = $patch_op,
            summary = concat!("Change fields of ", $noun),
            description = "A JSON merge patch (RFC 7396) of the record's read shape.",
            tag = $tag,
            request_body(content = Object, content_type = "application/merge-patch+json",
                description = "Fields to change, in the read shape; `null` removes an optional field."),
            params(($id = $key, Path, description = "The record's id"),
                ("If-Match" = Option<String>, Header, description = "The ETag last read: the write fails with 412 if the record changed since.")),
            security(("bearer" = [])),
            responses(
                (status = 200, description = "Changed", body = $output),
                (status = 409, description = "Changed by another write meanwhile; retry", body = Problem, content_type = "application/problem+json"),
                Refusals,
                Stale,
            )
        )]
        #[patch($item)]
        pub async fn $patch(
            state: web::Data<AppState>,
            req: HttpRequest,
            Bearer(actor): Bearer,
            path: web::Path<String>,
            body: web::Bytes,
        ) -> Result<HttpResponse, ApiError> {
            patch_record(state, req, actor, $kind, &path, body).await
        }

        #[utoipa::path(
            operation_id = $delete_op,
            summary = concat!("Delete ", $noun),
            description = "Mirrors learn of it from the change feed.",
            tag = $tag,
            params(($id = $key, Path, description = "The record's id"),
                ("If-Match" = Option<String>, Header, description = "The ETag last read: the delete fails with 412 if the record changed since.")),
            security(("bearer" = [])),
            responses(
                (status = 204, description = "Deleted"),
                (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "Other records still refer to it (a campaign's events, a notice's campaigns): delete those first", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "No or unknown bearer token", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Outside the token's scope", body = Problem, content_type = "application/problem+json"),
                Stale,
            )
        )]
        #[delete($item)]
        pub async fn $delete(
            state: web::Data<AppState>,
            req: HttpRequest,
            Bearer(actor): Bearer,
            path: web::Path<String>,
        ) -> Result<HttpResponse, ApiError> {
            delete_record(state, req, actor, $kind, &path).await
        }
    };
}

use crate::error::Problem;

/// The refusals every write with a body may answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Refusals {
    /// Invalid body: every refused field
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(Problem),
    /// No or unknown bearer token
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Outside the token's scope (where the record is, or where it would go)
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// Not JSON
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
}

/// What `If-Match` and a missing record add.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Stale {
    /// No such record
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// If-Match names another representation
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Problem),
}

write_routes! {
    kind: Kind::Notice, tag: "notices", noun: "a notice",
    collection: "", item: "/{id}", id: "id" = crate::domain::RecordId,
    input: crate::import::NoticeInput, output: Notice,
    create: create_notice "create_notice",
    replace: replace_notice "replace_notice",
    patch: patch_notice "patch_notice",
    delete: delete_notice "delete_notice",
}

write_routes! {
    kind: Kind::Campaign, tag: "campaigns", noun: "a campaign",
    collection: "", item: "/{id}", id: "id" = crate::domain::RecordId,
    input: crate::import::CampaignInput, output: Campaign,
    create: create_campaign "create_campaign",
    replace: replace_campaign "replace_campaign",
    patch: patch_campaign "patch_campaign",
    delete: delete_campaign "delete_campaign",
}

write_routes! {
    kind: Kind::Event, tag: "events", noun: "an event",
    collection: "", item: "/{id}", id: "id" = crate::domain::RecordId,
    input: crate::import::EventInput, output: Event,
    create: create_event "create_event",
    replace: replace_event "replace_event",
    patch: patch_event "patch_event",
    delete: delete_event "delete_event",
}

write_routes! {
    kind: Kind::Lab, tag: "labs", noun: "a lab",
    collection: "", item: "/{id}", id: "id" = crate::domain::RecordId,
    input: crate::import::LabInput, output: Lab,
    create: create_lab "create_lab",
    replace: replace_lab "replace_lab",
    patch: patch_lab "patch_lab",
    delete: delete_lab "delete_lab",
}

write_routes! {
    kind: Kind::Product, tag: "products", noun: "a product certificate",
    collection: "", item: "/{certificate_no}", id: "certificate_no" = crate::domain::CertificateNo,
    input: crate::import::ProductInput, output: Product,
    create: create_product "create_product",
    replace: replace_product "replace_product",
    patch: patch_product "patch_product",
    delete: delete_product "delete_product",
}

/// Largest bulk import body, and most rows (larger datasets: `ticweek import`).
pub const IMPORT_MAX_BYTES: usize = 10 * 1024 * 1024;
pub const IMPORT_MAX_ROWS: usize = 5_000;

/// Parameters of the bulk import.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true`: check every row, report every bad one, write nothing.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

/// What a bulk import wrote (or, dry, would write).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: crate::import::Counts,
}

/// Load an import document (JSON as `ticweek export` writes it, or products
/// as CSV with the columns of `/products.csv`): all or nothing, in one
/// transaction, every row inside the token's scope.
#[utoipa::path(
    operation_id = "import_records",
    tag = "sync",
    params(ImportQuery),
    request_body(content = String, description = "A JSON import document (`application/json`) or product certificates as CSV (`text/csv`); at most 10 MiB and 5,000 rows.",
        content(
            (crate::import::ImportDocument = "application/json"),
            (String = "text/csv"),
        )),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Written (or, with dry_run, checked and fine)", body = ImportSummary),
        (status = 400, description = "Bad rows: each named `section[index].field`; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Rows outside the token's scope, each named; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 10 MiB or 5,000 rows", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/import")]
pub async fn import_records(
    state: web::Data<AppState>,
    req: HttpRequest,
    Bearer(actor): Bearer,
    super::query::Params(query): super::query::Params<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let dry_run = query
        .dry_run
        .as_deref()
        .map(super::query::boolean)
        .transpose()
        .map_err(|crate::domain::Invalid(m)| ApiError::invalid("dry_run", m))?
        .unwrap_or(false);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type != "text/csv" && content_type != "application/json" {
        return Err(ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json or text/csv, got {content_type:?}"),
        ));
    }
    let body = read_limited(&req, payload, IMPORT_MAX_BYTES).await?;
    let text =
        String::from_utf8(body).map_err(|_| ApiError::invalid("body", "must be UTF-8 text"))?;
    // The import reads JSON when the text starts with `{`, CSV otherwise:
    // the body must be what its Content-Type says.
    let json = text
        .trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
        .starts_with('{');
    if json != (content_type == "application/json") {
        return Err(ApiError::invalid(
            "body",
            format!(
                "is {}, but Content-Type says {content_type}",
                if json {
                    "a JSON document"
                } else {
                    "not a JSON object"
                }
            ),
        ));
    }
    let rows = if json {
        json_rows(&text)
    } else {
        csv_rows(&text)
    };
    if rows > IMPORT_MAX_ROWS {
        return Err(ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{rows} rows; at most {IMPORT_MAX_ROWS} per request (load larger datasets with `ticweek import`)"
            ),
        ));
    }
    let report = run_write(&state, move |conn| {
        let mut audit = Audit::new(&actor, now());
        crate::import::submit(conn, &text, dry_run, &actor, &mut audit)
    })
    .await?;
    let named = |errors: Vec<RowError>| -> Vec<FieldError> {
        errors
            .into_iter()
            .map(|e| FieldError::new(format!("{}[{}].{}", e.section, e.index, e.field), e.reason))
            .collect()
    };
    if !report.forbidden.is_empty() {
        return Err(ApiError::Forbidden(named(report.forbidden)));
    }
    if !report.errors.is_empty() {
        return Err(ApiError::Invalid(named(report.errors)));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ImportSummary {
            dry_run,
            counts: report.counts,
        }))
}

/// The request body, refused with 413 past `limit` bytes (by its declared
/// length at once, or as it streams in without one).
async fn read_limited(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the {limit} bytes accepted"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // A compressed body (`Content-Encoding: gzip`) is inflated as it
    // arrives and capped on what it inflates to: a bomb stops at `limit`.
    let mut body = actix_web::dev::Decompress::from_headers(payload.into_inner(), req.headers());
    collect_capped(&mut body, declared.unwrap_or(0), limit, too_large).await
}

/// The chunks of a body (or of one multipart part) in one buffer, refused
/// with `too_large()` as soon as they pass `limit` bytes.
pub(crate) async fn collect_capped<S, E>(
    stream: &mut S,
    capacity: usize,
    limit: usize,
    too_large: impl Fn() -> ApiError,
) -> Result<Vec<u8>, ApiError>
where
    S: futures_core::Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut body = Vec::with_capacity(capacity.min(limit));
    while let Some(chunk) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
    {
        let chunk = chunk.map_err(|e| ApiError::invalid("body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Rows in a JSON import document, a lab's sessions included (0 when it
/// does not parse: the import says why).
fn json_rows(text: &str) -> usize {
    use serde_json::value::RawValue;
    /// A lab's sessions, whatever else the item holds.
    #[derive(serde::Deserialize)]
    struct Sessions<'a> {
        #[serde(default, borrow)]
        open_days: Vec<&'a RawValue>,
    }
    // Owned keys: an escaped key (`"product\u0073"`) must count too.
    let sections: Result<std::collections::HashMap<String, Vec<&RawValue>>, _> =
        serde_json::from_str(text);
    sections.map_or(0, |sections| {
        sections
            .iter()
            .map(|(section, items)| {
                let sessions: usize = if section == "labs" {
                    items
                        .iter()
                        .filter_map(|item| serde_json::from_str::<Sessions>(item.get()).ok())
                        .map(|lab| lab.open_days.len())
                        .sum()
                } else {
                    0
                };
                items.len() + sessions
            })
            .sum()
    })
}

/// Records in a CSV body, header excluded.
fn csv_rows(text: &str) -> usize {
    csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .count()
}
