//! HTTP: handlers and wire types, one file per resource. Never touches SQL;
//! every database call goes through `run`.

pub mod batch;
pub mod caching;
pub mod campaigns;
pub mod changes;
pub mod embed;
pub mod events;
pub mod fallback;
pub mod held;
pub mod labs;
pub mod limits;
pub mod notices;
pub mod paging;
pub mod posters;
pub mod products;
pub mod query;
pub mod regions;
pub mod security;
pub mod service;
pub mod write;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use actix_web::web;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::db::labs::{Listed, NearQuery, OpenDayPage};
use crate::db::memory::{Indexed, Slot};
use crate::db::{DbConn, DbPool, DbResult};
use crate::error::ApiError;

/// What every handler shares: the connection pool, whether the database
/// has been migrated and loaded yet, and the read cache.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    ready: Arc<AtomicBool>,
    cache: Arc<caching::ReadCache>,
    /// Bytes of hot poster files, shared by their downloads.
    files: Arc<posters::FileCache>,
    /// Where reads run (`Placement`), learnt from the first connection.
    placement: Arc<AtomicU8>,
    /// Per-client rate limits; none in-process (tests), set by `serve`.
    limits: Option<Arc<limits::RateLimits>>,
    /// In-memory indexes behind search and nearby open days.
    pub indexes: Arc<crate::db::memory::Indexes>,
    /// Every event's representation, for pages of events.
    pub event_bodies: Arc<Slot<events::pages::EventBodies>>,
    /// Every campaign's representation, for pages of campaigns.
    campaign_bodies: Arc<Slot<campaigns::CampaignBodies>>,
    /// Certificate look-ups and organic-code checks, batched on PostgreSQL.
    certificates: Arc<batch::Batched<String, Option<crate::db::products::Certificate>>>,
    organic_codes: Arc<batch::Batched<(i64, String), crate::db::products::CodeCheck>>,
    /// Nearest-first pages of open days, batched on PostgreSQL.
    open_day_pages: Arc<batch::Batched<NearQuery, OpenDayPage<Listed>>>,
    /// Aggregate reads in flight (`run_aggregate`): at most half the pool,
    /// so that bounded reads always find a connection.
    aggregates: Arc<tokio::sync::Semaphore>,
}

fn event_bodies(pool: &DbPool, enabled: bool) -> Arc<Slot<events::pages::EventBodies>> {
    held::slot(
        "representations of events",
        Indexed::Events,
        pool,
        enabled,
        events::pages::build,
    )
}

fn campaign_bodies(pool: &DbPool, enabled: bool) -> Arc<Slot<campaigns::CampaignBodies>> {
    held::slot(
        "representations of campaigns",
        Indexed::Campaigns,
        pool,
        enabled,
        campaigns::build_bodies,
    )
}

/// At most this many nearby pages (20 sessions each by default, up to
/// 100) in one statement. With 64, as look-ups have, a statement's result reached
/// 700 KB, and libpq's buffers kept the server's peak RSS 25-35 MiB higher.
const NEAR_PAGES_PER_BATCH: usize = 8;

/// Where `run` executes a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Placement {
    /// Not known before the first connection: the blocking pool, to be safe.
    Unknown = 0,
    /// SQLite: the query is CPU work in this process, and every read shape
    /// is bounded by an index and a LIMIT, so it runs on the worker that
    /// received the request. Handing it to the blocking pool cost a thread
    /// switch each way: on the nearby load 385 µs of CPU per request
    /// inline against 450 µs handed over; look-ups 30 µs against 41 µs.
    Inline = 1,
    /// PostgreSQL: a query waits on the network and another process, so it
    /// runs on the blocking pool and the worker serves other requests.
    Blocking = 2,
}

