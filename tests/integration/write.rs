//! The write API through HTTP: who may write what (the scope matrix), what a
//! body may not set, optimistic concurrency, idempotent creates, the bulk
//! import's all-or-nothing, tokens at rest, the audit log, and a write
//! reaching a second server's cache.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{json, Value};
use ticweek::domain::{Role, Scope};

use crate::common::{get, send, Reply, TestDb};

/// Labs L1 (Nanchang, 360100) and L2 (Taiyuan, 140100) with one session
/// each, and one event in each city.
fn fixture() -> Value {
    let lab = |id: &str, region: &str, day: &str| {
        json!({
            "id": id, "name": format!("实验室 {id}"), "fields": ["food"], "region": region,
            "precision": "region", "source": "test",
            "open_days": [{
                "id": day, "starts_at": "2030-09-10T09:00:00+08:00",
                "ends_at": "2030-09-10T17:00:00+08:00", "activities": ["lab_tour"]
            }]
        })
    };
    json!({
        "labs": [lab("lab-l1", "360100", "l1-day"), lab("lab-l2", "140100", "l2-day")],
        "events": [event("e-nanchang", "360100"), event("e-taiyuan", "140100")],
    })
}

/// An event body (without id) in `region`, under its province's campaign.
fn event_body(region: &str) -> Value {
    let campaign = if region.starts_with("36") {
        "jiangxi-2022-lab-open-day"
    } else {
        "shanxi-2024-lab-open-day"
    };
    json!({
        "campaign_id": campaign, "title": "实验室开放日", "region": region,
        "starts_at": "2030-09-10T09:00:00+08:00", "ends_at": "2030-09-10T17:00:00+08:00",
        "venue": {"name": "实验室", "precision": "region"}, "source": "test"
    })
}

fn event(id: &str, region: &str) -> Value {
    let mut body = event_body(region);
    body["id"] = json!(id);
    body
}

/// Issues a token straight into the database, as `ticweek token create` does.
pub fn issue(db: &TestDb, name: &str, role: Role, scope: Option<&str>) -> String {
    let (token, hash) = ticweek::domain::new_token().unwrap();
    let scope = Scope::new(role, scope).unwrap();
    let now = chrono::Utc::now().naive_utc();
    ticweek::db::access::create_token(&mut db.connect(), name, &scope, &hash, now).unwrap();
    token
}

/// The status of a write by `token`.
async fn status<S, B>(
    app: &S,
    method: &str,
    uri: String,
    token: Option<&str>,
    body: Option<Value>,
) -> u16
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(app, method, &uri, token, body.as_ref(), &[])
        .await
        .status
        .as_u16()
}

/// A JSON write by `token`.
async fn send_json<S, B>(app: &S, method: &str, uri: &str, token: &str, body: &Value) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    call(app, method, uri, Some(token), Some(body), &[]).await
}

async fn call<S, B>(
    app: &S,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = test::TestRequest::default().method(method).uri(uri);
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    if let Some(body) = body {
        req = req
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string());
    }
    send(app, req.to_request()).await
}

/// Writes as `national` (to set up or restore a cell of the matrix).
struct Actors {
    national: String,
    province: String,
    nanchang: String,
    taiyuan: String,
    lab1: String,
    lab2: String,
}

fn actors(db: &TestDb) -> Actors {
    Actors {
        national: issue(db, "national", Role::National, None),
        province: issue(db, "jiangxi", Role::Region, Some("360000")),
        nanchang: issue(db, "nanchang", Role::Region, Some("360100")),
        taiyuan: issue(db, "taiyuan", Role::Region, Some("140100")),
        lab1: issue(db, "lab one", Role::Lab, Some("lab-l1")),
        lab2: issue(db, "lab two", Role::Lab, Some("lab-l2")),
    }
}

