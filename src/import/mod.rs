//! The import/export document: `{"notices": [...], "campaigns": [...]}` whose
//! items have the read shape of the API (server-set fields may be present and
//! are ignored), or products as CSV. Validation reports every bad row before
//! anything is written.

mod products;

pub use products::{products_csv, ProductInput, CSV_HEADER as PRODUCTS_CSV_HEADER};

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{Datelike, NaiveDate, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::campaigns::Campaign;
use crate::api::events::Event;
use crate::api::labs::Lab;
use crate::api::notices::{Contact, Deadline, Notice};
use crate::db::campaigns::CampaignRow;
use crate::db::events::{EventRow, RegionFacts};
use crate::db::import::{Observer, Target};
use crate::db::labs::{LabRow, OpenDayRow};
use crate::db::notices::NoticeChanges;
use crate::db::products::ProductWrite;
use crate::db::{DbConn, DbError, DbResult};
use crate::domain::{
    parse_date, Activity, Actor, Adcode, Attendance, CampaignKind, CmaNumber, CoordSys,
    EventStatus, Invalid, LabField, LatLon, Place, Precision, RecordId, Scope, SHANGHAI,
};

/// One refused item: which list, which position, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub section: &'static str,
    pub index: usize,
    pub field: String,
    pub reason: String,
}

/// How many records of each kind an import holds.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub notices: usize,
    pub campaigns: usize,
    pub events: usize,
    pub labs: usize,
    pub open_days: usize,
    pub products: usize,
}

#[derive(Debug, Default)]
pub struct Report {
    pub counts: Counts,
    pub dry_run: bool,
    pub errors: Vec<RowError>,
    /// Rows outside the submitting token's scope (the write API answers 403).
    pub forbidden: Vec<RowError>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.forbidden.iter().chain(&self.errors) {
            writeln!(f, "{}[{}].{}: {}", e.section, e.index, e.field, e.reason)?;
        }
        let verb = if self.dry_run || !self.is_clean() {
            "checked"
        } else {
            "imported"
        };
        write!(
            f,
            "{verb} {} notice(s), {} campaign(s), {} event(s), {} lab(s) with {} open day(s), \
             {} product certificate(s)",
            self.counts.notices,
            self.counts.campaigns,
            self.counts.events,
            self.counts.labs,
            self.counts.open_days,
            self.counts.products
        )
    }
}

impl Report {
    /// Nothing refused: the import was (or, dry, would be) written.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.forbidden.is_empty()
    }
}

/// The document's items as raw text borrowed from the input: each is parsed
/// on its own (so one bad item is one error, not a refused document), and
/// 200,000 certificates never exist as one tree of JSON values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document<'a> {
    #[serde(default, borrow)]
    notices: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    campaigns: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    labs: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    products: Vec<&'a RawValue>,
}

/// An import document: every section optional, each a list of records in
/// their input shape (what `ticweek export` writes imports as it is).
// The schema only: parsing goes through `Document`, item by item.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImportDocument {
    #[schema(required = false)]
    notices: Vec<NoticeInput>,
    #[schema(required = false)]
    campaigns: Vec<CampaignInput>,
    #[schema(required = false)]
    events: Vec<EventInput>,
    /// Labs with their open-day sessions (at most 200 each).
    #[schema(required = false)]
    labs: Vec<LabInput>,
    #[schema(required = false)]
    products: Vec<ProductInput>,
}

/// A region given either as a bare adcode or in the read shape `{adcode, name}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RegionInput {
    Code(String),
    Object {
        adcode: String,
        #[allow(dead_code)]
        name: Option<String>,
    },
}

// Written out because the derive cannot give a tuple variant's field a type.
impl utoipa::PartialSchema for RegionInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, OneOfBuilder, Ref, Type};
        let adcode = || Ref::from_schema_name("Adcode");
        let object = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("adcode", adcode())
            .required("adcode")
            .property(
                "name",
                ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ])),
            );
        OneOfBuilder::new()
            .item(adcode())
            .item(object)
            .description(Some(
                "A region given either as a bare adcode or in the read shape `{adcode, name}`.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RegionInput {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((
            crate::domain::Adcode::name().into(),
            crate::domain::Adcode::schema(),
        ));
    }
}

