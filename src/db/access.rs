//! Tokens, the audit log, idempotent replies and the places of records:
//! everything the write API asks of the database besides the records.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    audit_log, campaigns, events, idempotent_replies, labs, notices, open_days, products, regions,
    tokens,
};
use super::{DbConn, DbError, DbResult};
use crate::domain::{Actor, Place, Role, Scope};

/// A stored token, without its hash.
#[derive(Debug, Clone, Queryable)]
pub struct TokenRow {
    pub name: String,
    pub role: String,
    pub scope: Option<String>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Stores a new token's hash under `name` (unique).
pub fn create_token(
    conn: &mut DbConn,
    name: &str,
    scope: &Scope,
    hash: &str,
    now: NaiveDateTime,
) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        let taken: i64 = tokens::table
            .filter(tokens::name.eq(name))
            .count()
            .get_result(conn)?;
        if taken > 0 {
            return Err(DbError::Invalid(vec![(
                "name".into(),
                format!("a token named {name:?} exists already (names are never reused)"),
            )]));
        }
        diesel::insert_into(tokens::table)
            .values((
                tokens::name.eq(name),
                tokens::role.eq(scope.role().as_str()),
                tokens::scope.eq(scope.value()),
                tokens::hash.eq(hash),
                tokens::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}

pub fn list_tokens(conn: &mut DbConn) -> DbResult<Vec<TokenRow>> {
    Ok(tokens::table
        .select((
            tokens::name,
            tokens::role,
            tokens::scope,
            tokens::created_at,
            tokens::revoked_at,
        ))
        .order(tokens::name)
        .load(conn)?)
}

/// Revokes the token `name`; every process refuses it from its next request.
pub fn revoke_token(conn: &mut DbConn, name: &str, now: NaiveDateTime) -> DbResult<()> {
    let revoked = diesel::update(
        tokens::table
            .filter(tokens::name.eq(name))
            .filter(tokens::revoked_at.is_null()),
    )
    .set(tokens::revoked_at.eq(now))
    .execute(conn)?;
    if revoked == 0 {
        return Err(DbError::NotFound(format!("no active token named {name:?}")));
    }
    Ok(())
}

/// The holder of the unrevoked token whose hash is `hash`. Looked up on
/// every write, so a revocation takes effect at once in every process.
pub fn actor_by_hash(conn: &mut DbConn, hash: &str) -> DbResult<Option<Actor>> {
    let row: Option<(String, String, Option<String>)> = super::on_backend!(conn, |c| {
        tokens::table
            .filter(tokens::hash.eq(hash))
            .filter(tokens::revoked_at.is_null())
            .select((tokens::name, tokens::role, tokens::scope))
            .first(c)
            .optional()
    })?;
    let Some((name, role, scope)) = row else {
        return Ok(None);
    };
    let role: Role = role
        .parse()
        .map_err(|e| DbError::Query(format!("token {name:?}: {e}")))?;
    let scope = Scope::new(role, scope.as_deref())
        .map_err(|e| DbError::Query(format!("token {name:?}: {e}")))?;
    Ok(Some(Actor { name, scope }))
}

/// The regions above each of `codes` (each code first, then its city and
/// province), for scope checks. Unknown codes are left out.
pub fn region_places(
    conn: &mut DbConn,
    codes: &[String],
) -> DbResult<HashMap<String, Vec<String>>> {
    let mut places = HashMap::new();
    for chunk in codes.chunks(500) {
        let rows: Vec<(String, Option<String>, String)> = regions::table
            .filter(regions::adcode.eq_any(chunk))
            .select((regions::adcode, regions::city, regions::province))
            .load(conn)?;
        for (code, city, province) in rows {
            let mut chain = vec![code.clone()];
            chain.extend(city.filter(|c| *c != code));
            if province != code {
                chain.push(province);
            }
            places.insert(code, chain);
        }
    }
    Ok(places)
}

/// The place of a region code (national when `None`).
pub fn place_of(conn: &mut DbConn, region: Option<&str>, lab: Option<&str>) -> DbResult<Place> {
    let regions = match region {
        Some(code) => region_places(conn, &[code.to_owned()])?
            .remove(code)
            .unwrap_or_else(|| vec![code.to_owned()]),
        None => Vec::new(),
    };
    Ok(Place {
        regions,
        lab: lab.map(str::to_owned),
    })
}

/// The stored region of each record of `section` (an import section) among
/// `ids` (`None`: a national record); ids not stored are left out.
pub fn stored_regions(
    conn: &mut DbConn,
    section: &str,
    ids: &[String],
) -> DbResult<HashMap<String, Option<String>>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, Option<String>)> = match section {
            "notices" => notices::table
                .filter(notices::id.eq_any(chunk))
                .select((notices::id, notices::region))
                .load(conn)?,
            "campaigns" => campaigns::table
                .filter(campaigns::id.eq_any(chunk))
                .select((campaigns::id, campaigns::region))
                .load(conn)?,
            "events" => events::table
                .filter(events::id.eq_any(chunk))
                .select((events::id, events::region.nullable()))
                .load(conn)?,
            "labs" => labs::table
                .filter(labs::id.eq_any(chunk))
                .select((labs::id, labs::region.nullable()))
                .load(conn)?,
            "products" => products::table
                .filter(products::certificate_no.eq_any(chunk))
                .select((products::certificate_no, products::region.nullable()))
                .load(conn)?,
            other => return Err(DbError::Query(format!("no section {other:?}"))),
        };
        found.extend(rows);
    }
    Ok(found)
}

