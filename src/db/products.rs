//! Certified products: certificates, their status history and the ranges of
//! organic codes issued under them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Date};

use super::dates::{Day, Stamp};
use super::memory::{Indexes, Slot};
use super::postings::{Located, Postings};
use super::rendered::columns;
use super::schema::{organic_code_ranges, product_status_changes, products};
use super::search::{Dialect, Field, PRODUCTS};
use super::{Backend, DbConn, DbError, DbResult};
use crate::domain::{Adcode, ProductCategory, ProductStatus, RegionLevel, Scheme, SearchQuery};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products, treat_none_as_null = true)]
pub struct ProductRow {
    pub certificate_no: String,
    pub scheme: String,
    pub certification_type: String,
    pub green_attribute: Option<String>,
    pub holder_name: String,
    pub holder_credit_code: Option<String>,
    /// `[{"name", "category"}]` as JSON.
    pub items: String,
    /// The first product's category.
    pub category: String,
    pub base_address: Option<String>,
    pub region: String,
    pub province: String,
    pub city: Option<String>,
    pub certifier_name: String,
    pub certifier_approval_no: String,
    /// The certifier's code in organic codes.
    pub certifier_code: String,
    pub standard: String,
    #[diesel(deserialize_as = Day)]
    pub issued_on: NaiveDate,
    #[diesel(deserialize_as = Day)]
    pub expires_on: NaiveDate,
    /// As the registry records it (never `expired`).
    pub status: String,
    /// Search order key; assigned by `upsert`.
    pub search_key: i64,
    pub source: String,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// A copy of its organic-code ranges (`encode_ranges`), so that a
    /// certificate is read with them in one row; `organic_code_ranges`
    /// holds the same ranges for look-ups by code.
    pub code_ranges: Option<String>,
    /// Its representation with holes (`api::products::stored_body`),
    /// rendered when it is written; `None` until then. Bytes, not text:
    /// read back as they were written, they need no UTF-8 check per read
    /// (5 % of a search page's time).
    pub body: Option<Vec<u8>>,
}

/// A certificate as its representation is read: the stored body, and what
/// fills its holes (the status of the day, the region's name) or answers
/// beside it (the search key for cursors). Each column here is read for
/// every certificate of a search page, so there is no other.
#[derive(Debug, Clone, Queryable, QueryableByName)]
#[diesel(table_name = products)]
pub struct StoredProduct {
    pub certificate_no: String,
    pub search_key: i64,
    pub body: Option<Vec<u8>>,
    pub status: String,
    #[diesel(deserialize_as = Day)]
    pub expires_on: NaiveDate,
    pub region: String,
}

/// A tuple of `products` columns as a constant, named once.
macro_rules! products_columns {
    ($name:ident = $($column:ident),+) => {
        const $name: ($(products::$column,)+) = ($(products::$column,)+);
    };
}

// The columns of `StoredProduct`, in its order. A tuple, not `as_select()`,
// which is typed for one backend: these statements run on the concrete
// connection (`on_backend!`).
products_columns!(
    STORED = certificate_no,
    search_key,
    body,
    status,
    expires_on,
    region
);

/// A certificate read for its representation: stored, or (not rendered
/// yet) its whole row.
#[derive(Debug, Clone)]
pub enum Certificate {
    /// Its stored representation, and what fills its holes.
    Stored { body: Vec<u8>, row: StoredProduct },
    /// Its whole row, before a representation is stored (boxed: five
    /// times the size of the other, and rare).
    Row(Box<ProductHit>),
}

impl Certificate {
    pub fn certificate_no(&self) -> &str {
        match self {
            Self::Stored { row, .. } => &row.certificate_no,
            Self::Row(hit) => &hit.row.certificate_no,
        }
    }

    pub fn key(&self, order: ProductOrder) -> ProductKey {
        match (self, order) {
            (Self::Row(hit), _) => hit.key(order),
            (Self::Stored { row, .. }, ProductOrder::CertificateNo) => {
                ProductKey::CertificateNo(row.certificate_no.clone())
            }
            (Self::Stored { row, .. }, ProductOrder::Relevance) => {
                ProductKey::Relevance(row.search_key)
            }
        }
    }
}

/// The stored representation, or the whole row where none is rendered yet.
fn complete(conn: &mut DbConn, mut row: StoredProduct) -> DbResult<Certificate> {
    match row.body.take() {
        Some(body) => Ok(Certificate::Stored { body, row }),
        None => Ok(Certificate::Row(Box::new(get(conn, &row.certificate_no)?))),
    }
}

/// A certificate with its region's name and organic-code ranges.
#[derive(Debug, Clone)]
pub struct ProductHit {
    pub row: ProductRow,
    pub region_name: String,
    pub ranges: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = product_status_changes)]
pub struct StatusChangeRow {
    pub id: i64,
    pub certificate_no: String,
    #[diesel(deserialize_as = Day)]
    pub changed_on: NaiveDate,
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub recorded_at: NaiveDateTime,
}

/// `treat_none_as_null`: an absent `from_status` or `reason` is written as
/// NULL, so the statement is the same for every row and diesel keeps it
/// prepared (with a field left out for `None` it rendered and looked up
/// the SQL text per row: 12 % of importing 200,000 certificates).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = product_status_changes, treat_none_as_null = true)]
struct NewStatusChange<'a> {
    certificate_no: &'a str,
    changed_on: NaiveDate,
    from_status: Option<&'a str>,
    to_status: &'a str,
    reason: Option<&'a str>,
    recorded_at: NaiveDateTime,
}

/// What an import says about a certificate's status beyond the status itself.
#[derive(Debug, Clone, Default)]
pub struct StatusNote {
    /// When the current status took effect, if the source says.
    pub since: Option<NaiveDate>,
    pub reason: Option<String>,
}