#[actix_web::test]
async fn every_actor_gets_exactly_its_scope() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    // What each actor may write: Nanchang events, Taiyuan events, lab L1,
    // lab L2, and create or delete labs in Nanchang.
    let matrix: [(&str, Option<&str>, [bool; 5]); 7] = [
        ("national", Some(&a.national), [true; 5]),
        (
            "province 360000",
            Some(&a.province),
            [true, false, true, false, true],
        ),
        (
            "city 360100",
            Some(&a.nanchang),
            [true, false, true, false, true],
        ),
        (
            "city 140100",
            Some(&a.taiyuan),
            [false, true, false, true, false],
        ),
        ("lab L1", Some(&a.lab1), [false, false, true, false, false]),
        ("lab L2", Some(&a.lab2), [false, false, false, true, false]),
        ("anonymous", None, [false; 5]),
    ];
    for (n, (who, token, may)) in matrix.into_iter().enumerate() {
        let [nanchang, taiyuan, l1, l2, labs] = may;
        let refused = if token.is_none() { 401 } else { 403 };
        let expect = |allowed: bool, ok: u16| if allowed { ok } else { refused };
        let as_actor = |method, uri: String, body| status(&app, method, uri, token, body);
        let as_national =
            |method, uri: String, body| status(&app, method, uri, Some(&a.national), body);
        for (region, allowed, existing) in [
            ("360100", nanchang, "e-nanchang"),
            ("140100", taiyuan, "e-taiyuan"),
        ] {
            let id = format!("e-{n}-{region}");
            let uri = format!("/api/v1/events/{existing}");
            let mut renamed = event(existing, region);
            renamed["title"] = json!(format!("改名 {n}"));
            let cells = [
                (
                    "create (PUT)",
                    as_actor(
                        "PUT",
                        format!("/api/v1/events/{id}"),
                        Some(event(&id, region)),
                    )
                    .await,
                    201,
                ),
                (
                    "create (POST)",
                    as_actor("POST", "/api/v1/events".into(), Some(event_body(region))).await,
                    201,
                ),
                (
                    "replace",
                    as_actor("PUT", uri.clone(), Some(renamed)).await,
                    200,
                ),
                (
                    "patch",
                    as_actor("PATCH", uri.clone(), Some(json!({"organizer": "某局"}))).await,
                    200,
                ),
                ("delete", as_actor("DELETE", uri.clone(), None).await, 204),
            ];
            for (op, got, ok) in cells {
                assert_eq!(got, expect(allowed, ok), "{who}: {op} event in {region}");
            }
            let left = if allowed { 404 } else { 200 };
            assert_eq!(
                get(&app, &uri).await.status.as_u16(),
                left,
                "{who}: after delete"
            );
            if allowed {
                assert_eq!(
                    as_national("PUT", uri, Some(event(existing, region))).await,
                    201
                );
            }
        }
        // Moving the Nanchang event to Taiyuan needs scope over both.
        let moved = as_actor(
            "PUT",
            "/api/v1/events/e-nanchang".into(),
            Some(event("e-nanchang", "140100")),
        )
        .await;
        assert_eq!(moved, expect(nanchang && taiyuan, 200), "{who}: move event");
        as_national(
            "PUT",
            "/api/v1/events/e-nanchang".into(),
            Some(event("e-nanchang", "360100")),
        )
        .await;
        for (lab, allowed) in [("lab-l1", l1), ("lab-l2", l2)] {
            let got = as_actor(
                "PATCH",
                format!("/api/v1/labs/{lab}"),
                Some(json!({"phone": "0791-1234567"})),
            )
            .await;
            assert_eq!(got, expect(allowed, 200), "{who}: patch {lab}");
        }
        let new_lab = json!({"id": format!("new-{n}"), "name": "新实验室", "region": "360100", "precision": "region", "source": "test"});
        let created = as_actor("POST", "/api/v1/labs".into(), Some(new_lab)).await;
        assert_eq!(created, expect(labs, 201), "{who}: create lab");
        if created == 201 {
            let deleted = as_actor("DELETE", format!("/api/v1/labs/new-{n}"), None).await;
            assert_eq!(deleted, 204, "{who}: delete lab");
        }
        let deleted_again = as_actor("DELETE", "/api/v1/labs/lab-l1".into(), None).await;
        assert_eq!(deleted_again, expect(labs, 204), "{who}: delete L1");
        if labs {
            let restore = fixture()["labs"][0].clone();
            assert_eq!(
                as_national("PUT", "/api/v1/labs/lab-l1".into(), Some(restore)).await,
                201
            );
        }
    }
    // A refusal reads the same whether or not the target exists.
    let pairs = [
        (
            "DELETE",
            "/api/v1/labs/lab-l2",
            "/api/v1/labs/no-such-lab",
            &a.lab1,
            None,
        ),
        (
            "PUT",
            "/api/v1/events/e-taiyuan",
            "/api/v1/events/e-nowhere",
            &a.nanchang,
            Some(event_body("140100")),
        ),
    ];
    for (method, stored, missing, token, body) in pairs {
        let stored = call(&app, method, stored, Some(token), body.as_ref(), &[]).await;
        let missing = call(&app, method, missing, Some(token), body.as_ref(), &[]).await;
        assert_eq!(stored.status, StatusCode::FORBIDDEN);
        assert_eq!(stored.body, missing.body);
    }
}

