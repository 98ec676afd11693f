//! The only backend-specific SQL of the project: the full-text indexes behind
//! Chinese search. Every index holds the tokens of `domain::index_tokens` for
//! a record's title and body, keyed by the record's `search_key`: an FTS5
//! table on SQLite (rowid = key), GIN-indexed tsvectors built with
//! `array_to_tsvector` on PostgreSQL (no parser re-splits them). Query tokens
//! are letters, digits and CJK characters only and are quoted as well, so no
//! input can become FTS5 or tsquery syntax.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Text};

use super::{Backend, DbConn, DbResult};
use crate::domain::{index_tokens, SearchQuery};

/// One full-text index and the table whose rows it finds. The names are
/// constants of this module, never input.
#[derive(Debug, Clone, Copy)]
pub struct TextIndex {
    /// The indexed table, with a unique `search_key` column.
    records: &'static str,
    /// SQLite: the FTS5 table (columns `title`, `body`).
    fts: &'static str,
    /// PostgreSQL: the token table (columns `search_key`, `title`, `everything`).
    tokens: &'static str,
}

pub const EVENTS: TextIndex = TextIndex {
    records: "events",
    fts: "event_fts",
    tokens: "event_tokens",
};

pub const NOTICES: TextIndex = TextIndex {
    records: "notices",
    fts: "notice_fts",
    tokens: "notice_tokens",
};

pub const LABS: TextIndex = TextIndex {
    records: "labs",
    fts: "lab_fts",
    tokens: "lab_tokens",
};

pub const PRODUCTS: TextIndex = TextIndex {
    records: "products",
    fts: "product_fts",
    tokens: "product_tokens",
};

/// Which part of a record a query must match.
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

impl TextIndex {
    /// Replaces the entry of one record (keyed by its `search_key`, which may
    /// have changed from `old_key`).
    pub fn put(
        self,
        conn: &mut DbConn,
        old_key: Option<i64>,
        key: i64,
        title: &str,
        body: &str,
    ) -> DbResult<()> {
        self.write(conn, old_key, key, false, title, body)
    }

    /// Adds the entry of a new record whose `key` no entry has ever used.
    pub fn add(self, conn: &mut DbConn, key: i64, title: &str, body: &str) -> DbResult<()> {
        self.write(conn, None, key, true, title, body)
    }

    fn write(
        self,
        conn: &mut DbConn,
        old_key: Option<i64>,
        key: i64,
        fresh: bool,
        title: &str,
        body: &str,
    ) -> DbResult<()> {
        let title_tokens = index_tokens(title);
        let body_tokens = index_tokens(body);
        match conn {
            DbConn::Sqlite(c) => {
                // A fresh key (a new record) has no entry to replace.
                let stale = match old_key {
                    Some(old) => vec![old, key],
                    None if fresh => Vec::new(),
                    None => vec![key],
                };
                for stale in stale {
                    diesel::sql_query(format!("DELETE FROM {} WHERE rowid = ?", self.fts))
                        .bind::<BigInt, _>(stale)
                        .execute(c)?;
                }
                FtsInsert {
                    fts: self.fts,
                    key,
                    title: title_tokens.as_str(),
                    body: body_tokens.as_str(),
                }
                .execute(c)?;
            }
            DbConn::Pg(c) => {
                // A changed key has already followed the record (ON UPDATE CASCADE).
                let title: Vec<&str> = title_tokens.iter().collect();
                let everything: Vec<&str> = title_tokens.iter().chain(body_tokens.iter()).collect();
                diesel::sql_query(format!(
                    "INSERT INTO {} (search_key, title, everything) \
                     VALUES ($1, array_to_tsvector($2), array_to_tsvector($3)) \
                     ON CONFLICT (search_key) DO UPDATE \
                     SET title = excluded.title, everything = excluded.everything",
                    self.tokens
                ))
                .bind::<BigInt, _>(key)
                .bind::<Array<Text>, _>(&title)
                .bind::<Array<Text>, _>(&everything)
                .execute(c)?;
            }
        }
        Ok(())
    }

    /// Removes a record's entry (PostgreSQL cascades it with the record).
    pub fn remove(self, conn: &mut DbConn, key: i64) -> DbResult<()> {
        if let DbConn::Sqlite(c) = conn {
            diesel::sql_query(format!("DELETE FROM {} WHERE rowid = ?", self.fts))
                .bind::<BigInt, _>(key)
                .execute(c)?;
        }
        Ok(())
    }