/// A certificate to write: its row, organic-code ranges and status note.
#[derive(Debug, Clone)]
pub struct ProductWrite {
    pub row: ProductRow,
    pub ranges: Vec<(i64, i64)>,
    pub note: StatusNote,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub scheme: Option<Scheme>,
    pub q: Option<SearchQuery>,
    pub region: Option<Adcode>,
    /// Certifier's CNCA approval number.
    pub certifier: Option<String>,
    pub status: Option<ProductStatus>,
    pub category: Option<ProductCategory>,
    pub valid_on: Option<NaiveDate>,
    /// Asia/Shanghai today: the day `expired` is derived for.
    pub today: NaiveDate,
}

impl ProductFilter {
    /// Whether no filter narrows the set (`today` alone narrows nothing).
    fn is_unfiltered(&self) -> bool {
        let Self {
            scheme,
            q,
            region,
            certifier,
            status,
            category,
            valid_on,
            today: _,
        } = self;
        scheme.is_none()
            && q.is_none()
            && region.is_none()
            && certifier.is_none()
            && status.is_none()
            && category.is_none()
            && valid_on.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductOrder {
    CertificateNo,
    /// Search results, most recently added certificate first.
    Relevance,
}

/// Keyset position after the last certificate of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductKey {
    CertificateNo(String),
    Relevance(i64),
}

impl ProductHit {
    pub fn key(&self, order: ProductOrder) -> ProductKey {
        match order {
            ProductOrder::CertificateNo => {
                ProductKey::CertificateNo(self.row.certificate_no.clone())
            }
            ProductOrder::Relevance => ProductKey::Relevance(self.row.search_key),
        }
    }
}

type Source = products::table;
type Predicate = super::Filter<Source>;

const EXPIRABLE: [&str; 2] = ["valid", "suspended"];

/// Every filter, as one predicate; the page and the facet queries share it.
fn predicate(filter: &ProductFilter, level: Option<RegionLevel>, dialect: Dialect) -> Predicate {
    let mut all = super::AllOf::new();
    if let Some(scheme) = filter.scheme {
        all.push(products::scheme.eq(scheme.as_str()));
    }
    if let (Some(region), Some(level)) = (&filter.region, level) {
        let code = region.as_str().to_owned();
        match level {
            RegionLevel::Province => all.push(products::province.eq(code)),
            RegionLevel::City => all.push(products::city.eq(code).assume_not_null()),
            RegionLevel::County => all.push(products::region.eq(code)),
        }
    }
    if let Some(certifier) = &filter.certifier {
        all.push(products::certifier_approval_no.eq(certifier.clone()));
    }
    if let Some(category) = filter.category {
        all.push(products::category.eq(category.as_str()));
    }
    if let Some(status) = filter.status {
        // `expired` is derived: a valid or suspended certificate past its expiry.
        let today = filter.today;
        match status {
            ProductStatus::Expired => {
                all.push(products::status.eq_any(EXPIRABLE));
                all.push(products::expires_on.lt(today));
            }
            ProductStatus::Valid | ProductStatus::Suspended => {
                all.push(products::status.eq(status.as_str()));
                all.push(products::expires_on.ge(today));
            }
            ProductStatus::Revoked | ProductStatus::Withdrawn => {
                all.push(products::status.eq(status.as_str()));
            }
        }
    }
    if let Some(day) = filter.valid_on {
        // In force on `day`, and valid on it per the status history: the
        // last change on or before `day` went to `valid`.
        all.push(products::issued_on.le(day));
        all.push(products::expires_on.ge(day));
        all.push(
            sql::<Bool>(
                "'valid' = (SELECT c.to_status FROM product_status_changes c \
                 WHERE c.certificate_no = products.certificate_no AND c.changed_on <= ",
            )
            .bind::<Date, _>(day)
            .sql(" ORDER BY c.changed_on DESC, c.id DESC LIMIT 1)"),
        );
    }
    if let Some(q) = &filter.q {
        all.push(PRODUCTS.matches::<Source>(dialect, q, Field::Everything));
    }
    all.boxed()
}

/// How `ProductRow::code_ranges` stores ranges: `first:last` pairs in
/// ascending order, joined by commas; `None` for none.
pub fn encode_ranges(ranges: &[(i64, i64)]) -> Option<String> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let pairs: Vec<String> = sorted
        .iter()
        .map(|(first, last)| format!("{first}:{last}"))
        .collect();
    (!pairs.is_empty()).then(|| pairs.join(","))
}

fn decode_ranges(stored: Option<&str>) -> DbResult<Vec<(i64, i64)>> {
    stored
        .into_iter()
        .flat_map(|list| list.split(','))
        .map(|pair| {
            pair.split_once(':')
                .and_then(|(first, last)| Some((first.parse().ok()?, last.parse().ok()?)))
                .ok_or_else(|| DbError::Query(format!("a stored code range reads {pair:?}")))
        })
        .collect()
}

fn hits(rows: Vec<ProductRow>) -> DbResult<Vec<ProductHit>> {
    rows.into_iter().map(ProductHit::new).collect()
}

impl ProductHit {
    /// A certificate with its ranges (from its row); its region's name
    /// comes from the bundled divisions (`crate::data::divisions`), not a
    /// join per row.
    fn new(row: ProductRow) -> DbResult<Self> {
        Ok(Self {
            region_name: crate::data::divisions().name(&row.region).to_owned(),
            ranges: decode_ranges(row.code_ranges.as_deref())?,
            row,
        })
    }
}

