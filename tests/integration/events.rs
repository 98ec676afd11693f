use std::collections::HashSet;

use actix_web::http::{header, StatusCode};
use actix_web::test::TestRequest;
use serde_json::Value;

use crate::common::{app, get, send, walk, TestDb};

pub(crate) fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

const VISITED: [(&str, &str); 7] = [
    ("pengze", "360430"),
    ("ruijin", "360781"),
    ("xinfeng", "360722"),
    ("jingan", "360925"),
    ("fengxin", "360921"),
    ("yihuang", "361026"),
    ("guangchang", "361030"),
];

#[actix_web::test]
async fn bundled_events_come_from_the_notices() {
    let (_db, app) = app().await;
    let (all, _) = walk(&app, "/api/v1/events?limit=100").await;
    assert_eq!(all.len(), 18);
    assert!(all
        .iter()
        .all(|e| !e["source"].as_str().unwrap().is_empty()));

    // The organic week's expert visits: one per demonstration county, placed at
    // the county's centroid because the notice names no address.
    for (slug, adcode) in VISITED {
        let event = get(
            &app,
            &format!("/api/v1/events/jiangxi-2022-organic-expert-visit-{slug}"),
        )
        .await
        .json();
        assert_eq!(event["region"]["adcode"], adcode);
        assert_eq!(event["venue"]["precision"], "region");
        let region = get(&app, &format!("/api/v1/regions/{adcode}")).await.json();
        assert_eq!(event["venue"]["lat"], region["lat"]);
        assert_eq!(event["starts_at"], "2022-09-19T00:00:00+08:00");
        assert_eq!(event["kind"], "organic_week");
    }
    // The service week's window keeps the notice's wording.
    let training = get(
        &app,
        "/api/v1/events/jiangxi-2022-service-ganzhou-ad-training",
    )
    .await
    .json();
    assert_eq!(training["attendance"], "mixed");
    assert_eq!(training["period_text"], "2022 年 9 月中下旬");
    let labs = get(&app, "/api/v1/events?campaign=jiangxi-2022-lab-open-day")
        .await
        .json();
    assert_eq!(labs["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn filters_by_kind_campaign_region_status_and_update_time() {
    let (_db, app) = app().await;
    let body = get(&app, "/api/v1/events?kind=organic_week&limit=100")
        .await
        .json();
    assert_eq!(body["items"].as_array().unwrap().len(), 8);
    assert!(body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] == "organic_week"));
    // region is a subtree: Ganzhou holds the training and two county visits.
    let ganzhou = ids(&get(&app, "/api/v1/events?region=360700").await.json());
    let expected: HashSet<&str> = [
        "jiangxi-2022-service-ganzhou-ad-training",
        "jiangxi-2022-organic-expert-visit-ruijin",
        "jiangxi-2022-organic-expert-visit-xinfeng",
    ]
    .into();
    assert_eq!(
        ganzhou.iter().map(String::as_str).collect::<HashSet<_>>(),
        expected
    );
    let (jiangxi, _) = walk(&app, "/api/v1/events?region=360000&limit=5").await;
    assert_eq!(jiangxi.len(), 13);
    assert_eq!(
        get(&app, "/api/v1/events?status=cancelled").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        get(&app, "/api/v1/events?updated_since=2100-01-01")
            .await
            .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        walk(
            &app,
            "/api/v1/events?updated_since=2000-01-01T00:00:00%2B08:00&limit=100"
        )
        .await
        .0
        .len(),
        18
    );
    get(&app, "/api/v1/events?campaign=no-such-campaign")
        .await
        .assert_unknown("campaign");
    get(&app, "/api/v1/events?region=990000")
        .await
        .assert_unknown("region");
    get(&app, "/api/v1/events?kind=party")
        .await
        .assert_invalid("kind");
    get(&app, "/api/v1/events?status=done")
        .await
        .assert_invalid("status");
}