#[actix_web::test]
async fn region_scope_follows_the_region_table_not_adcode_prefixes() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let hubei = issue(&db, "hubei", Role::Region, Some("420000"));
    let wuhan = issue(&db, "wuhan", Role::Region, Some("420100"));
    // 仙桃市 (429004) is directly under Hubei, not under any 4201xx city.
    let lab = |id: &str| json!({"id": id, "name": "仙桃实验室", "region": "429004", "precision": "region", "source": "test"});
    let inside = send_json(&app, "POST", "/api/v1/labs", &hubei, &lab("xiantao-1")).await;
    assert_eq!(inside.status, StatusCode::CREATED, "{:?}", inside.body);
    send_json(&app, "POST", "/api/v1/labs", &wuhan, &lab("xiantao-2"))
        .await
        .assert_problem(403);
}

#[actix_web::test]
async fn a_lab_token_neither_moves_nor_recreates_its_lab_and_nul_is_refused() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let mut moved = fixture()["labs"][0].clone();
    moved["region"] = json!("110000");
    send_json(&app, "PUT", "/api/v1/labs/lab-l1", &a.lab1, &moved)
        .await
        .assert_problem(403);
    let deleted = call(
        &app,
        "DELETE",
        "/api/v1/labs/lab-l1",
        Some(&a.national),
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    send_json(
        &app,
        "PUT",
        "/api/v1/labs/lab-l1",
        &a.lab1,
        &fixture()["labs"][0],
    )
    .await
    .assert_problem(403);
    // NUL fits no backend's text: refused before it reaches one.
    send_json(
        &app,
        "PATCH",
        "/api/v1/events/e-nanchang",
        &a.national,
        &json!({"title": "a\u{0}b"}),
    )
    .await
    .assert_invalid("body");
}