/// One page of certificates in `order`, after `after`; `more` tells whether
/// another page follows.
pub fn list(
    conn: &mut DbConn,
    filter: &ProductFilter,
    order: ProductOrder,
    after: Option<&ProductKey>,
    limit: i64,
    lists: &Arc<Slot<Postings>>,
    reading: Reading,
) -> DbResult<(Vec<Certificate>, bool)> {
    let dialect = Dialect::of(conn);
    let level = super::regions::filter_level(filter.region.as_ref())?;
    if let (Some(q), ProductOrder::Relevance) = (&filter.q, order) {
        if let Some(lists) = lists.current(conn)? {
            let page = Page {
                filter,
                level,
                after,
                limit,
            };
            return search_lists(conn, page, q, &lists, reading);
        }
        if dialect == Dialect::Sqlite {
            return rows_only(search_sqlite(conn, filter, q, level, after, limit));
        }
    }
    let mut query = products::table
        .select(columns!(ProductRow))
        .filter(predicate(filter, level, dialect))
        .into_boxed::<Backend>();
    query = match after {
        Some(ProductKey::CertificateNo(no)) => {
            query.filter(products::certificate_no.gt(no.clone()))
        }
        Some(ProductKey::Relevance(key)) => query.filter(products::search_key.lt(*key)),
        None => query,
    };
    query = match order {
        ProductOrder::CertificateNo => query.order(products::certificate_no.asc()),
        ProductOrder::Relevance => query.order(products::search_key.desc()),
    };
    let rows: Vec<ProductRow> = query.limit(limit + 1).load(conn)?;
    let mut found = hits(rows)?;
    let more = super::cut_page(&mut found, limit);
    rows_only(Ok((found, more)))
}

/// What a page of certificates is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Their representations (JSON pages): stored bodies where rendered.
    Representations,
    /// Their whole rows (CSV).
    Rows,
}

/// Whole rows, as certificates.
fn rows_only(page: DbResult<(Vec<ProductHit>, bool)>) -> DbResult<(Vec<Certificate>, bool)> {
    page.map(|(hits, more)| {
        (
            hits.into_iter()
                .map(|hit| Certificate::Row(Box::new(hit)))
                .collect(),
            more,
        )
    })
}

/// What a search page is asked for besides its term.
#[derive(Clone, Copy)]
struct Page<'a> {
    filter: &'a ProductFilter,
    level: Option<RegionLevel>,
    after: Option<&'a ProductKey>,
    limit: i64,
}

impl Page<'_> {
    /// The other filters, without the term.
    fn rest(&self) -> ProductFilter {
        ProductFilter {
            q: None,
            ..self.filter.clone()
        }
    }

    fn below(&self) -> Option<i64> {
        match self.after {
            Some(ProductKey::Relevance(key)) => Some(*key),
            _ => None,
        }
    }
}

impl Page<'_> {
    /// The rows of a search page from the in-memory posting lists (current
    /// for the data): the lists give matching keys newest first, `fetch`
    /// reads the rows of some keys with the other filters applied.
    fn read_lists<R>(
        &self,
        conn: &mut DbConn,
        q: &SearchQuery,
        lists: &Postings,
        key_of: impl Fn(&R) -> i64,
        mut fetch: impl FnMut(&mut DbConn, &[Located], &ProductFilter) -> DbResult<Vec<R>>,
    ) -> DbResult<Vec<R>> {
        let rest = self.rest();
        let matches = lists.matching(q, Field::Everything);
        super::postings::page(
            &matches,
            self.below(),
            self.limit as usize + 1,
            key_of,
            |records| fetch(&mut *conn, records, &rest),
        )
    }
}

/// A search page from the posting lists, read as `reading` says.
fn search_lists(
    conn: &mut DbConn,
    page: Page,
    q: &SearchQuery,
    lists: &Postings,
    reading: Reading,
) -> DbResult<(Vec<Certificate>, bool)> {
    let dialect = Dialect::of(conn);
    if reading == Reading::Rows {
        let fetch = |conn: &mut DbConn, records: &[Located], rest: &ProductFilter| {
            Ok(products::table
                .select(columns!(ProductRow))
                .filter(predicate(rest, page.level, dialect))
                .filter(PRODUCTS.among(dialect, &keys_of(records)))
                .load(conn)?)
        };
        let rows = page.read_lists(conn, q, lists, |row: &ProductRow| row.search_key, fetch)?;
        return rows_only(hits(rows).map(|mut found| {
            let more = super::cut_page(&mut found, page.limit);
            (found, more)
        }));
    }
    let fetch = |conn: &mut DbConn, records: &[Located], rest: &ProductFilter| {
        if rest.is_unfiltered() {
            // The common search, a term alone.
            return stored_at(conn, records);
        }
        Ok(products::table
            .select(STORED)
            .filter(predicate(rest, page.level, dialect))
            .filter(PRODUCTS.among(dialect, &keys_of(records)))
            .load(conn)?)
    };
    let rows = page.read_lists(conn, q, lists, |row: &StoredProduct| row.search_key, fetch)?;
    let mut found = rows
        .into_iter()
        .map(|row| complete(conn, row))
        .collect::<DbResult<Vec<_>>>()?;
    let more = super::cut_page(&mut found, page.limit);
    Ok((found, more))
}

fn keys_of(records: &[Located]) -> Vec<i64> {
    records.iter().map(|record| record.key).collect()
}

/// The certificates `records`, in any order, each read where the database
/// keeps it (`Located::row`). On SQLite at its rowid: one B-tree descent,
/// where a key is two (its index, then the table) after a temporary B-tree
/// of the keys. On PostgreSQL at its `ctid`, a TID scan, where the keys'
/// index scan read four times the buffers (`EXPLAIN (ANALYZE, BUFFERS)` of
/// 21 certificates: 0.096 ms, 84 buffers; by `ctid` 0.021 ms, 21). The
/// place is a hint: a VACUUM may renumber SQLite's rows, and any UPDATE
/// moves a PostgreSQL row, so a row there that is not one of the records
/// is dropped, and the records not found are read by key. Static
/// statements on the concrete connection, which map rows without the
/// multi-backend wrappers (7 % of a search page).
fn stored_at(conn: &mut DbConn, records: &[Located]) -> DbResult<Vec<StoredProduct>> {
    let mut found: Vec<StoredProduct> =
        match super::places_param(conn, records.iter().map(|record| record.row)) {
            Some(rows) => super::on_backend!(conn, |c| StoredAtRows { rows }.load(c))?,
            None => Vec::new(),
        };
    let mut missing: HashSet<i64> = records.iter().map(|record| record.key).collect();
    // Each record asked for once: a row of another record, or a second
    // copy of one (two stale places), is dropped.
    found.retain(|row| missing.remove(&row.search_key));
    if !missing.is_empty() {
        let keys: Vec<i64> = missing.into_iter().collect();
        let query = products::table
            .filter(PRODUCTS.among(Dialect::of(conn), &keys))
            .select(STORED);
        found.extend(super::on_backend!(conn, |c| query.load(c))?);
    }
    Ok(found)
}

