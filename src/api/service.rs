//! `/healthz` and `/readyz`: for load balancers and orchestrators.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::query::{NoParams, Params};
use super::{run, AppState};
use crate::error::{ApiError, Problem};

/// Liveness or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The process is up (does not touch the database).
#[utoipa::path(
    operation_id = "get_health",
    tag = "service",
    responses((status = 200, description = "The process is up", body = Health))
)]
#[get("/healthz")]
pub async fn healthz(_params: Params<NoParams>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Health { status: "ok" })
}

/// The database is reachable; 503 with `Retry-After` while it is not.
#[utoipa::path(
    operation_id = "get_readiness",
    tag = "service",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(
    state: web::Data<AppState>,
    _params: Params<NoParams>,
) -> Result<HttpResponse, ApiError> {
    run(&state, crate::db::ping).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Health { status: "ok" }))
}
