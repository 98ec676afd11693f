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
        (name = "embed", description = "A widget for government portals: one `<script>` tag lists upcoming events and open days"),
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
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::api::routes)
        .split_for_parts();
    finish(&mut doc);
    doc
}

/// What the route annotations cannot say one by one, said once for every
/// operation (found by generating clients from the document):
///
/// - every GET answers with an `ETag` and, to `If-None-Match`, `304`;
/// - every `201` names the new record in `Location`;
/// - a PATCH body is its collection's input with every field optional
///   (`EventPatch` …), not a bare `object` (which a typed client reads as
///   "no fields at all").
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Header, Object, Ref, RefOr, Response, Schema, Type};

    let text = || Schema::Object(Object::with_type(Type::String));
    let header = |description: &str| {
        let mut header = Header::new(text());
        header.description = Some(description.to_owned());
        header
    };
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for item in doc.paths.paths.values_mut() {
        if let Some(get) = item.get.as_mut() {
            let responses = &mut get.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response.headers.entry("ETag".into()).or_insert_with(|| {
                        header("Strong validator of this representation: send it as `If-None-Match` (304) or `If-Match` (writes).")
                    });
                }
            }
            responses.entry("304".into()).or_insert_with(|| {
                RefOr::T(Response::new(
                    "Not modified: the `If-None-Match` tag is current",
                ))
            });
        }
        for op in [item.post.as_mut(), item.put.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") {
                created
                    .headers
                    .entry("Location".into())
                    .or_insert_with(|| header("URL of the created record"));
            }
        }
        // The PATCH body: the PUT body's schema, nothing required.
        let input = item.put.as_ref().and_then(|put| {
            let body = put.request_body.as_ref()?;
            match body.content.get("application/json")?.schema.as_ref()? {
                RefOr::Ref(reference) => reference
                    .ref_location
                    .strip_prefix("#/components/schemas/")
                    .map(str::to_owned),
                RefOr::T(_) => None,
            }
        });
        let (Some(patch), Some(input)) = (item.patch.as_mut(), input) else {
            continue;
        };
        let Some(RefOr::T(Schema::Object(object))) = schemas.get(&input) else {
            continue;
        };
        let name = format!("{}Patch", input.trim_end_matches("Input"));
        let mut partial = object.clone();
        partial.required.clear();
        partial.description = Some(format!(
            "A JSON merge patch (RFC 7396) of a record: any fields of `{input}`, each \
             replacing the stored value; `null` removes an optional field."
        ));
        schemas.insert(name.clone(), RefOr::T(Schema::Object(partial)));
        if let Some(body) = patch.request_body.as_mut() {
            for content in body.content.values_mut() {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name(&name)));
            }
        }
    }
}

/// The document as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}