/// Keys hashed by foldhash: a page's few, for `stored_at`.
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Most keys taken from the text index in one step of `search_sqlite`.
const MAX_SEARCH_BATCH: i64 = 4096;

/// A search page on SQLite, newest match first. Joining the whole match set
/// to the table and sorting it cost a second for a term every holder name
/// has (有限公司); instead the text index hands over matching keys newest
/// first, a batch at a time, and only those rows are read and filtered,
/// until a page is full or the matches run out. A rare term is one batch;
/// a common term with no other filter is one small batch.
fn search_sqlite(
    conn: &mut DbConn,
    filter: &ProductFilter,
    q: &SearchQuery,
    level: Option<RegionLevel>,
    after: Option<&ProductKey>,
    limit: i64,
) -> DbResult<(Vec<ProductHit>, bool)> {
    let rest = ProductFilter {
        q: None,
        ..filter.clone()
    };
    let mut below = match after {
        Some(ProductKey::Relevance(key)) => Some(*key),
        _ => None,
    };
    let mut batch = (limit + 1) * 4;
    let mut rows: Vec<ProductRow> = Vec::new();
    loop {
        let wanted = limit + 1 - rows.len() as i64;
        let found: Vec<ProductRow> = products::table
            .select(columns!(ProductRow))
            .filter(predicate(&rest, level, Dialect::Sqlite))
            .filter(PRODUCTS.sqlite_batch::<Source>(q, Field::Everything, below, batch))
            .order(products::search_key.desc())
            .limit(wanted)
            .load(conn)?;
        let short = (found.len() as i64) < wanted;
        rows.extend(found);
        if !short {
            break;
        }
        // The filters left the page short: go on below this batch, unless
        // it was the index's last.
        let keys = PRODUCTS.sqlite_keys(conn, q, Field::Everything, below, batch)?;
        match keys.last() {
            Some(&lowest) if keys.len() as i64 == batch => below = Some(lowest),
            _ => break,
        }
        batch = (batch * 4).min(MAX_SEARCH_BATCH);
    }
    let mut found = hits(rows)?;
    let more = super::cut_page(&mut found, limit);
    Ok((found, more))
}

/// One certificate, by its normalized number.
pub fn get(conn: &mut DbConn, certificate_no: &str) -> DbResult<ProductHit> {
    let query = products::table
        .find(certificate_no)
        // Columns, not `as_select()`: that one is typed for one backend.
        .select(products::all_columns);
    let row: Option<ProductRow> = super::on_backend!(conn, |c| query.first(c).optional())?;
    ProductHit::new(row.ok_or_else(|| not_found(certificate_no))?)
}

/// The certificates numbered `numbers`, in their order, `None` where none
/// is: the look-ups that arrived together (`api::batch`), in one statement.
pub fn get_many(conn: &mut DbConn, numbers: &[String]) -> DbResult<Vec<Option<Certificate>>> {
    if let [number] = numbers {
        let query = products::table.find(number).select(STORED);
        let row: Option<StoredProduct> = super::on_backend!(conn, |c| query.first(c).optional())?;
        return Ok(vec![row.map(|r| complete(conn, r)).transpose()?]);
    }
    let keys: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let query = products::table
        .filter(super::one_of(products::certificate_no, &keys))
        .select(STORED);
    let rows: Vec<StoredProduct> = super::on_backend!(conn, |c| query.load(c))?;
    let found = rows.iter().map(|row| (row.certificate_no.as_str(), row));
    answer_each(conn, numbers.iter().map(String::as_str), found)
}

/// The certificates numbered `numbers`, as `get_many` answers, for the
/// look-ups that arrived together (`api::batch`). On SQLite, where a
/// look-up comes alone, it is read at the rowid the `indexes` keep for its
/// number (`Places`, a hint checked against the number), when current.
pub fn look_up(
    conn: &mut DbConn,
    indexes: &Indexes,
    numbers: &[String],
) -> DbResult<Vec<Option<Certificate>>> {
    if let (DbConn::Sqlite(_), [number]) = (&*conn, numbers) {
        if let Some(places) = indexes.places.current(conn)? {
            if let Some(row) = places.row_of(number) {
                return Ok(vec![get_at(conn, number, row)?]);
            }
        }
    }
    get_many(conn, numbers)
}

/// Certificate `number`, read on SQLite at `row`, its rowid: one B-tree
/// descent, where a number is two (its index, then the table). The rowid
/// is a hint: a VACUUM may renumber a table keyed by text, so a row there
/// with another number is not taken, and the certificate is read by
/// number (as it always is on PostgreSQL).
fn get_at(conn: &mut DbConn, number: &str, row: i64) -> DbResult<Option<Certificate>> {
    let at: Option<StoredProduct> = match conn {
        DbConn::Sqlite(c) => ProductAtRow { row, number }.get_result(c).optional()?,
        DbConn::Pg(_) => None,
    };
    match at {
        Some(stored) => complete(conn, stored).map(Some),
        None => Ok(get_many(conn, &[number.to_owned()])?.pop().flatten()),
    }
}

/// `SELECT` the `StoredProduct` columns of the certificate at SQLite's
/// rowid `row` if its number is `number`. Its own statement type with a
/// static query id, so that diesel keeps it prepared (a `sql_query` is
/// prepared anew on every call).
struct ProductAtRow<'a> {
    row: i64,
    number: &'a str,
}

impl diesel::query_builder::QueryId for ProductAtRow<'_> {
    type QueryId = ProductAtRow<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// The SQL types of the `StoredProduct` columns, as `ProductAtRow` and
