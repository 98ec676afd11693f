//! Labs and open days: nearby answers checked against a brute-force scan with
//! an independent haversine, GeoJSON checked by a GeoJSON parser, Chinese map
//! coordinates, and every bad input of the issue.

use chrono::{Duration, FixedOffset, NaiveDate, TimeZone};
use serde_json::{json, Value};

use crate::common::{get, walk, TestDb};

/// The mobile user: central Nanchang.
const HERE: (f64, f64) = (28.68, 115.86);

/// Fixture labs and their WGS-84 points.
type Located = Vec<(String, (f64, f64))>;

/// Independent of the server's code: haversine with the mean Earth radius.
fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0088 * h.sqrt().asin()
}

/// The ids of a page's items.
fn ids(body: Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn day(offset: i64) -> String {
    let today = chrono::Utc::now()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let d: NaiveDate = today + Duration::days(offset);
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&d.and_hms_opt(9, 0, 0).unwrap())
        .unwrap()
        .to_rfc3339()
}

/// Labs at known points around HERE (and far away), each with sessions
/// relative to today: one past, two upcoming.
fn fixture() -> (Value, Located) {
    let points = [
        ("lab-centre", 28.681, 115.861, "360102", vec!["food"]),
        (
            "lab-north-10km",
            28.77,
            115.86,
            "360100",
            vec!["emc", "electronics"],
        ),
        (
            "lab-east-25km",
            28.68,
            116.115,
            "360100",
            vec!["food", "environment"],
        ),
        ("lab-south-29km", 28.42, 115.86, "360100", vec!["chemicals"]),
        ("lab-west-31km", 28.68, 115.543, "360100", vec!["food"]),
        ("lab-far-ganzhou", 25.83, 114.93, "360700", vec!["food"]),
        ("lab-beijing", 39.9, 116.4, "110000", vec!["metrology"]),
    ];
    let mut labs = Vec::new();
    let mut located = Vec::new();
    for (i, (id, lat, lon, region, fields)) in points.iter().enumerate() {
        located.push((id.to_string(), (*lat, *lon)));
        let sessions: Vec<Value> = [(-10, "past"), (3 + i as i64, "soon"), (20, "later")]
            .iter()
            .map(|(offset, tag)| {
                json!({
                    "id": format!("{id}-{tag}"),
                    "starts_at": day(*offset),
                    "ends_at": day(*offset).replace("T09:", "T12:"),
                    "activities": if *tag == "soon" { json!(["free_testing", "lab_tour"]) } else { json!(["cloud_tour"]) },
                    "audience": "公众",
                    "capacity": 30,
                    "booking": if *tag == "later" {
                        json!({"required": true, "url": format!("https://{id}.example.cn/book"), "phone": null})
                    } else {
                        json!({"required": false, "url": null, "phone": null})
                    },
                    "status": "scheduled"
                })
            })
            .collect();
        labs.push(json!({
            "id": id,
            "name": format!("测试{}检验检测中心", ["中心", "北区", "东区", "南区", "西区", "赣州", "北京"][i]),
            "cma_no": format!("2214360{i:05}"),
            "fields": fields,
            "address": format!("某路{i}号"),
            "region": region,
            "lat": lat,
            "lon": lon,
            "precision": "exact",
            "open_days": sessions,
            "source": "test fixture"
        }));
    }
    (json!({ "labs": labs }), located)
}

/// The fixture's app, answering nearby pages from the in-memory index or,
/// without `indexes`, from SQL alone.
async fn app_with_labs(
    indexes: bool,
) -> (
    TestDb,
    impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    Located,
) {
    let (doc, located) = fixture();
    let (test_db, app) = crate::common::app_with_import_searching(&doc, indexes).await;
    (test_db, app, located)
}

#[actix_web::test]
async fn nearby_open_days_are_exactly_those_within_the_radius_closest_first() {
    // The same answers from the in-memory nearby index and from SQL.
    for indexes in [true, false] {
        nearby_within_radius(indexes).await;
    }
}

