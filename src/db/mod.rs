//! Persistence: one `DbConn` over SQLite or PostgreSQL, its pool, the embedded
//! migrations, and one file of queries per resource. Nothing here knows HTTP.

pub mod access;
pub mod campaigns;
pub mod changes;
pub mod code_ranges;
pub mod dates;
pub mod events;
pub mod import;
pub mod labs;
pub mod listings;
pub mod memory;
pub mod nearby;
pub mod notices;
pub mod places;
pub mod posters;
pub mod postings;
pub mod products;
pub mod regions;
pub(crate) mod rendered;
pub mod schema;
pub mod search;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub use memory::Indexed;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long a request waits for a pooled connection before answering 503.
const POOL_TIMEOUT: Duration = Duration::from_secs(2);
/// PostgreSQL limits of pooled connections (milliseconds): a statement (an
/// API import of 5,000 rows takes well under a second), a wait for a row
/// lock, and a transaction left idle by a crashed client.
const PG_STATEMENT_TIMEOUT_MS: u32 = 10_000;
const PG_LOCK_TIMEOUT_MS: u32 = 5_000;
const PG_IDLE_IN_TRANSACTION_MS: u32 = 30_000;
/// How long SQLite waits on a lock held by another connection (WAL writers).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;
/// No memory-mapped reads: every page a mapping touches counts in the
/// server's resident memory, so RSS grew with the database file (357 MiB
/// peak on the 330 MB national data) where the page cache below bounds it
/// (81 MiB). Measured against the `/healthz` ceiling of the same run the
/// mapping saved nothing that mattered: look-ups 0.34 of the ceiling with
/// it and without, nearby 0.034 and 0.033, lists 0.17 both.
const SQLITE_MMAP_BYTES: u64 = 0;
/// Page cache per connection (pages not in the mapping: WAL frames, temp).
const SQLITE_CACHE_KIB: u32 = 16 * 1024;
/// Page cache of the set-up and import connection (see `connect_for_setup`).
const SQLITE_SETUP_CACHE_KIB: u32 = 512 * 1024;

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// The backend type of `DbConn`, for boxed queries written once for both.
pub type Backend = <DbConn as Connection>::Backend;

pub type DbPool = Pool<Manager>;

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://…` / `postgresql://…` select PostgreSQL; `sqlite://PATH`
    /// or a plain file path select SQLite. Any other scheme is an error, so a
    /// typo such as `postgress://…` never silently creates a file.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the database URL is empty".into());
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            return if path.is_empty() {
                Err("sqlite:// needs a file path, e.g. sqlite://ticweek.db".into())
            } else {
                Ok(Self::Sqlite(path.to_owned()))
            };
        }
        let before_slash = raw.split('/').next().unwrap_or(raw);
        if raw.contains("://") || before_slash.contains(':') {
            return Err(format!(
                "unrecognised database URL {raw:?}: use postgres://…, sqlite://PATH or a file path"
            ));
        }
        Ok(Self::Sqlite(raw.to_owned()))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// Errors of the persistence layer, in terms the API can map to a status.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Input refused: (field, message) for each reason.
    #[error("{}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// A well-formed value that names nothing stored (a filter's unknown
    /// region, lab or campaign): (field, message).
    #[error("{0}: {1}")]
    Unknown(String, String),
    /// A write outside the writer's scope.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A write that clashes with what is stored (an id taken, an
    /// idempotency key in use).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored record is not the one the writer's `If-Match` named.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("query failed: {0}")]
    Query(String),
}

/// Messages of database errors that say "not now" rather than "never".
const TRANSIENT: &[&str] = &[
    "canceling statement due to statement timeout", // PostgreSQL 57014
    "canceling statement due to lock timeout",      // PostgreSQL 55P03
    "database is locked",                           // SQLite BUSY past busy_timeout
    "database or disk is full",                     // SQLite FULL
    "could not extend file",                        // PostgreSQL 53100 disk full
    "in a read-only transaction",                   // PostgreSQL 25006: a standby, a failover
];