/// `StoredAtRows` select them.
type StoredColumns = (
    diesel::sql_types::Text,
    diesel::sql_types::BigInt,
    diesel::sql_types::Nullable<diesel::sql_types::Binary>,
    diesel::sql_types::Text,
    diesel::sql_types::Date,
    diesel::sql_types::Text,
);

impl diesel::query_builder::Query for ProductAtRow<'_> {
    type SqlType = StoredColumns;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for ProductAtRow<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT certificate_no, search_key, body, status, expires_on, region \
             FROM products WHERE rowid = ",
        );
        out.push_bind_param::<diesel::sql_types::BigInt, _>(&self.row)?;
        out.push_sql(" AND certificate_no = ");
        out.push_bind_param::<diesel::sql_types::Text, _>(self.number)?;
        Ok(())
    }
}

impl<C> RunQueryDsl<C> for ProductAtRow<'_> {}

/// `SELECT` the `StoredProduct` columns of the certificates at `rows`:
/// on SQLite a JSON array of rowids, joined one row at a time (an `IN`
/// list builds a temporary B-tree first); on PostgreSQL an array of
/// `ctid`s, a TID scan. Kept prepared, as `ProductAtRow`.
struct StoredAtRows {
    rows: String,
}

impl diesel::query_builder::QueryId for StoredAtRows {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for StoredAtRows {
    type SqlType = StoredColumns;
}

impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for StoredAtRows {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT p.certificate_no, p.search_key, p.body, p.status, p.expires_on, p.region \
             FROM json_each(",
        );
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.rows)?;
        out.push_sql(") AS k JOIN products AS p ON p.rowid = k.value");
        Ok(())
    }
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for StoredAtRows {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT certificate_no, search_key, body, status, expires_on, region \
             FROM products WHERE ctid = ANY(CAST(",
        );
        out.push_bind_param::<diesel::sql_types::Text, _>(&self.rows)?;
        out.push_sql(" AS tid[]))");
        Ok(())
    }
}

impl<C> RunQueryDsl<C> for StoredAtRows {}

/// One answer per key asked, in order, from the rows a batch found: a key
/// asked twice in one batch is answered twice.
fn answer_each<'a, K: std::hash::Hash + Eq + 'a>(
    conn: &mut DbConn,
    asked: impl Iterator<Item = K>,
    found: impl Iterator<Item = (K, &'a StoredProduct)>,
) -> DbResult<Vec<Option<Certificate>>> {
    let found: HashMap<K, &StoredProduct> = found.collect();
    asked
        .map(|key| {
            found
                .get(&key)
                .map(|row| complete(conn, (*row).clone()))
                .transpose()
        })
        .collect()
}

pub fn not_found(certificate_no: &str) -> DbError {
    DbError::NotFound(format!("no certificate numbered {certificate_no:?}"))
}

/// The status history of one certificate, oldest first, after change `after`.
pub fn history(
    conn: &mut DbConn,
    certificate_no: &str,
    after: Option<i64>,
    limit: i64,
) -> DbResult<(Vec<StatusChangeRow>, bool)> {
    let exists: i64 = products::table
        .filter(products::certificate_no.eq(certificate_no))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(not_found(certificate_no));
    }
    let mut rows: Vec<StatusChangeRow> = product_status_changes::table
        .filter(product_status_changes::certificate_no.eq(certificate_no))
        .filter(product_status_changes::id.gt(after.unwrap_or(0)))
        .order(product_status_changes::id)
        .limit(limit + 1)
        .select(columns!(StatusChangeRow))
        .load(conn)?;
    let more = super::cut_page(&mut rows, limit);
    Ok((rows, more))
}

/// A status change with what a feed shows of its certificate.
#[derive(Debug, Clone)]
pub struct ChangeHit {
    pub change: StatusChangeRow,
    pub holder_name: String,
    pub scheme: String,
    pub region: String,
    pub region_name: String,
}

/// Keyset position in the change feed: (changed_on, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeKey {
    pub changed_on: NaiveDate,
    pub id: i64,
}

/// Status changes effective on or after `since` (to one of `to`, when
/// given), by effective date then record order.
pub fn changes_since(
    conn: &mut DbConn,
    since: NaiveDate,
    to: &[ProductStatus],
    after: Option<ChangeKey>,
    limit: i64,
) -> DbResult<(Vec<ChangeHit>, bool)> {
    let mut query = product_status_changes::table
        .inner_join(products::table)
        .filter(product_status_changes::changed_on.ge(since))
        .select((
            columns!(StatusChangeRow),
            products::holder_name,
            products::scheme,
            products::region,
        ))
        .into_boxed::<Backend>();
    if !to.is_empty() {
        let statuses: Vec<&str> = to.iter().map(|s| s.as_str()).collect();
        query = query.filter(product_status_changes::to_status.eq_any(statuses));
    }
    if let Some(key) = after {
        query = query.filter(
            product_status_changes::changed_on.gt(key.changed_on).or(
                product_status_changes::changed_on
                    .eq(key.changed_on)
                    .and(product_status_changes::id.gt(key.id)),
            ),
        );
    }
    let rows: Vec<(StatusChangeRow, String, String, String)> = query
        .order((
            product_status_changes::changed_on.asc(),
            product_status_changes::id.asc(),
        ))
        .limit(limit + 1)
        .load(conn)?;
    let mut found: Vec<ChangeHit> = rows
        .into_iter()
        .map(|(change, holder_name, scheme, region)| ChangeHit {
            change,
            holder_name,
            scheme,
            region_name: crate::data::divisions().name(&region).to_owned(),
            region,
        })
        .collect();
    let more = super::cut_page(&mut found, limit);
    Ok((found, more))
}