#[actix_web::test]
async fn server_set_fields_ids_and_unknown_fields_are_refused_and_change_nothing() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let before = get(&app, "/api/v1/events/e-nanchang").await.json();
    let attempts = [
        (
            "updated_at",
            json!({"updated_at": "2000-01-01T00:00:00+08:00"}),
        ),
        ("kind", json!({"kind": "organic_week"})),
        ("id", json!({"id": "e-other"})),
        ("body", json!({"owner": "me"})),
        ("body", json!({"region": "140100", "created_by": "me"})),
    ];
    for (field, patch) in attempts {
        let reply = send_json(
            &app,
            "PATCH",
            "/api/v1/events/e-nanchang",
            &a.national,
            &patch,
        )
        .await;
        reply.assert_invalid(field);
        let mut replace = event("e-nanchang", "360100");
        replace
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let reply = send_json(
            &app,
            "PUT",
            "/api/v1/events/e-nanchang",
            &a.national,
            &replace,
        )
        .await;
        reply.assert_invalid(field);
    }
    let mut lab = fixture()["labs"][0].clone();
    lab["open_days"][0]["bookable"] = json!(true);
    send_json(&app, "PUT", "/api/v1/labs/lab-l1", &a.national, &lab)
        .await
        .assert_invalid("open_days[0].bookable");
    assert_eq!(get(&app, "/api/v1/events/e-nanchang").await.json(), before);
    // Not JSON: 415 with a problem body.
    let req = test::TestRequest::post()
        .uri("/api/v1/events")
        .insert_header(("authorization", format!("Bearer {}", a.national)))
        .insert_header(("content-type", "text/plain"))
        .set_payload("title=x")
        .to_request();
    send(&app, req).await.assert_problem(415);
}

#[actix_web::test]
async fn a_lab_token_cannot_take_another_labs_session() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let l2_before = get(&app, "/api/v1/labs/lab-l2").await.json();
    // L1 lists L2's session as its own: moving it away from L2.
    let mut lab = fixture()["labs"][0].clone();
    lab["open_days"].as_array_mut().unwrap().push(json!({
        "id": "l2-day", "starts_at": "2030-09-11T09:00:00+08:00",
        "ends_at": "2030-09-11T17:00:00+08:00", "activities": ["lab_tour"]
    }));
    let reply = send_json(&app, "PUT", "/api/v1/labs/lab-l1", &a.lab1, &lab).await;
    reply.assert_problem(403);
    assert_eq!(get(&app, "/api/v1/labs/lab-l2").await.json(), l2_before);
    // Its own lab's sessions it may rewrite.
    let mut own = fixture()["labs"][0].clone();
    own["open_days"][0]["capacity"] = json!(30);
    let reply = send_json(&app, "PUT", "/api/v1/labs/lab-l1", &a.lab1, &own).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["open_days"][0]["capacity"], 30);
}