async fn nearby_within_radius(indexes: bool) {
    let (_db, app, located) = app_with_labs(indexes).await;
    let uri = format!(
        "/api/v1/open-days?near={},{}&radius_km=30&limit=3",
        HERE.0, HERE.1
    );
    let (items, pages) = walk(&app, &uri).await;
    assert!(pages >= 2, "paged with limit=3");

    // Brute force over the fixture: upcoming sessions of labs within 30 km.
    let mut expected: Vec<(f64, String)> = Vec::new();
    for (lab, point) in &located {
        let km = haversine_km(HERE, *point);
        if km <= 30.0 {
            expected.push((km, format!("{lab}-soon")));
            expected.push((km, format!("{lab}-later")));
        }
    }
    expected.sort_by(|a, b| a.0.total_cmp(&b.0));
    let got: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let mut want_ids: Vec<String> = expected.iter().map(|(_, id)| id.clone()).collect();
    // Same lab (same distance): earlier session first.
    for pair in want_ids.chunks_mut(2) {
        pair.sort_by_key(|id| !id.ends_with("-soon"));
    }
    assert_eq!(got, want_ids);
    assert!(
        !got.iter().any(|id| id.contains("west-31km")),
        "31 km is outside"
    );
    assert!(
        got.iter().any(|id| id.contains("south-29km")),
        "29 km is inside"
    );
    for item in &items {
        let lab = item["lab"]["id"].as_str().unwrap();
        let point = located.iter().find(|(id, _)| id == lab).unwrap().1;
        let km = item["distance_km"].as_f64().expect("distance_km with near");
        assert!((km - haversine_km(HERE, point)).abs() < 0.1, "{lab}: {km}");
        assert!(!item["id"].as_str().unwrap().ends_with("-past"));
    }
    let distances: Vec<f64> = items
        .iter()
        .map(|i| i["distance_km"].as_f64().unwrap())
        .collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]));

    // Pages of any size cut the same list: a full page inside a smaller
    // circle (limit=1 fills within a quarter of the radius) ends the search
    // early without skipping or repeating anyone across pages.
    for limit in [1, 2, 5, 100] {
        let uri = format!(
            "/api/v1/open-days?near={},{}&radius_km=30&limit={limit}",
            HERE.0, HERE.1
        );
        let (items, _) = walk(&app, &uri).await;
        let paged: Vec<String> = items
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(paged, got, "limit={limit}");
    }
}

/// Many labs scattered around HERE, every fourth at the same point as the
/// one before (ties in distance), three sessions each at spread start times
/// (some equal), alternating activities, booking and county.
fn crowd() -> Value {
    let mut seed: u64 = 0x7469_6377_6565_6b21;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut labs = Vec::new();
    let mut point = HERE;
    for i in 0..120 {
        if i % 4 != 3 {
            point = (HERE.0 + (next() - 0.5) * 0.8, HERE.1 + (next() - 0.5) * 0.8);
        }
        let sessions: Vec<Value> = (0..3)
            .map(|k| {
                let offset = 1 + ((i * 7 + k * 11) % 30) as i64;
                json!({
                    "id": format!("crowd-{i:03}-{k}"),
                    "starts_at": day(offset),
                    "ends_at": day(offset).replace("T09:", "T12:"),
                    "activities": if (i + k) % 3 == 0 { json!(["free_testing"]) } else { json!(["lab_tour"]) },
                    "booking": if (i + k) % 2 == 0 {
                        json!({"required": true, "url": null, "phone": "0791-88888888"})
                    } else {
                        json!({"required": false, "url": null, "phone": null})
                    },
                    "status": "scheduled"
                })
            })
            .collect();
        labs.push(json!({
            "id": format!("crowd-{i:03}"),
            "name": format!("人群检测实验室{i}"),
            "fields": ["food"],
            "region": if i % 2 == 0 { "360102" } else { "360100" },
            "lat": (point.0 * 1e5).round() / 1e5,
            "lon": (point.1 * 1e5).round() / 1e5,
            "precision": "exact",
            "open_days": sessions,
            "source": "test fixture"
        }));
    }
    json!({ "labs": labs })
}