/// The certificate whose organic-code range holds `code`, if any.
///
/// One statement: ranges never overlap, so the range of `code` is the one
/// with the greatest first code not above it — if it reaches `code`.
pub fn by_organic_code(conn: &mut DbConn, code: i64) -> DbResult<Option<Certificate>> {
    use diesel::dsl::case_when;
    // The range with the greatest first code at or below the code, read in
    // one index descent; its certificate if the code is also at or below
    // its last code. (A `max()` floor joined back to the range table read
    // the range twice.)
    let holder = organic_code_ranges::table
        .filter(organic_code_ranges::first_code.le(code))
        .order(organic_code_ranges::first_code.desc())
        .limit(1)
        .select(case_when(
            organic_code_ranges::last_code.ge(code),
            organic_code_ranges::certificate_no,
        ))
        .single_value();
    let query = products::table
        .filter(products::certificate_no.nullable().eq(holder))
        .select(STORED);
    let row: Option<StoredProduct> = super::on_backend!(conn, |c| query.first(c).optional())?;
    row.map(|r| complete(conn, r)).transpose()
}

/// What an organic-code check finds: the certificate whose range holds the
/// code, and the body the code's prefix names (`certifier_by_code`).
pub type CodeCheck = (Option<Certificate>, Option<Arc<Issuer>>);

/// The certification body that issued an organic code, as the stored
/// certificates by its prefix name it; shared, not copied, by the checks
/// that answer with it.
#[derive(Debug)]
pub struct Issuer {
    pub name: Box<str>,
    pub approval_no: Box<str>,
}

/// Checks organic codes, each given as (value, certifier prefix), one
/// answer per code in order: the checks that arrived together
/// (`api::batch`), on one connection.
pub fn check_codes(
    conn: &mut DbConn,
    indexes: &super::memory::Indexes,
    codes: &[(i64, String)],
) -> DbResult<Vec<CodeCheck>> {
    let ranges = indexes.code_ranges.current(conn)?;
    let hits = match &ranges {
        // The holders from memory, their certificates as look-ups are read:
        // on SQLite each at its rowid, as it comes (no key lists to build
        // for what is always a batch of one).
        Some(ranges) if matches!(conn, DbConn::Sqlite(_)) => codes
            .iter()
            .map(|(value, _)| match ranges.holder(*value) {
                Some((number, row)) => get_at(conn, number, row),
                None => Ok(None),
            })
            .collect::<DbResult<Vec<_>>>()?,
        // On PostgreSQL, the holders' certificates by number, in one statement.
        Some(ranges) => {
            let holders: Vec<Option<&str>> = codes
                .iter()
                .map(|(value, _)| ranges.holder(*value).map(|(number, _)| number))
                .collect();
            let numbers: Vec<String> = holders.iter().flatten().map(|n| n.to_string()).collect();
            let found = if numbers.is_empty() {
                Vec::new()
            } else {
                get_many(conn, &numbers)?
            };
            let mut found = found.into_iter();
            holders
                .iter()
                .map(|holder| holder.and_then(|_| found.next().flatten()))
                .collect()
        }
        None => check_codes_in_sql(conn, codes)?,
    };
    codes
        .iter()
        .zip(hits)
        .map(|((_, body_code), hit)| {
            // The body the code's prefix names, as stored certificates name
            // it. A code on no certificate is answered 404 without one.
            let certifier = match (&hit, &ranges) {
                (None, _) => None,
                (Some(_), Some(ranges)) => ranges.certifier(body_code),
                (Some(_), None) => certifier_by_code(conn, body_code)?.map(Arc::new),
            };
            Ok((hit, certifier))
        })
        .collect()
}

/// The certificates holding `codes`, from the ranges in the database.
fn check_codes_in_sql(
    conn: &mut DbConn,
    codes: &[(i64, String)],
) -> DbResult<Vec<Option<Certificate>>> {
    Ok(match conn {
        DbConn::Pg(pg) if codes.len() > 1 => {
            let found = certificates_of_codes(pg, codes)?;
            let values = codes.iter().map(|(value, _)| *value);
            answer_each(conn, values, found.iter().map(|(code, row)| (*code, row)))?
        }
        _ => codes
            .iter()
            .map(|(value, _)| by_organic_code(conn, *value))
            .collect::<DbResult<_>>()?,
    })
}

/// (code, certificate) for each of `codes` some range holds, in one statement: on
/// PostgreSQL each code's floor range is a backward index step
/// (`LATERAL … LIMIT 1`), which SQLite cannot say (it never batches).
fn certificates_of_codes(
    conn: &mut diesel::PgConnection,
    codes: &[(i64, String)],
) -> DbResult<Vec<(i64, StoredProduct)>> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        code: i64,
        #[diesel(embed)]
        row: StoredProduct,
    }
    let values: Vec<i64> = codes.iter().map(|(value, _)| *value).collect();
    let found: Vec<Found> = HoldersOf(&values).load(conn)?;
    Ok(found.into_iter().map(|f| (f.code, f.row)).collect())
}

/// The certificate holding each code: the range with the greatest first
/// code at or below it, if the code is not past its last. Written as a
/// fragment rather than `sql_query`, which diesel never keeps prepared, so
/// PostgreSQL plans it once per connection instead of once per batch.
struct HoldersOf<'a>(&'a [i64]);

impl diesel::query_builder::QueryId for HoldersOf<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for HoldersOf<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for HoldersOf<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql(
            "SELECT c.code, p.certificate_no, p.search_key, p.body, p.status, p.expires_on, \
             p.region FROM unnest(",
        );
        out.push_bind_param::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(self.0)?;
        out.push_sql(
            ") AS c(code) \
             CROSS JOIN LATERAL (SELECT r.certificate_no, r.last_code FROM organic_code_ranges r \
                 WHERE r.first_code <= c.code ORDER BY r.first_code DESC LIMIT 1) AS r \
             JOIN products p ON p.certificate_no = r.certificate_no \
             WHERE r.last_code >= c.code",
        );
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for HoldersOf<'_> {}