/// The lab of each stored session among `ids`.
pub fn session_labs(conn: &mut DbConn, ids: &[String]) -> DbResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        found.extend(
            open_days::table
                .filter(open_days::id.eq_any(chunk))
                .select((open_days::id, open_days::lab_id))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// The region of each stored lab among `ids`.
pub fn lab_regions(conn: &mut DbConn, ids: &[String]) -> DbResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        found.extend(
            labs::table
                .filter(labs::id.eq_any(chunk))
                .select((labs::id, labs::region))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// One write as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Appends `entries` (inside the caller's write transaction), and logs each.
pub fn record(conn: &mut DbConn, entries: &[AuditEntry]) -> DbResult<()> {
    for entry in entries {
        // Debug formatting escapes whatever a writer put in names and ids.
        log::info!(
            "write by {:?}: {} {} {:?}",
            entry.actor,
            entry.action,
            entry.target_type,
            entry.target_id
        );
        diesel::insert_into(audit_log::table)
            .values((
                audit_log::at.eq(entry.at),
                audit_log::actor.eq(&entry.actor),
                audit_log::action.eq(entry.action),
                audit_log::target_type.eq(entry.target_type),
                audit_log::target_id.eq(&entry.target_id),
                audit_log::before_json.eq(&entry.before),
                audit_log::after_json.eq(&entry.after),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A stored audit entry with its sequence number.
pub type AuditRow = (
    i64,
    NaiveDateTime,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The last `limit` entries, oldest first.
pub fn audit_tail(conn: &mut DbConn, limit: i64) -> DbResult<Vec<AuditRow>> {
    let mut rows: Vec<AuditRow> = audit_log::table
        .order(audit_log::id.desc())
        .limit(limit)
        .load(conn)?;
    rows.reverse();
    Ok(rows)
}

/// A reply kept for an `Idempotency-Key`.
#[derive(Debug, Clone, Queryable)]
pub struct IdempotentReply {
    pub fingerprint: String,
    pub status: i32,
    pub location: Option<String>,
    pub body: String,
}

pub fn idempotent_reply(
    conn: &mut DbConn,
    actor: &str,
    key: &str,
) -> DbResult<Option<IdempotentReply>> {
    Ok(idempotent_replies::table
        .filter(idempotent_replies::actor.eq(actor))
        .filter(idempotent_replies::key.eq(key))
        .select((
            idempotent_replies::fingerprint,
            idempotent_replies::status,
            idempotent_replies::location,
            idempotent_replies::body,
        ))
        .first(conn)
        .optional()?)
}

/// Keeps the reply to a create (inside its write transaction, so a
/// retry sees either no record and no reply, or both).
pub fn keep_reply(
    conn: &mut DbConn,
    actor: &str,
    key: &str,
    reply: &IdempotentReply,
    now: NaiveDateTime,
) -> DbResult<()> {
    diesel::insert_into(idempotent_replies::table)
        .values((
            idempotent_replies::actor.eq(actor),
            idempotent_replies::key.eq(key),
            idempotent_replies::fingerprint.eq(&reply.fingerprint),
            idempotent_replies::status.eq(reply.status),
            idempotent_replies::location.eq(&reply.location),
            idempotent_replies::body.eq(&reply.body),
            idempotent_replies::created_at.eq(now),
        ))
        .execute(conn)
        .map_err(|err| match err {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => DbError::Conflict(format!("the Idempotency-Key {key:?} is in use")),
            other => other.into(),
        })?;
    Ok(())
}
