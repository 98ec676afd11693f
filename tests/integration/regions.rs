use std::collections::HashSet;

use actix_web::http::StatusCode;

use crate::common::{app, get, walk};

#[actix_web::test]
async fn ganzhou_is_a_city_of_jiangxi() {
    let (_db, app) = app().await;
    let reply = get(&app, "/api/v1/regions/360700").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["name"], "赣州市");
    assert_eq!(body["level"], "city");
    assert_eq!(body["parent"], "360000");
    assert!(body["lat"].as_f64().unwrap() > 24.0 && body["lon"].as_f64().unwrap() > 114.0);
}

#[actix_web::test]
async fn the_full_national_table_is_loaded() {
    let (_db, app) = app().await;
    let (provinces, _) = walk(&app, "/api/v1/regions?level=province&limit=100").await;
    assert_eq!(provinces.len(), 34);
    let (counties, pages) = walk(&app, "/api/v1/regions?level=county&limit=100").await;
    assert!(counties.len() > 2_800, "{} counties", counties.len());
    assert!(pages > 28);
    // A province-administered county belongs to its province.
    let xiantao = get(&app, "/api/v1/regions/429004").await.json();
    assert_eq!(xiantao["parent"], "420000");
}

#[actix_web::test]
async fn the_stored_region_table_is_the_bundled_one_that_regions_serves() {
    // /regions, record region names and filter levels read the bundled
    // divisions in memory; notice filters join the stored table. Both must
    // be the same divisions, named and placed the same.
    let (db, app) = app().await;
    let (served, _) = walk(&app, "/api/v1/regions?limit=100").await;
    let stored = ticweek::db::regions::stored(&mut db.connect()).unwrap();
    assert_eq!(served.len(), 3_212);
    assert_eq!(stored.len(), served.len());
    let divisions = ticweek::data::divisions();
    for (row, region) in stored.iter().zip(&served) {
        let adcode = row.adcode.as_str();
        assert_eq!(region["adcode"], adcode);
        assert_eq!(region["name"], row.name, "{adcode}");
        assert_eq!(region["level"], row.level, "{adcode}");
        assert_eq!(region["parent"].as_str(), row.parent.as_deref(), "{adcode}");
        assert_eq!(region["lat"].as_f64(), Some(row.lat), "{adcode}");
        assert_eq!(region["lon"].as_f64(), Some(row.lon), "{adcode}");
        assert_eq!(divisions.name(adcode), row.name, "{adcode}");
        assert_eq!(
            divisions.level(adcode).map(|l| l.as_str()),
            Some(row.level.as_str())
        );
    }
}

#[actix_web::test]
async fn children_of_a_parent_and_name_search() {
    let (_db, app) = app().await;
    let body = get(&app, "/api/v1/regions?parent=360000&limit=100")
        .await
        .json();
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 11, "{names:?}");
    assert!(names.contains(&"赣州市"));

    let body = get(&app, "/api/v1/regions?q=%E8%B5%A3%E5%B7%9E")
        .await
        .json(); // 赣州
    assert_eq!(body["items"][0]["adcode"], "360700");
    // LIKE wildcards in q are data, not syntax.
    let body = get(&app, "/api/v1/regions?q=%25").await.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
    let body = get(&app, "/api/v1/regions?q=_").await.json();
    assert_eq!(body["items"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn cursor_walk_has_no_duplicate_and_no_gap() {
    let (_db, app) = app().await;
    let (paged, pages) = walk(&app, "/api/v1/regions?parent=440000&limit=3").await;
    let (whole, _) = walk(&app, "/api/v1/regions?parent=440000&limit=100").await;
    assert!(pages >= 7);
    let codes: Vec<&str> = paged
        .iter()
        .map(|r| r["adcode"].as_str().unwrap())
        .collect();
    let unique: HashSet<&&str> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len(), "duplicates in {codes:?}");
    assert_eq!(paged, whole);
}

#[actix_web::test]
async fn malformed_adcodes_are_400_an_unknown_region_404_and_an_unknown_filter_422() {
    let (_db, app) = app().await;
    for bad in [
        "44010",
        "44O100",
        "%EF%BC%94%EF%BC%94%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%90",
        "-440100",
    ] {
        get(&app, &format!("/api/v1/regions/{bad}"))
            .await
            .assert_invalid("adcode");
        get(&app, &format!("/api/v1/regions?parent={bad}"))
            .await
            .assert_invalid("parent");
        get(&app, &format!("/api/v1/campaigns?region={bad}"))
            .await
            .assert_invalid("region");
    }
    let reply = get(&app, "/api/v1/regions/990000").await;
    reply.assert_problem(404);
    assert!(reply.json()["detail"].as_str().unwrap().contains("990000"));
    get(&app, "/api/v1/regions?parent=990000")
        .await
        .assert_unknown("parent");
    get(&app, "/api/v1/notices?region=990000")
        .await
        .assert_unknown("region");
    get(&app, "/api/v1/regions?level=town")
        .await
        .assert_invalid("level");
}
