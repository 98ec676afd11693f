//! Posters, their files, and the content-addressed blobs the files point to.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rendered::columns;
use super::schema::{blobs, poster_files, posters};
use super::{Backend, DbConn, DbError, DbResult};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = posters)]
pub struct PosterRow {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub year: i32,
    pub campaign_id: Option<String>,
    pub language: String,
    pub source: String,
    pub usage_note: Option<String>,
    pub region: Option<String>,
    #[diesel(deserialize_as = super::dates::Stamp)]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = poster_files)]
pub struct FileRow {
    pub poster_id: String,
    pub variant: String,
    pub format: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub size: i64,
    pub sha256: String,
    pub file_name: Option<String>,
}

/// A poster with its files (original first, then renditions by width).
#[derive(Debug, Clone)]
pub struct PosterHit {
    pub row: PosterRow,
    pub files: Vec<FileRow>,
}

#[derive(Debug, Default, Clone)]
pub struct PosterFilter {
    pub campaign: Option<String>,
    pub kind: Option<String>,
    pub year: Option<i32>,
}

/// Stores a poster, its files and their bytes in one transaction; bytes
/// already stored under the same SHA-256 are shared.
pub fn insert(conn: &mut DbConn, poster: &PosterRow, files: &[(FileRow, Vec<u8>)]) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        let taken: i64 = posters::table
            .filter(posters::id.eq(&poster.id))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DbError::Conflict(format!(
                "a poster with id {:?} exists",
                poster.id
            )));
        }
        for (file, bytes) in files {
            // On the concrete connection: the multi-backend one has no ON CONFLICT.
            super::on_backend!(&mut *conn, |c| diesel::insert_into(blobs::table)
                .values((blobs::sha256.eq(&file.sha256), blobs::bytes.eq(bytes)))
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        diesel::insert_into(posters::table)
            .values(poster)
            .execute(conn)?;
        for (file, _) in files {
            diesel::insert_into(poster_files::table)
                .values(file)
                .execute(conn)?;
        }
        super::changes::record(conn, "poster", &poster.id, false, poster.updated_at)
    })
}

fn with_files(conn: &mut DbConn, rows: Vec<PosterRow>) -> DbResult<Vec<PosterHit>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut by_poster: HashMap<String, Vec<FileRow>> = HashMap::new();
    if !ids.is_empty() {
        let files: Vec<FileRow> = super::on_backend!(conn, |c| poster_files::table
            .filter(super::one_of(poster_files::poster_id, &ids))
            .select((
                poster_files::poster_id,
                poster_files::variant,
                poster_files::format,
                poster_files::width,
                poster_files::height,
                poster_files::size,
                poster_files::sha256,
                poster_files::file_name,
            ))
            .load(c))?;
        for file in files {
            by_poster
                .entry(file.poster_id.clone())
                .or_default()
                .push(file);
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut files = by_poster.remove(&row.id).unwrap_or_default();
            files.sort_by_key(|f| (f.variant.starts_with('w'), f.width));
            PosterHit { row, files }
        })
        .collect())
}

pub fn get(conn: &mut DbConn, id: &str) -> DbResult<PosterHit> {
    let row: PosterRow = posters::table
        .find(id)
        .select(columns!(PosterRow))
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::NotFound(format!("no poster with id {id}")))?;
    Ok(with_files(conn, vec![row])?.remove(0))
}

/// One page by id, after `after`; `more` tells whether another follows.
pub fn list(
    conn: &mut DbConn,
    filter: &PosterFilter,
    after: Option<&str>,
    limit: i64,
) -> DbResult<(Vec<PosterHit>, bool)> {
    let mut query = posters::table
        .select(columns!(PosterRow))
        .order(posters::id)
        .limit(limit + 1)
        .into_boxed::<Backend>();
    if let Some(campaign) = &filter.campaign {
        query = query.filter(posters::campaign_id.eq(campaign.clone()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(posters::kind.eq(kind.clone()));
    }
    if let Some(year) = filter.year {
        query = query.filter(posters::year.eq(year));
    }
    if let Some(after) = after {
        query = query.filter(posters::id.gt(after.to_owned()));
    }
    let mut rows = query.load(conn)?;
    let more = super::cut_page(&mut rows, limit);
    Ok((with_files(conn, rows)?, more))
}

/// The bytes stored under `sha256`.
pub fn blob(conn: &mut DbConn, sha256: &str) -> DbResult<Option<Vec<u8>>> {
    Ok(super::on_backend!(conn, |c| blobs::table
        .find(sha256)
        .select(blobs::bytes)
        .first(c)
        .optional())?)
}

/// A file of a stored poster by its bytes' hash (for the content-addressed URL).
pub fn file_by_sha(conn: &mut DbConn, sha256: &str) -> DbResult<Option<(FileRow, String)>> {
    Ok(poster_files::table
        .inner_join(posters::table)
        .filter(poster_files::sha256.eq(sha256))
        .select((columns!(FileRow), posters::title))
        .first(conn)
        .optional()?)
}

/// Deletes a poster and the bytes no other file points to.
pub fn delete(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        let shas: Vec<String> = poster_files::table
            .filter(poster_files::poster_id.eq(id))
            .select(poster_files::sha256)
            .load(conn)?;
        let deleted = diesel::delete(posters::table.find(id)).execute(conn)?;
        if deleted == 0 {
            return Err(DbError::NotFound(format!("no poster with id {id}")));
        }
        diesel::delete(poster_files::table.filter(poster_files::poster_id.eq(id))).execute(conn)?;
        for sha in shas {
            let used: i64 = poster_files::table
                .filter(poster_files::sha256.eq(&sha))
                .count()
                .get_result(conn)?;
            if used == 0 {
                diesel::delete(blobs::table.find(&sha)).execute(conn)?;
            }
        }
        super::changes::record(conn, "poster", id, true, at)
    })
}
