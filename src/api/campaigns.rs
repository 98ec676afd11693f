//! `GET /campaigns`, `GET /campaigns/{id}`: one campaign kind per region and year.
//!
//! A page of campaigns is written from their representations held in memory
//! (`CampaignBodies`, rendered once per version of the campaigns: 775 in
//! the national data), the database asked only for the page's ids; from
//! rows while those are not current.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::held::Held;
use super::paging::{self, Page};
use super::query::{year, Checker, NoParams, Params};
use super::regions::RegionRef;
use super::{run, AppState};
use crate::db::campaigns::{CampaignFilter, CampaignWithRegion};
use crate::db::listings::Campaigns;
use crate::db::{DbConn, DbResult, YearIdKey};
use crate::domain::{to_shanghai, Adcode, CampaignKind};
use crate::error::{ApiError, Problem};

/// A Quality Month campaign of one kind in one region and year.
#[derive(Debug, Serialize, ToSchema)]
pub struct Campaign {
    /// Stable id.
    #[schema(example = "jiangxi-2022-organic-week")]
    pub id: String,
    /// Kind of campaign.
    pub kind: CampaignKind,
    /// Campaign year.
    pub year: i32,
    /// Name of the campaign as the notice gives it.
    #[schema(example = "有机产品认证宣传周")]
    pub title: String,
    /// Theme (主题); `null` when the notice defers to the national theme without naming it.
    #[schema(example = "护航消费升级 优享品质生活")]
    pub theme: Option<String>,
    /// Region the campaign covers; `null` for national campaigns.
    pub region: Option<RegionRef>,
    /// First day: the exact start, or the start of the window the notice allows.
    #[serde(serialize_with = "crate::domain::optional_date")]
    pub starts_on: Option<NaiveDate>,
    /// Last day: the exact end, or the end of the window.
    #[serde(serialize_with = "crate::domain::optional_date")]
    pub ends_on: Option<NaiveDate>,
    /// The notice's own wording of the period when it is not exact dates (e.g. `9月任选一周`).
    pub period_text: Option<String>,
    /// The notice that announces the campaign.
    pub notice_id: String,
    /// Where this record comes from.
    pub source: String,
    /// Last change of this record, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
}

impl From<CampaignWithRegion> for Campaign {
    fn from((row, region_name): CampaignWithRegion) -> Self {
        Self {
            kind: row.kind.parse().unwrap_or(CampaignKind::SmeQms),
            region: RegionRef::from_parts(row.region, region_name),
            id: row.id,
            year: row.year,
            title: row.title,
            theme: row.theme,
            starts_on: row.starts_on,
            ends_on: row.ends_on,
            period_text: row.period_text,
            notice_id: row.notice_id,
            source: row.source,
            updated_at: to_shanghai(row.updated_at),
        }
    }
}

/// Filters of `GET /campaigns`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignsQuery {
    /// Only campaigns of this year.
    #[param(value_type = Option<i32>, minimum = 2000, maximum = 2100, example = 2022)]
    year: Option<String>,
    /// Only campaigns of this kind.
    #[param(value_type = Option<CampaignKind>)]
    kind: Option<String>,
    /// Only campaigns of this region or any region below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    region: Option<String>,
    /// Page size, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl CampaignsQuery {
    fn into_filter(self) -> Result<CampaignFilter, ApiError> {
        let mut check = Checker::default();
        let filter = CampaignFilter {
            year: check.parse("year", self.year.as_deref(), year),
            kind: check.parse("kind", self.kind.as_deref(), str::parse),
            region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                paging::decode_year_id("campaigns", raw)
            }),
            limit: check.limit(self.limit.as_deref()),
        };
        check.finish(filter)
    }
}

/// List campaigns, newest year first.
#[utoipa::path(
    operation_id = "list_campaigns",
    tag = "campaigns",
    params(CampaignsQuery),
    responses(
        (status = 200, description = "A page of campaigns", body = Page<Campaign>,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_campaigns(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<CampaignsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.into_filter()?;
    let again = filter.clone();
    // While the campaigns' version is fresh, the page is chosen here, on
    // the worker, with no connection.
    let found = match state.campaign_bodies.fresh() {
        Some(held) => Found::Held(held, filter),
        None => {
            let bodies = state.campaign_bodies.clone();
            run(&state, move |conn| {
                Ok(match bodies.current(conn)? {
                    Some(held) => Found::Held(held, filter),
                    None => Found::Rows(crate::db::campaigns::list(conn, &filter)?),
                })
            })
            .await?
        }
    };
    let cursor = |year, id: &str| {
        let position = YearIdKey {
            year,
            id: id.to_owned(),
        };
        paging::encode_year_id("campaigns", &position)
    };
    let (rows, more) = match found {
        Found::Held(held, filter) => {
            let (ids, more) = held.listing.page(&filter)?;
            if let Some(records) = held.all(ids.iter().copied()) {
                let next_cursor = more
                    .then(|| records.last().zip(ids.last()))
                    .flatten()
                    .map(|(record, id)| cursor(record.cursor, id));
                return Ok(paging::respond_items(
                    &req,
                    next_cursor,
                    &records,
                    |record| record.body.len(),
                    |out, record| out.extend_from_slice(&record.body),
                ));
            }
            // A campaign written since: its rows.
            run(&state, move |conn| crate::db::campaigns::list(conn, &again)).await?
        }
        Found::Rows(page) => page,
    };
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|(row, _)| cursor(row.year, &row.id));
    let items = rows.into_iter().map(Campaign::from).collect();
    let next = next_cursor.clone();
    Ok(paging::respond(
        &req,
        Page { items, next_cursor },
        next.as_deref(),
    ))
}

/// What a page of campaigns was read as.
enum Found {
    /// The representations held at the time, which choose the page.
    Held(std::sync::Arc<CampaignBodies>, CampaignFilter),
    /// Its rows.
    Rows((Vec<CampaignWithRegion>, bool)),
}

/// Every campaign's representation at one version of the campaigns, by
/// id, with its year for cursors, and their listing.
pub type CampaignBodies = Held<String, i32, Campaigns>;

/// The representations of the campaigns `conn` reads, labelled `version`.
pub fn build_bodies(conn: &mut DbConn, version: i64) -> DbResult<CampaignBodies> {
    let campaigns = crate::db::campaigns::all(conn)?;
    let listing = Campaigns::new(campaigns.iter().map(|(row, _)| row));
    let records = campaigns.into_iter().map(|campaign| {
        let (id, year) = (campaign.0.id.clone(), campaign.0.year);
        let body = serde_json::to_vec(&Campaign::from(campaign)).expect("a campaign serializes");
        (id, year, body)
    });
    Ok(Held::new(version, records.collect::<Vec<_>>(), listing))
}

/// Get one campaign.
#[utoipa::path(
    operation_id = "get_campaign",
    tag = "campaigns",
    params(("id" = crate::domain::RecordId, Path, description = "Campaign id", example = "jiangxi-2022-organic-week")),
    responses(
        (status = 200, description = "The campaign", body = Campaign),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such campaign", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_campaign(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _params: Params<NoParams>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let row = run(&state, move |conn| crate::db::campaigns::get(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(Campaign::from(row)))
}