/// Pages fetched in turn from `first` and `second`, following the cursors:
/// the ids and distances of every item.
async fn walk_across<S1, B1, S2, B2>(first: &S1, second: &S2, uri: &str) -> Vec<(String, f64)>
where
    S1: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B1>,
        Error = actix_web::Error,
    >,
    B1: actix_web::body::MessageBody,
    S2: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B2>,
        Error = actix_web::Error,
    >,
    B2: actix_web::body::MessageBody,
{
    let start = uri;
    let mut items = Vec::new();
    let mut next = Some(uri.to_owned());
    let mut turn = 0;
    while let Some(uri) = next.take() {
        let reply = if turn % 2 == 0 {
            get(first, &uri).await
        } else {
            get(second, &uri).await
        };
        turn += 1;
        assert_eq!(reply.status, actix_web::http::StatusCode::OK, "{uri}");
        let body = reply.json();
        for item in body["items"].as_array().unwrap() {
            items.push((
                item["id"].as_str().unwrap().to_owned(),
                item["distance_km"].as_f64().unwrap(),
            ));
        }
        next = body["next_cursor"]
            .as_str()
            .map(|cursor| format!("{start}&cursor={cursor}"));
        assert!(turn < 500, "{start}: the walk does not end");
    }
    items
}

#[actix_web::test]
async fn the_nearby_index_answers_what_sql_answers() {
    let (test_db, pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let report = ticweek::import::run(&mut conn, &crowd().to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let indexed = actix_web::test::init_service(ticweek::app(
        ticweek::AppState::new(pool.clone()).with_memory_indexes(true),
    ))
    .await;
    let plain = actix_web::test::init_service(ticweek::app(
        ticweek::AppState::new(pool).with_memory_indexes(false),
    ))
    .await;
    let to = &day(12)[..10];
    let near = format!("near={},{}", HERE.0, HERE.1);
    let queries = [
        format!("{near}&radius_km=30&limit=7"),
        format!("{near}&radius_km=50&activity=free_testing&limit=5"),
        format!("{near}&radius_km=40&bookable=true&region=360102&limit=4"),
        format!("{near}&radius_km=25&to={to}&limit=3"),
        format!("{near}&radius_km=60&lab=crowd-007"),
        format!("{near}&radius_km=500&limit=50"),
        format!("{near}&radius_km=30&region=110000"),
        "near=39.9,116.4&radius_km=10".to_owned(),
        "near=89.99,179.99&radius_km=500".to_owned(),
    ];
    for query in &queries {
        let uri = format!("/api/v1/open-days?{query}");
        let from_sql = walk_across(&plain, &plain, &uri).await;
        // Ties in distance are broken alike: start time, then id.
        let mut ordered = from_sql.clone();
        ordered.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(
            ordered.iter().map(|i| i.1).collect::<Vec<_>>(),
            from_sql.iter().map(|i| i.1).collect::<Vec<_>>(),
            "{uri}"
        );
        assert_eq!(
            walk_across(&indexed, &indexed, &uri).await,
            from_sql,
            "{uri}"
        );
        // A cursor from either path continues on the other.
        assert_eq!(walk_across(&indexed, &plain, &uri).await, from_sql, "{uri}");
        assert_eq!(walk_across(&plain, &indexed, &uri).await, from_sql, "{uri}");
    }
    let everyone = walk_across(&plain, &plain, &format!("/api/v1/open-days?{}", queries[5])).await;
    assert!(
        everyone.len() > 300,
        "the crowd is within 500 km: {}",
        everyone.len()
    );

    // A write is seen by the next request, not after a rebuild.
    let newcomer = json!({"labs": [{
        "id": "crowd-newcomer",
        "name": "新开实验室",
        "fields": ["food"],
        "region": "360102",
        "lat": HERE.0,
        "lon": HERE.1,
        "precision": "exact",
        "open_days": [{"id": "crowd-newcomer-0", "starts_at": day(2),
                       "ends_at": day(2).replace("T09:", "T12:"), "status": "scheduled"}],
        "source": "test fixture"
    }]});
    let report = ticweek::import::run(&mut conn, &newcomer.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let first = ids(get(
        &indexed,
        &format!("/api/v1/open-days?{near}&radius_km=5&limit=1"),
    )
    .await
    .json());
    assert_eq!(first, ["crowd-newcomer-0"]);
}

#[actix_web::test]
async fn nearby_pages_read_together_answer_as_each_alone() {
    // On PostgreSQL the nearby pages of requests that arrive together are
    // read in one statement (`api::batch`): each must be what it is alone,
    // when two pages share sessions, and when one of them is an error.
    use ticweek::db::labs::{
        near_pages, NearQuery, OpenDayFilter, OpenDayKey, OpenDayOrder, SessionReading,
    };
    use ticweek::domain::LatLon;
    let (test_db, pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let report = ticweek::import::run(&mut conn, &crowd().to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let indexes = ticweek::db::memory::Indexes::new(&pool, true);
    let here = LatLon::new(HERE.0, HERE.1).unwrap();
    let query = |km: &str, limit: i64| NearQuery {
        filter: OpenDayFilter {
            near: Some((here, km.parse().unwrap())),
            ..OpenDayFilter::default()
        },
        after: None,
        limit,
    };
    let first = near_pages(&mut conn, &indexes, &[query("30", 7)]).unwrap();
    let first = first.into_iter().next().unwrap().unwrap().0;
    let after: OpenDayKey = first.last().unwrap().key(OpenDayOrder::Distance);
    let mut asked = vec![query("30", 7), query("30", 7), query("50", 5)];
    asked[2].filter.activity = Some("free_testing".parse().unwrap());
    asked.push(NearQuery {
        after: Some(after),
        ..query("30", 7)
    });
    asked.push(query("30", 4));
    asked[4].filter.lab = Some("crowd-none".to_owned());
    asked.push(query("30", 4));
    asked[5].filter.region = Some("110000".parse().unwrap());
    asked.push(query("500", 50));

    type Answer = Result<(Vec<(String, Option<f64>)>, bool), String>;
    let answers = |pages: Vec<ticweek::db::labs::OpenDayPage<ticweek::db::labs::Listed>>| {
        pages
            .into_iter()
            .map(|page| {
                page.map(|(hits, more)| {
                    let items = hits
                        .iter()
                        .map(|hit| (hit.row.id().to_owned(), hit.distance_km))
                        .collect();
                    (items, more)
                })
                .map_err(|error| error.to_string())
            })
            .collect::<Vec<Answer>>()
    };
    let together = answers(near_pages(&mut conn, &indexes, &asked).unwrap());
    let alone: Vec<Answer> = asked
        .iter()
        .flat_map(|q| answers(near_pages(&mut conn, &indexes, std::slice::from_ref(q)).unwrap()))
        .collect();
    assert_eq!(together, alone);
    // What the pages are: full, shared, continued, an unknown lab, empty.
    let page = |i: usize| together[i].as_ref().unwrap();
    assert_eq!(page(0).0.len(), 7);
    assert!(page(0).1, "more follow");
    assert_eq!(page(0), page(1));
    assert!(page(3).0.iter().all(|item| !page(0).0.contains(item)));
    assert!(page(3).0[0].1 >= page(0).0[6].1);
    assert!(together[4].as_ref().unwrap_err().contains("crowd-none"));
    assert!(page(5).0.is_empty());
    assert_eq!(page(6).0.len(), 50);
}

#[actix_web::test]
async fn past_sessions_are_left_out_unless_asked_for() {
    let (_db, app, _) = app_with_labs(true).await;
    let (items, _) = walk(&app, "/api/v1/open-days?limit=100").await;
    assert!(!items.is_empty());
    assert!(items
        .iter()
        .all(|i| !i["id"].as_str().unwrap().ends_with("-past")));
    // The bundled 2022 Jiangxi sessions are history by now.
    assert!(items
        .iter()
        .all(|i| !i["id"].as_str().unwrap().starts_with("jiangxi-2022")));
    let starts: Vec<&str> = items
        .iter()
        .map(|i| i["starts_at"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "by start time without near"
    );

    let (all, _) = walk(&app, "/api/v1/open-days?from=2022-01-01&limit=100").await;
    assert!(all
        .iter()
        .any(|i| i["id"].as_str().unwrap().ends_with("-past")));
    let bundled: Vec<&Value> = all
        .iter()
        .filter(|i| i["id"].as_str().unwrap().starts_with("jiangxi-2022"))
        .collect();
    assert_eq!(bundled.len(), 3);
    for session in bundled {
        assert_eq!(session["period_text"], "2022 年 9 月中下旬");
        assert_eq!(session["lab"]["precision"], "region");
        assert_eq!(session["lab"]["region"], "360100");
        assert!(
            session["booking"]["required"].is_null(),
            "the notice does not say"
        );
    }
}

#[actix_web::test]
async fn open_day_filters_combine() {
    let (_db, app, _) = app_with_labs(true).await;
    let bookable = ids(get(&app, "/api/v1/open-days?bookable=true&limit=100")
        .await
        .json());
    assert_eq!(bookable.len(), 7);
    assert!(bookable.iter().all(|id| id.ends_with("-later")));
    let testing = ids(
        get(&app, "/api/v1/open-days?activity=free_testing&limit=100")
            .await
            .json(),
    );
    assert_eq!(testing.len(), 7);
    assert!(testing.iter().all(|id| id.ends_with("-soon")));
    let one_lab = ids(get(&app, "/api/v1/open-days?lab=lab-centre").await.json());
    assert_eq!(one_lab, ["lab-centre-soon", "lab-centre-later"]);
    // A county inside Nanchang; the city; the province; another province.
    assert_eq!(
        ids(get(&app, "/api/v1/open-days?region=360102").await.json()).len(),
        2
    );
    assert_eq!(
        ids(get(&app, "/api/v1/open-days?region=360100&limit=100")
            .await
            .json())
        .len(),
        10
    );
    assert_eq!(
        ids(get(&app, "/api/v1/open-days?region=360000&limit=100")
            .await
            .json())
        .len(),
        12
    );
    assert_eq!(
        ids(get(&app, "/api/v1/open-days?region=110000").await.json()).len(),
        2
    );
    let to = &day(10)[..10];
    let soon = ids(get(&app, &format!("/api/v1/open-days?to={to}&limit=100"))
        .await
        .json());
    assert!(soon.iter().all(|id| id.ends_with("-soon")), "{soon:?}");
    get(&app, "/api/v1/open-days?lab=no-such-lab")
        .await
        .assert_unknown("lab");
}

#[actix_web::test]
async fn labs_list_filters_search_and_detail() {
    let (_db, app, _) = app_with_labs(true).await;
    let (all, _) = walk(&app, "/api/v1/labs?limit=4").await;
    assert_eq!(all.len(), 10, "7 fixture labs and 3 bundled");
    let food = ids(get(&app, "/api/v1/labs?field=food&region=360000&limit=100")
        .await
        .json());
    assert_eq!(food.len(), 6, "{food:?}");
    // Chinese search: one and two characters, and a lab's name.
    let bundled = ids(get(&app, "/api/v1/labs?q=%E9%A3%9F%E5%93%81").await.json()); // 食品
    assert!(bundled.contains(&"jiangxi-tic-food-institute".to_owned()));
    assert!(bundled.contains(&"ncu-food-science-state-key-lab".to_owned()));
    assert!(!bundled.contains(&"jiangxi-tic-industrial-institute".to_owned()));
    let ncu = ids(
        get(&app, "/api/v1/labs?q=%E5%8D%97%E6%98%8C%E5%A4%A7%E5%AD%A6")
            .await
            .json(),
    ); // 南昌大学
    assert_eq!(ncu, ["ncu-food-science-state-key-lab"]);
    let near = get(
        &app,
        &format!("/api/v1/labs?near={},{}&radius_km=12", HERE.0, HERE.1),
    )
    .await
    .json();
    let near_ids = ids(near.clone());
    assert_eq!(&near_ids[..2], ["lab-centre", "lab-north-10km"]);
    assert!(near["items"][0]["distance_km"].as_f64().unwrap() < 0.2);

    let lab = get(&app, "/api/v1/labs/jiangxi-tic-industrial-institute").await;
    assert_eq!(lab.status, 200);
    assert!(lab.header("etag").is_some());
    let lab = lab.json();
    assert_eq!(lab["name"], "江西省检验检测认证总院工业产品检验检测院");
    assert_eq!(
        lab["fields"],
        json!(["electronics", "emc", "electrical_safety"])
    );
    assert_eq!(lab["precision"], "region");
    assert_eq!(lab["region"]["adcode"], "360100");
    let sessions = lab["open_days"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0]["event_id"],
        "jiangxi-2022-lab-open-industrial-institute"
    );
    assert!(sessions[0]["description"]
        .as_str()
        .unwrap()
        .contains("电子信息产品检验中心"));
    assert_eq!(sessions[0]["starts_at"], "2022-09-11T00:00:00+08:00");
    get(&app, "/api/v1/labs/no-such-lab")
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn geojson_is_rfc_7946_and_matches_the_json_list() {
    let (_db, app, _) = app_with_labs(true).await;
    for (json_uri, geo_uri) in [
        (
            format!("/api/v1/open-days?near={},{}&radius_km=30", HERE.0, HERE.1),
            format!(
                "/api/v1/open-days.geojson?near={},{}&radius_km=30",
                HERE.0, HERE.1
            ),
        ),
        (
            "/api/v1/labs?region=360000".to_owned(),
            "/api/v1/labs.geojson?region=360000".to_owned(),
        ),
    ] {
        let reply = get(&app, &geo_uri).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/geo+json"));
        assert!(reply.header("etag").is_some());
        let text = String::from_utf8(reply.body.to_vec()).unwrap();
        let parsed: geojson::GeoJson = text.parse().expect("valid GeoJSON");
        let geojson::GeoJson::FeatureCollection(collection) = parsed else {
            panic!("not a FeatureCollection")
        };
        let list = get(&app, &json_uri).await.json();
        let items = list["items"].as_array().unwrap();
        assert_eq!(collection.features.len(), items.len());
        for (feature, item) in collection.features.iter().zip(items) {
            let Some(geojson::GeometryValue::Point { coordinates }) =
                feature.geometry.as_ref().map(|g| &g.value)
            else {
                panic!("not a point")
            };
            let point = if item["lab"].is_object() {
                &item["lab"]
            } else {
                item
            };
            // RFC 7946 §3.1.1: longitude first.
            assert_eq!(coordinates[0], point["lon"].as_f64().unwrap());
            assert_eq!(coordinates[1], point["lat"].as_f64().unwrap());
            assert!((-180.0..=180.0).contains(&coordinates[0]));
            assert!((-90.0..=90.0).contains(&coordinates[1]));
            assert_eq!(
                feature.id,
                Some(geojson::feature::Id::String(
                    item["id"].as_str().unwrap().to_owned()
                ))
            );
            assert_eq!(feature.properties.as_ref().unwrap()["id"], item["id"]);
        }
    }
}

#[actix_web::test]
async fn chinese_map_coordinates_on_output_and_input() {
    let (_db, app, _) = app_with_labs(true).await;
    let wgs = get(&app, "/api/v1/labs/lab-centre").await.json();
    let gcj = get(&app, "/api/v1/labs/lab-centre?coord_sys=gcj02")
        .await
        .json();
    let bd = get(&app, "/api/v1/labs/lab-centre?coord_sys=bd09")
        .await
        .json();
    let point = |v: &Value| (v["lat"].as_f64().unwrap(), v["lon"].as_f64().unwrap());
    assert_eq!(point(&wgs), (28.681, 115.861));
    // GCJ-02 is a few hundred metres off WGS-84 in Nanchang; BD-09 further.
    let shift = haversine_km(point(&wgs), point(&gcj));
    assert!((0.2..1.0).contains(&shift), "{shift}");
    assert!(haversine_km(point(&gcj), point(&bd)) > 0.5);

    // `near` given in GCJ-02 finds the same labs as its WGS-84 twin.
    let (lat, lon) = point(&gcj);
    let by_gcj = get(
        &app,
        &format!("/api/v1/open-days?near={lat},{lon}&radius_km=30&coord_sys=gcj02&limit=100"),
    )
    .await
    .json();
    let by_wgs = get(
        &app,
        "/api/v1/open-days?near=28.681,115.861&radius_km=30&limit=100",
    )
    .await
    .json();
    assert_eq!(ids(by_gcj.clone()), ids(by_wgs));
    assert!(by_gcj["items"][0]["distance_km"].as_f64().unwrap() < 0.01);
    // Output points follow coord_sys too.
    assert_eq!(point(&by_gcj["items"][0]["lab"]), (lat, lon));

    // Every endpoint that returns points takes coord_sys: events, regions.
    let event = "/api/v1/events/jiangxi-2022-lab-open-food-institute";
    let wgs_event = get(&app, event).await.json();
    let gcj_event = get(&app, &format!("{event}?coord_sys=gcj02")).await.json();
    let shift = haversine_km(point(&wgs_event["venue"]), point(&gcj_event["venue"]));
    assert!((0.2..1.0).contains(&shift), "{shift}");
    let listed = get(&app, "/api/v1/events?region=360100&coord_sys=gcj02&limit=1")
        .await
        .json();
    assert_eq!(
        point(&listed["items"][0]["venue"]),
        point(&gcj_event["venue"])
    );
    let wgs_region = get(&app, "/api/v1/regions/360100").await.json();
    let bd_region = get(&app, "/api/v1/regions/360100?coord_sys=bd09")
        .await
        .json();
    assert!(haversine_km(point(&wgs_region), point(&bd_region)) > 0.5);
    for path in [
        "/api/v1/events?coord_sys=gcj",
        "/api/v1/events.csv?coord_sys=gcj",
        "/api/v1/events/jiangxi-2022-lab-open-food-institute?coord_sys=gcj",
        "/api/v1/regions?coord_sys=gcj",
        "/api/v1/regions/360100?coord_sys=gcj",
    ] {
        get(&app, path).await.assert_invalid("coord_sys");
    }
}

#[actix_web::test]
async fn bad_input_is_a_400_naming_the_parameter() {
    let (_db, app, _) = app_with_labs(true).await;
    for (query, field) in [
        ("near=91,0", "near"),
        ("near=0,181", "near"),
        ("near=NaN,1", "near"),
        ("near=inf,1", "near"),
        ("near=1e309,1", "near"),
        ("near=30,5,120", "near"),
        ("near=%EF%BC%93%EF%BC%90,120", "near"), // full-width 30
        ("near=30,120&radius_km=0", "radius_km"),
        ("near=30,120&radius_km=-5", "radius_km"),
        ("near=30,120&radius_km=501", "radius_km"),
        ("near=30,120&radius_km=NaN", "radius_km"),
        ("radius_km=10", "radius_km"),
        ("from=2026-10-02&to=2026-10-01", "from"),
        ("from=2024-02-30", "from"),
        ("coord_sys=mars", "coord_sys"),
        ("bookable=yes", "bookable"),
        ("activity=dancing", "activity"),
        ("sort=distance", "sort"),
        ("region=36", "region"),
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        ("nearby=30,120", "nearby"),
    ] {
        for path in ["/api/v1/open-days", "/api/v1/open-days.geojson"] {
            get(&app, &format!("{path}?{query}"))
                .await
                .assert_invalid(field);
        }
    }
    for (query, field) in [
        ("near=91,0", "near"),
        ("near=NaN,1", "near"),
        ("radius_km=10", "radius_km"),
        ("field=astrology", "field"),
        ("q=", "q"),
        ("coord_sys=WGS84", "coord_sys"),
    ] {
        for path in ["/api/v1/labs", "/api/v1/labs.geojson"] {
            get(&app, &format!("{path}?{query}"))
                .await
                .assert_invalid(field);
        }
    }
    get(&app, "/api/v1/labs/lab-centre?coord_sys=utm")
        .await
        .assert_invalid("coord_sys");
    // A cursor of another list is refused, not misread.
    let events_page = get(&app, "/api/v1/events?limit=1").await.json();
    let foreign = events_page["next_cursor"].as_str().unwrap();
    get(&app, &format!("/api/v1/open-days?cursor={foreign}"))
        .await
        .assert_invalid("cursor");
}

#[actix_web::test]
async fn bad_lab_rows_are_reported_and_nothing_is_written() {
    let (test_db, _pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let doc = json!({"labs": [{
        "id": "bad-lab", "name": "坏实验室", "cma_no": "12345", "fields": ["astrology"],
        "region": "999999", "lat": 95.0, "lon": 10.0, "precision": "exact", "source": "test",
        "open_days": [{"id": "bad-session", "starts_at": "2026-10-02T09:00:00+08:00",
                       "ends_at": "2026-10-01T09:00:00+08:00", "capacity": 0,
                       "event_id": "no-such-event"}]
    }]});
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    let fields: Vec<&str> = report.errors.iter().map(|e| e.field.as_str()).collect();
    for field in [
        "cma_no",
        "fields",
        "region",
        "lat",
        "open_days[0].ends_at",
        "open_days[0].capacity",
        "open_days[0].event_id",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    assert!(ticweek::db::labs::get_lab(&mut conn, "bad-lab").is_err());
}

#[actix_web::test]
async fn stored_sessions_answer_as_the_rows_they_were_rendered_from() {
    // A session carries its representation; a page writes it with its lab
    // and distance after it. Every page answers the same bytes as the one
    // built from the rows (what readers fall back to for sessions written
    // before there was one), including text that looks like the keys
    // written after it; and rendering the missing ones, as migrating does,
    // stores one for every session.
    let (mut doc, _) = fixture();
    let tricky = &mut doc["labs"][0]["open_days"][1];
    tricky["description"] = json!("}\",\"lab\":{\"id\":\"x\"},\"distance_km\":1}");
    tricky["audience"] = json!("\u{1}\\\"}");
    let (db, app) = crate::common::app_with_import_searching(&doc, true).await;
    let near = format!("near={},{}&radius_km=30", HERE.0, HERE.1);
    let first = get(&app, &format!("/api/v1/open-days?{near}&limit=2")).await;
    let cursor = first.json()["next_cursor"].as_str().unwrap().to_owned();
    let paths = [
        format!("/api/v1/open-days?{near}"),
        format!("/api/v1/open-days?{near}&limit=2"),
        format!("/api/v1/open-days?{near}&limit=2&cursor={cursor}"),
        format!("/api/v1/open-days?{near}&coord_sys=gcj02&bookable=true"),
        "/api/v1/open-days?region=360100".to_owned(),
        format!("/api/v1/open-days.geojson?{near}"),
    ];
    let read_all = |app| {
        let paths = paths.clone();
        async move {
            let mut bodies = Vec::new();
            for path in &paths {
                let reply = get(app, path).await;
                assert_eq!(reply.status, 200, "{path}");
                bodies.push(String::from_utf8(reply.body.to_vec()).unwrap());
            }
            bodies
        }
    };
    let stored = read_all(&app).await;
    let page: Value = serde_json::from_str(&stored[0]).unwrap();
    let centre = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "lab-centre-soon")
        .expect("the centre's session is near");
    assert_eq!(
        centre["description"],
        "}\",\"lab\":{\"id\":\"x\"},\"distance_km\":1}"
    );
    assert_eq!(centre["audience"], "\u{1}\\\"}");
    assert_eq!(centre["lab"]["id"], "lab-centre");
    assert!(centre["distance_km"].as_f64().unwrap() < 0.2);

    let mut conn = db.connect();
    // The nearby index reads sessions where they were (their rowids or
    // `ctid`s), which the database may have moved since.
    db.renumber_rows("open_days", "id");
    assert_eq!(read_all(&app).await, stored, "rows moved");
    let unrendered = |conn: &mut ticweek::db::DbConn| -> i64 {
        use diesel::prelude::*;
        use ticweek::db::schema::open_days::dsl::*;
        open_days
            .filter(body.is_null())
            .count()
            .get_result(conn)
            .unwrap()
    };
    assert_eq!(unrendered(&mut conn), 0, "every write renders it");
    {
        use diesel::prelude::*;
        use ticweek::db::schema::open_days::dsl::*;
        diesel::update(open_days)
            .set(body.eq(None::<Vec<u8>>))
            .execute(&mut conn)
            .unwrap();
    }
    assert_eq!(read_all(&app).await, stored, "built from the rows");

    ticweek::data::render_sessions(&mut conn).unwrap();
    assert_eq!(unrendered(&mut conn), 0);
    assert_eq!(read_all(&app).await, stored, "rendered again");
}