/// Transient too: SQLite's file went read-only (READONLY; IOERR when that
/// happened under an open connection). See `SQLITE_WRITE_REFUSED`.
const SQLITE_READ_ONLY: &[&str] = &["attempt to write a readonly database", "disk I/O error"];

/// Set when SQLite refused a write because its file went read-only. A
/// connection opened while the file is read-only stays read-only after the
/// file is writable again, so until a new connection has been opened every
/// SQLite connection coming back to the pool is replaced: writes recover
/// without a restart.
static SQLITE_WRITE_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl From<diesel::result::Error> for DbError {
    fn from(err: diesel::result::Error) -> Self {
        match err {
            diesel::result::Error::NotFound => Self::NotFound("no such record".into()),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            // Conditions that pass (a lock released, a timeout, space freed,
            // the file made writable again): 503 with Retry-After, not a
            // 500. Diesel exposes no SQLSTATE for them, only the message.
            diesel::result::Error::DatabaseError(_, info)
                if SQLITE_READ_ONLY.iter().any(|m| info.message().contains(m)) =>
            {
                SQLITE_WRITE_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
                Self::Unavailable(info.message().to_owned())
            }
            diesel::result::Error::DatabaseError(_, info)
                if TRANSIENT.iter().any(|m| info.message().contains(m)) =>
            {
                Self::Unavailable(info.message().to_owned())
            }
            // Two writers racing for one unique value (a document number):
            // the loser is told so, as a conflict.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ) => Self::Conflict(format!(
                "another record already has this value ({})",
                info.message()
            )),
            other => Self::Query(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(err: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// Opens connections for the pool by URL scheme. (Diesel's generic manager
/// would try each backend of `DbConn` in turn, so a PostgreSQL URL would first
/// be opened as a SQLite file name.)
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> DbResult<DbConn> {
        let mut conn = connect(&self.url)?;
        if let DbConn::Pg(pg) = &mut conn {
            // Every API query is bounded by an index and a LIMIT and takes
            // milliseconds; one that runs for seconds is a fault, cancelled
            // and answered 503 instead of holding a pool connection. Set-up
            // and CLI imports use their own connection, without these.
            pg.batch_execute(&format!(
                "SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS};
                 SET lock_timeout = {PG_LOCK_TIMEOUT_MS};
                 SET idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_MS};"
            ))
            .map_err(DbError::from)?;
        }
        if let DbConn::Sqlite(sqlite) = &mut conn {
            // Per-connection settings: SQLite keeps these per connection, not per file.
            sqlite
                .batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA foreign_keys = ON;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA mmap_size = {SQLITE_MMAP_BYTES};
                     PRAGMA cache_size = -{SQLITE_CACHE_KIB};"
                ))
                .map_err(DbError::from)?;
            SQLITE_WRITE_REFUSED.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConn) -> DbResult<()> {
        ping(conn)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
            || (matches!(conn, DbConn::Sqlite(_))
                && SQLITE_WRITE_REFUSED.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// One connection for set-up work before the pool exists: WAL is a property
/// of the SQLite file, so it is set here once, not per pooled connection.
pub fn connect_for_setup(url: &DatabaseUrl) -> DbResult<DbConn> {
    let mut conn = connect(url)?;
    if let DbConn::Sqlite(sqlite) = &mut conn {
        // A large page cache: an import writes every index of hundreds of
        // thousands of rows in one transaction; with SQLite's default 2 MiB
        // the changed pages spilled to the WAL over and over.
        sqlite
            .batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                 PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
                 PRAGMA cache_size = -{SQLITE_SETUP_CACHE_KIB};"
            ))
            .map_err(DbError::from)?;
    }
    Ok(conn)
}

/// How long the lock keeper holds each read transaction
/// (`keep_shared_lock`): the longest a snapshot of its is kept from
/// checkpoints.
const SQLITE_KEEP: Duration = Duration::from_millis(100);

/// Keeps a SHARED lock on a SQLite database file for this process, from a
/// thread of its own, so that reads do not take and release it each; until
/// the `LockKeeper` returned is dropped.
///
/// SQLite locks the file with `fcntl` when a read transaction starts and
/// unlocks it when it ends, unless another connection of the same process
/// already holds the lock (it counts those in memory). A certificate
/// look-up is one read transaction, and those two calls were 4 % of its
/// time, more on a busy host. The keeper's connection holds a read
/// transaction (on `sqlite_master`) and renews it every `SQLITE_KEEP`,
/// so other connections' reads still start from the latest commit, and
/// checkpoints, waiting at most that long, copy the WAL past its snapshot.
/// A writer's own checkpoint at commit cannot copy what it wrote past the
/// keeper's snapshot, though, and another process's import would leave its
/// pages in the WAL until the next write: so between two transactions the
/// keeper checkpoints too (`PASSIVE`: it never waits, and copies what no
/// reader still needs).
/// On PostgreSQL, or an in-memory database, there is nothing to keep.
pub fn keep_shared_lock(url: &DatabaseUrl) -> Option<LockKeeper> {
    let DatabaseUrl::Sqlite(path) = url else {
        return None;
    };
    if path.as_str() == ":memory:" {
        return None;
    }
    let (url, stop) = (url.clone(), Arc::new(AtomicBool::new(false)));
    let stopped = Arc::clone(&stop);
    let keeper = std::thread::Builder::new().name("sqlite-lock".into());
    let started = keeper.spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            if let Ok(DbConn::Sqlite(mut conn)) = connect(&url) {
                while !stopped.load(Ordering::Relaxed) {
                    if let Err(err) = hold_read_transaction(&mut conn) {
                        log::warn!("SQLite lock keeper: {err}; reconnecting");
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    match started {
        Ok(_) => Some(LockKeeper { stop }),
        Err(err) => {
            log::warn!("SQLite lock keeper not started: {err}");
            None
        }
    }
}

/// Stops `keep_shared_lock`'s thread when dropped (within `SQLITE_KEEP`).
pub struct LockKeeper {
    stop: Arc<AtomicBool>,
}

impl Drop for LockKeeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One of `keep_shared_lock`'s read transactions.
fn hold_read_transaction(conn: &mut SqliteConnection) -> QueryResult<()> {
    conn.batch_execute("BEGIN; SELECT count(*) FROM sqlite_master;")?;
    std::thread::sleep(SQLITE_KEEP);
    conn.batch_execute("COMMIT;")?;
    // Best effort: a read-only or full disk refuses it, and reads go on.
    let _ = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);");
    Ok(())
}

/// A pool that connects lazily: the process comes up (and `/healthz`
/// answers) even while the database is unreachable, and recovers by itself.
pub fn pool(url: &DatabaseUrl, size: u32) -> DbPool {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(POOL_TIMEOUT)
        // No `SELECT 1` before every request: a broken connection fails its
        // query (answered 503), `has_broken` then drops it from the pool.
        .test_on_check_out(false)
        .build_unchecked(Manager { url: url.clone() })
}

/// Opens a connection of the backend the URL names.
pub fn connect(url: &DatabaseUrl) -> DbResult<DbConn> {
    match url {
        DatabaseUrl::Sqlite(path) => SqliteConnection::establish(path).map(DbConn::Sqlite),
        DatabaseUrl::Postgres(dsn) => PgConnection::establish(dsn).map(DbConn::Pg),
    }
    .map_err(|err| DbError::Unavailable(err.to_string()))
}

/// Runs `work` in one write transaction. On PostgreSQL it first takes a
/// transaction-scoped advisory lock, so that several API processes starting
/// against one empty database migrate and load it once, one after another.
/// Every write goes through here: it bumps the shared data version inside
/// the transaction, and this process's write count once it has committed, so
/// that no cached representation outlives the data it was made from. It
/// also bumps the version of each kind of record an in-memory index is
/// built from that `work` wrote (see `touch`), and only those.
pub fn exclusive_transaction<T>(
    conn: &mut DbConn,
    work: impl FnOnce(&mut DbConn) -> DbResult<T>,
) -> DbResult<T> {
    // SQLite: the write comes first. A transaction that reads before it
    // writes cannot wait for another writer (it fails "database is locked"
    // at once, busy timeout or not); one that starts with a write waits for
    // the lock like any other. (Not before the migrations made the table.)
    let write_first = match conn {
        DbConn::Sqlite(sqlite) => diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'data_version')",
        ))
        .get_result::<bool>(sqlite)?,
        DbConn::Pg(_) => false,
    };
    let bump = |conn: &mut DbConn| {
        diesel::update(schema::data_version::table)
            .set(schema::data_version::version.eq(schema::data_version::version + 1))
            .execute(conn)
    };
    // What an enclosing transaction on this thread wrote so far is its own
    // to bump; this one starts from nothing and leaves it as it was.
    let enclosing = TOUCHED.replace(Some(0));
    let result = conn.transaction::<_, DbError, _>(|conn| {
        if let DbConn::Pg(pg) = conn {
            pg.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), {SETUP_LOCK}))"
            ))?;
        }
        if write_first {
            bump(conn)?;
        }
        let result = work(conn)?;
        if !write_first {
            bump(conn)?;
        }
        bump_indexed(conn, TOUCHED.get().unwrap_or(0))?;
        Ok(result)
    });
    TOUCHED.set(enclosing);
    let result = result?;
    LOCAL_WRITES.fetch_add(1, Ordering::Release);
    Ok(result)
}

