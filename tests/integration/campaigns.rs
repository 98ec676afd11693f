use actix_web::http::StatusCode;

use crate::common::{app, get, walk};

#[actix_web::test]
async fn jiangxi_2022_has_its_four_campaigns_with_themes_and_dates() {
    let (_db, app) = app().await;
    let reply = get(&app, "/api/v1/campaigns?region=360000&year=2022").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{body}");
    let by_kind = |kind: &str| items.iter().find(|c| c["kind"] == kind).unwrap().clone();

    let organic = by_kind("organic_week");
    assert_eq!(organic["theme"], "护航消费升级 优享品质生活");
    assert_eq!(organic["starts_on"], "2022-09-19");
    assert_eq!(organic["ends_on"], "2022-09-23");
    assert_eq!(organic["region"]["name"], "江西省");
    let green = by_kind("green_week");
    assert_eq!(green["theme"], "践行双碳目标 守护绿水青山");
    assert_eq!(
        (green["starts_on"].as_str(), green["ends_on"].as_str()),
        (Some("2022-09-26"), Some("2022-09-30"))
    );
    let service = by_kind("service_week");
    assert_eq!(service["theme"], "服务认证促发展惠民生");
    // 中下旬 = days 11 to the end of the month, with the notice's wording kept.
    assert_eq!(
        (service["starts_on"].as_str(), service["ends_on"].as_str()),
        (Some("2022-09-11"), Some("2022-09-30"))
    );
    assert!(service["period_text"].as_str().unwrap().contains("中下旬"));
    let lab = by_kind("lab_open_day");
    assert_eq!(lab["theme"], "检验检测促进高质量发展");
    assert_eq!(lab["notice_id"], "jiangxi-2022-7");
    assert!(items.iter().all(|c| c["source"]
        .as_str()
        .unwrap()
        .contains("赣市监办认监〔2022〕7号")));
}

#[actix_web::test]
async fn shanxi_2024_windows_keep_the_notices_wording() {
    let (_db, app) = app().await;
    let body = get(
        &app,
        "/api/v1/campaigns?region=140000&year=2024&kind=organic_week",
    )
    .await
    .json();
    let organic = &body["items"][0];
    assert_eq!(organic["theme"], "有机产品认证：传递信任 守护消费");
    assert_eq!(organic["period_text"], "8月下旬");
    assert_eq!(
        (organic["starts_on"].as_str(), organic["ends_on"].as_str()),
        (Some("2024-08-21"), Some("2024-08-31"))
    );
    let one = get(&app, "/api/v1/campaigns/shanxi-2024-lab-open-day")
        .await
        .json();
    assert_eq!(one["period_text"], "9月任选一天");
    assert_eq!(one["theme"], "检验检测认证助推产业优化升级");
    let (all, _) = walk(&app, "/api/v1/campaigns?region=140000&limit=2").await;
    assert_eq!(all.len(), 5);
}

