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
        crate::api::posters::RenditionWidth,
        crate::domain::LatLon,
        crate::domain::OrganicCode,
        crate::domain::SearchQuery,
        crate::domain::TimeBound,
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
/// - every operation may answer 429 (per-client rate limits);
/// - a list filtered by a stored thing (`region`, `lab` …) may answer 422;
/// - a parameter is listed only on the representations that take it
///   (`NOT_TAKEN`, `JSON_LISTS`);
/// - each write body has its own schema (`EventCreate`, `EventReplace`,
///   `EventPatch` …: see `write_bodies`).
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Header, Object, RefOr, Response, Schema, Type};

    let text = || Schema::Object(Object::with_type(Type::String));
    let header = |description: &str| {
        let mut header = Header::new(text());
        header.description = Some(description.to_owned());
        header
    };
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for (path, item) in doc.paths.paths.iter_mut() {
        for op in [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.patch.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            op.responses.responses.entry("429".into()).or_insert_with(|| {
                let mut response = problem_response(
                    "This client's budget is spent (`RateLimit` says which and how much); retry after `Retry-After` seconds",
                );
                response
                    .headers
                    .insert("Retry-After".into(), header("Seconds to wait"));
                RefOr::T(response)
            });
        }
        if let Some(get) = item.get.as_mut() {
            narrow_shared_params(get);
            let names_stored = get
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p.name.as_str(), "region" | "parent" | "lab" | "campaign"));
            if names_stored {
                get.responses
                    .responses
                    .entry("422".into())
                    .or_insert_with(|| {
                        RefOr::T(problem_response(
                            "A filter names nothing stored (an unknown region, lab or campaign)",
                        ))
                    });
            }
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
        write_bodies(schemas, path, item);
    }
}

/// A response whose body is a `Problem` (application/problem+json).
pub(crate) fn problem_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{Content, Ref, Response};
    let mut response = Response::new(description);
    response.content.insert(
        "application/problem+json".into(),
        Content::new(Some(Ref::from_schema_name("Problem"))),
    );
    response
}

/// The name of the schema a body `$ref`s, if it is a `$ref`.
fn body_schema(op: Option<&utoipa::openapi::path::Operation>) -> Option<String> {
    use utoipa::openapi::RefOr;
    let body = op?.request_body.as_ref()?;
    match body.content.values().next()?.schema.as_ref()? {
        RefOr::Ref(reference) => reference
            .ref_location
            .strip_prefix("#/components/schemas/")
            .map(str::to_owned),
        RefOr::T(_) => None,
    }
}

/// Each write's body schema, derived from the collection's input (which the
/// import document lists as it is):
///
/// - `<X>Create` (POST to a collection): `id` may be left out (generated);
/// - `<X>Replace` (PUT): without the record's key, which is the path's (a
///   key in the body must equal it, so the document does not offer one);
/// - `<X>Patch` (PATCH): the `Replace` fields, none required, as a typed
///   merge patch instead of a bare `object`.
fn write_bodies(
    schemas: &mut std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::Schema>,
    >,
    path: &str,
    item: &mut utoipa::openapi::path::PathItem,
) {
    use utoipa::openapi::{Ref, RefOr, Schema};
    let derive = |schemas: &mut std::collections::BTreeMap<_, _>,
                  input: &str,
                  suffix: &str,
                  change: &dyn Fn(&mut utoipa::openapi::Object)| {
        let Some(RefOr::T(Schema::Object(object))) = schemas.get(input) else {
            return None;
        };
        let mut derived = object.clone();
        change(&mut derived);
        let name = format!("{}{suffix}", input.trim_end_matches("Input"));
        schemas.insert(name.clone(), RefOr::T(Schema::Object(derived)));
        Some(name)
    };
    let point_at = |op: Option<&mut utoipa::openapi::path::Operation>, name: Option<String>| {
        let (Some(op), Some(name)) = (op, name) else {
            return;
        };
        for content in op
            .request_body
            .iter_mut()
            .flat_map(|b| b.content.values_mut())
        {
            content.schema = Some(RefOr::Ref(Ref::from_schema_name(&name)));
        }
    };
    if let Some(input) = body_schema(item.post.as_ref()).filter(|s| s.ends_with("Input")) {
        let name = derive(schemas, &input, "Create", &|object| {
            object.required.retain(|field| field != "id");
        });
        point_at(item.post.as_mut(), name);
    }
    // The key is the path's last `{parameter}`.
    let key = path
        .rsplit_once('{')
        .map(|(_, rest)| rest.trim_end_matches('}').to_owned());
    let (Some(input), Some(key)) = (body_schema(item.put.as_ref()), key) else {
        return;
    };
    let without_key = |object: &mut utoipa::openapi::Object| {
        object.properties.shift_remove(&key);
        object.required.retain(|field| *field != key);
    };
    let replace = derive(schemas, &input, "Replace", &without_key);
    point_at(item.put.as_mut(), replace);
    let patch = derive(schemas, &input, "Patch", &|object| {
        without_key(object);
        object.required.clear();
        object.description = Some(format!(
            "A JSON merge patch (RFC 7396) of a record: any fields of `{input}` but its \
             key, each replacing the stored value; `null` removes an optional field."
        ));
    });
    point_at(item.patch.as_mut(), patch);
}

/// Parameters that a query struct shared by several representations
/// declares and some of them refuse (with a 400 naming it): taken out of
/// those operations, so that each says what it takes.
const NOT_TAKEN: &[(&str, &[&str])] = &[
    ("list_events", &["include"]),
    ("list_events_csv", &["facets", "include"]),
    ("list_events_ics", &["facets"]),
    ("list_products_csv", &["facets"]),
];

/// JSON lists whose shared query struct gives the feeds' page-size ceiling
/// (1000): theirs is 100.
const JSON_LISTS: &[&str] = &["list_events", "list_products"];

/// Applies `NOT_TAKEN` and `JSON_LISTS` to `op`.
fn narrow_shared_params(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{RefOr, Schema};
    let id = op.operation_id.as_deref().unwrap_or_default();
    let refused = NOT_TAKEN
        .iter()
        .find(|(op_id, _)| *op_id == id)
        .map_or(&[][..], |(_, names)| *names);
    let json_list = JSON_LISTS.contains(&id);
    let Some(params) = op.parameters.as_mut() else {
        return;
    };
    params.retain(|p| !refused.contains(&p.name.as_str()));
    for param in params.iter_mut().filter(|p| json_list && p.name == "limit") {
        if let Some(RefOr::T(Schema::Object(limit))) = param.schema.as_mut() {
            limit.maximum = Some(100.into());
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
