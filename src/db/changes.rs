//! The change log behind `GET /changes`: one row per create, update or delete.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rendered::columns;
use super::schema::changes;
use super::{DbConn, DbResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = changes)]
pub struct ChangeRow {
    pub seq: i64,
    pub resource: String,
    pub record_id: String,
    pub action: String,
    #[diesel(deserialize_as = super::dates::Stamp)]
    pub changed_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = changes)]
struct NewChange<'a> {
    resource: &'a str,
    record_id: &'a str,
    action: &'a str,
    changed_at: NaiveDateTime,
}

/// Records that `resource/record_id` was upserted or deleted. Called inside
/// the write's transaction, so the log and the data never disagree.
pub fn record(
    conn: &mut DbConn,
    resource: &str,
    record_id: &str,
    deleted: bool,
    at: NaiveDateTime,
) -> DbResult<()> {
    let insert = diesel::insert_into(changes::table).values(NewChange {
        resource,
        record_id,
        action: if deleted { "deleted" } else { "upserted" },
        changed_at: at,
    });
    // On the concrete connection: imports record a change per record.
    super::on_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}

/// Up to `limit + 1` changes after `after` (a sequence number), oldest first.
pub fn after(conn: &mut DbConn, after: i64, limit: i64) -> DbResult<(Vec<ChangeRow>, bool)> {
    let mut rows: Vec<ChangeRow> = changes::table
        .filter(changes::seq.gt(after))
        .order(changes::seq)
        .limit(limit + 1)
        .select(columns!(ChangeRow))
        .load(conn)?;
    let more = super::cut_page(&mut rows, limit);
    Ok((rows, more))
}
