//! The `products` section of an import document, and products as CSV (the
//! columns of `/products.csv`, which `ticweek import` reads back).

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{RegionInput, Validator};
use crate::api::products::{Certifier, CodeRange, Holder, Product, ProductItem};
use crate::db::products::{ProductRow, ProductWrite, StatusNote};
use crate::db::{DbConn, DbResult};
use crate::domain::{
    ApprovalNo, CertificateNo, CertificationType, CreditCode, OrganicCode, ProductCategory,
    ProductStatus, Scheme,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(value_type = crate::domain::CertificateNo)]
    certificate_no: String,
    #[schema(value_type = crate::domain::Scheme)]
    scheme: String,
    #[schema(value_type = crate::domain::CertificationType)]
    certification_type: String,
    green_attribute: Option<String>,
    holder: Holder,
    products: Vec<ProductItemInput>,
    base_address: Option<String>,
    region: RegionInput,
    certifier: Certifier,
    standard: String,
    #[schema(value_type = String, format = Date)]
    issued_on: String,
    #[schema(value_type = String, format = Date)]
    expires_on: String,
    /// Today's status (an export carries it); imported only when
    /// `registry_status` is absent.
    #[schema(value_type = Option<crate::domain::ProductStatus>)]
    status: Option<String>,
    /// The status as the registry records it (never `expired`).
    #[schema(value_type = Option<crate::domain::ProductStatus>)]
    registry_status: Option<String>,
    /// When the current status took effect, if the source says.
    #[schema(value_type = Option<String>, format = Date)]
    status_since: Option<String>,
    /// Why, if the source says (suspensions and revocations).
    status_reason: Option<String>,
    #[serde(default)]
    organic_codes: Vec<CodeRange>,
    source: String,
    /// Derived; accepted (so an export imports) and ignored.
    #[serde(default, rename = "category")]
    #[schema(ignore)]
    _category: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductItemInput {
    name: String,
    #[schema(value_type = crate::domain::ProductCategory)]
    category: String,
}

/// Most products one certificate lists, and longest texts.
const MAX_ITEMS: usize = 100;
const MAX_TEXT: usize = 500;

