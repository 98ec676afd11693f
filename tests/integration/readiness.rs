use actix_web::http::StatusCode;
use ticweek::db::DatabaseUrl;

use crate::common::{app, get, postgres_url};

#[actix_web::test]
async fn healthz_and_readyz_answer_when_the_database_is_up() {
    let (_db, app) = app().await;
    let health = get(&app, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.header("cache-control"), Some("no-store"));
    assert_eq!(get(&app, "/readyz").await.json()["status"], "ok");
}

#[actix_web::test]
async fn readyz_is_503_while_the_database_is_gone_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let url = match postgres_url() {
        // Nothing listens on port 1.
        Some(_) => {
            DatabaseUrl::Postgres("postgres://ticweek@127.0.0.1:1/ticweek?connect_timeout=1".into())
        }
        None => DatabaseUrl::Sqlite(missing.join("db.sqlite").to_string_lossy().into_owned()),
    };
    let pool = ticweek::db::pool(&url, 2);
    let app = actix_web::test::init_service(ticweek::app(ticweek::AppState::new(pool))).await;

    let ready = get(&app, "/readyz").await;
    ready.assert_problem(503);
    assert!(ready.header("retry-after").is_some());
    assert_eq!(
        get(&app, "/healthz").await.status,
        StatusCode::OK,
        "the process stays up"
    );
    let list = get(&app, "/api/v1/campaigns").await;
    list.assert_problem(503);
    assert!(
        !String::from_utf8_lossy(&list.body).contains("not-yet"),
        "nothing internal leaks"
    );
    // The divisions are bundled with the binary: they answer without it.
    let region = get(&app, "/api/v1/regions/360700").await;
    assert_eq!(region.status, StatusCode::OK);
    assert_eq!(region.json()["name"], "赣州市");

    if postgres_url().is_none() {
        // The file's directory appears: the pool connects again by itself.
        std::fs::create_dir(&missing).unwrap();
        assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    }
}

#[actix_web::test]
async fn a_server_still_preparing_its_database_answers_503() {
    let (_db, pool) = crate::common::TestDb::bundled();
    let state = ticweek::AppState::starting(pool);
    let app = actix_web::test::init_service(ticweek::app(state.clone())).await;
    get(&app, "/readyz").await.assert_problem(503);
    get(&app, "/api/v1/campaigns").await.assert_problem(503);
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    state.mark_ready();
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/api/v1/campaigns").await.status, StatusCode::OK);
}

/// On PostgreSQL every pooled connection bounds a statement, a lock wait and
/// an abandoned transaction, so one runaway query cannot hold the pool.
#[test]
fn postgres_pool_connections_carry_their_timeouts() {
    use diesel::prelude::*;
    if postgres_url().is_none() {
        return;
    }
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let (_db, pool) = crate::common::TestDb::bundled();
    let mut conn = pool.get().expect("a pooled connection");
    let ticweek::db::DbConn::Pg(pg) = &mut *conn else {
        unreachable!("TEST_DATABASE_URL is PostgreSQL")
    };
    let show = |pg: &mut diesel::PgConnection, name: &str| {
        diesel::sql_query(format!("SELECT current_setting('{name}') AS value"))
            .get_result::<Setting>(pg)
            .unwrap()
            .value
    };
    assert_eq!(show(pg, "statement_timeout"), "10s");
    assert_eq!(show(pg, "lock_timeout"), "5s");
    assert_eq!(show(pg, "idle_in_transaction_session_timeout"), "30s");
}

/// SQLite plans by the statistics `ANALYZE` writes; a database that has data
/// but none (an old file, or one filled by hand) gets them at the next start,
/// and one that has them is not analyzed again at every start.
#[test]
fn a_sqlite_database_with_data_but_no_statistics_gets_them_at_start() {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    if postgres_url().is_some() {
        return;
    }
    let (db, _pool) = crate::common::TestDb::bundled();
    let ticweek::db::DbConn::Sqlite(mut conn) = db.connect() else {
        unreachable!("a SQLite test database")
    };
    let count = |conn: &mut SqliteConnection, sql: &str| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql))
            .get_result(conn)
            .unwrap()
    };
    let statistics = |conn: &mut SqliteConnection| {
        count(
            conn,
            "(SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1')",
        )
    };
    // 10,000 labs: a database worth planning for.
    conn.batch_execute(
        "INSERT INTO labs (id, name, field_mask, region, province, lat, lon, x, y, z,
                           precision, search_key, source, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
         SELECT 'stat-lab-' || i, 'Lab ' || i, 1, '360700', '360000', 25.8, 114.9,
                0.5, 0.5, 0.5, 'region', 1000000000 + i, 'test', '2026-01-01 00:00:00'
         FROM n;
         DROP TABLE IF EXISTS sqlite_stat1;",
    )
    .unwrap();
    assert_eq!(statistics(&mut conn), 0);
    ticweek::prepare_database(&db.url).expect("prepare");
    assert_eq!(statistics(&mut conn), 1, "analyzed at start");
    // Stale but present statistics are left alone: a start costs no scan.
    conn.batch_execute("DELETE FROM sqlite_stat1").unwrap();
    ticweek::prepare_database(&db.url).expect("prepare");
    assert_eq!(
        count(&mut conn, "(SELECT count(*) FROM sqlite_stat1)"),
        0,
        "not analyzed again"
    );
}
