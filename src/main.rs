use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ticweek::api::limits::Mode;
use ticweek::config::{Cli, Command, Deletable, TokenAction, TokenRole};
use ticweek::db::{DatabaseUrl, DbConn};

/// mimalloc for Rust's allocations: a response allocates and frees hundreds
/// of small strings, where glibc's malloc spent 11 % of a search page.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tune_malloc();
    // actix logs each request a client could not even send right (a bad
    // header, a dropped socket) at ERROR: the client's fault, already
    // answered with a 400, and a way to flood the log. `RUST_LOG` naming
    // `actix_http::h1::dispatcher` turns it back on.
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Info)
        .filter_module("actix_http::h1::dispatcher", log::LevelFilter::Off)
        .parse_env(env_logger::Env::default())
        .init();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ticweek: {message}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's malloc adapts its mmap threshold and trims the heap top as it
/// goes; under a request load that means every response's deflate state and
/// SQLite's sort buffers are mapped and unmapped, or the heap is trimmed and
/// regrown, per request. Fixed thresholds keep that memory in the heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    const TRIM_THRESHOLD: libc::c_int = 128 << 20;
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn run(cli: &Cli) -> Result<(), String> {
    let command = cli.command.as_ref().unwrap_or(&Command::Serve);
    if let Command::Openapi = command {
        print!("{}", ticweek::openapi::document_json());
        return Ok(());
    }
    let url = DatabaseUrl::parse(&cli.database_url)?;
    let prepare = || -> Result<DbConn, String> {
        ticweek::prepare_database(&url).map_err(|e| format!("database: {e}"))
    };
    match command {
        Command::Serve => serve(&url, cli),
        Command::Migrate => {
            prepare()?;
            eprintln!("database is migrated and loaded ({})", url.backend());
            Ok(())
        }
        Command::Import { file, dry_run } => {
            let text = read_input(file)?;
            let mut conn = prepare()?;
            // Drawn on the terminal only (hidden when stderr is not one).
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "writing certificates {bar:40} {pos}/{len} ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = ticweek::import::run_with_progress(
                &mut conn,
                &text,
                *dry_run,
                &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            )
            .map_err(|e| e.to_string());
            bar.finish_and_clear();
            let report = report?;
            eprintln!("{report}");
            if !*dry_run && report.errors.is_empty() {
                ticweek::db::refresh_statistics(&mut conn, true).map_err(|e| e.to_string())?;
            }
            match report.errors.len() {
                0 => Ok(()),
                n => Err(format!("{n} bad row(s); nothing was written")),
            }
        }
        Command::Export => {
            let mut conn = prepare()?;
            let json = ticweek::import::export(&mut conn).map_err(|e| e.to_string())?;
            std::io::stdout()
                .write_all(json.as_bytes())
                .map_err(|e| e.to_string())
        }
        Command::Delete { resource, id } => {
            let mut conn = prepare()?;
            let now = chrono::Utc::now().naive_utc();
            let deleted = match resource {
                Deletable::Notice => ticweek::db::notices::delete(&mut conn, id, now),
                Deletable::Campaign => ticweek::db::campaigns::delete(&mut conn, id, now),
                Deletable::Event => ticweek::db::events::delete(&mut conn, id, now),
                Deletable::Lab => ticweek::db::labs::delete(&mut conn, id, now),
                Deletable::Product => match id.parse::<ticweek::domain::CertificateNo>() {
                    Ok(number) => ticweek::db::products::delete(&mut conn, number.as_str(), now),
                    Err(e) => Err(ticweek::db::DbError::Invalid(vec![(
                        "certificate_no".into(),
                        e.0,
                    )])),
                },
            };
            deleted.map_err(|e| e.to_string())?;
            eprintln!("deleted {resource:?} {id:?}");
            Ok(())
        }
        Command::Openapi => Ok(()),
        Command::Token { action } => token(&mut prepare()?, action),
        Command::Audit { limit } => {
            let rows = ticweek::db::access::audit_tail(&mut prepare()?, *limit)
                .map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            for (seq, at, actor, action, kind, id, before, after) in rows {
                let line = serde_json::json!({
                    "seq": seq,
                    "at": ticweek::domain::to_shanghai(at).to_rfc3339(),
                    "actor": actor,
                    "action": action,
                    "target": {"type": kind, "id": id},
                    "before": before.and_then(|b| serde_json::from_str::<serde_json::Value>(&b).ok()),
                    "after": after.and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok()),
                });
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}

fn token(conn: &mut DbConn, action: &TokenAction) -> Result<(), String> {
    use ticweek::domain::{Role, Scope};
    let now = chrono::Utc::now().naive_utc();
    match action {
        TokenAction::Create { role, scope, name } => {
            let role = match role {
                TokenRole::National => Role::National,
                TokenRole::Region => Role::Region,
                TokenRole::Lab => Role::Lab,
            };
            let scope = Scope::new(role, scope.as_deref()).map_err(|e| format!("--scope: {e}"))?;
            let name = ticweek::domain::token_name(name).map_err(|e| format!("--name: {e}"))?;
            let (token, hash) = ticweek::domain::new_token().map_err(|e| e.to_string())?;
            ticweek::db::access::create_token(conn, &name, &scope, &hash, now)
                .map_err(|e| e.to_string())?;
            eprintln!(
                "token {name:?} ({}{}) created; it is shown once, keep it secret:",
                role.as_str(),
                scope.value().map(|v| format!(" {v}")).unwrap_or_default()
            );
            println!("{token}");
            Ok(())
        }
        TokenAction::List => {
            for row in ticweek::db::access::list_tokens(conn).map_err(|e| e.to_string())? {
                println!(
                    "{:?}\t{}\t{}\t{}\t{}",
                    row.name,
                    row.role,
                    row.scope.as_deref().unwrap_or("-"),
                    ticweek::domain::to_shanghai(row.created_at).to_rfc3339(),
                    row.revoked_at
                        .map(|at| format!(
                            "revoked {}",
                            ticweek::domain::to_shanghai(at).to_rfc3339()
                        ))
                        .unwrap_or_else(|| "active".into()),
                );
            }
            Ok(())
        }
        TokenAction::Revoke { name } => {
            ticweek::db::access::revoke_token(conn, name, now).map_err(|e| e.to_string())?;
            eprintln!("token {name:?} revoked");
            Ok(())
        }
    }
}

fn read_input(file: &str) -> Result<String, String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))
}

