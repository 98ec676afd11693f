//! The HTTP contract every endpoint shares: problem bodies, strict
//! parameters, 405 with Allow, ETag/304, CORS and compression.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;

use crate::common::{app, get, send, Reply};

#[actix_web::test]
async fn limit_outside_1_to_100_is_400() {
    let (_db, app) = app().await;
    for bad in ["0", "101", "-1", "abc", ""] {
        let reply = get(&app, &format!("/api/v1/regions?limit={bad}")).await;
        reply.assert_invalid("limit");
        assert!(reply.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 100"));
    }
    let body = get(&app, "/api/v1/regions").await.json();
    assert_eq!(
        body["items"].as_array().unwrap().len(),
        20,
        "default limit is 20"
    );
    let body = get(&app, "/api/v1/regions?limit=100").await.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 100);
}

#[actix_web::test]
async fn unknown_and_repeated_parameters_are_400() {
    let (_db, app) = app().await;
    let reply = get(&app, "/api/v1/campaigns?regoin=360000").await;
    reply.assert_invalid("regoin");
    assert!(reply.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("region"));
    get(&app, "/api/v1/campaigns?year=2022&year=2024")
        .await
        .assert_invalid("year");
    get(&app, "/api/v1/regions/360700?pretty=1")
        .await
        .assert_invalid("pretty");
    get(&app, "/healthz?x=1").await.assert_invalid("x");
}

#[actix_web::test]
async fn malformed_query_strings_and_cursors_are_400() {
    let (_db, app) = app().await;
    get(&app, "/api/v1/regions?q=%FF%FE")
        .await
        .assert_invalid("q");
    get(&app, "/api/v1/regions?q=a%00b")
        .await
        .assert_invalid("q");
    get(&app, "/api/v1/regions?cursor=not-a-cursor")
        .await
        .assert_invalid("cursor");
    get(&app, "/api/v1/notices?cursor=djF8eA")
        .await
        .assert_invalid("cursor");
    // Every refusal is reported at once.
    let reply = get(&app, "/api/v1/campaigns?limit=0&kind=x&year=1").await;
    reply.assert_invalid("limit");
    assert_eq!(reply.json()["errors"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn unknown_route_is_404_and_wrong_method_is_405_with_allow() {
    let (_db, app) = app().await;
    let reply = get(&app, "/api/v1/nothing-here").await;
    reply.assert_problem(404);
    let reply = send(&app, TestRequest::post().uri("/openapi.json").to_request()).await;
    reply.assert_problem(405);

    for (method, uri) in [
        (actix_web::http::Method::POST, "/api/v1/regions"),
        (actix_web::http::Method::DELETE, "/api/v1/regions/360700"),
        // Read-only resources.
        (actix_web::http::Method::PUT, "/api/v1/regions/360700"),
        (actix_web::http::Method::PATCH, "/api/v1/changes"),
    ] {
        let reply = send(
            &app,
            TestRequest::default().method(method).uri(uri).to_request(),
        )
        .await;
        reply.assert_problem(405);
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{uri}");
    }
    let head = send(
        &app,
        TestRequest::default()
            .method(actix_web::http::Method::HEAD)
            .uri("/api/v1/regions/360700")
            .to_request(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.header("etag").is_some());
}

#[actix_web::test]
async fn etag_and_if_none_match_give_304_without_body() {
    let (_db, app) = app().await;
    let first = get(&app, "/api/v1/campaigns?year=2022").await;
    let etag = first.header("etag").expect("ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    assert!(first.header("cache-control").unwrap().contains("max-age"));

    let again = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/campaigns?year=2022")
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    let other = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/campaigns?year=2024")
            .insert_header((header::IF_NONE_MATCH, etag.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_ne!(other.header("etag"), Some(etag.as_str()));

    for uri in [
        "/api/v1/regions/360700",
        "/api/v1/notices/jiangxi-2022-7",
        "/openapi.json",
        "/healthz",
    ] {
        assert!(
            get(&app, uri).await.header("etag").is_some(),
            "{uri} has no ETag"
        );
    }
}

#[actix_web::test]
async fn cors_is_open_for_reads_without_credentials() {
    let (_db, app) = app().await;
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/regions/360700")
            .insert_header((header::ORIGIN, "https://portal.example"))
            .to_request(),
    )
    .await;
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(reply.header("access-control-allow-credentials").is_none());
    assert!(reply
        .header("access-control-expose-headers")
        .unwrap()
        .to_lowercase()
        .contains("link"));

    let preflight = send(
        &app,
        TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/api/v1/campaigns")
            .insert_header((header::ORIGIN, "https://portal.example"))
            .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "GET"))
            .to_request(),
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
}

/// A gzip body as a client decodes it (header, deflate, CRC and length
/// checked by the decoder).
fn gunzip(body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut plain)
        .expect("a valid gzip stream");
    plain
}

/// GET `uri` with `Accept-Encoding: accept`.
async fn get_encoded<S, B>(app: &S, uri: &str, accept: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let request = TestRequest::get()
        .uri(uri)
        .insert_header((header::ACCEPT_ENCODING, accept))
        .to_request();
    send(app, request).await
}

#[actix_web::test]
async fn responses_are_gzipped_when_asked() {
    let (_db, app) = app().await;
    let plain = get(&app, "/api/v1/regions?limit=100").await;
    let gzipped = get_encoded(&app, "/api/v1/regions?limit=100", "gzip").await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert!(gzipped.body.len() < plain.body.len() / 2);
    assert_eq!(gunzip(&gzipped.body), plain.body);
    // The next body (compressed with the same reused state) is whole too.
    let next_plain = get(&app, "/api/v1/regions?level=county&limit=100").await;
    let next = get_encoded(&app, "/api/v1/regions?level=county&limit=100", "gzip").await;
    assert_eq!(next.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&next.body), next_plain.body);
    // Different bytes, different strong validator.
    assert_ne!(gzipped.header("etag"), plain.header("etag"));
    // Both say they vary, so a shared cache never hands gzip to a client
    // that did not ask for it.
    assert_eq!(plain.header("content-encoding"), None);
    for response in [&plain, &gzipped] {
        let vary = response.header("vary").unwrap_or_default().to_lowercase();
        assert!(vary.contains("accept-encoding"), "Vary: {vary}");
    }
    // A client that refuses gzip (q=0) gets identity.
    let refused = get_encoded(&app, "/api/v1/regions?limit=100", "gzip;q=0, identity").await;
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, plain.body);
}

#[actix_web::test]
async fn problem_bodies_hold_for_framework_errors() {
    // No endpoint takes a body yet; the JSON extractor config that every future
    // write uses maps its failures to 400/413/415 problems.
    use actix_web::error::JsonPayloadError;
    let req = TestRequest::default().to_http_request();
    for (err, status) in [
        (
            JsonPayloadError::OverflowKnownLength {
                length: 20_000_000,
                limit: 1_048_576,
            },
            413,
        ),
        (JsonPayloadError::ContentType, 415),
        (
            JsonPayloadError::Deserialize(serde_json::from_str::<u8>("{").unwrap_err()),
            400,
        ),
    ] {
        let response = ticweek::error::json_error(err, &req).error_response();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
    }
}

/// Every response, whatever produced it, says "do not sniff" and names no
/// server software; API answers may not be framed or run anything, while
/// the docs UI may be framed but loads only what this server serves.
#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let (_db, app) = app().await;
    for uri in [
        "/api/v1/regions?limit=1",
        "/api/v1/regions/999999",
        "/api/v1/nowhere",
        "/api/v1/events?limit=0",
        "/healthz",
        "/openapi.json",
        "/embed/events.js",
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{uri}"
        );
        assert_eq!(
            reply.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'"),
            "{uri}"
        );
        assert!(reply.header("server").is_none(), "{uri} names its server");
    }
    let docs = get(&app, "/docs/").await;
    assert_eq!(docs.header("x-content-type-options"), Some("nosniff"));
    let policy = docs.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'self'") && !policy.contains("frame-ancestors"));
}

