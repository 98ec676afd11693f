//! A fresh database per test (a temporary SQLite file, or a fresh schema on
//! the PostgreSQL server named by `TEST_DATABASE_URL`) and the real app over it.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test;
use diesel::connection::SimpleConnection;
use serde_json::Value;
use ticweek::db::{self, DatabaseUrl, DbConn};

pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    drop_schema: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `Some(url)` when the suite runs against PostgreSQL.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestDb {
    /// An empty database (nothing migrated).
    pub fn empty() -> Self {
        // The server's warnings (the cause behind a 503, say), shown with a
        // failing test's output.
        let _ = env_logger::builder()
            .is_test(true)
            .filter_level(log::LevelFilter::Warn)
            .try_init();
        match postgres_url() {
            Some(admin) => {
                let n = COUNTER.fetch_add(1, Ordering::SeqCst);
                let schema = format!("t{}_{}_{n}", std::process::id(), nanos());
                let mut conn = db::connect(&DatabaseUrl::Postgres(admin.clone()))
                    .expect("connect to TEST_DATABASE_URL");
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let sep = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{sep}options=-csearch_path%3D{schema}");
                Self {
                    url: DatabaseUrl::Postgres(url),
                    _dir: None,
                    drop_schema: Some((admin, schema)),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db").to_string_lossy().into_owned();
                Self {
                    url: DatabaseUrl::Sqlite(path),
                    _dir: Some(dir),
                    drop_schema: None,
                }
            }
        }
    }

    /// A migrated database with the bundled public records.
    pub fn bundled() -> (Self, db::DbPool) {
        let test_db = Self::empty();
        ticweek::prepare_database(&test_db.url).expect("prepare database");
        let pool = db::pool(&test_db.url, 4);
        (test_db, pool)
    }

    pub fn connect(&self) -> DbConn {
        db::connect_for_setup(&self.url).expect("connect")
    }

    /// Moves every row of `table` to another place without any write
    /// announcing it (no data version bumped): on SQLite to another rowid
    /// (the order reversed, so each old place holds another row), as a
    /// VACUUM may renumber a table keyed by text; on PostgreSQL to another
    /// `ctid`, as any UPDATE does (of `key`, to itself: the old places
    /// then hold dead rows).
    pub fn renumber_rows(&self, table: &str, key: &str) {
        let sql = match self.connect() {
            DbConn::Sqlite(_) => format!(
                "UPDATE {table} SET rowid = -rowid;
                 UPDATE {table} SET rowid = rowid + (SELECT count(*) FROM {table}) + 1;"
            ),
            DbConn::Pg(_) => format!("UPDATE {table} SET {key} = {key}"),
        };
        self.connect().batch_execute(&sql).expect("renumber rows");
    }
}

impl TestDb {
    /// Whether a checkpoint that empties SQLite's WAL (`TRUNCATE`: it waits
    /// for every reader to leave the WAL) completes within the busy timeout;
    /// PostgreSQL has no such log to empty.
    pub fn wal_emptied(&self) -> bool {
        #[derive(diesel::QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            busy: i32,
        }
        match self.connect() {
            DbConn::Sqlite(mut conn) => {
                use diesel::RunQueryDsl;
                let done: Checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .get_result(&mut conn)
                    .expect("checkpoint");
                done.busy == 0
            }
            DbConn::Pg(_) => true,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, schema)) = &self.drop_schema {
            if let Ok(mut conn) = db::connect(&DatabaseUrl::Postgres(admin.clone())) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or(0)
}

/// The real app over the bundled data plus `doc` imported (test records are
/// never mixed into the bundled file); no read cache, as such tests write
/// between reads.
pub async fn app_with_import(
    doc: &Value,
) -> (
    TestDb,
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
) {
    app_with_import_searching(doc, true).await
}

/// `app_with_import`, answering through the in-memory indexes (search
/// lists, nearby open days) or, without `lists`, through SQL alone.
pub async fn app_with_import_searching(
    doc: &Value,
    lists: bool,
) -> (
    TestDb,
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
) {
    let (test_db, pool) = TestDb::bundled();
    let mut conn = test_db.connect();
    let report = ticweek::import::run(&mut conn, &doc.to_string(), false).unwrap();
    assert!(report.errors.is_empty(), "{report}");
    let state = ticweek::AppState::new(pool)
        .with_read_cache(0)
        .with_memory_indexes(lists);
    (test_db, test::init_service(ticweek::app(state)).await)
}

/// The real app over a fresh database with the bundled data.
pub async fn app() -> (
    TestDb,
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
) {
    app_searching(true).await
}

/// `app`, searching through the in-memory posting lists or, without
/// `lists`, through the database's text index alone.
pub async fn app_searching(
    lists: bool,
) -> (
    TestDb,
    impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>,
) {
    let (test_db, pool) = TestDb::bundled();
    let state = ticweek::AppState::new(pool).with_memory_indexes(lists);
    (test_db, test::init_service(ticweek::app(state)).await)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: actix_web::web::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json body with `status` whose `errors` name `field`.
    pub fn assert_invalid(&self, field: &str) {
        assert_eq!(
            self.status,
            StatusCode::BAD_REQUEST,
            "body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        self.assert_problem(400);
        let body = self.json();
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&field),
            "expected field {field:?} in {body}"
        );
        assert!(body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }

    /// 422: the value keeps to the document but names nothing stored.
    pub fn assert_unknown(&self, field: &str) {
        self.assert_problem(422);
        let body = self.json();
        assert_eq!(body["type"], "urn:ticweek:problem:unknown-reference");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }

    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["type"].is_string() && body["title"].is_string() && body["detail"].is_string()
        );
    }
}

pub async fn send<S, B>(app: &S, req: Request) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(app, req).await;
    let status = res.status();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get<S, B>(app: &S, uri: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, test::TestRequest::get().uri(uri).to_request()).await
}

/// Follows `Link: rel="next"` from `uri` to the last page; returns every item.
pub async fn walk<S, B>(app: &S, uri: &str) -> (Vec<Value>, usize)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut items = Vec::new();
    let mut next = Some(uri.to_owned());
    let mut pages = 0;
    while let Some(uri) = next.take() {
        let reply = get(app, &uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        let body = reply.json();
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        pages += 1;
        next = reply.header("link").map(|link| {
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            assert!(body["next_cursor"].is_string());
            link.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        if next.is_none() {
            assert!(body["next_cursor"].is_null());
        }
        assert!(pages < 1000, "pagination does not end");
    }
    (items, pages)
}

/// Reads the change feed from `since` (or the start) until a page comes back
/// empty; returns the changes and the cursor to resume from.
pub async fn read_changes<S, B>(app: &S, since: Option<&str>) -> (Vec<Value>, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut changes = Vec::new();
    let mut cursor = since.map(str::to_owned);
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/changes?limit=100&since={c}"),
            None => "/api/v1/changes?limit=100".to_owned(),
        };
        let body = get(app, &uri).await.json();
        let items = body["items"].as_array().unwrap().clone();
        cursor = Some(body["next_cursor"].as_str().unwrap().to_owned());
        if items.is_empty() {
            return (changes, cursor.unwrap_or_default());
        }
        changes.extend(items);
    }
}
