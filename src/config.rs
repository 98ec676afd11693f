//! Command line and environment, with zero-setup defaults.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ticweek",
    version,
    about = "Open-data API for China's Quality Month TIC campaigns"
)]
pub struct Cli {
    /// `postgres://…` for PostgreSQL; a file path or `sqlite://PATH` for SQLite.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "ticweek.db"
    )]
    pub database_url: String,

    /// Address the server listens on.
    #[arg(
        long,
        global = true,
        env = "TICWEEK_BIND",
        default_value = "127.0.0.1:8080"
    )]
    pub bind: String,

    /// Connections in the database pool.
    #[arg(long, global = true, env = "TICWEEK_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,

    /// Threads per worker that run PostgreSQL reads and all writes, each on a
    /// pooled connection: the queries in flight per worker. Four suit a
    /// PostgreSQL server on the same machine (actix's default, 512 threads,
    /// mostly switched among themselves: certificate look-ups ran at about
    /// 17,000 requests/s against 18,000-22,000 with 4); raise it, with
    /// `--pool-size`, for a remote one.
    #[arg(long, global = true, env = "TICWEEK_BLOCKING_THREADS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub blocking_threads: u32,

    /// Memory for the read cache of finished responses, in MiB; 0 turns it off.
    #[arg(long, global = true, env = "TICWEEK_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub cache_mb: u64,

    /// Event and product search, nearby open days, organic-code checks and
    /// pages of events and campaigns through in-memory indexes (`on`: about
    /// 15 MiB for 200,000 certificates' search lists, 10 MiB for 60,000
    /// sessions, 5 MiB of organic-code ranges, 3 MiB of event and campaign
    /// representations; rebuilt after writes), or through SQL alone (`off`).
    #[arg(long, global = true, env = "TICWEEK_MEMORY_INDEXES", default_value = "on",
          value_parser = ["on", "off"])]
    pub memory_indexes: String,

    /// Who is rate-limited: everyone (`on`), everyone but this machine's own
    /// clients (`remote`: benchmarks, tests), or nobody (`off`).
    #[arg(
        long,
        global = true,
        env = "TICWEEK_RATE_LIMIT",
        value_enum,
        default_value = "on"
    )]
    pub rate_limit: crate::api::limits::Mode,

    /// Reads a client may make in a burst, refilled over 30 s (a `304` counts half).
    #[arg(long, global = true, env = "TICWEEK_RATE_READS", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_reads: u32,

    /// Writes a client may make in a burst, refilled over 60 s.
    #[arg(long, global = true, env = "TICWEEK_RATE_WRITES", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_writes: u32,

    /// Failed bearer tokens (401) a client may present, refilled over 10
    /// minutes; then its writes answer 429 until it refills.
    #[arg(long, global = true, env = "TICWEEK_RATE_TOKEN_FAILURES", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_token_failures: u32,

    /// HTTP worker threads; 0 means one per CPU core.
    #[arg(long, global = true, env = "TICWEEK_WORKERS", default_value_t = 0)]
    pub workers: usize,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Records that `ticweek delete` can remove (the write API brings the rest).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Deletable {
    Notice,
    Campaign,
    Event,
    Lab,
    /// A product certificate, by its number.
    Product,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create the database if needed and apply pending migrations.
    Migrate,
    /// Load an import document (JSON); all or nothing.
    Import {
        /// Path of the JSON document (`-` for standard input).
        file: String,
        /// Report every bad row and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every record as an import document (JSON) to standard output.
    Export,
    /// Delete a record; mirrors learn of it from `GET /api/v1/changes`.
    Delete {
        /// What kind of record.
        #[arg(value_enum)]
        resource: Deletable,
        /// Its id.
        id: String,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Issue, list and revoke the bearer tokens of the write API.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Print the audit log of writes through the API, oldest first, one
    /// JSON object per line (user data escaped).
    Audit {
        /// How many of the latest entries.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it once: only its hash is stored.
    Create {
        #[arg(long, value_enum)]
        role: TokenRole,
        /// The region's adcode (role region) or the lab's id (role lab).
        #[arg(long)]
        scope: Option<String>,
        /// A unique label: the actor named in the audit log.
        #[arg(long)]
        name: String,
    },
    /// List tokens (names, roles, scopes; never the tokens).
    List,
    /// Revoke a token by name: refused from the next request on, by every server.
    Revoke { name: String },
}

/// Who a token writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TokenRole {
    /// Everything.
    National,
    /// A region and everything inside it.
    Region,
    /// One lab and its open-day sessions.
    Lab,
}