/// Per-client limits: a spent read budget answers 429 with `Retry-After`
/// and the draft's `RateLimit` headers; a `304` costs half a full answer;
/// failed tokens lock a client's writes; `remote` spares this machine.
#[actix_web::test]
async fn rate_limits_answer_429_count_304_as_half_and_stop_token_guessing() {
    use std::time::Duration;
    use ticweek::api::limits::{Budget, Budgets, Mode, RateLimits};
    let (_db, pool) = crate::common::TestDb::bundled();
    let budget = |burst| Budget {
        burst,
        window: Duration::from_secs(3600),
    };
    let limits = |mode| {
        RateLimits::new(
            mode,
            Budgets {
                reads: budget(4),
                writes: budget(10),
                token_failures: budget(2),
            },
        )
    };
    let app = actix_web::test::init_service(ticweek::app(
        ticweek::AppState::new(pool.clone()).with_rate_limits(limits(Mode::On)),
    ))
    .await;
    let from = |ip: &str, uri: &str| {
        actix_web::test::TestRequest::get()
            .uri(uri)
            .peer_addr(format!("{ip}:40000").parse().unwrap())
    };
    let client = "203.0.113.7";
    // A full answer costs 2 of the 4: two 304s cost 1 each.
    let first = send(&app, from(client, "/api/v1/regions/360000").to_request()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"reads\";q=4;w=3600")
    );
    assert!(first
        .header("ratelimit")
        .unwrap()
        .starts_with("\"reads\";r="));
    let tag = first.header("etag").unwrap().to_owned();
    for _ in 0..2 {
        let again =
            from(client, "/api/v1/regions/360000").insert_header(("if-none-match", tag.as_str()));
        assert_eq!(
            send(&app, again.to_request()).await.status,
            StatusCode::NOT_MODIFIED
        );
    }
    let refused = send(&app, from(client, "/api/v1/regions/360000").to_request()).await;
    refused.assert_problem(429);
    assert!(
        refused
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(refused.header("ratelimit").unwrap().contains(";r=0;"));
    assert!(refused.json()["detail"].as_str().unwrap().contains("reads"));
    // Another client has its own budget.
    let other = send(
        &app,
        from("198.51.100.9", "/api/v1/regions/360000").to_request(),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);

    // Token guessing: two 401s spend the failures, the third locks writes.
    let guesser = "192.0.2.66";
    let write = |token: &str| {
        actix_web::test::TestRequest::post()
            .uri("/api/v1/notices")
            .peer_addr(format!("{guesser}:40000").parse().unwrap())
            .insert_header(("authorization", format!("Bearer twk_{token}")))
            .insert_header(("content-type", "application/json"))
            .set_payload("{}")
            .to_request()
    };
    for guess in ["a", "b", "c"] {
        send(&app, write(guess)).await.assert_problem(401);
    }
    let locked = send(&app, write("d")).await;
    locked.assert_problem(429);
    assert!(locked
        .header("ratelimit-policy")
        .unwrap()
        .starts_with("\"token-failures\""));

    // `remote`: this machine's own clients are not limited.
    let app = actix_web::test::init_service(ticweek::app(
        ticweek::AppState::new(pool).with_rate_limits(limits(Mode::Remote)),
    ))
    .await;
    for _ in 0..6 {
        let local = send(
            &app,
            from("127.0.0.1", "/api/v1/regions/360000").to_request(),
        )
        .await;
        assert_eq!(local.status, StatusCode::OK);
    }
}