/// Validates the `products` section: every row on its own, then numbers
/// given twice and organic-code ranges that overlap one another or a stored
/// range of another certificate.
pub(super) fn validate(
    conn: &mut DbConn,
    v: &mut Validator,
    raw: Vec<&serde_json::value::RawValue>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> DbResult<Vec<(usize, ProductWrite)>> {
    let mut inputs = Vec::new();
    for (index, item) in raw.into_iter().enumerate() {
        v.at("products", index);
        if let Some(input) = v.item::<ProductInput>(item) {
            inputs.push((index, input));
        }
    }
    let facts = crate::db::events::region_facts(
        conn,
        inputs
            .iter()
            .map(|(_, p)| p.region.adcode().to_owned())
            .collect(),
    )?;
    let mut writes: Vec<(usize, ProductWrite)> = Vec::new();
    let mut numbers = HashSet::new();
    for (index, input) in inputs {
        v.at("products", index);
        if let Some(write) = product(v, input, &facts, today, now) {
            if !numbers.insert(write.row.certificate_no.clone()) {
                v.refuse(
                    "certificate_no",
                    format!(
                        "{:?} appears twice in this document",
                        write.row.certificate_no
                    ),
                );
            }
            writes.push((index, write));
        }
    }
    // Ranges must not overlap: sorted, each must start after the last ended.
    let mut ranges: Vec<(i64, i64, usize, &str)> = writes
        .iter()
        .flat_map(|(index, w)| {
            w.ranges
                .iter()
                .map(move |(first, last)| (*first, *last, *index, w.row.certificate_no.as_str()))
        })
        .collect();
    ranges.sort_unstable();
    let mut clashes = Vec::new();
    for pair in ranges.windows(2) {
        let ((_, last, _, owner), (first, _, index, _)) = (pair[0], pair[1]);
        if first <= last {
            clashes.push((index, format!("overlaps a range of certificate {owner:?}")));
        }
    }
    for (first, last, index, owner) in &ranges {
        if let Some((holder, a, b)) =
            crate::db::products::overlapping_range(conn, owner, *first, *last)?
        {
            if !numbers.contains(&holder) {
                clashes.push((
                    *index,
                    format!(
                        "overlaps {}–{} of stored certificate {holder:?}",
                        crate::api::products::code_digits(a),
                        crate::api::products::code_digits(b)
                    ),
                ));
            }
        }
    }
    for (index, reason) in clashes {
        v.at("products", index);
        v.refuse("organic_codes", reason);
    }
    Ok(writes)
}

fn product(
    v: &mut Validator,
    input: ProductInput,
    facts: &HashMap<String, crate::db::events::RegionFacts>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> Option<ProductWrite> {
    let number = v.parsed::<CertificateNo>("certificate_no", &input.certificate_no);
    let scheme = v.parsed::<Scheme>("scheme", &input.scheme);
    let kind = v.parsed::<CertificationType>("certification_type", &input.certification_type);
    if let (Some(scheme), Some(kind)) = (scheme, kind) {
        if kind.scheme() != scheme {
            v.refuse(
                "certification_type",
                format!(
                    "{} is not a type of the {} scheme",
                    kind.as_str(),
                    scheme.as_str()
                ),
            );
        }
    }
    let attribute = input.green_attribute.filter(|a| !a.trim().is_empty());
    match (kind, &attribute) {
        (Some(CertificationType::GreenAttribute), None) => v.refuse(
            "green_attribute",
            "a green_attribute (涉绿) certificate names its attribute",
        ),
        (Some(k), Some(_)) if k != CertificationType::GreenAttribute => v.refuse(
            "green_attribute",
            "only a green_attribute certificate has one",
        ),
        _ => {}
    }
    for (field, value) in [
        ("holder.name", &input.holder.name),
        ("certifier.name", &input.certifier.name),
        ("standard", &input.standard),
        ("source", &input.source),
    ] {
        v.required(field, value);
        if value.chars().count() > MAX_TEXT {
            v.refuse(field, format!("must be at most {MAX_TEXT} characters"));
        }
    }
    let credit_code = input
        .holder
        .credit_code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .and_then(|raw| v.parsed::<CreditCode>("holder.credit_code", raw))
        .map(CreditCode::into_string);
    if input.products.is_empty() {
        v.refuse("products", "a certificate lists at least one product");
    }
    if input.products.len() > MAX_ITEMS {
        v.refuse("products", format!("at most {MAX_ITEMS} products"));
    }
    let mut items = Vec::new();
    for (i, item) in input.products.iter().enumerate() {
        v.required(&format!("products[{i}].name"), &item.name);
        if let Some(category) =
            v.parsed::<ProductCategory>(&format!("products[{i}].category"), &item.category)
        {
            items.push(ProductItem {
                name: item.name.trim().to_owned(),
                category,
            });
        }
    }
    let approval = v.parsed::<ApprovalNo>("certifier.approval_no", &input.certifier.approval_no);
    let issued_on = v.date("issued_on", Some(&input.issued_on));
    let expires_on = v.date("expires_on", Some(&input.expires_on));
    if let (Some(issued), Some(expires)) = (issued_on, expires_on) {
        if expires < issued {
            v.refuse("expires_on", "must not be before issued_on");
        }
    }
    let (status_field, raw_status) = match (&input.registry_status, &input.status) {
        (Some(raw), _) => ("registry_status", Some(raw.as_str())),
        (None, raw) => ("status", raw.as_deref()),
    };
    let status = match raw_status {
        Some(raw) => v.parsed::<ProductStatus>(status_field, raw),
        None => {
            v.refuse(
                "status",
                "is required (valid, suspended, revoked or withdrawn)",
            );
            None
        }
    };
    if status == Some(ProductStatus::Expired) {
        v.refuse(
            status_field,
            "`expired` is derived from expires_on; give the registry status \
             (valid, suspended, revoked or withdrawn)",
        );
    }
    let since = v.date("status_since", input.status_since.as_deref());
    if let (Some(since), Some(issued)) = (since, issued_on) {
        if since < issued {
            v.refuse("status_since", "must not be before issued_on");
        }
    }
    if scheme == Some(Scheme::Green) && !input.organic_codes.is_empty() {
        v.refuse(
            "organic_codes",
            "only organic certificates carry organic codes",
        );
    }
    let mut ranges = Vec::new();
    for (i, range) in input.organic_codes.iter().enumerate() {
        let field = format!("organic_codes[{i}]");
        let parse = |raw: &str| OrganicCode::parse(raw, today.year());
        let (first, last) = match (parse(&range.first), parse(&range.last)) {
            (Ok(first), Ok(last)) => (first, last),
            (Err(e), _) => {
                v.refuse(&format!("{field}.first"), e.0);
                continue;
            }
            (_, Err(e)) => {
                v.refuse(&format!("{field}.last"), e.0);
                continue;
            }
        };
        if first.value() > last.value() {
            v.refuse(&format!("{field}.last"), "must not be below first");
        } else if first.body_code != last.body_code || first.year != last.year {
            v.refuse(
                &field,
                "first and last must share the certification body and year digits",
            );
        } else if let Some(approval) = &approval {
            if first.body_code != approval.organic_code_prefix() {
                v.refuse(
                    &format!("{field}.first"),
                    format!(
                        "starts with certification body {}, but the certifier's approval \
                         number {} gives {}",
                        first.body_code,
                        approval.as_str(),
                        approval.organic_code_prefix()
                    ),
                );
            }
        }
        ranges.push((first.value(), last.value()));
    }
    let region = v.region(Some(&input.region)).unwrap_or_default();
    let facts = facts.get(&region)?;
    let approval = approval?;
    let mut row = ProductRow {
        certificate_no: number?.into_string(),
        scheme: scheme?.as_str().to_owned(),
        certification_type: kind?.as_str().to_owned(),
        green_attribute: attribute,
        holder_name: input.holder.name.trim().to_owned(),
        holder_credit_code: credit_code,
        category: items.first()?.category.as_str().to_owned(),
        items: serde_json::to_string(&items).ok()?,
        base_address: input.base_address,
        province: facts.province.clone(),
        city: facts.city.clone(),
        region,
        certifier_name: input.certifier.name.trim().to_owned(),
        certifier_code: approval.organic_code_prefix(),
        certifier_approval_no: approval.as_str().to_owned(),
        standard: input.standard.trim().to_owned(),
        issued_on: issued_on?,
        expires_on: expires_on?,
        status: status.filter(|s| s.is_stored())?.as_str().to_owned(),
        search_key: 0,
        source: input.source,
        updated_at: now,
        code_ranges: crate::db::products::encode_ranges(&ranges),
        body: None,
    };
    // Rendered here, where every write of a certificate is built.
    row.body = Some(crate::api::products::stored_body(&row, &ranges));
    Some(ProductWrite {
        row,
        ranges,
        note: StatusNote {
            since,
            reason: input.status_reason,
        },
    })
}

/// Columns of `/products.csv`, which `ticweek import` also reads.
pub const CSV_HEADER: [&str; 20] = [
    "certificate_no",
    "scheme",
    "certification_type",
    "green_attribute",
    "holder_name",
    "holder_credit_code",
    "product_names",
    "product_categories",
    "base_address",
    "region_adcode",
    "region_name",
    "certifier_name",
    "certifier_approval_no",
    "standard",
    "issued_on",
    "expires_on",
    "status",
    "registry_status",
    "organic_codes",
    "source",
];

/// Separates the products of one certificate in a cell (names may hold
/// commas and spaces, never this).
const LIST_SEPARATOR: &str = "|";

/// Certificates as CSV that opens in Excel: UTF-8 with BOM, CRLF, formula
/// cells neutralized (as for events).
pub fn products_csv(products: &[Product]) -> Result<Vec<u8>, csv::Error> {
    let neutralize = crate::api::events::feeds::neutralize;
    let mut body = "\u{feff}".as_bytes().to_vec();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut body);
        writer.write_record(CSV_HEADER)?;
        for p in products {
            let names: Vec<&str> = p.products.iter().map(|i| i.name.as_str()).collect();
            let categories: Vec<&str> = p.products.iter().map(|i| i.category.as_str()).collect();
            let codes: Vec<String> = p
                .organic_codes
                .iter()
                .map(|r| format!("{}-{}", r.first, r.last))
                .collect();
            writer.write_record([
                neutralize(&p.certificate_no),
                p.scheme.as_str().to_owned(),
                p.certification_type.as_str().to_owned(),
                p.green_attribute
                    .as_deref()
                    .map(neutralize)
                    .unwrap_or_default(),
                neutralize(&p.holder.name),
                p.holder.credit_code.clone().unwrap_or_default(),
                neutralize(&names.join(LIST_SEPARATOR)),
                categories.join(LIST_SEPARATOR),
                p.base_address
                    .as_deref()
                    .map(neutralize)
                    .unwrap_or_default(),
                p.region.adcode.clone(),
                neutralize(&p.region.name),
                neutralize(&p.certifier.name),
                p.certifier.approval_no.clone(),
                neutralize(&p.standard),
                p.issued_on.to_string(),
                p.expires_on.to_string(),
                p.status.as_str().to_owned(),
                p.registry_status.as_str().to_owned(),
                codes.join(LIST_SEPARATOR),
                neutralize(&p.source),
            ])?;
        }
        writer.flush()?;
    }
    Ok(body)
}

