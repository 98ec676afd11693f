//! In-memory indexes in front of the database, rebuilt when the data changes.
//!
//! Some questions are asked far more often than the data changes and cost
//! the database more than the answer is worth: a one-character search, the
//! sessions within 30 km of a point. An index here answers which records
//! make a page; the records themselves are still read from the database, by
//! key. Where the records are few and their representation is what a page
//! shows (events, campaigns: `api::events::pages`), the API keeps that
//! representation in a `Slot` of its own, built the same way.
//!
//! Each index is labelled with the version of its records (`Indexed`) read
//! before it was built. A request uses it only while the database's version
//! of those records is that label: after a write that changed them, by this
//! process or another, requests fall back to the SQL path until a rebuild
//! for the new version is in place. So an index is never used stale, and
//! both paths must answer alike (the tests run both). Writes of anything
//! else (a poster, a token, a campaign) leave every index in place.
//!
//! The version read is trusted for `VERSION_FRESH` while this process
//! commits no write, so that most requests run no statement for it: a write
//! by this process is seen by the next request, one by another process
//! within that time (the read cache's own bound is a second).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::code_ranges::CodeRanges;
use super::nearby::Nearby;
use super::places::Places;
use super::postings::Postings;
use super::search::TextIndex;
use super::{DbConn, DbPool, DbResult};

/// Indexes with at most this many records are rebuilt by the request that
/// finds them stale (a few milliseconds: 3,018 events took 18 ms); larger
/// ones in the background while requests use the SQL path.
const REBUILD_INLINE_MAX: usize = 1_000;

/// The kinds of records in-memory indexes are built from. Each has its own
/// version counter in the database (`data_version.events_version`, …),
/// bumped by every committed write that changed such records (`db::touch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    /// Events (their search entries).
    Events,
    /// Labs and their open-day sessions.
    Labs,
    /// Certificates (their search entries).
    Products,
    /// Campaigns (their representations).
    Campaigns,
}

impl Indexed {
    pub(super) fn bit(self) -> u8 {
        match self {
            Self::Events => 1,
            Self::Labs => 2,
            Self::Products => 4,
            Self::Campaigns => 8,
        }
    }
}

/// How long a version read from the database is used without reading it
/// again, while this process writes nothing.
const VERSION_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// The last version of an index's records read from the database: its value,
/// this process's write count before the read, and when.
#[derive(Clone, Copy)]
struct Seen {
    version: i64,
    local_writes: u64,
    at: std::time::Instant,
}

/// What an index reports about itself.
pub trait Snapshot: Send + Sync + 'static {
    /// The version of its records it was built from.
    fn version(&self) -> i64;
    /// How many records it covers.
    fn records(&self) -> usize;
    /// About how much memory it takes.
    fn bytes(&self) -> usize;
}

pub type Builder<T> = Box<dyn Fn(&mut DbConn, i64) -> DbResult<T> + Send + Sync>;

/// The current index of one kind, and its rebuilding.
pub struct Slot<T> {
    name: &'static str,
    /// What the index is built from.
    records: Indexed,
    /// Builds the index of the data at a version (read just before).
    build: Builder<T>,
    /// Where background rebuilds get their connection.
    pool: DbPool,
    current: RwLock<Option<Arc<T>>>,
    seen: Mutex<Option<Seen>>,
    building: Arc<AtomicBool>,
    /// Whether an index never built yet may be built by a request (tests,
    /// and servers that did not `warm` it: its size is unknown).
    inline_first: AtomicBool,
    /// Off: every request uses the SQL path (to compare the two).
    enabled: bool,
}