thread_local! {
    /// The kinds of indexed records written by the write transaction
    /// running on this thread (`Indexed::bit`s); `None` outside one.
    static TOUCHED: std::cell::Cell<Option<u8>> = const { std::cell::Cell::new(None) };
}

/// Notes that the write transaction running on this thread changes records
/// an in-memory index is built from: it bumps their version when it commits.
/// Called by every function that writes such records (events, labs and
/// their sessions, certificates), where it cannot be forgotten by a caller.
/// Only inside `exclusive_transaction`: a touch before it would be lost.
pub(crate) fn touch(records: Indexed) {
    let touched = TOUCHED.get();
    debug_assert!(
        touched.is_some(),
        "{records:?} written outside a write transaction"
    );
    TOUCHED.set(Some(touched.unwrap_or(0) | records.bit()));
}

fn bump_indexed(conn: &mut DbConn, touched: u8) -> DbResult<()> {
    use schema::data_version::dsl::*;
    if touched == 0 {
        return Ok(());
    }
    let by = |records: Indexed| i64::from(touched & records.bit() != 0);
    diesel::update(data_version)
        .set((
            events_version.eq(events_version + by(Indexed::Events)),
            labs_version.eq(labs_version + by(Indexed::Labs)),
            products_version.eq(products_version + by(Indexed::Products)),
            campaigns_version.eq(campaigns_version + by(Indexed::Campaigns)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Tables whose statistics an import changes.
const ANALYZED_TABLES: &str =
    "regions, notices, campaigns, events, event_tokens, labs, lab_tokens, \
     open_days, products, product_tokens, product_status_changes, organic_code_ranges";

/// Refreshes the query planner's statistics: always after an import (which
/// changes them wholesale, faster than PostgreSQL's autovacuum notices), and
/// on SQLite whenever a database with data has none. Without them SQLite guesses that
/// an equality on any index finds ten rows: it read a search page's twenty
/// keys through the category index, 20,000 rows, instead of by key.
pub fn refresh_statistics(conn: &mut DbConn, after_import: bool) -> DbResult<()> {
    match conn {
        DbConn::Sqlite(c) => {
            // Never the statistics of a database still (nearly) empty: with
            // tables of no rows SQLite plans full scans, and the import that
            // fills them ran 2.5 times slower (68 s instead of 27).
            // Asked at every start, so bounded: counting all 200,000
            // certificates read their whole index, 180-420 ms of a cold
            // start with the file not in the OS page cache.
            let ask = |c: &mut SqliteConnection, sql: &str| {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(sql)).get_result(c)
            };
            let analyze = after_import
                || (!ask(
                    c,
                    "EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1')",
                )? && ask(
                    c,
                    "(SELECT count(*) FROM (SELECT 1 FROM products LIMIT 10000)) \
                     + (SELECT count(*) FROM (SELECT 1 FROM labs LIMIT 10000)) >= 10000",
                )?);
            if analyze {
                // A sample of each index: about 30 ms on the national data.
                c.batch_execute("PRAGMA analysis_limit = 1000; ANALYZE;")?;
            }
        }
        DbConn::Pg(c) => {
            if after_import {
                c.batch_execute(&format!("ANALYZE {ANALYZED_TABLES}"))?;
            }
        }
    }
    Ok(())
}

/// Write transactions committed by this process.
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// How many write transactions this process has committed: a cache built
/// before a local write is stale as soon as the write returns.
pub fn local_writes() -> u64 {
    LOCAL_WRITES.load(Ordering::Acquire)
}

/// Cuts a page read with one row more than `limit` back to `limit` rows,
/// saying whether that extra row was there: whether another page follows.
pub(crate) fn cut_page<T>(rows: &mut Vec<T>, limit: i64) -> bool {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more
}

/// Where the database keeps each row of `table`, as a column expression
/// of one number: SQLite's rowid, or PostgreSQL's `ctid` (block, offset)
/// as block times 2^16 plus offset. A hint, as a place: a VACUUM may
/// renumber SQLite's rows, an UPDATE moves a PostgreSQL row and lets
/// another take its place, so a reader checks the key of whatever it finds
/// there.
pub(crate) fn place_column(conn: &DbConn, table: &str) -> String {
    match conn {
        DbConn::Sqlite(_) => format!("{table}.rowid"),
        DbConn::Pg(_) => format!(
            "CAST(({table}.ctid::text::point)[0] * 65536 \
             + ({table}.ctid::text::point)[1] AS BIGINT)"
        ),
    }
}

/// Where rows are (SQLite's rowids, PostgreSQL's `ctid`s numbered as
/// `place_column` numbers them), as `conn`'s statement for reading rows
/// at their places takes them: on SQLite a JSON array of rowids, on
/// PostgreSQL a `tid[]` literal (`{"(block,offset)",...}`) for a TID scan,
/// `ctid = ANY(CAST($1 AS tid[]))`. A place not known (0) is left out;
/// `None` when none is known, and there is nothing to read.
pub(crate) fn places_param(conn: &DbConn, rows: impl Iterator<Item = i64>) -> Option<String> {
    use std::fmt::Write;
    let mut rows = rows.filter(|&row| row > 0).peekable();
    rows.peek()?;
    Some(match conn {
        DbConn::Sqlite(_) => {
            serde_json::to_string(&rows.collect::<Vec<_>>()).expect("numbers are JSON")
        }
        DbConn::Pg(_) => {
            let mut array = String::from("{");
            for row in rows {
                if array.len() > 1 {
                    array.push(',');
                }
                write!(array, "\"({},{})\"", row >> 16, row & 0xffff)
                    .expect("a String takes any text");
            }
            array.push('}');
            array
        }
    })
}

/// The database-wide data version, bumped by every committed write of any
/// process.
pub fn data_version(conn: &mut DbConn) -> DbResult<i64> {
    use schema::data_version::dsl::*;
    Ok(data_version.select(version).first(conn)?)
}

/// Squared chord between the unit vector columns (`x`, `y`, `z`) of `$table`
/// and `$point`: orders by great-circle distance with arithmetic alone (the
/// bundled SQLite has no math functions). Built from diesel operators with
/// bound parameters, so a nearby query has the same text for every point and
/// stays in the connection's prepared-statement cache.
macro_rules! chord2 {
    ($table:ident, $point:expr) => {{
        let [x, y, z] = $point.unit_vector();
        ($table::x - x) * ($table::x - x)
            + ($table::y - y) * ($table::y - y)
            + ($table::z - z) * ($table::z - z)
    }};
}
pub(crate) use chord2;

/// Runs a static (unboxed) query on the concrete connection inside `DbConn`.
/// Through `MultiConnection` every execution first renders the statement's
/// SQL text (even to collect its binds); on the concrete connection a static
/// query is found in the statement cache by its type alone. For the hottest
/// look-ups that was a measurable share of a request. Also where a
/// fragment written per backend (`one_of`) is used.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite($c) => $body,
            $crate::db::DbConn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// The version of the records an in-memory index is built from, bumped by
/// every committed write that changed them (of any process).
pub fn index_version(conn: &mut DbConn, records: Indexed) -> DbResult<i64> {
    use schema::data_version::dsl::*;
    Ok(on_backend!(conn, |c| match records {
        Indexed::Events => data_version.select(events_version).first(c),
        Indexed::Labs => data_version.select(labs_version).first(c),
        Indexed::Products => data_version.select(products_version).first(c),
        Indexed::Campaigns => data_version.select(campaigns_version).first(c),
    })?)
}

/// `column IN (keys…)` with the keys in one bound parameter, so that the
/// statement text is the same for any number of keys and stays in the
/// connection's statement cache (diesel keeps no statement with an `IN`
/// list, whose length varies), and the keys are data, never SQL. Both
/// backends plan it as one index look-up per key. (It replaced a chain of
/// `column = ? OR …` padded to a power of two: 21 keys were 32 look-ups.)
///
/// - SQLite: a JSON array, read by `json_each`.
/// - PostgreSQL: a `text[]`, matched by `= ANY`, which the B-tree probes key
///   by key itself. (A JSON array there, read by
///   `jsonb_array_elements_text`, was parsed, hashed into a semi-join and
///   planned anew per statement: PostgreSQL spent about as much CPU on a
///   nearby page's 20 sessions as the API process did.)
fn one_of<C>(column: C, keys: &[&str]) -> OneOf<C> {
    OneOf {
        column,
        keys: keys.iter().map(|&key| key.to_owned()).collect(),
        json: std::sync::OnceLock::new(),
    }
}

#[derive(Debug, Clone)]
struct OneOf<C> {
    column: C,
    keys: Vec<String>,
    /// `keys` as a JSON array (SQLite's bound value), written when the
    /// statement is first walked.
    json: std::sync::OnceLock<String>,
}

impl<C> Expression for OneOf<C> {
    type SqlType = diesel::sql_types::Bool;
}

impl<C: diesel::AppearsOnTable<QS>, QS> diesel::AppearsOnTable<QS> for OneOf<C> {}

impl<C: diesel::SelectableExpression<QS>, QS> diesel::SelectableExpression<QS> for OneOf<C> {}

impl<C> diesel::expression::ValidGrouping<()> for OneOf<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<C> diesel::query_builder::QueryId for OneOf<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>>
    diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for OneOf<C>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        let json = self
            .json
            .get_or_init(|| serde_json::to_string(&self.keys).expect("a list of strings is JSON"));
        out.push_bind_param::<diesel::sql_types::Text, _>(json)?;
        out.push_sql("))");
        Ok(())
    }
}

impl<C: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for OneOf<C>
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&self.keys)?;
        out.push_sql(")");
        Ok(())
    }
}