#[actix_web::test]
async fn date_window_matches_overlap_at_its_edges() {
    let (_db, app) = app().await;
    // The organic week runs 2022-09-19 00:00 to 2022-09-24 00:00 (+08:00).
    let organic = |body: Value| {
        ids(&body)
            .iter()
            .filter(|id| id.contains("organic-expert"))
            .count()
    };
    let count = |q: &'static str| {
        let app = &app;
        async move {
            organic(
                get(
                    app,
                    &format!("/api/v1/events?kind=organic_week&limit=100&{q}"),
                )
                .await
                .json(),
            )
        }
    };
    assert_eq!(count("from=2022-09-23").await, 7, "last day overlaps");
    assert_eq!(count("from=2022-09-24").await, 0, "the day after does not");
    assert_eq!(count("to=2022-09-19").await, 7, "first day overlaps");
    assert_eq!(count("to=2022-09-18").await, 0, "the day before does not");
    assert_eq!(
        count("from=2022-09-20&to=2022-09-21").await,
        7,
        "a window inside the event"
    );
    assert_eq!(
        count("to=2022-09-19T00:00:00%2B08:00").await,
        7,
        "an instant equal to the start"
    );
    assert_eq!(count("to=2022-09-18T23:59:59%2B08:00").await, 0);
    assert_eq!(count("from=2022-09-23T15:59:59Z").await, 7);
    assert_eq!(
        count("from=2022-09-23T16:00:00Z").await,
        0,
        "ends_at is exclusive"
    );

    get(&app, "/api/v1/events?from=2022-09-20&to=2022-09-19")
        .await
        .assert_invalid("from");
    get(&app, "/api/v1/events?from=2024-02-30")
        .await
        .assert_invalid("from");
    get(&app, "/api/v1/events?to=2022-13-01")
        .await
        .assert_invalid("to");
    get(&app, "/api/v1/events?from=2022-09-19T10:00:00")
        .await
        .assert_invalid("from");
    get(&app, "/api/v1/events?updated_since=yesterday")
        .await
        .assert_invalid("updated_since");
}

#[actix_web::test]
async fn nearby_adds_distance_and_sorts_by_it() {
    let (_db, app) = app().await;
    // Central Nanchang: the three lab activities and the Jindalai visit (Nanchang centroid).
    let body = get(&app, "/api/v1/events?near=28.68,115.86&radius_km=30")
        .await
        .json();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{body}");
    let distances: Vec<f64> = items
        .iter()
        .map(|e| e["distance_km"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]));
    assert!(distances.iter().all(|d| *d <= 30.0));
    // Ruijin is ~320 km from Nanchang.
    let far = ids(&get(
        &app,
        "/api/v1/events?near=28.68,115.86&radius_km=500&limit=100",
    )
    .await
    .json());
    assert!(far.contains(&"jiangxi-2022-organic-expert-visit-ruijin".to_owned()));
    let (walked, _) = walk(
        &app,
        "/api/v1/events?near=28.68,115.86&radius_km=500&limit=3",
    )
    .await;
    assert_eq!(
        walked
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        far
    );
    // Without near there is no distance.
    assert!(get(&app, "/api/v1/events?limit=1").await.json()["items"][0]
        .get("distance_km")
        .is_none());

    for bad in [
        "NaN,115", "28,inf", "-inf,1", "91,0", "28", "28;115", "abc,def",
    ] {
        get(&app, &format!("/api/v1/events?near={bad}"))
            .await
            .assert_invalid("near");
    }
    for bad in ["0", "-1", "500.1", "NaN", "inf"] {
        get(&app, &format!("/api/v1/events?near=28,115&radius_km={bad}"))
            .await
            .assert_invalid("radius_km");
    }
    get(&app, "/api/v1/events?radius_km=5")
        .await
        .assert_invalid("radius_km");
    get(&app, "/api/v1/events?sort=distance")
        .await
        .assert_invalid("sort");
}

