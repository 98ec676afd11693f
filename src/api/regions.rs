//! `GET /regions`, `GET /regions/{adcode}`: the GB/T 2260 divisions.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::paging::{self, Page};
use super::query::{Checker, CoordQuery, Params};
use crate::db::regions::{RegionFilter, RegionRow};
use crate::domain::{Adcode, CoordSys, LatLon, RegionLevel, SearchQuery};
use crate::error::{ApiError, Problem};

/// An administrative division (GB/T 2260) with its centroid in WGS-84.
#[derive(Debug, Serialize, ToSchema)]
pub struct Region {
    /// Six-digit division code.
    #[schema(example = "360700")]
    pub adcode: String,
    /// Official name.
    #[schema(example = "赣州市")]
    pub name: String,
    /// Level in the hierarchy.
    pub level: RegionLevel,
    /// Adcode of the parent division; `null` for provinces.
    #[schema(example = "360000")]
    pub parent: Option<String>,
    /// Latitude of the centroid, in the requested `coord_sys` (WGS-84 by default).
    pub lat: f64,
    /// Longitude of the centroid, in the requested `coord_sys` (WGS-84 by default).
    pub lon: f64,
}

impl Region {
    fn new(row: RegionRow, coord: CoordSys) -> Self {
        let point = coord.from_wgs84(LatLon {
            lat: row.lat,
            lon: row.lon,
        });
        Self {
            lat: point.lat,
            lon: point.lon,
            ..Self::from(row)
        }
    }
}

impl From<RegionRow> for Region {
    fn from(row: RegionRow) -> Self {
        Self {
            level: row.level.parse().unwrap_or(RegionLevel::County),
            adcode: row.adcode,
            name: row.name,
            parent: row.parent,
            lat: row.lat,
            lon: row.lon,
        }
    }
}

/// A region as it appears inside other records.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RegionRef {
    /// Six-digit division code.
    #[schema(example = "360000")]
    pub adcode: String,
    /// Official name.
    #[schema(example = "江西省")]
    pub name: String,
}

impl RegionRef {
    pub fn from_parts(adcode: Option<String>, name: Option<String>) -> Option<Self> {
        Some(Self {
            adcode: adcode?,
            name: name.unwrap_or_default(),
        })
    }
}

/// Filters of `GET /regions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegionsQuery {
    /// Only the direct children of this division.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    parent: Option<String>,
    /// Only divisions of this level.
    #[param(value_type = Option<RegionLevel>)]
    level: Option<String>,
    /// Part of the name (substring match).
    #[param(value_type = Option<crate::domain::SearchQuery>, example = "赣州")]
    q: Option<String>,
    /// Coordinate system of the centroids returned: `wgs84` (default), `gcj02` (AMap, Tencent), `bd09` (Baidu).
    #[param(value_type = Option<CoordSys>)]
    coord_sys: Option<String>,
    /// Page size, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl RegionsQuery {
    fn into_filter(self) -> Result<(RegionFilter, CoordSys), ApiError> {
        let mut check = Checker::default();
        let coord = super::query::coord_sys(&mut check, self.coord_sys.as_deref());
        let filter = RegionFilter {
            parent: check.parse("parent", self.parent.as_deref(), str::parse::<Adcode>),
            level: check.parse("level", self.level.as_deref(), str::parse),
            q: check.parse("q", self.q.as_deref(), |raw| {
                SearchQuery::parse(raw).map(|q| q.text().to_owned())
            }),
            after: check.parse("cursor", self.cursor.as_deref(), paging::decode_adcode),
            limit: check.limit(self.limit.as_deref()),
        };
        check.finish((filter, coord))
    }
}

/// List administrative divisions, ordered by adcode.
#[utoipa::path(
    operation_id = "list_regions",
    tag = "regions",
    params(RegionsQuery),
    responses(
        (status = 200, description = "A page of regions", body = Page<Region>,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_regions(
    req: HttpRequest,
    Params(query): Params<RegionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, coord) = query.into_filter()?;
    let (rows, more) = crate::db::regions::list(&filter)?;
    let next_cursor = more
        .then(|| rows.last().map(|r| paging::encode("regions", &r.adcode)))
        .flatten();
    let items = rows
        .into_iter()
        .map(|row| Region::new(row, coord))
        .collect();
    let next = next_cursor.clone();
    Ok(paging::respond(
        &req,
        Page { items, next_cursor },
        next.as_deref(),
    ))
}

/// Get one administrative division by its adcode.
#[utoipa::path(
    operation_id = "get_region",
    tag = "regions",
    params(("adcode" = crate::domain::Adcode, Path, description = "Six-digit division code", example = "360700"), CoordQuery),
    responses(
        (status = 200, description = "The region", body = Region),
        (status = 400, description = "Malformed adcode", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such region", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{adcode}")]
pub async fn get_region(
    path: web::Path<String>,
    Params(coord): Params<CoordQuery>,
) -> Result<HttpResponse, ApiError> {
    let coord = coord.parse()?;
    let adcode: Adcode = path
        .parse()
        .map_err(|crate::domain::Invalid(msg)| ApiError::invalid("adcode", msg))?;
    let row = crate::db::regions::get(&adcode)?;
    Ok(HttpResponse::Ok().json(Region::new(row, coord)))
}