/// Time to receive a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle keep-alive connection is closed after this.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// On SIGTERM, requests in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves at once; the database is migrated and loaded in the background,
/// retried while it is unreachable, and `/readyz` answers 503 until then.
fn serve(url: &DatabaseUrl, cli: &Cli) -> Result<(), String> {
    let mut state = ticweek::AppState::starting(ticweek::db::pool(url, cli.pool_size))
        .with_read_cache(cli.cache_mb * 1024 * 1024)
        .with_memory_indexes(cli.memory_indexes == "on");
    if cli.rate_limit != Mode::Off {
        use ticweek::api::limits::{Budget, Budgets, RateLimits};
        let budget = |burst, seconds| Budget {
            burst,
            window: Duration::from_secs(seconds),
        };
        let limits = RateLimits::new(
            cli.rate_limit,
            Budgets {
                reads: budget(cli.rate_reads, 30),
                writes: budget(cli.rate_writes, 60),
                token_failures: budget(cli.rate_token_failures, 600),
            },
        );
        state = state.with_rate_limits(limits);
        if let Some(limits) = state.rate_limits() {
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_secs(60));
                limits.forget_idle();
            });
        }
    }
    // Other processes writing to the same database (imports, deletions, more
    // API servers) reach this server's read cache within the poll interval.
    state.watch_data_version(ticweek::api::caching::POLL_INTERVAL);
    let setup_state = state.clone();
    let setup_url = url.clone();
    std::thread::spawn(move || {
        let mut wait = Duration::from_millis(250);
        loop {
            match ticweek::prepare_database(&setup_url) {
                Ok(_) => {
                    setup_state.mark_ready();
                    setup_state.warm();
                    // For the life of the process.
                    std::mem::forget(ticweek::db::keep_shared_lock(&setup_url));
                    log::info!("database ready ({})", setup_url.backend());
                    return;
                }
                Err(err) => {
                    log::error!("database set-up failed, retrying in {wait:?}: {err}");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
    let workers = match cli.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    log::info!(
        "serving on http://{} ({} database, {workers} workers)",
        cli.bind,
        url.backend()
    );
    actix_web::rt::System::new()
        .block_on(async move {
            actix_web::HttpServer::new(move || ticweek::app(state.clone()))
                .workers(workers)
                // PostgreSQL reads and every write run on a worker's blocking
                // pool (actix's default: 512 threads over the workers).
                .worker_max_blocking_threads(cli.blocking_threads as usize)
                // A client has this long to send its request line and headers
                // (then 408), and an idle keep-alive connection is closed
                // after KEEP_ALIVE; bodies are bounded by the request deadline.
                .client_request_timeout(HEADER_TIMEOUT)
                .client_disconnect_timeout(Duration::from_secs(2))
                .keep_alive(KEEP_ALIVE)
                // SIGTERM/SIGINT: stop accepting, let requests in flight finish.
                .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
                .bind(&cli.bind)?
                .run()
                .await
        })
        .map_err(|e| format!("server: {e}"))
}
