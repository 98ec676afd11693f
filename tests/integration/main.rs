//! One integration binary: every test drives the real app (`ticweek::app`)
//! over HTTP, on SQLite by default and on PostgreSQL with `TEST_DATABASE_URL`.

mod common;

mod campaigns;
mod contract;
mod events;
mod hostile;
mod labs;
mod migrations;
mod notices;
mod openapi;
mod posters;
mod products;
mod read_cache;
mod readiness;
mod regions;
mod write;