/// Undoes `neutralize`: a leading quote before a formula character.
fn restore(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_owned(),
        _ => cell.to_owned(),
    }
}

/// Reads CSV in the columns of `/products.csv` into product items of an
/// import document; a malformed line is an `Err` with the reason.
pub fn csv_to_items(text: &str) -> Result<Vec<Result<Value, String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("not a products CSV: {e}"))?
        .clone();
    let missing: Vec<&str> = CSV_HEADER
        .iter()
        .copied()
        .filter(|c| {
            !["region_name", "status", "registry_status"].contains(c)
                && !headers.iter().any(|h| h == *c)
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "not a products CSV: missing column(s) {}",
            missing.join(", ")
        ));
    }
    let mut items = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                items.push(Err(e.to_string()));
                continue;
            }
        };
        let cell = |name: &str| -> String {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .map(restore)
                .unwrap_or_default()
        };
        let optional = |name: &str| -> Value {
            let value = cell(name);
            if value.is_empty() {
                Value::Null
            } else {
                Value::String(value)
            }
        };
        let names = cell("product_names");
        let categories = cell("product_categories");
        let products: Vec<Value> = names
            .split(LIST_SEPARATOR)
            .zip(
                categories
                    .split(LIST_SEPARATOR)
                    .chain(std::iter::repeat("")),
            )
            .filter(|(name, _)| !name.is_empty())
            .map(|(name, category)| json!({ "name": name, "category": category }))
            .collect();
        let codes: Vec<Value> = cell("organic_codes")
            .split(LIST_SEPARATOR)
            .filter(|r| !r.is_empty())
            .map(|range| match range.split_once('-') {
                Some((first, last)) => json!({ "first": first, "last": last }),
                None => json!({ "first": range, "last": "" }),
            })
            .collect();
        items.push(Ok(json!({
            "certificate_no": cell("certificate_no"),
            "scheme": cell("scheme"),
            "certification_type": cell("certification_type"),
            "green_attribute": optional("green_attribute"),
            "holder": { "name": cell("holder_name"), "credit_code": optional("holder_credit_code") },
            "products": products,
            "base_address": optional("base_address"),
            "region": cell("region_adcode"),
            "certifier": { "name": cell("certifier_name"), "approval_no": cell("certifier_approval_no") },
            "standard": cell("standard"),
            "issued_on": cell("issued_on"),
            "expires_on": cell("expires_on"),
            "status": optional("status"),
            "registry_status": optional("registry_status"),
            "organic_codes": codes,
            "source": cell("source"),
        })));
    }
    Ok(items)
}