#[actix_web::test]
async fn sort_orders_and_cursor_walks() {
    let (_db, app) = app().await;
    let (asc, _) = walk(&app, "/api/v1/events?limit=4").await;
    let (desc, _) = walk(&app, "/api/v1/events?sort=-starts_at&limit=4").await;
    let starts = |items: &[Value]| {
        items
            .iter()
            .map(|e| e["starts_at"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut sorted = starts(&asc);
    sorted.sort();
    assert_eq!(starts(&asc), sorted);
    sorted.reverse();
    assert_eq!(starts(&desc), sorted);
    assert_eq!(asc.len(), 18);
    let unique: HashSet<&str> = desc.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 18);
    // A cursor of one order is refused by another.
    let page = get(&app, "/api/v1/events?limit=1").await.json();
    let cursor = page["next_cursor"].as_str().unwrap();
    get(
        &app,
        &format!("/api/v1/events?sort=-starts_at&cursor={cursor}"),
    )
    .await
    .assert_invalid("cursor");
    get(&app, "/api/v1/events?sort=newest")
        .await
        .assert_invalid("sort");
}

#[actix_web::test]
async fn facets_count_the_whole_filtered_set() {
    let (_db, app) = app().await;
    let body = get(
        &app,
        "/api/v1/events?facets=kind,region,status,year&limit=1",
    )
    .await
    .json();
    for facet in ["kind", "region", "status", "year"] {
        let total: i64 = body["facets"][facet]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .sum();
        assert_eq!(total, 18, "{facet}: {body}");
    }
    // Provinces by default, cities once the filter names a province.
    let regions: Vec<&str> = body["facets"]["region"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    assert_eq!(regions, ["360000", "140000"]);
    let jiangxi = get(
        &app,
        "/api/v1/events?region=360000&facets=region&q=%E6%9C%89%E6%9C%BA",
    )
    .await
    .json();
    let (walked, _) = walk(
        &app,
        "/api/v1/events?region=360000&q=%E6%9C%89%E6%9C%BA&limit=2",
    )
    .await;
    let buckets = jiangxi["facets"]["region"].as_array().unwrap();
    assert_eq!(
        buckets
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .sum::<i64>(),
        walked.len() as i64
    );
    assert!(buckets
        .iter()
        .any(|v| v["value"] == "360700" && v["name"] == "赣州市"));
    get(&app, "/api/v1/events?facets=kind,colour")
        .await
        .assert_invalid("facets");
    get(&app, "/api/v1/events.csv?facets=kind")
        .await
        .assert_invalid("facets");
}

#[actix_web::test]
async fn chinese_search_works_for_one_and_two_characters_and_ranks_titles_first() {
    // The same answers from the in-memory posting lists and the SQL index.
    for lists in [true, false] {
        chinese_search(lists).await;
    }
}

async fn chinese_search(lists: bool) {
    let (_db, app) = crate::common::app_searching(lists).await;
    // 有机 is in the title of the eight organic-week events and in no other title.
    let (organic, _) = walk(&app, "/api/v1/events?q=%E6%9C%89%E6%9C%BA&limit=3").await;
    let titles: Vec<bool> = organic
        .iter()
        .map(|e| e["title"].as_str().unwrap().contains("有机"))
        .collect();
    assert_eq!(titles.iter().filter(|t| **t).count(), 8);
    let first_body_only = titles.iter().position(|t| !t).unwrap_or(titles.len());
    assert!(
        titles[first_body_only..].iter().all(|t| !t),
        "title matches come first: {titles:?}"
    );
    // One character: 县 appears in the county visits.
    let county = ids(&get(&app, "/api/v1/events?q=%E5%8E%BF&limit=100")
        .await
        .json());
    assert!(county.contains(&"jiangxi-2022-organic-expert-visit-pengze".to_owned()));
    // 茶 appears nowhere.
    assert!(ids(&get(&app, "/api/v1/events?q=%E8%8C%B6").await.json()).is_empty());
    // Latin mixed with Chinese, any case.
    assert_eq!(
        ids(&get(&app, "/api/v1/events?q=vr%E6%8A%80%E6%9C%AF")
            .await
            .json()),
        ["jiangxi-2022-lab-open-industrial-institute"]
    );
    assert_eq!(
        ids(&get(&app, "/api/v1/events?q=2%2B6%2BN").await.json()),
        Vec::<String>::new(),
        "body text of the notice, not of an event"
    );
}

#[actix_web::test]
async fn search_input_is_data_never_syntax() {
    let (_db, app) = app().await;
    for raw in [
        "%22",
        "a%22b",
        "NOT",
        "a%20OR",
        "*",
        "(",
        "%25",
        "_",
        "%5C",
        "'%20OR%201%3D1%20--",
        "NEAR(a%20b)",
        "title%3A%E6%9C%89",
    ] {
        let reply = get(&app, &format!("/api/v1/events?q={raw}")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "q={raw}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.json()["items"].as_array().unwrap().len() < 18,
            "q={raw} must not match everything"
        );
    }
    get(&app, "/api/v1/events?q=a%00b")
        .await
        .assert_invalid("q");
    let long = "%E8%8C%B6".repeat(101);
    get(&app, &format!("/api/v1/events?q={long}"))
        .await
        .assert_invalid("q");
    get(&app, "/api/v1/events?q=%20%20")
        .await
        .assert_invalid("q");
}

#[actix_web::test]
async fn list_and_feeds_answer_304_to_their_etag() {
    let (_db, app) = app().await;
    for uri in [
        "/api/v1/events?region=360000",
        "/api/v1/events.ics?region=360000",
        "/api/v1/events.csv?region=360000",
    ] {
        let first = get(&app, uri).await;
        assert_eq!(first.status, StatusCode::OK, "{uri}");
        let etag = first.header("etag").unwrap().to_owned();
        let again = send(
            &app,
            TestRequest::get()
                .uri(uri)
                .insert_header((header::IF_NONE_MATCH, etag))
                .to_request(),
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
    }
}

#[actix_web::test]
async fn icalendar_feed_has_one_vevent_per_list_item() {
    let (_db, app) = app().await;
    let json = get(&app, "/api/v1/events?region=360000&limit=100")
        .await
        .json();
    let reply = get(&app, "/api/v1/events.ics?region=360000").await;
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/calendar"));
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    assert!(
        text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'),
        "CRLF line endings only"
    );
    assert!(
        text.lines().all(|l| l.len() <= 75),
        "lines are folded at 75 octets"
    );
    let calendar: icalendar::Calendar = text.parse().expect("a valid iCalendar document");
    let vevents: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    assert_eq!(vevents.len(), json["items"].as_array().unwrap().len());
    use icalendar::Component;
    let uids: HashSet<String> = vevents
        .iter()
        .map(|e| e.get_uid().unwrap().to_owned())
        .collect();
    for item in json["items"].as_array().unwrap() {
        assert!(uids.contains(&format!("{}@ticweek", item["id"].as_str().unwrap())));
    }
    assert!(text.contains("REFRESH-INTERVAL;VALUE=DURATION:"));
    assert!(vevents
        .iter()
        .all(|e| e.property_value("GEO").is_some() && e.property_value("DTSTAMP").is_some()));

    // Deadlines of the campaigns' notices land in calendars too.
    let with = get(
        &app,
        "/api/v1/events.ics?campaign=jiangxi-2022-organic-week&include=deadlines",
    )
    .await;
    let calendar: icalendar::Calendar = String::from_utf8(with.body.to_vec())
        .unwrap()
        .parse()
        .unwrap();
    let summaries: Vec<String> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .filter_map(|e| e.get_summary().map(str::to_owned))
        .collect();
    assert!(
        summaries.iter().any(|s| s.contains("总结报告")),
        "{summaries:?}"
    );
    get(&app, "/api/v1/events.ics?include=everything")
        .await
        .assert_invalid("include");
    get(&app, "/api/v1/events?include=deadlines")
        .await
        .assert_invalid("include");
}

#[actix_web::test]
async fn csv_parses_back_to_the_json_list() {
    let (_db, app) = app().await;
    let json = get(&app, "/api/v1/events?limit=100").await.json();
    let reply = get(&app, "/api/v1/events.csv").await;
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/csv"));
    assert!(
        reply.body.starts_with("\u{feff}".as_bytes()),
        "BOM so Excel reads UTF-8"
    );
    let mut reader = csv::Reader::from_reader(&reply.body[3..]);
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let items = json["items"].as_array().unwrap();
    assert_eq!(rows.len(), items.len());
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    for (row, item) in rows.iter().zip(items) {
        assert_eq!(&row[col("id")], item["id"].as_str().unwrap());
        assert_eq!(&row[col("title")], item["title"].as_str().unwrap());
        assert_eq!(
            &row[col("description")],
            item["description"].as_str().unwrap()
        );
        assert_eq!(&row[col("starts_at")], item["starts_at"].as_str().unwrap());
        assert_eq!(
            &row[col("region_name")],
            item["region"]["name"].as_str().unwrap()
        );
        assert_eq!(
            row[col("lat")].parse::<f64>().unwrap(),
            item["venue"]["lat"].as_f64().unwrap()
        );
    }
}

#[actix_web::test]
async fn json_ld_is_schema_org() {
    let (_db, app) = app().await;
    let one = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/events/jiangxi-2022-service-jindalai-visit")
            .insert_header((header::ACCEPT, "application/ld+json"))
            .to_request(),
    )
    .await;
    assert_eq!(one.header("content-type"), Some("application/ld+json"));
    let doc = one.json();
    assert_eq!(doc["@context"], "https://schema.org");
    assert_eq!(doc["@type"], "Event");
    assert_eq!(doc["location"]["@type"], "Place");
    assert_eq!(doc["location"]["geo"]["@type"], "GeoCoordinates");
    assert_eq!(doc["eventStatus"], "https://schema.org/EventScheduled");
    assert_eq!(
        doc["eventAttendanceMode"],
        "https://schema.org/OfflineEventAttendanceMode"
    );
    assert_eq!(doc["organizer"]["@type"], "Organization");
    let list = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/events?limit=3")
            .insert_header((header::ACCEPT, "application/ld+json"))
            .to_request(),
    )
    .await
    .json();
    assert_eq!(list["@context"], "https://schema.org");
    assert_eq!(list["@type"], "ItemList");
    assert_eq!(list["itemListElement"][0]["item"]["@type"], "Event");
    // Plain JSON stays the default, and caches keep the two apart.
    let plain = get(&app, "/api/v1/events/jiangxi-2022-service-jindalai-visit").await;
    assert_eq!(
        plain.header("vary").map(|v| v.contains("Accept")),
        Some(true)
    );
}

#[actix_web::test]
async fn change_feed_reports_a_deletion() {
    let (test_db, pool) = TestDb::bundled();
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;
    let (seen, cursor) = crate::common::read_changes(&app, None).await;
    assert_eq!(seen.iter().filter(|c| c["resource"] == "event").count(), 18);

    let mut conn = test_db.connect();
    ticweek::db::events::delete(
        &mut conn,
        "jiangxi-2022-organic-expert-visit-pengze",
        chrono::Utc::now().naive_utc(),
    )
    .unwrap();
    let body = get(&app, &format!("/api/v1/changes?since={cursor}"))
        .await
        .json();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["resource"], "event");
    assert_eq!(items[0]["id"], "jiangxi-2022-organic-expert-visit-pengze");
    assert_eq!(items[0]["action"], "deleted");
    get(
        &app,
        "/api/v1/events/jiangxi-2022-organic-expert-visit-pengze",
    )
    .await
    .assert_problem(404);
    // The deleted event is gone from search too.
    assert!(!ids(&get(&app, "/api/v1/events?q=%E5%BD%AD%E6%B3%BD")
        .await
        .json())
    .contains(&"jiangxi-2022-organic-expert-visit-pengze".to_owned()));
    get(&app, "/api/v1/changes?since=garbage")
        .await
        .assert_invalid("since");
}

/// The bundled data plus one test event (never mixed into the bundled file).
async fn app_with_event(
    event: Value,
) -> (
    TestDb,
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) {
    crate::common::app_with_import(&serde_json::json!({ "events": [event] })).await
}

fn test_event(title: &str, description: &str) -> Value {
    serde_json::json!({
        "id": "test-event", "campaign_id": "shanxi-2024-organic-week", "title": title,
        "description": description, "starts_at": "2024-08-25T09:00:00+08:00",
        "ends_at": "2024-08-25T11:30:00+08:00",
        "venue": {"name": "太原市某会议中心", "address": null, "lat": 37.87, "lon": 112.55, "precision": "exact"},
        "region": "140100", "source": "test"
    })
}

#[actix_web::test]
async fn standards_and_years_are_searchable_however_they_are_written() {
    let (_db, app) = app_with_event(test_event(
        "2024年有机产品认证讲座",
        "讲解 GB/T 19630-2019《有机产品 生产、加工、标识与管理体系要求》",
    ))
    .await;
    for q in [
        "GB%2FT%2019630",
        "gb%2Ft19630",
        "%EF%BC%A7%EF%BC%A2%EF%BC%8F%EF%BC%B4%EF%BC%91%EF%BC%99%EF%BC%96%EF%BC%93%EF%BC%90",
        "19630-2019",
    ] {
        assert_eq!(
            ids(&get(&app, &format!("/api/v1/events?q={q}")).await.json()),
            ["test-event"],
            "q={q}"
        );
    }
    // 2024 is in this event's title and in the works call's description: title first.
    assert_eq!(
        ids(&get(&app, "/api/v1/events?q=2024").await.json()),
        ["test-event", "shanxi-2024-service-works-call"]
    );
    // An exact-time event is a point with precision "exact", and it is local to Taiyuan.
    let near = ids(&get(&app, "/api/v1/events?near=37.87,112.55&radius_km=1")
        .await
        .json());
    assert_eq!(near, ["test-event"]);
}

#[actix_web::test]
async fn csv_neutralizes_formulas_and_uses_crlf() {
    let (_db, app) = app_with_event(test_event("=HYPERLINK(\"http://x\")", "+1 -1 @SUM(A1)")).await;
    let body = get(&app, "/api/v1/events.csv?campaign=shanxi-2024-organic-week")
        .await
        .body;
    let text = String::from_utf8(body[3..].to_vec()).unwrap();
    assert!(text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "test-event")
        .unwrap();
    assert_eq!(&row[3], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&row[4], "'+1 -1 @SUM(A1)");
}

#[actix_web::test]
async fn deadline_feed_is_stable_and_cacheable() {
    let (_db, app) = app().await;
    let uri = "/api/v1/events.ics?campaign=jiangxi-2022-organic-week&include=deadlines";
    let first = get(&app, uri).await;
    let etag = first.header("etag").unwrap().to_owned();
    let again = send(
        &app,
        TestRequest::get()
            .uri(uri)
            .insert_header((header::IF_NONE_MATCH, etag))
            .to_request(),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::NOT_MODIFIED,
        "the feed must not change between requests"
    );
    // An empty feed is still a calendar with a component.
    let empty = get(&app, "/api/v1/events.ics?status=cancelled").await;
    let calendar: icalendar::Calendar = String::from_utf8(empty.body.to_vec())
        .unwrap()
        .parse()
        .unwrap();
    assert!(!calendar.components.is_empty());
    let text = String::from_utf8(empty.body.to_vec()).unwrap();
    let vtimezone =
        &text[text.find("BEGIN:VTIMEZONE").unwrap()..text.find("END:VTIMEZONE").unwrap()];
    assert!(!vtimezone.contains("UID") && !vtimezone.contains("DTSTAMP"));
}

#[actix_web::test]
async fn relevance_pages_have_no_duplicates_and_forged_cursors_are_refused() {
    let (_db, app) = app().await;
    let (walked, pages) = walk(&app, "/api/v1/events?q=%E7%9C%81&limit=2").await; // 省
    let unique: HashSet<&str> = walked.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), walked.len());
    assert!(pages > 2);
    let (all, _) = walk(&app, "/api/v1/events?q=%E7%9C%81&limit=100").await;
    assert_eq!(walked, all);
    // "events|asc|<micros far beyond year 2200>|x"
    let forged = base64_url("v1|events|asc|9000000000000000000|x");
    get(&app, &format!("/api/v1/events?cursor={forged}"))
        .await
        .assert_invalid("cursor");
    let forged = base64_url("v1|events|rel|1|-5");
    get(&app, &format!("/api/v1/events?q=a&cursor={forged}"))
        .await
        .assert_invalid("cursor");
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn an_event_must_end_after_it_starts() {
    let (test_db, _pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let mut event = test_event("t", "d");
    event["ends_at"] = event["starts_at"].clone();
    let report = ticweek::import::run(
        &mut conn,
        &serde_json::json!({"events": [event]}).to_string(),
        false,
    )
    .unwrap();
    assert_eq!(report.errors[0].field, "ends_at");
    let mut long = test_event("t", "d");
    long["ends_at"] = serde_json::json!("2026-01-01T00:00:00+08:00");
    let report = ticweek::import::run(
        &mut conn,
        &serde_json::json!({"events": [long]}).to_string(),
        false,
    )
    .unwrap();
    assert_eq!(report.errors[0].field, "ends_at");
}

/// Haversine written independently of the crate's, to check it.
fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6371.0088_f64;
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let dla = la2 - la1;
    let dlo = (b.1 - a.1).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().atan2((1.0 - h).sqrt())
}

