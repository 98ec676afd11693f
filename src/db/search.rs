//! The only backend-specific SQL of the project: the full-text index behind
//! Chinese search. Both backends index the same tokens from
//! `domain::index_tokens`: an FTS5 table on SQLite, GIN-indexed tsvectors
//! built with `array_to_tsvector` on PostgreSQL (no parser re-splits them).
//! Query tokens are letters, digits and CJK characters only and are quoted as
//! well, so no input can become FTS5 or tsquery syntax.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text};

use super::{Backend, DbConn, DbResult};
use crate::domain::{index_tokens, SearchQuery};

/// Which part of an event a query must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title,
    Everything,
}

/// Which SQL dialect a connection speaks, taken before a query is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of(conn: &DbConn) -> Self {
        match conn {
            DbConn::Sqlite(_) => Self::Sqlite,
            DbConn::Pg(_) => Self::Postgres,
        }
    }
}

/// Replaces the index entry of one event.
pub fn index_event(conn: &mut DbConn, id: &str, title: &str, body: &str) -> DbResult<()> {
    let title_tokens = index_tokens(title);
    let mut everything = title_tokens.clone();
    everything.extend(index_tokens(body));
    match conn {
        DbConn::Sqlite(c) => {
            diesel::sql_query("DELETE FROM event_tokens WHERE event_id = ?")
                .bind::<Text, _>(id)
                .execute(c)?;
            diesel::sql_query("INSERT INTO event_tokens (event_id, title, body) VALUES (?, ?, ?)")
                .bind::<Text, _>(id)
                .bind::<Text, _>(fts5_document(&title_tokens))
                .bind::<Text, _>(fts5_document(&index_tokens(body)))
                .execute(c)?;
        }
        DbConn::Pg(c) => {
            diesel::sql_query(
                "INSERT INTO event_tokens (event_id, title, everything) \
                 VALUES ($1, array_to_tsvector($2), array_to_tsvector($3)) \
                 ON CONFLICT (event_id) DO UPDATE \
                 SET title = excluded.title, everything = excluded.everything",
            )
            .bind::<Text, _>(id)
            .bind::<Array<Text>, _>(&title_tokens)
            .bind::<Array<Text>, _>(&everything)
            .execute(c)?;
        }
    }
    Ok(())
}

/// "`events.id` is among the events matching `query` in `field`", as a
/// predicate for any query that has `events` in its FROM clause.
pub fn event_matches<QS: 'static>(
    dialect: Dialect,
    query: &SearchQuery,
    field: Field,
) -> Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>> {
    let tokens = query.tokens();
    if tokens.is_empty() {
        // Only punctuation or symbols: searched literally, nothing consists of them.
        return Box::new(sql::<Bool>("1 = 0"));
    }
    match dialect {
        Dialect::Sqlite => {
            let quoted: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
            let expression = match field {
                Field::Title => format!("title : ({})", quoted.join(" AND ")),
                Field::Everything => quoted.join(" AND "),
            };
            Box::new(
                sql::<Bool>(
                    "events.id IN (SELECT event_id FROM event_tokens WHERE rowid_key IN \
                     (SELECT rowid FROM event_fts WHERE event_fts MATCH ",
                )
                .bind::<Text, _>(expression)
                .sql("))"),
            )
        }
        Dialect::Postgres => {
            let tsquery: Vec<String> = tokens.iter().map(|t| format!("'{t}'")).collect();
            let column = match field {
                Field::Title => "title",
                Field::Everything => "everything",
            };
            Box::new(
                sql::<Bool>(&format!(
                    "events.id IN (SELECT event_id FROM event_tokens WHERE {column} @@ CAST("
                ))
                .bind::<Text, _>(tsquery.join(" & "))
                .sql(" AS tsquery))"),
            )
        }
    }
}

/// FTS5 sees a space-separated token list; unicode61 keeps each CJK unigram
/// or bigram and each ASCII word whole.
fn fts5_document(tokens: &[String]) -> String {
    tokens.join(" ")
}

/// SQLite: `optimize` merges FTS5 segments after a large import.
pub fn optimize(conn: &mut DbConn) -> DbResult<()> {
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("INSERT INTO event_fts (event_fts) VALUES ('optimize')")?;
    }
    Ok(())
}