    /// "The record's `search_key` is among those matching `query` in
    /// `field`", as a predicate for any query with the records table in FROM.
    pub fn matches<QS: 'static>(
        self,
        dialect: Dialect,
        query: &SearchQuery,
        field: Field,
    ) -> Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>> {
        let tokens = query.tokens();
        if tokens.is_empty() {
            // Only punctuation or symbols: searched literally, nothing consists of them.
            return Box::new(sql::<Bool>("1 = 0"));
        }
        let records = self.records;
        match dialect {
            Dialect::Sqlite => {
                let expression = fts5_expression(query, field).unwrap_or_default();
                let fts = self.fts;
                Box::new(
                    sql::<Bool>(&format!(
                        "{records}.search_key IN (SELECT rowid FROM {fts} WHERE {fts} MATCH "
                    ))
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
                        "{records}.search_key IN (SELECT search_key FROM {} WHERE {column} @@ CAST(",
                        self.tokens
                    ))
                    .bind::<Text, _>(tsquery.join(" & "))
                    .sql(" AS tsquery))"),
                )
            }
        }
    }

    /// SQLite: "the record's `search_key` is among the `n` highest below
    /// `below` that match `query`", as a predicate: one statement reads a
    /// batch of the index and its records, prepared once per connection.
    pub fn sqlite_batch<QS: 'static>(
        self,
        query: &SearchQuery,
        field: Field,
        below: Option<i64>,
        n: i64,
    ) -> Box<dyn BoxableExpression<QS, Backend, SqlType = Bool>> {
        let Some(expression) = fts5_expression(query, field) else {
            return Box::new(sql::<Bool>("1 = 0"));
        };
        Box::new(
            sql::<Bool>(&format!(
                "{records}.search_key IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ",
                records = self.records,
                fts = self.fts
            ))
            .bind::<Text, _>(expression)
            .sql(" AND rowid < ")
            .bind::<BigInt, _>(below.unwrap_or(i64::MAX))
            .sql(" ORDER BY rowid DESC LIMIT ")
            .bind::<BigInt, _>(n)
            .sql(")"),
        )
    }

    /// SQLite: the keys of up to `n` records matching `query`, newest (highest
    /// key) first, below `below` when given. FTS5 walks its index in key
    /// order and stops at `n`, however common the terms; the caller filters
    /// these keys further and asks again below the last one if it needs more.
    pub fn sqlite_keys(
        self,
        conn: &mut DbConn,
        query: &SearchQuery,
        field: Field,
        below: Option<i64>,
        n: i64,
    ) -> DbResult<Vec<i64>> {
        #[derive(QueryableByName)]
        struct Key {
            #[diesel(sql_type = BigInt)]
            rowid: i64,
        }
        let (DbConn::Sqlite(c), Some(expression)) = (conn, fts5_expression(query, field)) else {
            return Ok(Vec::new());
        };
        let keys: Vec<Key> = diesel::sql_query(format!(
            "SELECT rowid FROM {fts} WHERE {fts} MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
            fts = self.fts
        ))
        .bind::<Text, _>(expression)
        .bind::<BigInt, _>(below.unwrap_or(i64::MAX))
        .bind::<BigInt, _>(n)
        .load(c)?;
        Ok(keys.into_iter().map(|k| k.rowid).collect())
    }

    /// Calls `each` with every entry of the index, highest key first: key,
    /// title tokens and body tokens (which may repeat title tokens), each
    /// space-separated. Rows are streamed, never all held: for the in-memory
    /// posting lists (`postings`).
    pub fn for_each_entry(
        self,
        conn: &mut DbConn,
        mut each: impl FnMut(i64, &str, &str),
    ) -> DbResult<()> {
        #[derive(QueryableByName)]
        struct Entry {
            #[diesel(sql_type = BigInt)]
            key: i64,
            #[diesel(sql_type = Text)]
            title: String,
            #[diesel(sql_type = Text)]
            body: String,
        }
        let sql = match conn {
            DbConn::Sqlite(_) => format!(
                "SELECT rowid AS key, title, body FROM {} ORDER BY rowid DESC",
                self.fts
            ),
            DbConn::Pg(_) => format!(
                "SELECT search_key AS key, \
                 array_to_string(tsvector_to_array(title), ' ') AS title, \
                 array_to_string(tsvector_to_array(everything), ' ') AS body \
                 FROM {} ORDER BY search_key DESC",
                self.tokens
            ),
        };
        let query = diesel::sql_query(sql);
        match conn {
            DbConn::Sqlite(c) => {
                for entry in query.load_iter::<Entry, diesel::connection::DefaultLoadingMode>(c)? {
                    let entry = entry?;
                    each(entry.key, &entry.title, &entry.body);
                }
            }
            DbConn::Pg(c) => {
                // Row by row: libpq otherwise buffers the whole result (the
                // tokens of 200,000 certificates) before the first row.
                for entry in query.load_iter::<Entry, diesel::pg::PgRowByRowLoadingMode>(c)? {
                    let entry = entry?;
                    each(entry.key, &entry.title, &entry.body);
                }
            }
        }
        Ok(())
    }

    /// Every record's search key and where the database keeps it
    /// (`super::place_column`: SQLite's rowid, PostgreSQL's `ctid`),
    /// highest key first; on SQLite from the `search_key` index, which
    /// holds both.
    pub fn rows_by_key(self, conn: &mut DbConn) -> DbResult<Vec<(i64, i64)>> {
        #[derive(QueryableByName)]
        struct Place {
            #[diesel(sql_type = BigInt)]
            key: i64,
            #[diesel(sql_type = BigInt)]
            row: i64,
        }
        let query = diesel::sql_query(format!(
            "SELECT search_key AS key, {} AS row FROM {} ORDER BY search_key DESC",
            super::place_column(conn, self.records),
            self.records
        ));
        let place = |place: QueryResult<Place>| Ok(place.map(|p| (p.key, p.row))?);
        match conn {
            DbConn::Sqlite(c) => query
                .load_iter::<Place, diesel::connection::DefaultLoadingMode>(c)?
                .map(place)
                .collect(),
            // Row by row: libpq's whole result for 200,000 records stayed
            // in the heap, 16 MiB of resident memory after start-up.
            DbConn::Pg(c) => query
                .load_iter::<Place, diesel::pg::PgRowByRowLoadingMode>(c)?
                .map(place)
                .collect(),
        }
    }

    /// "The record's `search_key` is one of `keys`", as a predicate whose
    /// statement stays in the connection's statement cache (see `AmongKeys`).
    pub fn among(self, dialect: Dialect, keys: &[i64]) -> AmongKeys {
        let list: Vec<String> = keys.iter().map(i64::to_string).collect();
        AmongKeys {
            records: self.records,
            dialect,
            list: list.join(","),
        }
    }

    /// SQLite: `optimize` merges FTS5 segments after a large import.
    pub fn optimize(self, conn: &mut DbConn) -> DbResult<()> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(&format!(
                "INSERT INTO {fts} ({fts}) VALUES ('optimize')",
                fts = self.fts
            ))?;
        }
        Ok(())
    }
}

