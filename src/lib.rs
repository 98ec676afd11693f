//! ticweek: the open-data REST API for China's Quality Month campaigns in
//! testing, inspection and certification.

pub mod api;
pub mod config;
pub mod data;
pub mod db;
pub mod domain;
pub mod error;
pub mod import;
pub mod openapi;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

pub use api::AppState;

/// Largest JSON request body accepted.
const JSON_LIMIT: usize = 1024 * 1024;

/// The whole application: routes, docs, extractor configs and middleware.
/// `main` serves it and the tests drive it in-process, so both see the same app.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(openapi::ApiDoc::openapi())
        .map(|app| {
            app.app_data(web::Data::new(state)).app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT)
                    .error_handler(error::json_error),
            )
        })
        .configure(api::routes)
        .split_for_parts();
    openapi::finish(&mut doc);
    let known = std::rc::Rc::new(api::fallback::KnownPaths::from_openapi(&doc));
    app.service(web::redirect("/docs", "/docs/"))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc))
        .default_service(web::to(move |req| {
            api::fallback::not_matched(req, known.clone())
        }))
        // Compresses what it finishes (every successful GET, docs included);
        // actix's `Compress` is not used: it gzipped even a one-packet body.
        .wrap(from_fn(api::caching::representations))
        .wrap(from_fn(api::caching::head_as_get))
        .wrap(cors())
        // Outside CORS, so its refusals (a preflight for a method we do not
        // allow) become problem bodies too.
        .wrap(error::framework_errors())
        .wrap(from_fn(api::security::deadline))
        .wrap(from_fn(api::limits::limit))
        .wrap(from_fn(api::security::bounds))
        .wrap(from_fn(api::security::headers))
        // Only when its lines are written: it renders the client address
        // and request line of every request before the level is asked.
        .wrap(Condition::new(
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
            Logger::new("%a \"%r\" %s %b %Dms"),
        ))
}

/// Any origin, never with cookies: reads are public, and a write carries
/// its bearer token in a header that a page must set itself (no ambient
/// credential for another site to ride on).
fn cors() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allow_any_origin()
        .send_wildcard()
        .allowed_methods(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
        .allow_any_header()
        .expose_headers(["ETag", "Link", "Retry-After", "Location"])
        .max_age(86_400)
}

/// Connects, migrates and loads the bundled public records into an empty
/// database; returns the set-up connection.
pub fn prepare_database(url: &db::DatabaseUrl) -> db::DbResult<db::DbConn> {
    let mut conn = db::connect_for_setup(url)?;
    data::prepare(&mut conn)?;
    db::refresh_statistics(&mut conn, false)?;
    Ok(conn)
}

/// Returns free memory to the system, from both heaps. glibc's (SQLite's
/// and zlib's allocations): the server sets its trim threshold high
/// (`main.rs`: per-request buffers must not be unmapped and remapped), so a
/// rare large transient allocation would otherwise stay resident.
/// mimalloc's (Rust's): it hands freed pages back a second after they are
/// freed, but only when later allocations run its purge; an index build's
/// transient rows, freed by a thread that then ends, stayed resident until
/// then (on the bench data, anonymous RSS once the start-up builds were
/// done: 113-116 MiB without `mi_collect`, 97-98 MiB with it).
pub fn trim_heap() {
    // SAFETY: mi_collect only frees and purges memory mimalloc owns and no
    // allocation refers to.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}