impl AppState {
    /// For a database that is already prepared.
    pub fn new(pool: DbPool) -> Self {
        let aggregates = (pool.max_size() as usize / 2).max(1);
        Self {
            indexes: Arc::new(crate::db::memory::Indexes::new(&pool, true)),
            event_bodies: event_bodies(&pool, true),
            campaign_bodies: campaign_bodies(&pool, true),
            pool,
            ready: Arc::new(AtomicBool::new(true)),
            cache: Arc::new(caching::ReadCache::new(caching::DEFAULT_CACHE_BYTES)),
            files: posters::file_cache(),
            placement: Arc::new(AtomicU8::new(Placement::Unknown as u8)),
            limits: None,
            certificates: batch::Batched::new(crate::db::products::look_up),
            organic_codes: batch::Batched::new(crate::db::products::check_codes),
            open_day_pages: batch::Batched::with_limit(
                crate::db::labs::near_pages,
                NEAR_PAGES_PER_BATCH,
            ),
            aggregates: Arc::new(tokio::sync::Semaphore::new(aggregates)),
        }
    }

    /// For a server that starts before its database is prepared: every
    /// database call answers 503 until `mark_ready` is called.
    pub fn starting(pool: DbPool) -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            ..Self::new(pool)
        }
    }

    /// Limits what each client may ask (see `limits`).
    pub fn with_rate_limits(mut self, limits: limits::RateLimits) -> Self {
        self.limits = Some(Arc::new(limits));
        self
    }

    /// The rate limits, if any.
    pub fn rate_limits(&self) -> Option<Arc<limits::RateLimits>> {
        self.limits.clone()
    }

    /// Replaces the read cache by one of `bytes` (0: no read cache).
    pub fn with_read_cache(mut self, bytes: u64) -> Self {
        self.cache = Arc::new(caching::ReadCache::new(bytes));
        self
    }

    /// With `false`, every request uses SQL alone, never the in-memory
    /// indexes (search posting lists, nearby open days): to compare the two.
    pub fn with_memory_indexes(mut self, enabled: bool) -> Self {
        self.indexes = Arc::new(crate::db::memory::Indexes::new(&self.pool, enabled));
        self.event_bodies = event_bodies(&self.pool, enabled);
        self.campaign_bodies = campaign_bodies(&self.pool, enabled);
        self
    }

    /// Builds every in-memory index in the background now.
    pub fn warm(&self) {
        self.indexes.warm();
        self.event_bodies.warm();
        self.campaign_bodies.warm();
    }

    /// Polls the shared data version every `interval`, so that writes by
    /// other processes on the same database reach this one's read cache.
    pub fn watch_data_version(&self, interval: std::time::Duration) {
        self.cache.watch(self.pool.clone(), interval);
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn placement(&self) -> Placement {
        match self.placement.load(Ordering::Relaxed) {
            1 => Placement::Inline,
            2 => Placement::Blocking,
            _ => Placement::Unknown,
        }
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}

/// Runs the read `query` on a pooled connection: inline for SQLite, on
/// actix's blocking thread pool for PostgreSQL (see `Placement`).
pub async fn run<T, F>(state: &AppState, query: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> DbResult<T> + Send + 'static,
{
    if !state.ready.load(Ordering::Acquire) {
        return Err(ApiError::Unavailable(
            "the database is being prepared".into(),
        ));
    }
    let pool = state.pool.clone();
    let placement = state.placement.clone();
    let read = move || {
        let mut conn = pool.get()?;
        let learnt = match *conn {
            DbConn::Sqlite(_) => Placement::Inline,
            DbConn::Pg(_) => Placement::Blocking,
        };
        placement.store(learnt as u8, Ordering::Relaxed);
        query(&mut conn)
    };
    let result = if state.placement.load(Ordering::Relaxed) == Placement::Inline as u8 {
        read()
    } else {
        web::block(read).await?
    };
    result.map_err(ApiError::from)
}

/// Runs a write on the blocking pool, whatever the backend: a write may
/// wait for another writer's lock, which must not stall a worker.
pub async fn run_write<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> DbResult<T> + Send + 'static,
{
    on_blocking_pool(state, work).await
}

/// Runs a read whose cost grows with the data, such as facet counts over a
/// whole filtered set, on the blocking pool whatever the backend. Inline on
/// SQLite it held the worker: `/products?facets=status` counts 200,000
/// certificates in about 0.5 s, and every other request on that worker
/// waited behind it. At most half the pool's connections run these at
/// once; more wait their turn here, holding neither a thread nor a
/// connection.
pub async fn run_aggregate<T, F>(state: &AppState, query: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> DbResult<T> + Send + 'static,
{
    let _turn = state
        .aggregates
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable("the server is shutting down".into()))?;
    on_blocking_pool(state, query).await
}

/// `run_aggregate` when the read `counts` a whole filtered set (facets),
/// else `run`.
pub async fn run_counting<T, F>(state: &AppState, counts: bool, query: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> DbResult<T> + Send + 'static,
{
    if counts {
        run_aggregate(state, query).await
    } else {
        run(state, query).await
    }
}

async fn on_blocking_pool<T, F>(state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> DbResult<T> + Send + 'static,
{
    if !state.ready.load(Ordering::Acquire) {
        return Err(ApiError::Unavailable(
            "the database is being prepared".into(),
        ));
    }
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
    .map_err(ApiError::from)
}

/// A record id from the path: malformed ids (NUL, spaces, upper case…) are
/// refused before they reach the database.
pub fn path_id(raw: &str) -> Result<crate::domain::RecordId, ApiError> {
    raw.parse()
        .map_err(|crate::domain::Invalid(message)| ApiError::invalid("id", message))
}

/// Every route, registered through utoipa-actix-web so the OpenAPI document
/// is produced from the same registrations that route requests.
///
/// One scope per collection: actix matches a static scope prefix by
/// comparing text, but a dynamic route by running its regex with captures,
/// so a flat list ran one regex for every `/{id}` route listed before the
/// one a request matched (seven before a certificate look-up, 8 % of its
/// instructions). A scope takes every path under its prefix, so a
/// collection's writes are in it too.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(service::healthz)
        .service(service::readyz)
        .service(embed::events_widget)
        .service(
            scope::scope("/api/v1")
                // The most requested reads first: actix tries a scope's services in
                // order, about 300 instructions each to pass one by (a certificate
                // look-up went by eleven, 6 % of its instructions).
                .service(scope::scope("/organic-codes").service(products::check_organic_code))
                .service(products::list_products_csv)
                .service(
                    scope::scope("/products")
                        .service(products::list_products)
                        // Before `/{certificate_no}`, which would take `changes` as a number.
                        .service(products::list_product_changes)
                        .service(products::get_product)
                        .service(products::get_product_history)
                        .service(write::create_product)
                        .service(write::replace_product)
                        .service(write::patch_product)
                        .service(write::delete_product),
                )
                .service(labs::list_open_days_geojson)
                .service(
                    scope::scope("/open-days")
                        .service(labs::list_open_days)
                        .service(labs::get_open_day)
                        .service(write::replace_open_day)
                        .service(write::patch_open_day)
                        .service(write::delete_open_day),
                )
                // Beside `/events`: a scope takes only its prefix followed by `/` or nothing.
                .service(events::feeds::list_events_ics)
                .service(events::feeds::list_events_csv)
                .service(
                    scope::scope("/events")
                        .service(events::list_events)
                        .service(events::get_event)
                        .service(write::create_event)
                        .service(write::replace_event)
                        .service(write::patch_event)
                        .service(write::delete_event),
                )
                .service(
                    scope::scope("/campaigns")
                        .service(campaigns::list_campaigns)
                        .service(campaigns::get_campaign)
                        .service(write::create_campaign)
                        .service(write::replace_campaign)
                        .service(write::patch_campaign)
                        .service(write::delete_campaign),
                )
                .service(
                    scope::scope("/regions")
                        .service(regions::list_regions)
                        .service(regions::get_region),
                )
                .service(labs::list_labs_geojson)
                .service(
                    scope::scope("/labs")
                        .service(labs::list_labs)
                        .service(labs::get_lab)
                        .service(write::create_lab)
                        .service(write::replace_lab)
                        .service(write::patch_lab)
                        .service(write::delete_lab)
                        .service(write::create_open_day),
                )
                .service(
                    scope::scope("/notices")
                        .service(notices::list_notices)
                        .service(notices::get_notice)
                        .service(write::create_notice)
                        .service(write::replace_notice)
                        .service(write::patch_notice)
                        .service(write::delete_notice),
                )
                .service(changes::list_changes)
                .service(write::import_records)
                .service(
                    scope::scope("/posters")
                        .service(posters::list_posters)
                        .service(posters::upload_poster)
                        .service(posters::get_poster)
                        .service(posters::download_poster_file)
                        .service(posters::localize_poster),
                )
                .service(scope::scope("/files").service(posters::download_file)),
        );
}