impl RegionInput {
    fn adcode(&self) -> &str {
        match self {
            Self::Code(code) | Self::Object { adcode: code, .. } => code,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    #[schema(value_type = crate::domain::RecordId)]
    id: String,
    doc_number: String,
    title: String,
    issuer: String,
    region: Option<RegionInput>,
    year: Option<i32>,
    #[schema(value_type = Option<String>, format = Date)]
    issued_on: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    deadlines: Vec<Deadline>,
    #[serde(default)]
    forwards: Vec<String>,
    #[serde(default)]
    cites: Vec<String>,
    source_url: Option<String>,
    source: String,
    /// Server-set; accepted so that an export imports as it is, and ignored.
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    #[schema(value_type = crate::domain::RecordId)]
    id: String,
    #[schema(value_type = crate::domain::CampaignKind)]
    kind: String,
    year: i32,
    title: String,
    theme: Option<String>,
    region: Option<RegionInput>,
    #[schema(value_type = Option<String>, format = Date)]
    starts_on: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    ends_on: Option<String>,
    period_text: Option<String>,
    #[schema(value_type = crate::domain::RecordId)]
    notice_id: String,
    source: String,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VenueInput {
    name: Option<String>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    #[schema(value_type = crate::domain::Precision)]
    precision: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    #[schema(value_type = crate::domain::RecordId)]
    id: String,
    #[schema(value_type = crate::domain::RecordId)]
    campaign_id: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::Activity>)]
    activities: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    starts_at: String,
    #[schema(value_type = String, format = DateTime)]
    ends_at: String,
    period_text: Option<String>,
    venue: VenueInput,
    region: RegionInput,
    organizer: Option<String>,
    online_url: Option<String>,
    #[schema(value_type = Option<crate::domain::Attendance>)]
    attendance: Option<String>,
    #[schema(value_type = Option<crate::domain::EventStatus>)]
    status: Option<String>,
    source: String,
    /// Derived from the campaign; accepted (so an export imports) and ignored.
    #[serde(default, rename = "kind")]
    #[schema(ignore)]
    _kind: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingInput {
    required: Option<bool>,
    url: Option<String>,
    phone: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenDayInput {
    #[schema(value_type = crate::domain::RecordId)]
    id: String,
    #[schema(value_type = Option<crate::domain::RecordId>)]
    event_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    starts_at: String,
    #[schema(value_type = String, format = DateTime)]
    ends_at: String,
    period_text: Option<String>,
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::Activity>)]
    activities: Vec<String>,
    audience: Option<String>,
    capacity: Option<i64>,
    booking: Option<BookingInput>,
    online_url: Option<String>,
    #[schema(value_type = Option<crate::domain::EventStatus>)]
    status: Option<String>,
    /// Derived; accepted (so an export imports) and ignored.
    #[serde(default, rename = "bookable")]
    #[schema(ignore)]
    _bookable: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabInput {
    #[schema(value_type = crate::domain::RecordId)]
    id: String,
    name: String,
    cma_no: Option<String>,
    cnas_no: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::domain::LabField>)]
    fields: Vec<String>,
    address: Option<String>,
    region: RegionInput,
    lat: Option<f64>,
    lon: Option<f64>,
    #[schema(value_type = crate::domain::Precision)]
    precision: String,
    phone: Option<String>,
    website: Option<String>,
    #[serde(default)]
    open_days: Vec<OpenDayInput>,
    source: String,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

/// Validates `text`; unless `dry_run` or a row is bad, writes every record in
/// one transaction. The command line's import: no token, no scope.
pub fn run(conn: &mut DbConn, text: &str, dry_run: bool) -> DbResult<Report> {
    run_with_progress(conn, text, dry_run, &mut |_, _| {})
}

/// `run`, telling `progress` (done, total) as product certificates are
/// written. `text` is a JSON document, or products as CSV (the columns of
/// `/products.csv`).
pub fn run_with_progress(
    conn: &mut DbConn,
    text: &str,
    dry_run: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> DbResult<Report> {
    import(conn, text, dry_run, None, &mut (), progress)
}

/// An import by a token holder: every row must lie inside `actor`'s scope
/// (before and after the write), and `observer` hears the write inside its
/// transaction (the write API audits there).
pub fn submit(
    conn: &mut DbConn,
    text: &str,
    dry_run: bool,
    actor: &Actor,
    observer: &mut dyn Observer,
) -> DbResult<Report> {
    import(conn, text, dry_run, Some(actor), observer, &mut |_, _| {})
}

fn import(
    conn: &mut DbConn,
    text: &str,
    dry_run: bool,
    actor: Option<&Actor>,
    observer: &mut dyn Observer,
    progress: &mut dyn FnMut(usize, usize),
) -> DbResult<Report> {
    let body = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let csv_items: Vec<Box<RawValue>>;
    let mut csv_lines = Vec::new();
    let document: Document = if body.starts_with('{') {
        serde_json::from_str(text).map_err(|e| {
            DbError::Invalid(vec![(
                "document".into(),
                format!("not an import document: {e}"),
            )])
        })?
    } else {
        let lines = products::csv_to_items(text)
            .map_err(|e| DbError::Invalid(vec![("document".into(), e)]))?;
        let mut items = Vec::new();
        for (index, line) in lines.into_iter().enumerate() {
            match line.map(|item| serde_json::value::to_raw_value(&item)) {
                Ok(Ok(raw)) => items.push(raw),
                Ok(Err(e)) => csv_lines.push((index, e.to_string())),
                Err(reason) => csv_lines.push((index, reason)),
            }
        }
        csv_items = items;
        Document {
            products: csv_items.iter().map(AsRef::as_ref).collect(),
            ..Document::default()
        }
    };
    let regions = crate::db::import::known_regions(conn)?;
    let mut v = Validator {
        errors: Vec::new(),
        forbidden: Vec::new(),
        regions,
        section: "notices",
        index: 0,
    };
    for (index, reason) in csv_lines {
        v.at("products", index);
        v.refuse("(line)", reason);
    }
    // Microseconds: what PostgreSQL keeps, so both backends show the same value.
    let now = Utc::now().naive_utc().trunc_subsecs(6);
    let today = crate::domain::today_in_shanghai();
    // (position in the document, row) of every item that parsed.
    let mut notices = Vec::new();
    for (index, raw) in document.notices.into_iter().enumerate() {
        v.at("notices", index);
        if let Some(row) = v.notice(raw, now) {
            notices.push((index, row));
        }
    }
    let mut notice_ids = HashSet::new();
    let mut doc_numbers = HashSet::new();
    for (index, row) in &notices {
        v.at("notices", *index);
        if !notice_ids.insert(row.id.clone()) {
            v.refuse("id", format!("{:?} appears twice in this document", row.id));
        }
        if !doc_numbers.insert(row.doc_number.clone()) {
            v.refuse(
                "doc_number",
                format!("{:?} appears twice in this document", row.doc_number),
            );
        }
    }
    let pairs = notices
        .iter()
        .map(|(_, n)| (n.doc_number.clone(), n.id.clone()));
    for (doc_number, holder) in crate::db::import::doc_numbers_held_by_others(conn, pairs)? {
        let index = notices
            .iter()
            .find(|(_, n)| n.doc_number == doc_number)
            .map_or(0, |(i, _)| *i);
        v.at("notices", index);
        v.refuse(
            "doc_number",
            format!("already belongs to notice {holder:?}"),
        );
    }

    let mut campaigns = Vec::new();
    for (index, raw) in document.campaigns.into_iter().enumerate() {
        v.at("campaigns", index);
        if let Some(row) = v.campaign(raw, now) {
            campaigns.push((index, row));
        }
    }
    let referenced = campaigns
        .iter()
        .map(|(_, c)| c.notice_id.clone())
        .filter(|id| !notice_ids.contains(id));
    let stored_notices = crate::db::import::existing_notices(conn, referenced)?;
    let mut campaign_ids = HashSet::new();
    for (index, row) in &campaigns {
        v.at("campaigns", *index);
        if !notice_ids.contains(&row.notice_id) && !stored_notices.contains(&row.notice_id) {
            v.refuse(
                "notice_id",
                format!("no notice with id {:?}", row.notice_id),
            );
        }
        if !campaign_ids.insert(row.id.clone()) {
            v.refuse("id", format!("{:?} appears twice in this document", row.id));
        }
    }
    let mut events = Vec::new();
    for (index, raw) in document.events.into_iter().enumerate() {
        v.at("events", index);
        if let Some(input) = v.item::<EventInput>(raw) {
            events.push((index, input));
        }
    }
    let campaign_kinds: HashMap<String, String> = campaigns
        .iter()
        .map(|(_, c)| (c.id.clone(), c.kind.clone()))
        .chain(crate::db::events::campaign_kinds(
            conn,
            events.iter().map(|(_, e)| e.campaign_id.clone()).collect(),
        )?)
        .collect();
    let region_facts = crate::db::events::region_facts(
        conn,
        events
            .iter()
            .map(|(_, e)| e.region.adcode().to_owned())
            .collect(),
    )?;
    let mut event_ids = HashSet::new();
    let mut event_rows = Vec::new();
    for (index, input) in events {
        v.at("events", index);
        if !event_ids.insert(input.id.clone()) {
            v.refuse(
                "id",
                format!("{:?} appears twice in this document", input.id),
            );
        }
        if let Some(row) = v.event(input, &campaign_kinds, &region_facts, now) {
            event_rows.push((index, row));
        }
    }
    let mut labs = Vec::new();
    for (index, raw) in document.labs.into_iter().enumerate() {
        v.at("labs", index);
        if let Some(input) = v.item::<LabInput>(raw) {
            labs.push((index, input));
        }
    }
    let lab_region_facts = crate::db::events::region_facts(
        conn,
        labs.iter()
            .map(|(_, l)| l.region.adcode().to_owned())
            .collect(),
    )?;
    let linked_events: Vec<String> = labs
        .iter()
        .flat_map(|(_, l)| l.open_days.iter().filter_map(|d| d.event_id.clone()))
        .filter(|id| !event_ids.contains(id))
        .collect();
    let stored_events = crate::db::events::existing(conn, linked_events)?;
    let known_events: HashSet<String> = event_ids.union(&stored_events).cloned().collect();
    let mut lab_ids = HashSet::new();
    let mut session_ids = HashSet::new();
    let mut lab_rows = Vec::new();
    for (index, input) in labs {
        v.at("labs", index);
        if !lab_ids.insert(input.id.clone()) {
            v.refuse(
                "id",
                format!("{:?} appears twice in this document", input.id),
            );
        }
        for (i, day) in input.open_days.iter().enumerate() {
            if !session_ids.insert(day.id.clone()) {
                v.refuse(
                    &format!("open_days[{i}].id"),
                    format!("{:?} appears twice in this document", day.id),
                );
            }
        }
        if let Some(lab) = v.lab(input, &lab_region_facts, &known_events, now) {
            lab_rows.push((index, lab));
        }
    }
    let product_writes = products::validate(conn, &mut v, document.products, today, now)?;
    let mut scoped: Option<(&Actor, Vec<ScopedRow>)> = None;
    if let Some(actor) = actor.filter(|a| a.scope != Scope::National) {
        let mut rows: Vec<ScopedRow> = Vec::new();
        rows.extend(
            notices
                .iter()
                .map(|(i, n)| ScopedRow::new("notices", *i, &n.id, n.region.as_deref())),
        );
        rows.extend(
            campaigns
                .iter()
                .map(|(i, c)| ScopedRow::new("campaigns", *i, &c.id, c.region.as_deref())),
        );
        rows.extend(
            event_rows
                .iter()
                .map(|(i, e)| ScopedRow::new("events", *i, &e.id, Some(&e.region))),
        );
        rows.extend(lab_rows.iter().map(|(i, (lab, sessions))| ScopedRow {
            lab: Some(lab.id.clone()),
            sessions: sessions.iter().map(|s| s.id.clone()).collect(),
            ..ScopedRow::new("labs", *i, &lab.id, Some(&lab.region))
        }));
        rows.extend(product_writes.iter().map(|(i, w)| {
            ScopedRow::new("products", *i, &w.row.certificate_no, Some(&w.row.region))
        }));
        check_scope(conn, &mut v, actor, &rows)?;
        scoped = Some((actor, rows));
    }
    let notices: Vec<NoticeChanges> = notices.into_iter().map(|(_, n)| n).collect();
    let campaigns: Vec<CampaignRow> = campaigns.into_iter().map(|(_, c)| c).collect();
    let event_rows: Vec<EventRow> = event_rows.into_iter().map(|(_, e)| e).collect();
    let lab_rows: Vec<(LabRow, Vec<OpenDayRow>)> = lab_rows.into_iter().map(|(_, l)| l).collect();
    let product_writes: Vec<ProductWrite> = product_writes.into_iter().map(|(_, w)| w).collect();

    let report = Report {
        counts: Counts {
            notices: notices.len(),
            campaigns: campaigns.len(),
            events: event_rows.len(),
            labs: lab_rows.len(),
            open_days: lab_rows.iter().map(|(_, days)| days.len()).sum(),
            products: product_writes.len(),
        },
        dry_run,
        errors: v.errors,
        forbidden: v.forbidden,
    };
    if report.is_clean() && !dry_run {
        let total = product_writes.len();
        crate::db::import::write_all(
            conn,
            crate::db::import::Records {
                notices: &notices,
                campaigns: &campaigns,
                events: &event_rows,
                labs: &lab_rows,
                products: &product_writes,
            },
            today,
            now,
            &mut Rechecked {
                inner: observer,
                scoped: scoped
                    .as_ref()
                    .map(|(actor, rows)| (*actor, rows.as_slice())),
            },
            &mut |done| progress(done, total),
        )?;
    }
    Ok(report)
}

/// Checks the rows' scope once more inside the write transaction, after
/// its lock is held: a record moved out of the writer's scope between the
/// first check (which names the rows) and the write refuses the whole import.
struct Rechecked<'a> {
    inner: &'a mut dyn Observer,
    scoped: Option<(&'a Actor, &'a [ScopedRow])>,
}

impl Observer for Rechecked<'_> {
    fn before(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()> {
        if let Some((actor, rows)) = self.scoped {
            let mut v = Validator {
                errors: Vec::new(),
                forbidden: Vec::new(),
                regions: HashSet::new(),
                section: "notices",
                index: 0,
            };
            check_scope(conn, &mut v, actor, rows)?;
            if !v.forbidden.is_empty() {
                return Err(DbError::Forbidden(
                    "a record moved out of the token's scope meanwhile".into(),
                ));
            }
        }
        self.inner.before(conn, targets)
    }

    fn after(&mut self, conn: &mut DbConn, targets: &[Target]) -> DbResult<()> {
        self.inner.after(conn, targets)
    }
}

/// A row of a scoped import: where it goes, and what it may move.
struct ScopedRow {
    section: &'static str,
    index: usize,
    id: String,
    region: Option<String>,
    /// For labs: the lab itself, and its sessions (which may come from
    /// another lab).
    lab: Option<String>,
    sessions: Vec<String>,
}

impl ScopedRow {
    fn new(section: &'static str, index: usize, id: &str, region: Option<&str>) -> Self {
        Self {
            section,
            index,
            id: id.to_owned(),
            region: region.map(str::to_owned),
            lab: None,
            sessions: Vec::new(),
        }
    }
}

/// Refuses every row whose new place, or stored place, is outside the
/// actor's scope: a record is only moved by someone who may write both
/// where it is and where it goes.
fn check_scope(
    conn: &mut DbConn,
    v: &mut Validator,
    actor: &Actor,
    rows: &[ScopedRow],
) -> DbResult<()> {
    use crate::db::access;
    let mut stored: HashMap<&'static str, HashMap<String, Option<String>>> = HashMap::new();
    for section in ["notices", "campaigns", "events", "labs", "products"] {
        let ids: Vec<String> = rows
            .iter()
            .filter(|r| r.section == section)
            .map(|r| r.id.clone())
            .collect();
        if !ids.is_empty() {
            stored.insert(section, access::stored_regions(conn, section, &ids)?);
        }
    }
    let sessions: Vec<String> = rows
        .iter()
        .flat_map(|r| r.sessions.iter().cloned())
        .collect();
    let session_labs = access::session_labs(conn, &sessions)?;
    let other_labs: Vec<String> = session_labs.values().cloned().collect();
    let other_lab_regions = access::lab_regions(conn, &other_labs)?;
    let mut codes: Vec<String> = rows.iter().filter_map(|r| r.region.clone()).collect();
    codes.extend(stored.values().flat_map(|m| m.values().flatten().cloned()));
    codes.extend(other_lab_regions.values().cloned());
    codes.sort_unstable();
    codes.dedup();
    let chains = access::region_places(conn, &codes)?;
    let place = |region: Option<&String>, lab: Option<&String>| Place {
        regions: region
            .map(|code| {
                chains
                    .get(code)
                    .cloned()
                    .unwrap_or_else(|| vec![code.clone()])
            })
            .unwrap_or_default(),
        lab: lab.cloned(),
    };
    let outside = format!("outside the scope of token {:?}", actor.name);
    for row in rows {
        v.at(row.section, row.index);
        let before = stored.get(row.section).and_then(|m| m.get(&row.id));
        let mut allowed = actor
            .scope
            .covers(&place(row.region.as_ref(), row.lab.as_ref()));
        if let Some(old_region) = before {
            allowed &= actor
                .scope
                .covers(&place(old_region.as_ref(), row.lab.as_ref()));
        }
        if let Scope::Lab(_) = actor.scope {
            // A lab token changes its lab where its region registered it:
            // it neither creates the lab nor moves it.
            allowed &= before.is_some_and(|old| old.as_ref() == row.region.as_ref());
        }
        if !allowed {
            v.forbid("region", &outside);
        }
        for (i, session) in row.sessions.iter().enumerate() {
            let Some(lab) = session_labs
                .get(session)
                .filter(|l| Some(*l) != row.lab.as_ref())
            else {
                continue;
            };
            if !actor
                .scope
                .covers(&place(other_lab_regions.get(lab), Some(lab)))
            {
                v.forbid(
                    &format!("open_days[{i}].id"),
                    &format!("belongs to lab {lab:?}, {outside}"),
                );
            }
        }
    }
    Ok(())
}

/// Every record as an import document, so that export → import round-trips.
pub fn export(conn: &mut DbConn) -> DbResult<String> {
    #[derive(Serialize)]
    struct Export {
        notices: Vec<Notice>,
        campaigns: Vec<Campaign>,
        events: Vec<Event>,
        labs: Vec<Lab>,
        products: Vec<crate::api::products::Product>,
    }
    let notices = crate::db::notices::all(conn)?;
    let campaigns = crate::db::campaigns::all(conn)?;
    let doc = Export {
        notices: notices.into_iter().map(Notice::from).collect(),
        campaigns: campaigns.into_iter().map(Campaign::from).collect(),
        events: crate::db::events::all(conn)?
            .into_iter()
            .map(Event::from)
            .collect(),
        labs: crate::db::labs::all(conn)?
            .into_iter()
            .map(|(hit, sessions)| Lab::new(hit, sessions, CoordSys::Wgs84))
            .collect(),
        products: crate::db::products::all(conn)?
            .into_iter()
            .map(|hit| crate::api::products::Product::new(hit, crate::domain::today_in_shanghai()))
            .collect(),
    };
    let mut json = serde_json::to_string_pretty(&doc).map_err(|e| DbError::Query(e.to_string()))?;
    json.push('\n');
    Ok(json)
}

struct Validator {
    errors: Vec<RowError>,
    forbidden: Vec<RowError>,
    regions: HashSet<String>,
    section: &'static str,
    index: usize,
}

impl Validator {
    fn at(&mut self, section: &'static str, index: usize) {
        self.section = section;
        self.index = index;
    }

