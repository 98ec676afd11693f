use crate::common::{app, get};

/// The committed contract must be what the code generates. To refresh it:
/// `cargo run -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_json_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let generated = ticweek::openapi::document_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[actix_web::test]
async fn served_document_is_openapi_3_1_with_every_operation_documented() {
    let (_db, app) = app().await;
    let doc = get(&app, "/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                op["summary"].is_string() || op["description"].is_string(),
                "{id} is undocumented"
            );
            operations.push(id.to_owned());
        }
    }
    for id in [
        "list_regions",
        "get_region",
        "list_notices",
        "get_notice",
        "list_campaigns",
        "get_campaign",
    ] {
        assert!(operations.iter().any(|o| o == id), "{id} missing");
    }
}

#[actix_web::test]
async fn docs_ui_is_served_without_any_cdn() {
    let (_db, app) = app().await;
    let redirect = get(&app, "/docs").await;
    assert!(redirect.status.is_redirection());
    let page = get(&app, "/docs/").await;
    assert_eq!(page.status, actix_web::http::StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("https://"),
        "the docs page must not load anything from the internet"
    );
    let script = get(&app, "/docs/swagger-ui-bundle.js").await;
    assert_eq!(script.status, actix_web::http::StatusCode::OK);
}

/// Client generators refuse a document with a dangling `$ref` (openapi-
/// typescript did, for three enums used only as query parameter types).
#[test]
fn every_schema_reference_resolves() {
    let doc: serde_json::Value = serde_json::from_str(&ticweek::openapi::document_json()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    let prefix = "\"#/components/schemas/";
    let missing: Vec<&str> = text
        .match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    assert!(missing.is_empty(), "unresolved: {missing:?}");
}

/// What openapi-typescript and openapi-python-client showed was too loose for
/// a typed client (tests/clients runs them): a PATCH body that was a bare
/// `object` (typed as "no fields"), plain strings where the server accepts an
/// enum, GETs whose ETag and 304 were undeclared.
#[test]
fn the_document_is_tight_enough_for_typed_clients() {
    let doc: serde_json::Value = serde_json::from_str(&ticweek::openapi::document_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let mut patches = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if let Some(get) = item.get("get") {
            let responses = &get["responses"];
            assert!(responses["304"].is_object(), "GET {path} declares no 304");
            assert!(
                responses["200"]["headers"]["ETag"].is_object(),
                "GET {path} declares no ETag"
            );
        }
        if let Some(patch) = item.get("patch") {
            let reference = patch["requestBody"]["content"]["application/merge-patch+json"]
                ["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("PATCH {path} has an untyped body"));
            let name = reference.trim_start_matches("#/components/schemas/");
            assert!(name.ends_with("Patch"), "PATCH {path} takes {name}");
            assert!(
                schemas[name]["required"].is_null(),
                "{name} requires fields"
            );
            assert!(schemas[name]["properties"].as_object().unwrap().len() > 3);
            patches += 1;
        }
    }
    assert_eq!(
        patches, 6,
        "notices, campaigns, events, labs, products, open days"
    );
    let enum_of = |schema: &str, field: &str| schemas[schema]["properties"][field]["$ref"].clone();
    assert_eq!(
        enum_of("CampaignInput", "kind"),
        "#/components/schemas/CampaignKind"
    );
    assert_eq!(
        enum_of("ProductInput", "scheme"),
        "#/components/schemas/Scheme"
    );
    assert_eq!(
        enum_of("Change", "action"),
        "#/components/schemas/ChangeAction"
    );
    assert_eq!(
        schemas["EventInput"]["properties"]["starts_at"]["format"],
        "date-time"
    );
    assert_eq!(
        schemas["Point"]["properties"]["type"]["$ref"],
        "#/components/schemas/GeoJsonPoint"
    );
    assert_eq!(
        schemas["GeoJsonPoint"]["enum"],
        serde_json::json!(["Point"])
    );
    let import = &doc["paths"]["/api/v1/import"]["post"]["requestBody"]["content"];
    assert_eq!(
        import["application/json"]["schema"]["$ref"],
        "#/components/schemas/ImportDocument"
    );
}

/// The portal widget: one script, served with a validator, cacheable, and
/// strict about its (absent) parameters like every other route.
#[actix_web::test]
async fn the_embeddable_widget_is_served_as_javascript() {
    let (_db, app) = app().await;
    let script = get(&app, "/embed/events.js").await;
    assert_eq!(script.status, actix_web::http::StatusCode::OK);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("cache-control"), Some("public, max-age=3600"));
    let body = String::from_utf8_lossy(&script.body);
    assert!(body.contains("document.currentScript") && body.contains("\"open-days\""));
    assert!(
        !body.contains("innerHTML"),
        "text goes in as text, never as markup"
    );
    let tag = script.header("etag").expect("an ETag").to_owned();
    let again = crate::common::send(
        &app,
        actix_web::test::TestRequest::get()
            .uri("/embed/events.js")
            .insert_header(("If-None-Match", tag))
            .to_request(),
    )
    .await;
    assert_eq!(again.status, actix_web::http::StatusCode::NOT_MODIFIED);
    get(&app, "/embed/events.js?v=2").await.assert_invalid("v");
}
