use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use ticweek::config::{Cli, Command};
use ticweek::db::{self, DatabaseUrl};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ticweek: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", ticweek::openapi::document_json());
        return Ok(());
    }
    let url = DatabaseUrl::parse(&cli.database_url)?;
    match command {
        Command::Serve => serve(&url, &cli.bind, cli.pool_size),
        Command::Migrate => {
            let mut conn = db::connect_for_setup(&url).map_err(|e| e.to_string())?;
            let applied = db::migrate(&mut conn).map_err(|e| e.to_string())?;
            ticweek::data::load_bundled_if_empty(&mut conn)?;
            eprintln!(
                "{} migration(s) applied on {}",
                applied.len(),
                url.backend()
            );
            Ok(())
        }
        Command::Import { file, dry_run } => {
            let text = read_input(&file)?;
            let mut conn = db::connect_for_setup(&url).map_err(|e| e.to_string())?;
            db::migrate(&mut conn).map_err(|e| e.to_string())?;
            ticweek::data::load_bundled_if_empty(&mut conn)?;
            let report = ticweek::import::run(&mut conn, &text, dry_run)?;
            eprintln!("{report}");
            if report.errors.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} bad row(s); nothing was written",
                    report.errors.len()
                ))
            }
        }
        Command::Export => {
            let mut conn = db::connect_for_setup(&url).map_err(|e| e.to_string())?;
            let json = ticweek::import::export(&mut conn)?;
            std::io::stdout()
                .write_all(json.as_bytes())
                .map_err(|e| e.to_string())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

fn read_input(file: &str) -> Result<String, String> {
    let mut text = String::new();
    if file == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(text)
}

fn serve(url: &DatabaseUrl, bind: &str, pool_size: u32) -> Result<(), String> {
    let pool = ticweek::prepare_database(url, pool_size)?;
    let state = ticweek::AppState { pool };
    log::info!("serving on http://{bind} ({} database)", url.backend());
    actix_web::rt::System::new()
        .block_on(async move {
            actix_web::HttpServer::new(move || ticweek::app(state.clone()))
                .bind(bind)?
                .run()
                .await
        })
        .map_err(|e| format!("server: {e}"))
}