#[actix_web::test]
async fn nearby_matches_a_brute_force_scan() {
    let (test_db, pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    // 80 points on a deterministic spiral around Nanchang, 0–40 km out.
    let centre = (28.68, 115.86);
    let mut points = Vec::new();
    let events: Vec<Value> = (0..80)
        .map(|i| {
            let angle = i as f64 * 2.399_963;
            let km = 0.5 * i as f64;
            let lat = centre.0 + km / 111.2 * angle.sin();
            let lon = centre.1 + km / (111.2 * centre.0.to_radians().cos()) * angle.cos();
            points.push((format!("near-{i:02}"), (lat, lon)));
            let mut e = test_event("测试", "测试");
            e["id"] = serde_json::json!(format!("near-{i:02}"));
            e["region"] = serde_json::json!("360100");
            e["venue"]["lat"] = serde_json::json!(lat);
            e["venue"]["lon"] = serde_json::json!(lon);
            e
        })
        .collect();
    let report = ticweek::import::run(
        &mut conn,
        &serde_json::json!({"events": events}).to_string(),
        false,
    )
    .unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;

    let radius = 15.0;
    let (walked, _) = walk(&app, &format!("/api/v1/events?near={},{}&radius_km={radius}&limit=7&campaign=shanxi-2024-organic-week", centre.0, centre.1)).await;
    let mut expected: Vec<(f64, String)> = points
        .iter()
        .map(|(id, p)| (haversine_km(centre, *p), id.clone()))
        .filter(|(d, _)| *d <= radius)
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let got: Vec<&str> = walked.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        got, want,
        "nothing outside the radius, nothing inside missed, closest first"
    );
    for (event, (d, _)) in walked.iter().zip(&expected) {
        assert!((event["distance_km"].as_f64().unwrap() - d).abs() <= 0.1);
    }
    let facets = get(&app, &format!("/api/v1/events?near={},{}&radius_km={radius}&campaign=shanxi-2024-organic-week&facets=kind", centre.0, centre.1)).await.json();
    assert_eq!(
        facets["facets"]["kind"][0]["count"].as_i64().unwrap() as usize,
        want.len()
    );
    // Time order within the radius is the same set.
    let (by_time, _) = walk(&app, &format!("/api/v1/events?near={},{}&radius_km={radius}&campaign=shanxi-2024-organic-week&sort=starts_at&limit=9", centre.0, centre.1)).await;
    assert_eq!(by_time.len(), want.len());
}

