//! The OpenAPI 3.1 document (info, tags) and the vendored Swagger UI.

use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ticweek",
        description = "Open data on China's Quality Month campaigns in testing, inspection and \
certification: notices, campaigns, events, labs and open days, certified products and posters. \
Errors are RFC 9457 problem details; lists are cursor-paginated; every GET has an ETag.",
        license(name = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "regions", description = "GB/T 2260 administrative divisions"),
        (name = "notices", description = "Notices issued by market-regulation bureaus"),
        (name = "campaigns", description = "Quality Month campaigns by kind, region and year"),
        (name = "events", description = "Public activities: list, search, nearby, facets, iCalendar, CSV and JSON-LD"),
        (name = "labs", description = "Inspection and testing labs and their open days: nearby, on any Chinese map, as JSON or GeoJSON"),
        (name = "products", description = "Certified organic and green products: certificate look-up, status history, change feed, organic-code (有机码) check"),
        (name = "posters", description = "Campaign posters: files by content hash, renditions, Range downloads"),
        (name = "sync", description = "Change feed for mirrors and bulk import"),
        (name = "service", description = "Health and readiness probes"),
    ),
    // Enums that appear only as query parameter types: listed so that every
    // `$ref` resolves (client generators refuse a dangling one).
    components(schemas(
        crate::error::FieldError,
        crate::domain::CoordSys,
        crate::domain::EventSort,
        crate::api::labs::OpenDaySort,
    )),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// Writes name the `bearer` scheme; public reads name none.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "A token from `ticweek token create`: national, a region (and its \
                             descendants) or one lab. Reads need none.",
                        ))
                        .build(),
                ),
            );
    }
}

/// The document the running server serves at `/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::api::routes)
        .split_for_parts();
    doc
}

/// The document as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