#[actix_web::test]
async fn sessions_are_written_through_their_lab_by_whoever_holds_it() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let session = json!({
        "starts_at": "2030-10-01T09:00:00+08:00", "ends_at": "2030-10-01T12:00:00+08:00",
        "activities": ["quality_class"], "capacity": 40
    });
    let created = send_json(
        &app,
        "POST",
        "/api/v1/labs/lab-l1/open-days",
        &a.lab1,
        &session,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let location = created.header("location").unwrap().to_owned();
    let read = get(&app, &location).await;
    assert_eq!(read.json(), created.json());
    assert_eq!(read.json()["lab"]["id"], "lab-l1");
    let tag = read.header("etag").unwrap().to_owned();
    let patched = call(
        &app,
        "PATCH",
        &location,
        Some(&a.lab1),
        Some(&json!({"capacity": 25})),
        &[("if-match", &tag)],
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.json()["capacity"], 25);
    // The other session of L1 is untouched.
    assert_eq!(
        get(&app, "/api/v1/open-days/l1-day").await.status,
        StatusCode::OK
    );
    let stale = call(
        &app,
        "PATCH",
        &location,
        Some(&a.lab1),
        Some(&json!({"capacity": 5})),
        &[("if-match", &tag)],
    )
    .await;
    stale.assert_problem(412);
    // Another lab's session, or another lab: refused, and unchanged.
    let l2_day = get(&app, "/api/v1/open-days/l2-day").await.json();
    for (method, uri, body) in [
        (
            "PATCH",
            "/api/v1/open-days/l2-day",
            Some(json!({"capacity": 1})),
        ),
        ("PUT", "/api/v1/open-days/l2-day", Some(session.clone())),
        ("DELETE", "/api/v1/open-days/l2-day", None),
        (
            "POST",
            "/api/v1/labs/lab-l2/open-days",
            Some(session.clone()),
        ),
    ] {
        let reply = call(&app, method, uri, Some(&a.lab1), body.as_ref(), &[]).await;
        reply.assert_problem(403);
    }
    assert_eq!(get(&app, "/api/v1/open-days/l2-day").await.json(), l2_day);
    // The Nanchang bureau may remove L1's session; the session is gone.
    let deleted = call(&app, "DELETE", &location, Some(&a.nanchang), None, &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(get(&app, &location).await.status, StatusCode::NOT_FOUND);
    send_json(
        &app,
        "POST",
        "/api/v1/labs/lab-l1/open-days",
        &a.lab1,
        &json!({"bookable": true}),
    )
    .await
    .assert_invalid("bookable");
}

#[actix_web::test]
async fn if_match_guards_against_lost_updates() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let read = get(&app, "/api/v1/events/e-nanchang").await;
    let tag = read.header("etag").unwrap().to_owned();
    let first = call(
        &app,
        "PATCH",
        "/api/v1/events/e-nanchang",
        Some(&a.national),
        Some(&json!({"title": "第一次"})),
        &[("if-match", &tag)],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    // The same (now stale) tag again: 412, and the first write stands.
    for method in ["PATCH", "PUT", "DELETE"] {
        let body = (method != "DELETE").then(|| event("e-nanchang", "360100"));
        let stale = call(
            &app,
            method,
            "/api/v1/events/e-nanchang",
            Some(&a.national),
            body.as_ref(),
            &[("if-match", &tag)],
        )
        .await;
        stale.assert_problem(412);
    }
    let now = get(&app, "/api/v1/events/e-nanchang").await;
    assert_eq!(now.json()["title"], "第一次");
    // The tag a write returns is the one a GET serves.
    assert_eq!(first.header("etag"), now.header("etag"));
    let fresh = now.header("etag").unwrap();
    let second = call(
        &app,
        "PATCH",
        "/api/v1/events/e-nanchang",
        Some(&a.national),
        Some(&json!({"title": "第二次"})),
        &[("if-match", fresh)],
    )
    .await;
    assert_eq!(second.status, StatusCode::OK);
}

#[actix_web::test]
async fn an_idempotency_key_retry_creates_one_record() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let key = [("idempotency-key", "portal-7f3a")];
    let post = |region: &str| {
        let body = event_body(region);
        let token = a.nanchang.clone();
        let app = &app;
        async move {
            call(
                app,
                "POST",
                "/api/v1/events",
                Some(&token),
                Some(&body),
                &key,
            )
            .await
        }
    };
    let first = post("360100").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let retry = post("360100").await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.json(), first.json());
    let all = get(
        &app,
        "/api/v1/events?region=360100&limit=100&from=2030-01-01",
    )
    .await
    .json();
    let titles = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["title"] == "实验室开放日")
        .count();
    // The fixture's one, and one created.
    assert_eq!(titles, 2);
    // The key with another body is refused.
    post("360700").await.assert_problem(422);
}

