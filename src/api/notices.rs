//! `GET /notices`, `GET /notices/{id}`: the documents bureaus issue.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{self, Page};
use super::query::{year, Checker, NoParams, Params};
use super::regions::RegionRef;
use super::{run, AppState};
use crate::db::notices::{NoticeFilter, NoticeWithRegion};
use crate::db::YearIdKey;
use crate::domain::{to_shanghai, Adcode, SearchQuery};
use crate::error::{ApiError, Problem};

/// A person to contact about a notice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Name as printed in the notice.
    pub name: String,
    /// Phone number as printed, e.g. `0791-86355828`.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// Something the notice asks to be delivered by a date.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    /// What is due, in the notice's words.
    pub title: String,
    /// The last day (Asia/Shanghai).
    pub due_on: NaiveDate,
}

/// A notice (通知) issued by a market-regulation bureau.
#[derive(Debug, Serialize, ToSchema)]
pub struct Notice {
    /// Stable id.
    #[schema(example = "shanxi-2024-209")]
    pub id: String,
    /// Document number (文号).
    #[schema(example = "晋市监函〔2024〕209号")]
    pub doc_number: String,
    /// Title.
    pub title: String,
    /// Issuing body.
    pub issuer: String,
    /// Region of the issuer; `null` for national notices.
    pub region: Option<RegionRef>,
    /// Year of the notice (from its date or its document number).
    pub year: i32,
    /// Date of issue, when the published text gives it.
    #[serde(serialize_with = "crate::domain::optional_date")]
    pub issued_on: Option<NaiveDate>,
    /// Full text as published; empty for documents known only by citation.
    pub body: String,
    /// Contacts named in the notice.
    pub contacts: Vec<Contact>,
    /// Deadlines the notice sets.
    pub deadlines: Vec<Deadline>,
    /// Document numbers of the notices this one forwards (转发).
    pub forwards: Vec<String>,
    /// Document numbers of the notices this one cites as its basis (根据).
    pub cites: Vec<String>,
    /// Where the notice was published, if known.
    pub source_url: Option<String>,
    /// Where this record comes from (the notice or import it was transcribed from).
    pub source: String,
    /// Last change of this record, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
}

impl From<NoticeWithRegion> for Notice {
    fn from((row, region_name): NoticeWithRegion) -> Self {
        Self {
            region: RegionRef::from_parts(row.region, region_name),
            contacts: serde_json::from_str(&row.contacts).unwrap_or_default(),
            deadlines: serde_json::from_str(&row.deadlines).unwrap_or_default(),
            forwards: serde_json::from_str(&row.forwards).unwrap_or_default(),
            cites: serde_json::from_str(&row.cites).unwrap_or_default(),
            id: row.id,
            doc_number: row.doc_number,
            title: row.title,
            issuer: row.issuer,
            year: row.year,
            issued_on: row.issued_on,
            body: row.body,
            source_url: row.source_url,
            source: row.source,
            updated_at: to_shanghai(row.updated_at),
        }
    }
}

/// Filters of `GET /notices`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticesQuery {
    /// Only notices of this year.
    #[param(value_type = Option<i32>, minimum = 2000, maximum = 2100, example = 2024)]
    year: Option<String>,
    /// Only notices of this region or any region below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    region: Option<String>,
    /// Chinese or Latin text in the title, document number or body (all words must occur).
    #[param(value_type = Option<crate::domain::SearchQuery>, example = "有机")]
    q: Option<String>,
    /// Page size, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl NoticesQuery {
    fn into_filter(self) -> Result<NoticeFilter, ApiError> {
        let mut check = Checker::default();
        let filter = NoticeFilter {
            year: check.parse("year", self.year.as_deref(), year),
            region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
            q: check.parse("q", self.q.as_deref(), SearchQuery::parse),
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                paging::decode_year_id("notices", raw)
            }),
            limit: check.limit(self.limit.as_deref()),
        };
        check.finish(filter)
    }
}

/// List notices, newest year first.
#[utoipa::path(
    operation_id = "list_notices",
    tag = "notices",
    params(NoticesQuery),
    responses(
        (status = 200, description = "A page of notices", body = Page<Notice>,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_notices(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<NoticesQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_filter()?;
    let (rows, more) = run(&state, move |conn| crate::db::notices::list(conn, &filter)).await?;
    let next_cursor = more.then(|| rows.last()).flatten().map(|(row, _)| {
        paging::encode_year_id(
            "notices",
            &YearIdKey {
                year: row.year,
                id: row.id.clone(),
            },
        )
    });
    let items = rows.into_iter().map(Notice::from).collect();
    let next = next_cursor.clone();
    Ok(paging::respond(
        &req,
        Page { items, next_cursor },
        next.as_deref(),
    ))
}

/// Get one notice with its full text, contacts and deadlines.
#[utoipa::path(
    operation_id = "get_notice",
    tag = "notices",
    params(("id" = crate::domain::RecordId, Path, description = "Notice id", example = "shanxi-2024-209")),
    responses(
        (status = 200, description = "The notice", body = Notice),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such notice", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_notice(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _params: Params<NoParams>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let row = run(&state, move |conn| crate::db::notices::get(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(Notice::from(row)))
}