/// One filter of a list query, boxed: its shape depends on the request.
type Filter<QS> =
    Box<dyn diesel::expression::BoxableExpression<QS, Backend, SqlType = diesel::sql_types::Bool>>;

/// Filters that must all hold, rendered flat as `(a) AND (b) AND …`, and
/// `1 = 1` when there is none. Built by `a.and(b)` on boxes, four filters
/// were a tree of twelve nodes under a bound `true`, which diesel walks
/// several times per execution (the SQL text that keys the statement
/// cache, the cacheability check, the binds); flat, an event-list page
/// took 0.7 % fewer instructions. Text pushed by a fragment, unlike
/// `dsl::sql`, keeps the statement cacheable.
pub(crate) struct AllOf<QS>(Vec<Filter<QS>>);

impl<QS: 'static> AllOf<QS> {
    fn new() -> Self {
        Self(Vec::new())
    }

    fn push<F>(&mut self, filter: F)
    where
        F: diesel::expression::BoxableExpression<QS, Backend, SqlType = diesel::sql_types::Bool>
            + 'static,
    {
        self.0.push(Box::new(filter));
    }

    fn boxed(self) -> Filter<QS> {
        Box::new(self)
    }

    /// Whether no condition was pushed (the predicate holds for every row).
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<QS> Expression for AllOf<QS> {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> diesel::expression::AppearsOnTable<QS> for AllOf<QS> {}

impl<QS> diesel::expression::SelectableExpression<QS> for AllOf<QS> {}

impl<QS> diesel::expression::ValidGrouping<()> for AllOf<QS> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<QS> diesel::query_builder::QueryId for AllOf<QS> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS> diesel::query_builder::QueryFragment<Backend> for AllOf<QS> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, Backend>,
    ) -> QueryResult<()> {
        if self.0.is_empty() {
            out.push_sql("1 = 1");
        }
        for (at, filter) in self.0.iter().enumerate() {
            if at > 0 {
                out.push_sql(" AND ");
            }
            out.push_sql("(");
            filter.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        Ok(())
    }
}