#[actix_web::test]
async fn same_request_same_bytes_and_links_that_work() {
    let (_db, app) = app().await;
    // Facet maps come out in a fixed order, so the ETag is stable.
    let uri = "/api/v1/events?facets=status,year,region,kind";
    let tags: HashSet<String> = etags(&app, uri, 6).await;
    assert_eq!(tags.len(), 1, "one ETag for one request: {tags:?}");
    // Gzip'd representations vary by Accept-Encoding as well as Accept.
    let reply = send(
        &app,
        TestRequest::get()
            .uri("/api/v1/events/jiangxi-2022-service-jindalai-visit")
            .insert_header((header::ACCEPT_ENCODING, "gzip"))
            .to_request(),
    )
    .await;
    let vary = reply.header("vary").unwrap().to_lowercase();
    assert!(
        vary.contains("accept-encoding") && vary.contains("accept"),
        "{vary}"
    );
    // The change feed's Link rel="next" uses its own parameter and works.
    let first = get(&app, "/api/v1/changes?limit=2").await;
    let link = first.header("link").unwrap();
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    assert!(next.contains("since="), "{link}");
    assert_eq!(get(&app, next).await.status, StatusCode::OK);
    // Bounds far outside the years anything happens read as the nearest of
    // 1900 and 2200: the same events as no bound, not a 400, and instants
    // that would leave the calendar once in UTC are not misread.
    let everything = get(&app, "/api/v1/events?limit=100").await.json()["items"].clone();
    for far in [
        "to=9999-12-31T23:59:59-12:00",
        "from=0001-01-01&to=9999-12-31",
        "updated_since=0001-01-01T00:00:00%2B14:00",
    ] {
        let reply = get(&app, &format!("/api/v1/events?limit=100&{far}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{far}");
        assert_eq!(reply.json()["items"], everything, "{far}");
    }
    let reply = get(
        &app,
        "/api/v1/events?updated_since=9999-12-31T23:59:59-00:01",
    )
    .await;
    assert_eq!(reply.json()["items"], serde_json::json!([]));
    let reply = get(&app, "/api/v1/events?from=2022-09-20&to=2022-09-19").await;
    assert_eq!(reply.json()["detail"], "`from` must not be after `to`");
}

async fn etags<S, B>(app: &S, uri: &str, times: usize) -> HashSet<String>
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let mut tags = HashSet::new();
    for _ in 0..times {
        tags.insert(get(app, uri).await.header("etag").unwrap().to_owned());
    }
    tags
}