    fn refuse(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(RowError {
            section: self.section,
            index: self.index,
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    fn forbid(&mut self, field: &str, reason: &str) {
        self.forbidden.push(RowError {
            section: self.section,
            index: self.index,
            field: field.to_owned(),
            reason: reason.to_owned(),
        });
    }

    fn item<T: serde::de::DeserializeOwned>(&mut self, raw: &RawValue) -> Option<T> {
        // JSON carries NUL only escaped; PostgreSQL text cannot hold it.
        if raw.get().contains("\\u0000") {
            self.refuse("(item)", "text may not contain NUL characters (\\u0000)");
            return None;
        }
        serde_json::from_str(raw.get())
            .map_err(|e| self.refuse("(item)", e.to_string()))
            .ok()
    }

    fn id(&mut self, raw: String) -> String {
        match raw.parse::<RecordId>() {
            Ok(id) => id.into_string(),
            Err(e) => {
                self.refuse("id", e.0);
                raw
            }
        }
    }

    fn region(&mut self, raw: Option<&RegionInput>) -> Option<String> {
        let code = raw?.adcode();
        match code.parse::<Adcode>() {
            Ok(_) if self.regions.contains(code) => {}
            Ok(_) => self.refuse("region", format!("no region with adcode {code}")),
            Err(e) => self.refuse("region", e.0),
        }
        Some(code.to_owned())
    }

    fn date(&mut self, field: &str, raw: Option<&str>) -> Option<NaiveDate> {
        parse_date(raw?).map_err(|e| self.refuse(field, e.0)).ok()
    }

    fn required(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.refuse(field, "must not be empty");
        }
    }

    fn notice(&mut self, raw: &RawValue, now: chrono::NaiveDateTime) -> Option<NoticeChanges> {
        let input: NoticeInput = self.item(raw)?;
        for (field, value) in [
            ("doc_number", &input.doc_number),
            ("title", &input.title),
            ("issuer", &input.issuer),
            ("source", &input.source),
        ] {
            self.required(field, value);
        }
        let issued_on = self.date("issued_on", input.issued_on.as_deref());
        let year = input
            .year
            .or_else(|| issued_on.map(|d| d.year()))
            .or_else(|| year_of_doc_number(&input.doc_number));
        if year.is_none() {
            self.refuse(
                "year",
                "needed when neither issued_on nor the document number gives it",
            );
        }
        Some(NoticeChanges {
            id: self.id(input.id),
            region: self.region(input.region.as_ref()),
            year: year.unwrap_or_default(),
            issued_on,
            contacts: serde_json::to_string(&input.contacts).unwrap_or_default(),
            deadlines: serde_json::to_string(&input.deadlines).unwrap_or_default(),
            forwards: serde_json::to_string(&input.forwards).unwrap_or_default(),
            cites: serde_json::to_string(&input.cites).unwrap_or_default(),
            doc_number: input.doc_number,
            title: input.title,
            issuer: input.issuer,
            body: input.body,
            source_url: input.source_url,
            source: input.source,
            updated_at: now,
        })
    }

    fn campaign(&mut self, raw: &RawValue, now: chrono::NaiveDateTime) -> Option<CampaignRow> {
        let input: CampaignInput = self.item(raw)?;
        self.required("title", &input.title);
        self.required("source", &input.source);
        if let Err(e) = input.kind.parse::<CampaignKind>() {
            self.refuse("kind", e.0);
        }
        if !(2000..=2100).contains(&input.year) {
            self.refuse("year", "must be from 2000 to 2100");
        }
        let starts_on = self.date("starts_on", input.starts_on.as_deref());
        let ends_on = self.date("ends_on", input.ends_on.as_deref());
        if let (Some(start), Some(end)) = (starts_on, ends_on) {
            if start > end {
                self.refuse("ends_on", "must not be before starts_on");
            }
        }
        Some(CampaignRow {
            id: self.id(input.id),
            region: self.region(input.region.as_ref()),
            kind: input.kind,
            year: input.year,
            title: input.title,
            theme: input.theme,
            starts_on,
            ends_on,
            period_text: input.period_text,
            notice_id: input.notice_id,
            source: input.source,
            updated_at: now,
        })
    }
}

impl Validator {
    fn instant(&mut self, field: &str, raw: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(raw)
            .map_err(|_| {
                self.refuse(
                    field,
                    format!("must be an RFC 3339 datetime with offset, got {raw:?}"),
                )
            })
            .ok()
    }

    fn parsed<T: std::str::FromStr<Err = Invalid>>(&mut self, field: &str, raw: &str) -> Option<T> {
        raw.parse()
            .map_err(|e: Invalid| self.refuse(field, e.0))
            .ok()
    }

    fn event(
        &mut self,
        input: EventInput,
        campaign_kinds: &HashMap<String, String>,
        region_facts: &HashMap<String, RegionFacts>,
        now: chrono::NaiveDateTime,
    ) -> Option<EventRow> {
        self.required("title", &input.title);
        self.required("source", &input.source);
        let kind = campaign_kinds.get(&input.campaign_id).cloned();
        if kind.is_none() {
            self.refuse(
                "campaign_id",
                format!("no campaign with id {:?}", input.campaign_id),
            );
        }
        let activities: Vec<String> = input
            .activities
            .iter()
            .filter_map(|a| {
                self.parsed::<Activity>("activities", a)
                    .map(|a| a.as_str().to_owned())
            })
            .collect();
        let starts_at = self.instant("starts_at", &input.starts_at);
        let ends_at = self.instant("ends_at", &input.ends_at);
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            let max_days = crate::db::events::MAX_EVENT_DAYS;
            if start >= end {
                self.refuse("ends_at", "must be after starts_at");
            } else if end - start > chrono::Duration::days(max_days) {
                self.refuse("ends_at", format!("an event lasts at most {max_days} days"));
            }
        }
        if input.title.chars().count() > 500 {
            self.refuse("title", "must be at most 500 characters");
        }
        if input.description.chars().count() > 20_000 {
            self.refuse("description", "must be at most 20000 characters");
        }
        let precision = self.parsed::<Precision>("venue.precision", &input.venue.precision);
        let region = self.region(Some(&input.region)).unwrap_or_default();
        let point = self.point(
            "venue.",
            input.venue.lat,
            input.venue.lon,
            precision,
            region_facts.get(&region),
        );
        let attendance = self.parsed::<Attendance>(
            "attendance",
            input.attendance.as_deref().unwrap_or("offline"),
        );
        let status =
            self.parsed::<EventStatus>("status", input.status.as_deref().unwrap_or("scheduled"));
        let starts_at = starts_at?;
        let (lat, lon) = point?;
        let [x, y, z] = LatLon { lat, lon }.unit_vector();
        let facts = region_facts.get(&region)?;
        Some(EventRow {
            id: self.id(input.id),
            campaign_id: input.campaign_id,
            kind: kind?,
            year: starts_at.with_timezone(&SHANGHAI).year(),
            title: input.title,
            description: input.description,
            activities: serde_json::to_string(&activities).unwrap_or_default(),
            starts_at: starts_at.naive_utc(),
            ends_at: ends_at?.naive_utc(),
            period_text: input.period_text,
            venue_name: input.venue.name,
            venue_address: input.venue.address,
            lat,
            lon,
            x,
            y,
            z,
            precision: precision?.as_str().to_owned(),
            province: facts.province.clone(),
            city: facts.city.clone(),
            search_key: 0,
            region,
            organizer: input.organizer,
            online_url: input.online_url,
            attendance: attendance?.as_str().to_owned(),
            status: status?.as_str().to_owned(),
            source: input.source,
            updated_at: now,
        })
    }

    /// A point given as `lat`/`lon`, or the region's centroid when the
    /// precision is `region` and no point is given.
    fn point(
        &mut self,
        prefix: &str,
        lat: Option<f64>,
        lon: Option<f64>,
        precision: Option<Precision>,
        centroid: Option<&RegionFacts>,
    ) -> Option<(f64, f64)> {
        match (lat, lon, precision) {
            (Some(lat), Some(lon), _) => LatLon::new(lat, lon)
                .map(|p| (p.lat, p.lon))
                .map_err(|e| self.refuse(&format!("{prefix}lat"), e.0))
                .ok(),
            (None, None, Some(Precision::Region)) => centroid.map(|r| (r.lat, r.lon)),
            (None, None, _) => {
                self.refuse(
                    &format!("{prefix}lat"),
                    format!("needed unless {prefix}precision is \"region\""),
                );
                None
            }
            _ => {
                self.refuse(&format!("{prefix}lon"), "lat and lon come together");
                None
            }
        }
    }

    fn lab(
        &mut self,
        input: LabInput,
        region_facts: &HashMap<String, RegionFacts>,
        known_events: &HashSet<String>,
        now: chrono::NaiveDateTime,
    ) -> Option<(LabRow, Vec<OpenDayRow>)> {
        self.required("name", &input.name);
        self.required("source", &input.source);
        if input.name.chars().count() > 500 {
            self.refuse("name", "must be at most 500 characters");
        }
        let cma_no = input
            .cma_no
            .as_deref()
            .and_then(|raw| self.parsed::<CmaNumber>("cma_no", raw))
            .map(CmaNumber::into_string);
        let fields: Vec<LabField> = input
            .fields
            .iter()
            .filter_map(|f| self.parsed::<LabField>("fields", f))
            .collect();
        let precision = self.parsed::<Precision>("precision", &input.precision);
        let region = self.region(Some(&input.region)).unwrap_or_default();
        let facts = region_facts.get(&region);
        let point = self.point("", input.lat, input.lon, precision, facts);
        let lab_id = self.id(input.id);
        let most = crate::db::labs::SESSIONS_PER_LAB as usize;
        if input.open_days.len() > most {
            // A lab is read and written with all its sessions: bounded.
            self.refuse(
                "open_days",
                format!(
                    "a lab lists at most {most} sessions, got {}",
                    input.open_days.len()
                ),
            );
        }
        let mut sessions = Vec::new();
        for (i, day) in input.open_days.into_iter().enumerate() {
            if let Some(row) =
                self.open_day(&format!("open_days[{i}]."), day, &lab_id, known_events, now)
            {
                sessions.push(row);
            }
        }
        let (lat, lon) = point?;
        let [x, y, z] = LatLon { lat, lon }.unit_vector();
        let facts = facts?;
        Some((
            LabRow {
                id: lab_id,
                name: input.name,
                cma_no,
                cnas_no: input.cnas_no,
                field_mask: LabField::mask(&fields),
                address: input.address,
                province: facts.province.clone(),
                city: facts.city.clone(),
                region,
                lat,
                lon,
                x,
                y,
                z,
                precision: precision?.as_str().to_owned(),
                phone: input.phone,
                website: input.website,
                search_key: 0,
                source: input.source,
                updated_at: now,
            },
            sessions,
        ))
    }

    fn open_day(
        &mut self,
        prefix: &str,
        input: OpenDayInput,
        lab_id: &str,
        known_events: &HashSet<String>,
        now: chrono::NaiveDateTime,
    ) -> Option<OpenDayRow> {
        let field = |name: &str| format!("{prefix}{name}");
        let id = match input.id.parse::<RecordId>() {
            Ok(id) => Some(id.into_string()),
            Err(e) => {
                self.refuse(&field("id"), e.0);
                None
            }
        };
        if let Some(event) = &input.event_id {
            if !known_events.contains(event) {
                self.refuse(&field("event_id"), format!("no event with id {event:?}"));
            }
        }
        let activities: Vec<Activity> = input
            .activities
            .iter()
            .filter_map(|a| self.parsed::<Activity>(&field("activities"), a))
            .collect();
        let starts_at = self.instant(&field("starts_at"), &input.starts_at);
        let ends_at = self.instant(&field("ends_at"), &input.ends_at);
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            let max_days = crate::db::labs::MAX_SESSION_DAYS;
            if start >= end {
                self.refuse(&field("ends_at"), "must be after starts_at");
            } else if end - start > chrono::Duration::days(max_days) {
                self.refuse(
                    &field("ends_at"),
                    format!("a session lasts at most {max_days} days"),
                );
            }
        }
        let capacity = match input.capacity {
            None => None,
            Some(n) if (1..=1_000_000).contains(&n) => i32::try_from(n).ok(),
            Some(n) => {
                self.refuse(
                    &field("capacity"),
                    format!("must be from 1 to 1000000, got {n}"),
                );
                None
            }
        };
        let status = self.parsed::<EventStatus>(
            &field("status"),
            input.status.as_deref().unwrap_or("scheduled"),
        );
        let booking = input.booking.unwrap_or(BookingInput {
            required: None,
            url: None,
            phone: None,
        });
        let status = status?;
        let bookable =
            status == EventStatus::Scheduled && (booking.url.is_some() || booking.phone.is_some());
        let mut row = OpenDayRow {
            id: id?,
            lab_id: lab_id.to_owned(),
            event_id: input.event_id,
            starts_at: starts_at?.naive_utc(),
            ends_at: ends_at?.naive_utc(),
            period_text: input.period_text,
            description: input.description,
            activity_mask: Activity::mask(&activities),
            audience: input.audience,
            capacity,
            booking_required: booking.required,
            booking_url: booking.url,
            booking_phone: booking.phone,
            bookable,
            online_url: input.online_url,
            status: status.as_str().to_owned(),
            updated_at: now,
            body: None,
        };
        row.body = Some(crate::api::labs::session_body(&row));
        Some(row)
    }
}

/// The year in a Chinese document number: `晋市监函〔2024〕209号` → 2024.
fn year_of_doc_number(doc_number: &str) -> Option<i32> {
    let start = doc_number.find('〔')? + '〔'.len_utf8();
    let rest = &doc_number[start..];
    let end = rest.find('〕')?;
    rest[..end]
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
}

#[cfg(test)]
mod tests {
    #[test]
    fn year_from_doc_number() {
        assert_eq!(
            super::year_of_doc_number("晋市监函〔2024〕209号"),
            Some(2024)
        );
        assert_eq!(super::year_of_doc_number("无年号"), None);
    }
}