diesel::infix_operator!(BitAnd, " & ", diesel::sql_types::BigInt);

/// `column & bit <> 0`: membership in a stored vocabulary set.
fn has_bit<C>(
    column: C,
    bit: i64,
) -> diesel::dsl::NotEq<BitAnd<C, diesel::dsl::AsExprOf<i64, diesel::sql_types::BigInt>>, i64>
where
    C: Expression<SqlType = diesel::sql_types::BigInt>,
{
    BitAnd::new(column, bit.into_sql::<diesel::sql_types::BigInt>()).ne(0)
}

/// Haversine distance from `point` to (lat, lon), to the metre, as lists show it.
fn distance_km(point: crate::domain::LatLon, lat: f64, lon: f64) -> f64 {
    let km = point.distance_km(crate::domain::LatLon { lat, lon });
    (km * 1000.0).round() / 1000.0
}

/// Arbitrary seed of the advisory lock that serialises writes. The key is
/// this hashed with the schema's name: advisory locks are database-wide, and
/// datasets in other schemas of the same database (the test suite's, a
/// second deployment's) must not wait for one another's writes.
const SETUP_LOCK: i64 = 0x0074_6963_7765_656b;

fn migration_error(err: Box<dyn std::error::Error + Send + Sync>) -> DbError {
    DbError::Query(format!("migration failed: {err}"))
}