/// The FTS5 query for `query`: every token quoted, all required; `None`
/// when nothing can match.
fn fts5_expression(query: &SearchQuery, field: Field) -> Option<String> {
    let tokens = query.tokens();
    if tokens.is_empty() {
        return None;
    }
    let quoted: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
    Some(match field {
        Field::Title => format!("title : ({})", quoted.join(" AND ")),
        Field::Everything => quoted.join(" AND "),
    })
}

/// `INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)` for one FTS5
/// table. Unlike `sql_query`, which diesel never keeps, its text is the same
/// for every row of a table, so the statement is prepared once per
/// connection: preparing it anew for each of 200,000 certificates was 2 %
/// of their import.
struct FtsInsert<'a> {
    fts: &'static str,
    key: i64,
    title: &'a str,
    body: &'a str,
}

impl diesel::query_builder::QueryId for FtsInsert<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for FtsInsert<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_sql(self.fts);
        out.push_sql(" (rowid, title, body) VALUES (");
        out.push_bind_param::<BigInt, _>(&self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.title)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(self.body)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<Conn> diesel::RunQueryDsl<Conn> for FtsInsert<'_> {}

/// `records.search_key IN (keys…)` with the keys in one bound parameter (a
/// JSON array read by `json_each` on SQLite, an array literal on
/// PostgreSQL): the statement text is the same for any keys, and unlike a
/// `sql()` literal, which diesel never keeps, it is prepared once per
/// connection. Preparing the search page's statement anew was 8 % of a
/// search's CPU.
#[derive(Debug, Clone)]
pub struct AmongKeys {
    records: &'static str,
    dialect: Dialect,
    /// Decimal keys, comma-separated.
    list: String,
}

impl diesel::Expression for AmongKeys {
    type SqlType = Bool;
}

impl<QS> diesel::AppearsOnTable<QS> for AmongKeys {}

impl<QS> diesel::SelectableExpression<QS> for AmongKeys {}

impl diesel::expression::ValidGrouping<()> for AmongKeys {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl diesel::query_builder::QueryId for AmongKeys {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// For every backend, so that a query of keys alone runs on the concrete
/// connection (`db::on_backend!`) as well as through `DbConn`.
impl<DB> diesel::query_builder::QueryFragment<DB> for AmongKeys
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text>,
    String: diesel::serialize::ToSql<Text, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        out.push_sql(self.records);
        match self.dialect {
            Dialect::Sqlite => {
                out.push_sql(".search_key IN (SELECT value FROM json_each('[' || ");
                out.push_bind_param::<Text, _>(&self.list)?;
                out.push_sql(" || ']'))");
            }
            Dialect::Postgres => {
                out.push_sql(".search_key = ANY(CAST('{' || ");
                out.push_bind_param::<Text, _>(&self.list)?;
                out.push_sql(" || '}' AS bigint[]))");
            }
        }
        Ok(())
    }
}
