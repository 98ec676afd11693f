use std::collections::HashSet;

use actix_web::http::StatusCode;
use serde_json::json;

use crate::common::{app, get, TestDb};

#[actix_web::test]
async fn the_ganzhou_notice_forwards_the_provincial_one() {
    let (_db, app) = app().await;
    let reply = get(&app, "/api/v1/notices/ganzhou-2022-12").await;
    assert_eq!(reply.status, StatusCode::OK);
    let notice = reply.json();
    assert_eq!(notice["doc_number"], "赣市市监认监字〔2022〕12号");
    assert_eq!(notice["forwards"], json!(["赣市监办认监〔2022〕7号"]));
    assert_eq!(
        notice["region"],
        json!({"adcode": "360700", "name": "赣州市"})
    );
    assert_eq!(notice["deadlines"][0]["due_on"], "2022-09-30");

    let jiangxi = get(&app, "/api/v1/notices/jiangxi-2022-7").await.json();
    assert_eq!(
        jiangxi["cites"],
        json!(["市监认证发〔2022〕79号", "市监检测函〔2022〕1227号"])
    );
    assert_eq!(
        jiangxi["contacts"][0],
        json!({"name": "徐芝亮", "phone": "0791-86355828", "email": "jxsjrzc@amr.jiangxi.gov.cn"})
    );
    assert_eq!(jiangxi["deadlines"][0]["due_on"], "2022-10-10");
    assert!(jiangxi["body"]
        .as_str()
        .unwrap()
        .contains("护航消费升级 优享品质生活"));
    // Times on the wire are Asia/Shanghai with an explicit offset.
    assert!(jiangxi["updated_at"].as_str().unwrap().ends_with("+08:00"));

    // The national notices exist as referenced documents.
    let national = get(&app, "/api/v1/notices/samr-2022-79").await.json();
    assert!(national["region"].is_null());
}

#[actix_web::test]
async fn shanxi_notice_has_date_contacts_and_deadlines() {
    let (_db, app) = app().await;
    let body = get(&app, "/api/v1/notices?region=140000").await.json();
    let notice = &body["items"][0];
    assert_eq!(notice["doc_number"], "晋市监函〔2024〕209号");
    assert_eq!(notice["issued_on"], "2024-08-20");
    assert_eq!(notice["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(notice["deadlines"][0]["due_on"], "2024-08-28");
    assert_eq!(notice["deadlines"][1]["due_on"], "2024-09-28");
}

#[actix_web::test]
async fn filters_by_year_region_subtree_and_text() {
    let (_db, app) = app().await;
    let ids = |body: serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let jiangxi = ids(get(&app, "/api/v1/notices?region=360000").await.json());
    assert_eq!(jiangxi, ["ganzhou-2022-12", "jiangxi-2022-7"]);
    assert_eq!(
        ids(get(&app, "/api/v1/notices?year=2024").await.json()),
        ["shanxi-2024-209"]
    );
    // 开放日 appears in the national lab notice's title and the provincial bodies.
    let found = ids(get(&app, "/api/v1/notices?q=%E5%BC%80%E6%94%BE%E6%97%A5")
        .await
        .json());
    assert!(found.contains(&"samr-2022-1227".to_owned()), "{found:?}");
    get(&app, "/api/v1/notices?q=").await.assert_invalid("q");
    // Words are searched separately (all must occur), and symbols are data.
    let both = ids(get(
        &app,
        "/api/v1/notices?q=%E6%9C%89%E6%9C%BA%20%E8%AE%A4%E8%AF%81",
    )
    .await
    .json());
    assert!(both.contains(&"jiangxi-2022-7".to_owned()), "{both:?}");
    assert!(ids(get(&app, "/api/v1/notices?q=%25").await.json()).is_empty());
    assert!(ids(get(
        &app,
        "/api/v1/notices?q=%E6%99%8B%E5%B8%82%E7%9B%91%E5%87%BD"
    )
    .await
    .json())
    .contains(&"shanxi-2024-209".to_owned()));
    // Latin text matches without regard to case, on both backends.
    assert!(
        ids(get(&app, "/api/v1/notices?q=vr").await.json()).contains(&"jiangxi-2022-7".to_owned())
    );
    for bad in ["44010", "44O100", "-440100"] {
        get(&app, &format!("/api/v1/notices?region={bad}"))
            .await
            .assert_invalid("region");
    }
    get(&app, "/api/v1/notices?year=twenty")
        .await
        .assert_invalid("year");
    get(&app, "/api/v1/notices?year=1999")
        .await
        .assert_invalid("year");
    get(&app, "/api/v1/notices/nope").await.assert_problem(404);
}

#[actix_web::test]
async fn cursor_is_stable_when_notices_are_inserted_during_the_walk() {
    let (test_db, pool) = TestDb::bundled();
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;
    let first = get(&app, "/api/v1/notices?limit=2").await;
    let mut seen: Vec<String> = first.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();

    // A new 2023 notice sorts between the pages already read and those to come.
    let mut conn = test_db.connect();
    let doc = json!({"notices": [{
        "id": "test-2023-1", "doc_number": "测试〔2023〕1号", "title": "测试通知",
        "issuer": "测试局", "region": "360000", "source": "test"
    }]});
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");

    let mut next = first.header("link").map(|l| {
        l.trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned()
    });
    while let Some(uri) = next.take() {
        let reply = get(&app, &uri).await;
        seen.extend(
            reply.json()["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned()),
        );
        next = reply.header("link").map(|l| {
            l.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "duplicate in {seen:?}");
    for id in [
        "shanxi-2024-209",
        "ganzhou-2022-12",
        "jiangxi-2022-7",
        "samr-2022-79",
        "samr-2022-1227",
    ] {
        assert!(seen.iter().any(|s| s == id), "{id} missing from {seen:?}");
    }
}