#[actix_web::test]
async fn tokens_are_stored_hashed_refused_when_revoked_and_audited() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let token = issue(&db, "portal", Role::Region, Some("360000"));
    let mut conn = db.connect();
    let stored: Vec<(String, String)> = {
        use diesel::prelude::*;
        use ticweek::db::schema::tokens::dsl::*;
        tokens.select((name, hash)).load(&mut conn).unwrap()
    };
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].1.contains(&token) && !stored[0].1.contains(&token[4..]));
    assert_eq!(stored[0].1, ticweek::domain::token_hash(&token));

    let patch = json!({"organizer": "南昌市局\n伪造的一行"});
    let reply = send_json(&app, "PATCH", "/api/v1/events/e-nanchang", &token, &patch).await;
    assert_eq!(reply.status, StatusCode::OK);
    let audit = ticweek::db::access::audit_tail(&mut conn, 10).unwrap();
    let (_, _, actor, action, kind, id, before, after) = audit.last().unwrap().clone();
    assert_eq!(
        (actor.as_str(), action.as_str(), kind.as_str(), id.as_str()),
        ("portal", "update", "event", "e-nanchang")
    );
    let before: Value = serde_json::from_str(&before.unwrap()).unwrap();
    let after: Value = serde_json::from_str(&after.unwrap()).unwrap();
    assert_eq!(before["organizer"], Value::Null);
    assert_eq!(after["organizer"], "南昌市局\n伪造的一行");

    ticweek::db::access::revoke_token(&mut conn, "portal", chrono::Utc::now().naive_utc()).unwrap();
    let refused = send_json(&app, "PATCH", "/api/v1/events/e-nanchang", &token, &patch).await;
    refused.assert_problem(401);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    let anonymous = call(&app, "DELETE", "/api/v1/events/e-nanchang", None, None, &[]).await;
    anonymous.assert_problem(401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Bearer realm=\"ticweek\"")
    );
    let garbage = call(
        &app,
        "DELETE",
        "/api/v1/events/e-nanchang",
        Some("not-a-token"),
        None,
        &[],
    )
    .await;
    garbage.assert_problem(401);
}

/// `n` product certificates in Nanchang; `odd` replaces row `at`.
fn products(n: usize, at: usize, odd: impl Fn(&mut Value)) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut item = json!({
                "certificate_no": format!("BULK-{i:05}"), "scheme": "green",
                "certification_type": "full_green",
                "holder": {"name": format!("企业 {i}"), "credit_code": null},
                "products": [{"name": "大米", "category": "grain"}],
                "region": "360100", "certifier": {"name": "中绿华夏", "approval_no": "CNCA-R-2002-001"},
                "standard": "GB/T 19630", "issued_on": "2026-01-01", "expires_on": "2028-12-31",
                "status": "valid", "source": "test"
            });
            if i == at {
                odd(&mut item);
            }
            item
        })
        .collect();
    json!({ "products": items })
}

/// A bulk import may come gzip-compressed (a 10 MiB document is ~1 MiB on
/// the wire); the 10 MiB cap applies to what it inflates to.
#[actix_web::test]
async fn a_gzip_import_is_inflated_and_capped_on_what_it_inflates_to() {
    use std::io::Write;
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let gzip = |bytes: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let post = |body: Vec<u8>| {
        test::TestRequest::post()
            .uri("/api/v1/import?dry_run=true")
            .insert_header(("authorization", format!("Bearer {}", a.national)))
            .insert_header(("content-type", "application/json"))
            .insert_header(("content-encoding", "gzip"))
            .set_payload(body)
            .to_request()
    };
    let document = fixture();
    let reply = send(&app, post(gzip(document.to_string().as_bytes()))).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.json()["labs"],
        document["labs"].as_array().unwrap().len()
    );
    // 11 MiB of JSON whitespace in 11 KiB of gzip: refused once past 10 MiB.
    let mut padded = b"{\"notices\":[]".to_vec();
    padded.extend(std::iter::repeat_n(b' ', 11 * 1024 * 1024));
    padded.push(b'}');
    send(&app, post(gzip(&padded))).await.assert_problem(413);
}