/// The body whose organic-code prefix is `code`, as the first certificate
/// by that prefix names it.
pub fn certifier_by_code(conn: &mut DbConn, code: &str) -> DbResult<Option<Issuer>> {
    let found: Option<(String, String)> = products::table
        .filter(products::certifier_code.eq(code))
        .select((products::certifier_name, products::certifier_approval_no))
        .first(conn)
        .optional()?;
    Ok(found.map(|(name, approval_no)| Issuer {
        name: name.into_boxed_str(),
        approval_no: approval_no.into_boxed_str(),
    }))
}

/// Counts of the filtered set per value of each dimension (each certificate
/// once per dimension).
#[derive(Debug, Default)]
pub struct FacetCounts {
    pub scheme: HashMap<String, i64>,
    pub status: HashMap<String, i64>,
    pub category: HashMap<String, i64>,
    /// (bucket adcode, name) → count.
    pub region: HashMap<(String, String), i64>,
    /// (approval number, name) → count.
    pub certifier: HashMap<(String, String), i64>,
}

/// One grouped query per wanted dimension over the filtered set.
pub fn facets(conn: &mut DbConn, filter: &ProductFilter, wanted: &[&str]) -> DbResult<FacetCounts> {
    let dialect = Dialect::of(conn);
    let level = super::regions::filter_level(filter.region.as_ref())?;
    let base = || products::table.filter(predicate(filter, level, dialect));
    let mut counts = FacetCounts::default();
    if wanted.contains(&"scheme") {
        counts.scheme = base()
            .group_by(products::scheme)
            .select((products::scheme, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
    }
    if wanted.contains(&"category") {
        counts.category = base()
            .group_by(products::category)
            .select((products::category, count_star()))
            .load::<(String, i64)>(conn)?
            .into_iter()
            .collect();
    }
    if wanted.contains(&"status") {
        // Derived `expired`: stored statuses split by whether the expiry passed.
        let current: Vec<(String, i64)> = base()
            .filter(products::expires_on.ge(filter.today))
            .group_by(products::status)
            .select((products::status, count_star()))
            .load(conn)?;
        let past: Vec<(String, i64)> = base()
            .filter(products::expires_on.lt(filter.today))
            .group_by(products::status)
            .select((products::status, count_star()))
            .load(conn)?;
        for (status, n) in current {
            *counts.status.entry(status).or_default() += n;
        }
        for (status, n) in past {
            let derived = if EXPIRABLE.contains(&status.as_str()) {
                ProductStatus::Expired.as_str().to_owned()
            } else {
                status
            };
            *counts.status.entry(derived).or_default() += n;
        }
    }
    if wanted.contains(&"certifier") {
        let rows: Vec<(String, String, i64)> = base()
            .group_by((products::certifier_approval_no, products::certifier_name))
            .select((
                products::certifier_approval_no,
                products::certifier_name,
                count_star(),
            ))
            .load(conn)?;
        for (number, name, n) in rows {
            *counts.certifier.entry((number, name)).or_default() += n;
        }
    }
    if wanted.contains(&"region") {
        let rows: Vec<(String, String, Option<String>, i64)> = base()
            .group_by((products::region, products::province, products::city))
            .select((
                products::region,
                products::province,
                products::city,
                count_star(),
            ))
            .load(conn)?;
        let mut buckets: HashMap<String, i64> = HashMap::new();
        for (region, province, city, n) in rows {
            let bucket = super::regions::facet_bucket(level, &province, city.as_deref(), &region);
            *buckets.entry(bucket).or_default() += n;
        }
        for (code, n) in buckets {
            let name = crate::data::divisions().name(&code).to_owned();
            counts.region.insert((code, name), n);
        }
    }
    Ok(counts)
}

/// Which of `numbers` are stored, with their registry status.
pub fn stored_statuses(conn: &mut DbConn, numbers: &[String]) -> DbResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for chunk in numbers.chunks(500) {
        let rows: Vec<(String, String)> = products::table
            .filter(products::certificate_no.eq_any(chunk))
            .select((products::certificate_no, products::status))
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// The stored range that overlaps [first, last] and belongs to another
/// certificate than `owner`, if any: (its certificate, first, last).
pub fn overlapping_range(
    conn: &mut DbConn,
    owner: &str,
    first: i64,
    last: i64,
) -> DbResult<Option<(String, i64, i64)>> {
    // Stored ranges never overlap one another, so only the last one starting
    // at or before `last` can reach into [first, last].
    let candidate: Option<(String, i64, i64)> = organic_code_ranges::table
        .filter(organic_code_ranges::first_code.le(last))
        .order(organic_code_ranges::first_code.desc())
        .select((
            organic_code_ranges::certificate_no,
            organic_code_ranges::first_code,
            organic_code_ranges::last_code,
        ))
        .first(conn)
        .optional()?;
    Ok(candidate
        .filter(|(certificate, _, stored_last)| *stored_last >= first && certificate != owner))
}

/// Creates or replaces certificates (by number), their organic-code ranges
/// and search entries; records every status change in the history and every
/// write in the change log. Runs inside the caller's transaction.
pub fn upsert_many(
    conn: &mut DbConn,
    writes: &[ProductWrite],
    today: NaiveDate,
    now: NaiveDateTime,
    mut progress: impl FnMut(usize),
) -> DbResult<()> {
    if !writes.is_empty() {
        super::touch(super::Indexed::Products);
    }
    let mut next_key: i64 = products::table
        .select(diesel::dsl::max(products::search_key))
        .first::<Option<i64>>(conn)?
        .map_or(1, |m| m + 1);
    // What is stored already, in chunks rather than one look-up per row.
    let mut stored: HashMap<String, (i64, String)> = HashMap::new();
    let numbers: Vec<&str> = writes
        .iter()
        .map(|w| w.row.certificate_no.as_str())
        .collect();
    for chunk in numbers.chunks(500) {
        let rows: Vec<(String, i64, String)> = products::table
            .filter(products::certificate_no.eq_any(chunk))
            .select((
                products::certificate_no,
                products::search_key,
                products::status,
            ))
            .load(conn)?;
        stored.extend(rows.into_iter().map(|(n, key, status)| (n, (key, status))));
    }
    for (done, write) in writes.iter().enumerate() {
        let number = write.row.certificate_no.as_str();
        let existing: Option<(i64, String)> = stored.remove(number);
        let search_key = match &existing {
            Some((key, _)) => *key,
            None => {
                next_key += 1;
                next_key - 1
            }
        };
        let row = ProductRow {
            search_key,
            ..write.row.clone()
        };
        // The statements of a row run on the concrete connection
        // (`on_backend!`): through the multi-backend connection each
        // execution rendered its SQL text again, 20 % of an import.
        match &existing {
            Some(_) => {
                let update = diesel::update(products::table.find(number)).set(&row);
                super::on_backend!(&mut *conn, |c| update.execute(c))?;
                let ranges = diesel::delete(
                    organic_code_ranges::table
                        .filter(organic_code_ranges::certificate_no.eq(number)),
                );
                super::on_backend!(&mut *conn, |c| ranges.execute(c))?;
            }
            None => {
                let insert = diesel::insert_into(products::table).values(&row);
                super::on_backend!(&mut *conn, |c| insert.execute(c))?;
            }
        }
        // One statement per row: diesel's multi-backend connection has no
        // batch insert.
        for (first, last) in &write.ranges {
            let insert = diesel::insert_into(organic_code_ranges::table).values((
                organic_code_ranges::first_code.eq(*first),
                organic_code_ranges::last_code.eq(*last),
                organic_code_ranges::certificate_no.eq(number),
            ));
            super::on_backend!(&mut *conn, |c| insert.execute(c))?;
        }
        record_status(
            conn,
            &row,
            existing.as_ref().map(|(_, s)| s.as_str()),
            &write.note,
            today,
            now,
        )?;
        let names = item_names(&row.items).join(" ");
        match &existing {
            Some((key, _)) => {
                PRODUCTS.put(conn, Some(*key), search_key, &row.holder_name, &names)?
            }
            // Keys above every stored one were never used.
            None => PRODUCTS.add(conn, search_key, &row.holder_name, &names)?,
        }
        super::changes::record(conn, "product", number, false, now)?;
        progress(done + 1);
    }
    Ok(())
}

/// The product names inside a stored `items` document.
fn item_names(items: &str) -> Vec<String> {
    let parsed: Vec<serde_json::Value> = serde_json::from_str(items).unwrap_or_default();
    parsed
        .iter()
        .filter_map(|item| item["name"].as_str().map(str::to_owned))
        .collect()
}

/// History rows for a write: a new certificate starts valid on its issue
/// date and, when imported with another status, changed to it when the
/// source says (else today, when we learnt of it); a stored certificate
/// gets a row only when its status changed.
fn record_status(
    conn: &mut DbConn,
    row: &ProductRow,
    stored: Option<&str>,
    note: &StatusNote,
    today: NaiveDate,
    now: NaiveDateTime,
) -> DbResult<()> {
    let mut changes: Vec<NewStatusChange> = Vec::new();
    let from = match stored {
        Some(status) => status,
        None => {
            changes.push(NewStatusChange {
                certificate_no: &row.certificate_no,
                changed_on: row.issued_on,
                from_status: None,
                to_status: ProductStatus::Valid.as_str(),
                reason: None,
                recorded_at: now,
            });
            ProductStatus::Valid.as_str()
        }
    };
    if from != row.status {
        changes.push(NewStatusChange {
            certificate_no: &row.certificate_no,
            changed_on: note.since.unwrap_or(today),
            from_status: Some(from),
            to_status: &row.status,
            reason: note.reason.as_deref(),
            recorded_at: now,
        });
    }
    for change in &changes {
        let insert = diesel::insert_into(product_status_changes::table).values(change);
        super::on_backend!(&mut *conn, |c| insert.execute(c))?;
    }
    Ok(())
}

/// Deletes a certificate with its ranges, history and search entry.
pub fn delete(conn: &mut DbConn, certificate_no: &str, at: NaiveDateTime) -> DbResult<()> {
    super::exclusive_transaction(conn, |conn| {
        super::touch(super::Indexed::Products);
        let key: i64 = products::table
            .find(certificate_no)
            .select(products::search_key)
            .first(conn)
            .optional()?
            .ok_or_else(|| not_found(certificate_no))?;
        diesel::delete(
            organic_code_ranges::table
                .filter(organic_code_ranges::certificate_no.eq(certificate_no)),
        )
        .execute(conn)?;
        diesel::delete(
            product_status_changes::table
                .filter(product_status_changes::certificate_no.eq(certificate_no)),
        )
        .execute(conn)?;
        diesel::delete(products::table.find(certificate_no)).execute(conn)?;
        PRODUCTS.remove(conn, key)?;
        super::changes::record(conn, "product", certificate_no, true, at)
    })
}

/// Up to `limit` certificates without a stored representation, in number
/// order after `after`: what `data::prepare` renders after the migration
/// that added it.
pub fn unrendered(conn: &mut DbConn, after: &str, limit: i64) -> DbResult<Vec<ProductHit>> {
    hits(
        products::table
            .select(columns!(ProductRow))
            .filter(products::body.is_null())
            .filter(products::certificate_no.gt(after))
            .order(products::certificate_no)
            .limit(limit)
            .load(conn)?,
    )
}

/// Stores a certificate's representation, leaving its data as it is (no
/// change is recorded: nothing a client sees changes).
pub fn store_body(conn: &mut DbConn, certificate_no: &str, body: &[u8]) -> DbResult<()> {
    diesel::update(products::table.find(certificate_no))
        .set(products::body.eq(body))
        .execute(conn)?;
    Ok(())
}

/// Every certificate, for export, in number order.
pub fn all(conn: &mut DbConn) -> DbResult<Vec<ProductHit>> {
    hits(
        products::table
            .select(columns!(ProductRow))
            .order(products::certificate_no)
            .load(conn)?,
    )
}