/// Runs every pending migration of the connection's backend.
pub fn migrate(conn: &mut DbConn) -> DbResult<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(migration_error)?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Whether some migration of this build is not applied yet.
pub fn has_pending_migrations(conn: &mut DbConn) -> DbResult<bool> {
    match conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    }
    .map_err(migration_error)
}

/// Reverts every applied migration (used to prove down.sql works).
pub fn revert_all(conn: &mut DbConn) -> DbResult<usize> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.revert_all_migrations(POSTGRES_MIGRATIONS),
    }
    .map_err(migration_error)?;
    Ok(reverted.len())
}

/// Reverts the last applied migration and gives its version (used to prove a
/// migration's down.sql and up.sql keep the data).
pub fn revert_last(conn: &mut DbConn) -> DbResult<String> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
        DbConn::Pg(c) => c.revert_last_migration(POSTGRES_MIGRATIONS),
    }
    .map_err(migration_error)?;
    Ok(reverted.to_string())
}

/// `SELECT 1` on a pooled connection: the readiness probe.
pub fn ping(conn: &mut DbConn) -> DbResult<()> {
    conn.batch_execute("SELECT 1").map_err(DbError::from)
}

/// Keyset position after the last item of a page ordered by (year DESC, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearIdKey {
    pub year: i32,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::DbError;
    use diesel::result::{DatabaseErrorKind, Error};

    fn database_error(message: &str) -> DbError {
        DbError::from(Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(message.to_owned()),
        ))
    }

    /// Errors that pass become 503 (with Retry-After), not 500.
    #[test]
    fn transient_database_errors_are_unavailable_not_failures() {
        for message in [
            "canceling statement due to statement timeout",
            "database is locked",
            "database or disk is full",
            "attempt to write a readonly database",
            "cannot execute INSERT in a read-only transaction",
        ] {
            assert!(
                matches!(database_error(message), DbError::Unavailable(_)),
                "{message}"
            );
        }
        assert!(matches!(
            database_error("syntax error at or near \"x\""),
            DbError::Query(_)
        ));
    }
}
