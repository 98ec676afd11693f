//! The read cache never outlives the data it was made from: a write by this
//! process is visible as soon as it returns, a write by another process
//! within a second.

use std::time::{Duration, Instant};

use crate::common::{get, TestDb};
use ticweek::db::DatabaseUrl;

const EVENT: &str = "jiangxi-2022-organic-expert-visit-pengze";
/// 彭泽, the county of that event.
const SEARCH: &str = "/api/v1/events?q=%E5%BD%AD%E6%B3%BD";

fn ids(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Deletes `EVENT` with `ticweek delete`, another process; whether it
/// succeeded.
fn delete_in_another_process(test_db: &TestDb) -> bool {
    let url = match &test_db.url {
        DatabaseUrl::Sqlite(path) => path.clone(),
        DatabaseUrl::Postgres(dsn) => dsn.clone(),
    };
    std::process::Command::new(env!("CARGO_BIN_EXE_ticweek"))
        .args(["delete", "event", EVENT])
        .env("DATABASE_URL", url)
        .status()
        .expect("run ticweek delete")
        .success()
}

#[actix_web::test]
async fn repeated_reads_get_the_same_representation() {
    let (_db, app) = crate::common::app().await;
    let first = get(&app, SEARCH).await;
    let second = get(&app, SEARCH).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("etag"), second.header("etag"));
    assert_eq!(first.json(), second.json());
    // Parameter order does not matter, and the answer is the same list.
    let a = get(&app, "/api/v1/events?kind=organic_week&limit=5").await;
    let b = get(&app, "/api/v1/events?limit=5&kind=organic_week").await;
    assert_eq!(ids(&a.json()), ids(&b.json()));
    assert_eq!(ids(&a.json()).len(), 5);
}

#[actix_web::test]
async fn a_write_by_this_process_is_never_served_stale() {
    let (test_db, pool) = TestDb::bundled();
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;
    let path = format!("/api/v1/events/{EVENT}");
    assert_eq!(get(&app, &path).await.status, 200);
    assert!(ids(&get(&app, SEARCH).await.json()).contains(&EVENT.to_owned()));

    let mut conn = test_db.connect();
    ticweek::db::events::delete(&mut conn, EVENT, chrono::Utc::now().naive_utc()).unwrap();

    get(&app, &path).await.assert_problem(404);
    assert!(!ids(&get(&app, SEARCH).await.json()).contains(&EVENT.to_owned()));
}

#[actix_web::test]
async fn a_write_by_another_process_reaches_the_cache_within_a_second() {
    let (test_db, pool) = TestDb::bundled();
    let state = ticweek::AppState::new(pool);
    state.watch_data_version(ticweek::api::caching::POLL_INTERVAL);
    let app = actix_web::test::init_service(ticweek::app(state)).await;
    let path = format!("/api/v1/events/{EVENT}");
    assert_eq!(get(&app, &path).await.status, 200);
    assert_eq!(get(&app, &path).await.status, 200);

    // `ticweek delete` is another process: it bumps the shared data version,
    // not this process's write count.
    assert!(delete_in_another_process(&test_db), "ticweek delete failed");

    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let reply = get(&app, &path).await;
        if reply.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still served a deleted event a second after another process deleted it"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn restarting_a_server_leaves_other_servers_caches_alone() {
    // A restart finds the database migrated and loaded and writes nothing,
    // so the shared data version (and every other server's read cache and
    // search lists with it) stays as it was.
    let (db, _pool) = TestDb::bundled();
    let before = ticweek::db::data_version(&mut db.connect()).unwrap();
    ticweek::prepare_database(&db.url).unwrap();
    ticweek::prepare_database(&db.url).unwrap();
    assert_eq!(
        ticweek::db::data_version(&mut db.connect()).unwrap(),
        before
    );
}

#[actix_web::test]
async fn reads_are_fresh_while_the_sqlite_lock_keeper_holds_its_transaction() {
    // The server keeps a read transaction open on a connection of its own
    // (`db::keep_shared_lock`), renewed every 100 ms: other connections'
    // reads must still see every commit at once, another process must
    // still write, and a checkpoint must still empty the WAL.
    let (test_db, pool) = TestDb::bundled();
    let keeper = ticweek::db::keep_shared_lock(&test_db.url);
    assert_eq!(
        keeper.is_some(),
        matches!(test_db.url, DatabaseUrl::Sqlite(_))
    );
    let state = ticweek::AppState::new(pool)
        .with_read_cache(0)
        .with_memory_indexes(false);
    let app = actix_web::test::init_service(ticweek::app(state)).await;
    let path = format!("/api/v1/events/{EVENT}");
    // Long enough for the keeper to have begun its transaction.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&app, &path).await.status, 200);

    assert!(
        delete_in_another_process(&test_db),
        "another process could not write"
    );

    get(&app, &path).await.assert_problem(404);
    assert!(
        test_db.wal_emptied(),
        "the keeper kept the WAL from a checkpoint"
    );
    drop(keeper);
}