#[actix_web::test]
async fn pages_from_memory_answer_as_pages_from_rows() {
    // With the in-memory indexes, a JSON page of events copies the
    // representations held in memory; without them, it is built from rows.
    // Both answer the same bytes, cursors included, for every order and
    // filter; and a write is seen at once by the next page.
    let (_db, pool) = TestDb::bundled();
    let on = |indexes| ticweek::AppState::new(pool.clone()).with_memory_indexes(indexes);
    let memory = actix_web::test::init_service(ticweek::app(on(true))).await;
    let rows = actix_web::test::init_service(ticweek::app(on(false))).await;
    for uri in [
        "/api/v1/events",
        "/api/v1/events?limit=3",
        "/api/v1/events?sort=-starts_at&limit=4",
        "/api/v1/events?region=360000&from=2022-09-01&to=2022-09-30&limit=5",
        "/api/v1/events?kind=organic_week&status=scheduled",
        // Time-ordered pages are chosen in memory (`db::listings`): every
        // filter, each region level, both orders through ties of start
        // time, one-sided windows, and empty pages.
        "/api/v1/events?region=360100&limit=2",
        "/api/v1/events?region=360700&sort=-starts_at&limit=1",
        "/api/v1/events?region=360921",
        "/api/v1/events?region=140000&sort=-starts_at&limit=2",
        "/api/v1/events?region=110000",
        "/api/v1/events?campaign=jiangxi-2022-organic-week&limit=2",
        "/api/v1/events?campaign=jiangxi-2022-organic-week&region=140000",
        "/api/v1/events?from=2022-09-20&limit=2",
        "/api/v1/events?to=2022-09-20&sort=-starts_at&limit=2",
        "/api/v1/events?from=2022-09-24&to=2024-08-25&sort=-starts_at&limit=1",
        "/api/v1/events?from=2024-09-30&limit=1",
        "/api/v1/events?kind=service_week&sort=-starts_at&limit=1",
        "/api/v1/events?status=cancelled",
        "/api/v1/events?updated_since=2000-01-01T00:00:00%2B08:00&limit=7",
        "/api/v1/events?updated_since=2999-01-01T00:00:00%2B08:00",
        "/api/v1/events?q=%E6%9C%89%E6%9C%BA&limit=3",
        "/api/v1/events?q=%E5%8E%BF&region=360000",
        "/api/v1/events?q=%E6%A3%80%E6%B5%8B&sort=starts_at",
        "/api/v1/events?q=%E8%8C%B6",
    ] {
        let (mut next_memory, mut next_rows) = (Some(uri.to_owned()), Some(uri.to_owned()));
        let mut pages = 0;
        while let (Some(a), Some(b)) = (next_memory.take(), next_rows.take()) {
            let (from_memory, from_rows) = (get(&memory, &a).await, get(&rows, &b).await);
            assert_eq!(from_memory.status, 200, "{a}");
            assert!(from_memory.body == from_rows.body, "{a}: pages differ");
            let cursor = |reply: &crate::common::Reply| {
                reply.json()["next_cursor"]
                    .as_str()
                    .map(|c| format!("{uri}&cursor={c}").replacen("events&", "events?", 1))
            };
            next_memory = cursor(&from_memory);
            next_rows = cursor(&from_rows);
            pages += 1;
            assert!(pages < 50, "{uri} does not end");
        }
    }
    get(&memory, "/api/v1/events?campaign=no-such-campaign")
        .await
        .assert_problem(422);

    let search = "/api/v1/events?q=%E6%B5%8B%E8%AF%95%E6%A0%87%E9%A2%98";
    assert!(ids(&get(&memory, search).await.json()).is_empty());
    let mut conn = _db.connect();
    let doc = serde_json::json!({ "events": [test_event("测试标题", "说明")] });
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let found = get(&memory, search).await.json();
    assert_eq!(ids(&found), ["test-event"]);
    assert_eq!(found["items"][0]["title"], "测试标题");
    let listed = get(&memory, "/api/v1/events?region=140100").await;
    assert!(listed.body == get(&rows, "/api/v1/events?region=140100").await.body);
    assert_eq!(ids(&listed.json()), ["test-event"]);
}
