//! Writes a validated import document: all or nothing.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::campaigns::{self, CampaignRow};
use super::changes;
use super::events::{self, EventRow};
use super::labs::{self, LabRow, OpenDayRow};
use super::notices::{self as notice_queries, NoticeChanges};
use super::products::{self, ProductWrite};
use super::regions::{self as region_queries, RegionRow};
use super::schema::{notices, regions};
use super::{DbConn, DbError, DbResult};

/// The validated records of one import.
pub struct Records<'a> {
    pub notices: &'a [NoticeChanges],
    pub campaigns: &'a [CampaignRow],
    pub events: &'a [EventRow],
    pub labs: &'a [(LabRow, Vec<OpenDayRow>)],
    pub products: &'a [ProductWrite],
}

/// Hears an import inside its transaction, before and after the records are
/// written: what it writes there (the audit log) commits with them or not
/// at all, and what it reads there is what the import replaced.
/// `targets` are the records written: (kind, id), kind being `notice`,
/// `campaign`, `event`, `lab` or `product`.
pub trait Observer {
    fn before(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()>;
    fn after(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()>;
}

/// A written record: its kind and id (a product's certificate number).
pub type Target = (&'static str, String);

/// No observer: the command line's import.
impl Observer for () {
    fn before(&mut self, _: &mut DbConn, _: &[Target]) -> DbResult<()> {
        Ok(())
    }
    fn after(&mut self, _: &mut DbConn, _: &[Target]) -> DbResult<()> {
        Ok(())
    }
}

/// Upserts every record in one transaction; any failure leaves the database
/// as it was. `progress` hears how many certificates are written so far.
pub fn write_all(
    conn: &mut DbConn,
    records: Records,
    today: NaiveDate,
    now: NaiveDateTime,
    observer: &mut dyn Observer,
    progress: &mut dyn FnMut(usize),
) -> DbResult<()> {
    let Records {
        notices: notice_rows,
        campaigns: campaign_rows,
        events: event_rows,
        labs: lab_rows,
        products: product_writes,
    } = records;
    let targets: Vec<Target> = notice_rows
        .iter()
        .map(|n| ("notice", n.id.clone()))
        .chain(campaign_rows.iter().map(|c| ("campaign", c.id.clone())))
        .chain(event_rows.iter().map(|e| ("event", e.id.clone())))
        .chain(lab_rows.iter().map(|(l, _)| ("lab", l.id.clone())))
        .chain(
            product_writes
                .iter()
                .map(|p| ("product", p.row.certificate_no.clone())),
        )
        .collect();
    super::exclusive_transaction(conn, |conn| {
        observer.before(conn, &targets)?;
        for notice in notice_rows {
            notice_queries::upsert(conn, notice)?;
            changes::record(conn, "notice", &notice.id, false, notice.updated_at)?;
        }
        for campaign in campaign_rows {
            campaigns::upsert(conn, campaign)?;
            changes::record(conn, "campaign", &campaign.id, false, campaign.updated_at)?;
        }
        for event in event_rows {
            events::upsert(conn, event)?;
        }
        if !event_rows.is_empty() {
            super::search::EVENTS.optimize(conn)?;
        }
        for (lab, sessions) in lab_rows {
            labs::upsert(conn, lab, sessions)?;
        }
        if !lab_rows.is_empty() {
            super::search::LABS.optimize(conn)?;
        }
        if !product_writes.is_empty() {
            products::upsert_many(conn, product_writes, today, now, &mut *progress)?;
            super::search::PRODUCTS.optimize(conn)?;
        }
        observer.after(conn, &targets)
    })
}

/// Loads the region table in one transaction.
pub fn write_regions(conn: &mut DbConn, rows: &[RegionRow]) -> DbResult<()> {
    conn.transaction::<_, DbError, _>(|conn| region_queries::insert_all(conn, rows))
}

/// Adcodes of every known region, to validate references before writing.
/// The region table is the fixed national list (~3,200 rows), so this is bounded.
pub fn known_regions(conn: &mut DbConn) -> DbResult<HashSet<String>> {
    Ok(regions::table
        .select(regions::adcode)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Which of `ids` are stored notices (bounded by the document's references).
pub fn existing_notices(
    conn: &mut DbConn,
    ids: impl Iterator<Item = String>,
) -> DbResult<HashSet<String>> {
    let ids: Vec<String> = ids.collect();
    let mut found = HashSet::new();
    for chunk in ids.chunks(500) {
        found.extend(
            notices::table
                .select(notices::id)
                .filter(notices::id.eq_any(chunk))
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

/// `(doc_number, holder id)` for each document number of `pairs` that a
/// stored notice with another id already has (document numbers are unique).
pub fn doc_numbers_held_by_others(
    conn: &mut DbConn,
    pairs: impl Iterator<Item = (String, String)>,
) -> DbResult<Vec<(String, String)>> {
    let wanted: HashMap<String, String> = pairs.collect();
    let numbers: Vec<&String> = wanted.keys().collect();
    let mut clashes = Vec::new();
    for chunk in numbers.chunks(500) {
        let stored: Vec<(String, String)> = notices::table
            .select((notices::doc_number, notices::id))
            .filter(notices::doc_number.eq_any(chunk.iter().copied()))
            .load(conn)?;
        clashes.extend(
            stored
                .into_iter()
                .filter(|(number, id)| wanted.get(number) != Some(id)),
        );
    }
    Ok(clashes)
}

pub fn is_empty(conn: &mut DbConn) -> DbResult<bool> {
    Ok(region_queries::count(conn)? == 0)
}
