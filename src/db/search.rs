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
use diesel::sql_types::{Array, BigInt, Bool, Text};

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

/// Replaces the index entry of one event (keyed by its `search_key`, which
/// may have changed from `old_key`).
pub fn index_event(
    conn: &mut DbConn,
    old_key: Option<i64>,
    key: i64,
    title: &str,
    body: &str,
) -> DbResult<()> {
    let title_tokens = index_tokens(title);
    let body_tokens = index_tokens(body);
    match conn {
        DbConn::Sqlite(c) => {
            if let Some(old) = old_key {
                diesel::sql_query("DELETE FROM event_fts WHERE rowid = ?")
                    .bind::<BigInt, _>(old)
                    .execute(c)?;
            }
            diesel::sql_query("INSERT INTO event_fts (rowid, title, body) VALUES (?, ?, ?)")
                .bind::<BigInt, _>(key)
                .bind::<Text, _>(title_tokens.join(" "))
                .bind::<Text, _>(body_tokens.join(" "))
                .execute(c)?;
        }
        DbConn::Pg(c) => {
            // A changed key has already followed the event (ON UPDATE CASCADE).
            let mut everything = title_tokens.clone();
            everything.extend(body_tokens);
            diesel::sql_query(
                "INSERT INTO event_tokens (search_key, title, everything) \
                 VALUES ($1, array_to_tsvector($2), array_to_tsvector($3)) \
                 ON CONFLICT (search_key) DO UPDATE \
                 SET title = excluded.title, everything = excluded.everything",
            )
            .bind::<BigInt, _>(key)
            .bind::<Array<Text>, _>(&title_tokens)
            .bind::<Array<Text>, _>(&everything)
            .execute(c)?;
        }
    }
    Ok(())
}

/// Removes an event's index entry (PostgreSQL cascades it with the event).
pub fn unindex_event(conn: &mut DbConn, key: i64) -> DbResult<()> {
    if let DbConn::Sqlite(c) = conn {
        diesel::sql_query("DELETE FROM event_fts WHERE rowid = ?")
            .bind::<BigInt, _>(key)
            .execute(c)?;
    }
    Ok(())
}

/// Replaces the index entry of one notice: its title, document number and body.
pub fn index_notice(conn: &mut DbConn, key: i64, text: &str) -> DbResult<()> {
    let tokens = index_tokens(text);
    match conn {
        DbConn::Sqlite(c) => {
            diesel::sql_query("DELETE FROM notice_fts WHERE rowid = ?")
                .bind::<BigInt, _>(key)
                .execute(c)?;
            diesel::sql_query("INSERT INTO notice_fts (rowid, tokens) VALUES (?, ?)")
                .bind::<BigInt, _>(key)
                .bind::<Text, _>(tokens.join(" "))
                .execute(c)?;
        }
        DbConn::Pg(c) => {
            diesel::sql_query(
                "INSERT INTO notice_tokens (search_key, everything) \
                 VALUES ($1, array_to_tsvector($2)) \
                 ON CONFLICT (search_key) DO UPDATE SET everything = excluded.everything",
            )
            .bind::<BigInt, _>(key)
            .bind::<Array<Text>, _>(&tokens)
            .execute(c)?;
        }
    }
    Ok(())
}

/// Removes a notice's index entry (PostgreSQL cascades it with the notice).
pub fn unindex_notice(conn: &mut DbConn, key: i64) -> DbResult<()> {
    if let DbConn::Sqlite(c) = conn {
        diesel::sql_query("DELETE FROM notice_fts WHERE rowid = ?")
            .bind::<BigInt, _>(key)
            .execute(c)?;
    }
    Ok(())
}

/// "`notices.search_key` is among the notices matching `query`".
pub fn notice_matches<QS: 'static>(
    dialect: Dialect,
    query: &SearchQuery,
) -> Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>> {
    let tokens = query.tokens();
    if tokens.is_empty() {
        return Box::new(sql::<Bool>("1 = 0"));
    }
    match dialect {
        Dialect::Sqlite => {
            let quoted: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
            Box::new(
                sql::<Bool>(
                    "notices.search_key IN (SELECT rowid FROM notice_fts WHERE notice_fts MATCH ",
                )
                .bind::<Text, _>(quoted.join(" AND "))
                .sql(")"),
            )
        }
        Dialect::Postgres => {
            let tsquery: Vec<String> = tokens.iter().map(|t| format!("'{t}'")).collect();
            Box::new(
                sql::<Bool>(
                    "notices.search_key IN (SELECT search_key FROM notice_tokens \
                     WHERE everything @@ CAST(",
                )
                .bind::<Text, _>(tsquery.join(" & "))
                .sql(" AS tsquery))"),
            )
        }
    }
}

/// "`events.search_key` is among the events matching `query` in `field`", as a
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
                    "events.search_key IN (SELECT rowid FROM event_fts WHERE event_fts MATCH ",
                )
                .bind::<Text, _>(expression)
                .sql(")"),
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
                    "events.search_key IN (SELECT search_key FROM event_tokens WHERE {column} @@ CAST("
                ))
                .bind::<Text, _>(tsquery.join(" & "))
                .sql(" AS tsquery))"),
            )
        }
    }
}

/// SQLite: `optimize` merges FTS5 segments after a large import.
pub fn optimize(conn: &mut DbConn) -> DbResult<()> {
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("INSERT INTO event_fts (event_fts) VALUES ('optimize')")?;
    }
    Ok(())
}