impl<T: Snapshot> Slot<T> {
    /// An index of `records`, built by `build` when first used (see
    /// `current`); or, not `enabled`, never: requests use the SQL path.
    pub fn new(
        name: &'static str,
        records: Indexed,
        pool: &DbPool,
        enabled: bool,
        build: Builder<T>,
    ) -> Self {
        Self {
            name,
            records,
            build,
            enabled,
            pool: pool.clone(),
            current: RwLock::new(None),
            seen: Mutex::new(None),
            building: Arc::new(AtomicBool::new(false)),
            inline_first: AtomicBool::new(true),
        }
    }

    /// The index if it is that of the database's current version of its
    /// records.
    /// Otherwise `None`, and a rebuild: on this connection when the index is
    /// small, else in the background on a pooled connection (one rebuild at
    /// a time), so that this request is answered by SQL and a later one by
    /// the new index.
    pub fn current(self: &Arc<Self>, conn: &mut DbConn) -> DbResult<Option<Arc<T>>> {
        if !self.enabled {
            return Ok(None);
        }
        let version = self.version(conn)?;
        let held = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(index) = &held {
            // Newer than the version seen is current too: that was read
            // before the index's build read its own.
            if index.version() >= version {
                return Ok(held);
            }
        }
        let small = match &held {
            Some(index) => index.records() <= REBUILD_INLINE_MAX,
            None => self.inline_first.load(Ordering::Relaxed),
        };
        if small && !self.building.load(Ordering::Acquire) {
            let index = Arc::new(self.build(conn)?);
            self.store(index.clone());
            return Ok((index.version() >= version).then_some(index));
        }
        self.rebuild_in_background();
        Ok(None)
    }

    /// The index, if `current` would answer it without reading the
    /// version (read within `VERSION_FRESH`, and no write by this process
    /// since); `None` when only `current` can tell. Needs no connection, so
    /// a request that finds its answer here never waits for one (on
    /// PostgreSQL, nor for the blocking pool).
    pub fn fresh(&self) -> Option<Arc<T>> {
        if !self.enabled {
            return None;
        }
        let version = self.fresh_version(super::local_writes())?;
        let held = self.current.read().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|index| index.version() >= version)
            .cloned()
    }

    /// The version last read, if it is still to be trusted: read within
    /// `VERSION_FRESH`, with `local_writes` (this process's write count)
    /// unchanged since.
    fn fresh_version(&self, local_writes: u64) -> Option<i64> {
        let seen = (*self.seen.lock().unwrap_or_else(|e| e.into_inner()))?;
        (seen.local_writes == local_writes && seen.at.elapsed() < VERSION_FRESH)
            .then_some(seen.version)
    }

    /// The database's version of the index's records: as last read, if
    /// that was within `VERSION_FRESH` and this process has committed no
    /// write since; else read now.
    fn version(&self, conn: &mut DbConn) -> DbResult<i64> {
        let local_writes = super::local_writes();
        if let Some(version) = self.fresh_version(local_writes) {
            return Ok(version);
        }
        // The write count was taken before the read: a write committed
        // meanwhile makes the next request read again.
        let version = super::index_version(conn, self.records)?;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(Seen {
            version,
            local_writes,
            at: std::time::Instant::now(),
        });
        Ok(version)
    }

    /// Builds the index in the background now, so that the first requests
    /// after start-up find it.
    pub fn warm(self: &Arc<Self>) {
        if self.enabled {
            self.inline_first.store(false, Ordering::Relaxed);
            self.rebuild_in_background();
        }
    }

    /// Starts a rebuild on its own thread unless one is running.
    fn rebuild_in_background(self: &Arc<Self>) {
        if !self.building.swap(true, Ordering::AcqRel) {
            let slot = Arc::clone(self);
            std::thread::spawn(move || {
                slot.rebuild();
                slot.building.store(false, Ordering::Release);
            });
        }
    }

    fn rebuild(&self) {
        // One rebuild at a time, across every index: a build holds its
        // transient rows until it is done, and a write makes every index
        // stale at once, so concurrent rebuilds stacked them (after one
        // write, the peak RSS rose 31-34 MiB above the resident set).
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let built = self
            .pool
            .get()
            .map_err(super::DbError::from)
            .and_then(|mut conn| self.build(&mut conn));
        match built {
            Ok(index) => {
                self.store(Arc::new(index));
                // The build's transient rows, and usually the index it
                // replaced, are free now: hand the memory back rather than
                // keep it in the heap (see `crate::trim_heap`). Trimmed
                // before the old index was dropped, a rebuild after a write
                // left the peak RSS of a full bench run at 185 MiB.
                crate::trim_heap();
            }
            Err(err) => log::warn!("{}: {err}", self.name),
        }
    }

    fn build(&self, conn: &mut DbConn) -> DbResult<T> {
        // The version first: a write landing during the read makes the
        // index newer than its label, never older, and the next request
        // rebuilds it.
        let version = super::index_version(conn, self.records)?;
        let started = std::time::Instant::now();
        let index = (self.build)(conn, version)?;
        log::info!(
            "{}: {} records, {} KiB, at version {version} of its records in {:?}",
            self.name,
            index.records(),
            index.bytes() / 1024,
            started.elapsed()
        );
        Ok(index)
    }

    fn store(&self, index: Arc<T>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        // Never replace a newer index by an older one (two builds racing).
        if current
            .as_ref()
            .is_none_or(|held| held.version() <= index.version())
        {
            *current = Some(index);
        }
    }
}

