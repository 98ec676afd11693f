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