#[actix_web::test]
async fn a_bulk_import_with_one_bad_row_writes_nothing_and_names_it() {
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let a = actors(&db);
    let import = |doc: &Value, dry: bool| {
        let uri = if dry {
            "/api/v1/import?dry_run=true"
        } else {
            "/api/v1/import"
        };
        let req = test::TestRequest::post()
            .uri(uri)
            .insert_header(("authorization", format!("Bearer {}", a.province)))
            .insert_header(("content-type", "application/json"))
            .set_payload(doc.to_string())
            .to_request();
        send(&app, req)
    };
    let count = |app_reply: Reply| app_reply.json()["items"].as_array().unwrap().len();
    let outside = products(5_000, 2_500, |item| item["region"] = json!("140100"));
    let reply = import(&outside, false).await;
    reply.assert_problem(403);
    let errors = reply.json()["errors"].clone();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["field"], "products[2500].region");
    assert_eq!(
        count(get(&app, "/api/v1/products?q=%E4%BC%81%E4%B8%9A").await),
        0
    );

    let invalid = products(5_000, 2_500, |item| {
        item["expires_on"] = json!("2028-02-30")
    });
    let reply = import(&invalid, true).await;
    reply.assert_invalid("products[2500].expires_on");
    let reply = import(&invalid, false).await;
    reply.assert_invalid("products[2500].expires_on");
    assert_eq!(
        count(get(&app, "/api/v1/products?q=%E4%BC%81%E4%B8%9A").await),
        0
    );

    let good = products(5_000, usize::MAX, |_| {});
    let reply = import(&good, true).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["products"], 5_000);
    assert_eq!(
        count(get(&app, "/api/v1/products?q=%E4%BC%81%E4%B8%9A").await),
        0
    );
    let reply = import(&good, false).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/api/v1/products/BULK-04999").await.status,
        StatusCode::OK
    );

    let too_many = products(5_001, usize::MAX, |_| {});
    import(&too_many, false).await.assert_problem(413);
    // A lab's sessions are rows too: 26 labs of 200 sessions are over the limit.
    let session = json!({"id": "x", "starts_at": "2030-09-10T09:00:00+08:00", "ends_at": "2030-09-10T17:00:00+08:00"});
    let lab = json!({"id": "x", "name": "x", "region": "360100", "precision": "region", "source": "t",
        "open_days": vec![session; 200]});
    import(&json!({ "labs": vec![lab; 26] }), true)
        .await
        .assert_problem(413);
    // A JSON document sent as CSV is refused for what it is, not read as
    // something else (or as zero rows).
    let disguised = test::TestRequest::post()
        .uri("/api/v1/import")
        .insert_header(("authorization", format!("Bearer {}", a.province)))
        .insert_header(("content-type", "text/csv"))
        .set_payload(too_many.to_string())
        .to_request();
    send(&app, disguised).await.assert_invalid("body");

    // Products as CSV, in the columns of the export: a page of it loads back.
    let csv = get(&app, "/api/v1/products.csv?region=360100&limit=50").await;
    assert_eq!(csv.status, StatusCode::OK);
    let post_csv = |body: Vec<u8>| {
        let req = test::TestRequest::post()
            .uri("/api/v1/import?dry_run=true")
            .insert_header(("authorization", format!("Bearer {}", a.province)))
            .insert_header(("content-type", "text/csv"))
            .set_payload(body)
            .to_request();
        send(&app, req)
    };
    let reply = post_csv(csv.body.to_vec()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["products"], 50);
    // Over 10 MiB: refused before it is read.
    post_csv(vec![b' '; 10 * 1024 * 1024 + 1])
        .await
        .assert_problem(413);
}