/// The posting lists of `index`; `located`, with where the database keeps
/// each record (for readers that use it: certificate search pages).
fn posting_lists(index: TextIndex, located: bool) -> Builder<Postings> {
    Box::new(move |conn, version| {
        let lists = Postings::build(version, |each| index.for_each_entry(conn, each))?;
        Ok(if located {
            lists.located(index.rows_by_key(conn)?)
        } else {
            lists
        })
    })
}

/// Every in-memory index of the API.
pub struct Indexes {
    /// Event search.
    pub events: Arc<Slot<Postings>>,
    /// Certificate search.
    pub products: Arc<Slot<Postings>>,
    /// Open-day sessions near a point.
    pub open_days: Arc<Slot<Nearby>>,
    /// The certificate holding an organic code.
    pub code_ranges: Arc<Slot<CodeRanges>>,
    /// Where SQLite keeps each certificate, for look-ups by number.
    pub places: Arc<Slot<Places>>,
}

impl Indexes {
    /// Indexes over the database of `pool`, built when first used; or, not
    /// `enabled`, none: every request uses the SQL path.
    pub fn new(pool: &DbPool, enabled: bool) -> Self {
        Self {
            events: Arc::new(Slot::new(
                "search lists of events",
                Indexed::Events,
                pool,
                enabled,
                posting_lists(super::search::EVENTS, false),
            )),
            products: Arc::new(Slot::new(
                "search lists of products",
                Indexed::Products,
                pool,
                enabled,
                posting_lists(super::search::PRODUCTS, true),
            )),
            open_days: Arc::new(Slot::new(
                "nearby index of open days",
                Indexed::Labs,
                pool,
                enabled,
                Box::new(Nearby::build),
            )),
            code_ranges: Arc::new(Slot::new(
                "organic-code ranges",
                Indexed::Products,
                pool,
                enabled,
                Box::new(CodeRanges::build),
            )),
            places: Arc::new(Slot::new(
                "certificate rowids",
                Indexed::Products,
                pool,
                enabled,
                Box::new(Places::build),
            )),
        }
    }

    /// Builds every index in the background now. The builds take turns
    /// (`Slot::rebuild`), usually in the order started here: the
    /// certificates' search lists, the longest build (1.3 s on the bench
    /// data), last. Peak RSS of six starts each on the bench data: 122-128
    /// MiB when they were started second, 118-125 when last.
    pub fn warm(&self) {
        self.open_days.warm();
        self.code_ranges.warm();
        self.places.warm();
        self.events.warm();
        self.products.warm();
    }
}