#[actix_web::test]
async fn region_filter_includes_descendants_and_not_siblings() {
    let (_db, app) = app().await;
    // Ganzhou is inside Jiangxi, but a Jiangxi-wide campaign is not a Ganzhou one.
    let body = get(&app, "/api/v1/campaigns?region=360700").await.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    let body = get(&app, "/api/v1/campaigns?region=140000&year=2022")
        .await
        .json();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn bad_filters_are_400_naming_the_parameter() {
    let (_db, app) = app().await;
    get(&app, "/api/v1/campaigns?kind=organic")
        .await
        .assert_invalid("kind");
    get(&app, "/api/v1/campaigns?year=22")
        .await
        .assert_invalid("year");
    get(&app, "/api/v1/campaigns?year=abcd")
        .await
        .assert_invalid("year");
    get(&app, "/api/v1/campaigns/no-such-campaign")
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn deleting_a_campaign_needs_its_events_gone_and_reaches_the_change_feed() {
    let (test_db, pool) = crate::common::TestDb::bundled();
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;
    let mut conn = test_db.connect();
    let now = chrono::Utc::now().naive_utc();
    use ticweek::db::{campaigns, events, notices, DbError};

    // Still referenced: refused (409 over HTTP), and nothing changes.
    assert!(matches!(
        campaigns::delete(&mut conn, "shanxi-2024-green-week", now),
        Err(DbError::Conflict(_))
    ));
    assert!(matches!(
        notices::delete(&mut conn, "shanxi-2024-209", now),
        Err(DbError::Conflict(_))
    ));
    assert!(matches!(
        campaigns::delete(&mut conn, "no-such", now),
        Err(DbError::NotFound(_))
    ));

    let shanxi = "/api/v1/campaigns?region=140000&year=2024";
    let listed = |body: serde_json::Value| -> Vec<String> {
        let items = body["items"].as_array().unwrap().iter();
        items
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(listed(get(&app, shanxi).await.json()).contains(&"shanxi-2024-green-week".to_owned()));
    events::delete(&mut conn, "shanxi-2024-green-week-outreach", now).unwrap();
    campaigns::delete(&mut conn, "shanxi-2024-green-week", now).unwrap();
    get(&app, "/api/v1/campaigns/shanxi-2024-green-week")
        .await
        .assert_problem(404);
    // The list too, though it is written from representations in memory.
    assert!(!listed(get(&app, shanxi).await.json()).contains(&"shanxi-2024-green-week".to_owned()));

    let (changes, _) = crate::common::read_changes(&app, None).await;
    let deleted: Vec<(&str, &str)> = changes
        .iter()
        .filter(|c| c["action"] == "deleted")
        .map(|c| (c["resource"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        deleted,
        [
            ("event", "shanxi-2024-green-week-outreach"),
            ("campaign", "shanxi-2024-green-week")
        ]
    );
}

#[actix_web::test]
async fn pages_from_memory_answer_as_pages_from_rows() {
    // With the in-memory indexes a page of campaigns copies representations
    // held in memory; without them it is built from rows. Both answer the
    // same bytes, cursors included; a campaign written is listed at once.
    let (test_db, pool) = crate::common::TestDb::bundled();
    let on = |indexes| ticweek::AppState::new(pool.clone()).with_memory_indexes(indexes);
    let memory = actix_web::test::init_service(ticweek::app(on(true))).await;
    let rows = actix_web::test::init_service(ticweek::app(on(false))).await;
    let pages = |app| async move {
        let mut bodies = Vec::new();
        for uri in [
            "/api/v1/campaigns",
            "/api/v1/campaigns?limit=2",
            "/api/v1/campaigns?region=360000&year=2022&limit=3",
            "/api/v1/campaigns?kind=organic_week&limit=1",
            "/api/v1/campaigns?year=2031",
            "/api/v1/campaigns?region=360100&limit=1",
            "/api/v1/campaigns?region=140000&kind=green_week",
            "/api/v1/campaigns?year=2024&limit=1",
            "/api/v1/campaigns?region=110000",
        ] {
            let mut next = Some(uri.to_owned());
            while let Some(page) = next.take() {
                let reply = get(app, &page).await;
                assert_eq!(reply.status, StatusCode::OK, "{page}");
                next = reply.json()["next_cursor"].as_str().map(|cursor| {
                    let joint = if uri.contains('?') { '&' } else { '?' };
                    format!("{uri}{joint}cursor={cursor}")
                });
                bodies.push(reply.body);
                assert!(bodies.len() < 200, "{uri} does not end");
            }
        }
        bodies
    };
    let from_memory = pages(&memory).await;
    assert!(from_memory == pages(&rows).await, "pages differ");
    assert!(from_memory.len() > 5, "pages were walked");

    let mut conn = test_db.connect();
    let doc = serde_json::json!({ "campaigns": [{
        "id": "shanxi-2031-organic-week", "kind": "organic_week", "year": 2031,
        "title": "测试活动", "region": "140000", "notice_id": "shanxi-2024-209", "source": "test"
    }]});
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let page = get(&memory, "/api/v1/campaigns?year=2031").await;
    assert_eq!(page.json()["items"][0]["title"], "测试活动");
    assert!(page.body == get(&rows, "/api/v1/campaigns?year=2031").await.body);
}