#[actix_web::test]
async fn a_write_through_one_server_reaches_another_within_a_second() {
    let (db, pool) = TestDb::bundled();
    let token = issue(&db, "national", Role::National, None);
    let second_pool = ticweek::db::pool(&db.url, 2);
    let first = ticweek::AppState::new(pool);
    let second = ticweek::AppState::new(second_pool);
    for state in [&first, &second] {
        state.watch_data_version(ticweek::api::caching::POLL_INTERVAL);
    }
    let writer = test::init_service(ticweek::app(first)).await;
    let reader = test::init_service(ticweek::app(second)).await;
    let uri = "/api/v1/campaigns/jiangxi-2022-green-week";
    let before = get(&reader, uri).await;
    // Cached on the reader now.
    assert_eq!(
        get(&reader, uri).await.header("etag"),
        before.header("etag")
    );
    let patch = json!({"theme": "绿色产品 认证先行"});
    let reply = call(&writer, "PATCH", uri, Some(&token), Some(&patch), &[]).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let started = std::time::Instant::now();
    loop {
        let now = get(&reader, uri).await;
        if now.header("etag") != before.header("etag") {
            assert_eq!(now.json()["theme"], "绿色产品 认证先行");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "still stale after 1 s"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The database-wide data version (every cached representation) and the
/// versions of events, labs and certificates (each in-memory index).
fn versions(db: &TestDb) -> [i64; 4] {
    use ticweek::db::{self, Indexed};
    let mut conn = db.connect();
    [
        db::data_version(&mut conn).unwrap(),
        db::index_version(&mut conn, Indexed::Events).unwrap(),
        db::index_version(&mut conn, Indexed::Labs).unwrap(),
        db::index_version(&mut conn, Indexed::Products).unwrap(),
    ]
}

#[actix_web::test]
async fn a_write_makes_stale_only_the_indexes_of_what_it_changed() {
    // Each in-memory index (event and certificate search lists, open days
    // near a point) is rebuilt after writes of its own records only. A new
    // token or a certificate leaves the open days' index in place, so a
    // nearby search keeps answering from memory instead of from SQL while
    // 200,000 certificates are indexed again (about a second).
    let (db, app) = crate::common::app_with_import(&fixture()).await;
    let mut before = versions(&db);
    let mut moved = || {
        let now = versions(&db);
        let moved = std::array::from_fn(|i| now[i] != before[i]);
        before = now;
        moved
    };
    let token = issue(&db, "national", Role::National, None);
    // [everything, events, labs, certificates]
    assert_eq!(moved(), [true, false, false, false], "a token");

    let product = crate::products::certificate(
        "T-VER-001",
        "organic",
        json!([{"name": "大米", "category": "grain"}]),
        "360100",
        -10,
        300,
        "valid",
        json!([]),
    );
    let reply = send_json(
        &app,
        "POST",
        "/api/v1/import",
        &token,
        &json!({"products": [product]}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(moved(), [true, false, false, true], "a certificate");

    let patched = status(
        &app,
        "PATCH",
        "/api/v1/labs/lab-l1".into(),
        Some(&token),
        Some(json!({"phone": "0791-7654321"})),
    )
    .await;
    assert_eq!(patched, 200);
    assert_eq!(moved(), [true, false, true, false], "a lab");

    // Through the write API the delete runs inside the request's own
    // transaction: the inner one's versions are committed with it.
    let deleted = status(
        &app,
        "DELETE",
        "/api/v1/events/e-taiyuan".into(),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(deleted, 204);
    assert_eq!(moved(), [true, true, false, false], "an event");

    // So does `ticweek delete`, which runs in a transaction of its own.
    let now = chrono::Utc::now().naive_utc();
    ticweek::db::labs::delete(&mut db.connect(), "lab-l2", now).unwrap();
    assert_eq!(moved(), [true, false, true, false], "a lab deleted");

    // A refused write changes nothing.
    let again = call(
        &app,
        "DELETE",
        "/api/v1/events/e-taiyuan",
        Some(&token),
        None,
        &[],
    )
    .await;
    again.assert_problem(404);
    assert_eq!(moved(), [false, false, false, false], "a refused delete");

    // And the indexes answer with what was written.
    let found = get(&app, "/api/v1/products?q=%E5%A4%A7%E7%B1%B3")
        .await
        .json();
    assert_eq!(found["items"][0]["certificate_no"], "T-VER-001");
    let events = get(
        &app,
        "/api/v1/events?q=%E5%AE%9E%E9%AA%8C%E5%AE%A4&from=2030-01-01",
    )
    .await
    .json();
    assert_eq!(crate::events::ids(&events), ["e-nanchang"]);
}
