//! Certified organic and green products: certificate look-up (tolerant of
//! how people type numbers), search with facets, CSV, status history, the
//! change feed, and organic-code (有机码) verification.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header::{self, ContentType};
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::events::FacetValue;
use super::paging::{self, Page};
use super::query::{Checker, Params};
use super::regions::RegionRef;
use super::{run, AppState};
use crate::db::products::{
    Certificate, ChangeHit, ChangeKey, FacetCounts, Issuer, ProductFilter, ProductHit, ProductKey,
    ProductOrder, ProductRow, Reading, StatusChangeRow, StoredProduct,
};
use crate::domain::{
    parse_date, to_shanghai, today_in_shanghai, Adcode, ApprovalNo, CertificateNo,
    CertificationType, Invalid, OrganicCode, OrganicCodeLayout, ProductCategory, ProductStatus,
    Scheme, SearchQuery,
};
use crate::error::{ApiError, Problem};

/// The certificate holder.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Holder {
    #[schema(example = "江西某某生态农业有限公司")]
    pub name: String,
    /// Unified social credit code (GB 32100), when published.
    #[schema(example = "91350100M000100Y43")]
    pub credit_code: Option<String>,
}

/// One certified product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ProductItem {
    #[schema(example = "有机大米")]
    pub name: String,
    pub category: ProductCategory,
}

/// The certification body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Certifier {
    #[schema(example = "中绿华夏有机产品认证中心")]
    pub name: String,
    /// CNCA approval number.
    #[schema(example = "CNCA-R-2002-001")]
    pub approval_no: String,
}

/// An inclusive range of organic codes (17 digits each).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CodeRange {
    #[schema(example = "00121000000100000")]
    pub first: String,
    #[schema(example = "00121000000149999")]
    pub last: String,
}

/// A certificate of the organic or green product scheme.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    /// Certificate number (upper case, half-width): the natural key.
    #[schema(example = "001OP2100000123")]
    pub certificate_no: String,
    pub scheme: Scheme,
    /// organic / in_conversion (有机转换) for organic; full_green (全绿) / green_attribute (涉绿) for green.
    pub certification_type: CertificationType,
    /// The attribute of a `green_attribute` certificate (节能, 节水, 低碳 …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub green_attribute: Option<String>,
    pub holder: Holder,
    pub products: Vec<ProductItem>,
    /// The certificate's category: its first product's.
    pub category: ProductCategory,
    /// Production base.
    pub base_address: Option<String>,
    pub region: RegionRef,
    pub certifier: Certifier,
    /// Certification standard.
    #[schema(example = "GB/T 19630-2019")]
    pub standard: String,
    #[serde(serialize_with = "crate::domain::date")]
    pub issued_on: NaiveDate,
    /// Last day of validity.
    #[serde(serialize_with = "crate::domain::date")]
    pub expires_on: NaiveDate,
    /// Status today (Asia/Shanghai): `expired` once `expires_on` has passed
    /// for a valid or suspended certificate.
    pub status: ProductStatus,
    /// The status as the registry records it: never `expired`.
    pub registry_status: ProductStatus,
    /// Ranges of organic codes issued under the certificate (organic scheme only).
    pub organic_codes: Vec<CodeRange>,
    /// Where the record comes from.
    pub source: String,
    /// Last change, Asia/Shanghai.
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
}

/// Formats a stored organic code number as its 17 digits.
pub fn code_digits(value: i64) -> String {
    format!("{value:017}")
}

impl Product {
    pub fn new(hit: ProductHit, today: NaiveDate) -> Self {
        let row = hit.row;
        let stored = row.status.parse().unwrap_or(ProductStatus::Valid);
        Self {
            status: ProductStatus::on(stored, row.expires_on, today),
            registry_status: stored,
            scheme: row.scheme.parse().unwrap_or(Scheme::Organic),
            certification_type: row
                .certification_type
                .parse()
                .unwrap_or(CertificationType::Organic),
            green_attribute: row.green_attribute,
            holder: Holder {
                name: row.holder_name,
                credit_code: row.holder_credit_code,
            },
            products: serde_json::from_str(&row.items).unwrap_or_default(),
            category: row.category.parse().unwrap_or(ProductCategory::Other),
            base_address: row.base_address,
            region: RegionRef {
                adcode: row.region,
                name: hit.region_name,
            },
            certifier: Certifier {
                name: row.certifier_name,
                approval_no: row.certifier_approval_no,
            },
            standard: row.standard,
            issued_on: row.issued_on,
            expires_on: row.expires_on,
            organic_codes: hit
                .ranges
                .into_iter()
                .map(|(first, last)| CodeRange {
                    first: code_digits(first),
                    last: code_digits(last),
                })
                .collect(),
            source: row.source,
            updated_at: to_shanghai(row.updated_at),
            certificate_no: row.certificate_no,
        }
    }
}

/// The hole in a stored representation where the region's name goes: the
/// name comes from the bundled divisions of the build that reads it.
const REGION_NAME_HOLE: u8 = 0x01;
/// The hole where the status of the day goes (`expired` is derived).
const STATUS_HOLE: u8 = 0x02;

/// A certificate's representation as it is stored (`products.body`): its
/// JSON with holes for what is decided when it is read. The holes are
/// control bytes, which JSON text holds only escaped, so no value written
/// into the representation can be taken for one.
pub fn stored_body(row: &ProductRow, ranges: &[(i64, i64)]) -> Vec<u8> {
    // In order, as `organic_codes` always lists them.
    let mut ranges = ranges.to_vec();
    ranges.sort_unstable();
    let hit = ProductHit {
        row: ProductRow {
            body: None,
            ..row.clone()
        },
        region_name: String::new(),
        ranges,
    };
    let mut product = Product::new(hit, NaiveDate::MIN);
    product.status = ProductStatus::Valid;
    let json = serde_json::to_string(&product).expect("a certificate serializes");
    // Keys are written in field order and a string value never holds an
    // unescaped quote, so each pattern below matches only where the
    // serializer wrote that key.
    let region = r#","region":{"adcode":""#;
    let name = r#"","name":""#;
    let status = r#","status":"valid","registry_status":"#;
    let region_at = json.find(region).expect("a certificate has a region") + region.len();
    let name_at =
        region_at + json[region_at..].find(name).expect("a region has a name") + name.len();
    let status_at = json.find(status).expect("a certificate has a status") + r#","status":""#.len();
    let json = json.as_bytes();
    let mut body = Vec::with_capacity(json.len() + 2);
    body.extend_from_slice(&json[..name_at]);
    body.push(REGION_NAME_HOLE);
    body.extend_from_slice(&json[name_at..status_at]);
    body.push(STATUS_HOLE);
    body.extend_from_slice(&json[status_at + "valid".len()..]);
    body
}

/// Writes a stored representation with its holes filled for `today`.
fn write_filled(out: &mut Vec<u8>, stored: &StoredProduct, body: &[u8], today: NaiveDate) {
    let registry = stored.status.parse().unwrap_or(ProductStatus::Valid);
    let status = ProductStatus::on(registry, stored.expires_on, today);
    let region_name = crate::data::divisions().name(&stored.region);
    let mut rest = body;
    while let Some(at) = memchr::memchr2(REGION_NAME_HOLE, STATUS_HOLE, rest) {
        out.extend_from_slice(&rest[..at]);
        if rest[at] == REGION_NAME_HOLE {
            push_json_string_contents(out, region_name);
        } else {
            out.extend_from_slice(status.as_str().as_bytes());
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// `text` as the inside of a JSON string.
fn push_json_string_contents(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let quoted = serde_json::to_string(text).expect("a string serializes");
        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Writes a certificate's representation on `today`: the stored one with
/// its holes filled, or (not rendered yet) one built from its row.
fn write_representation(out: &mut Vec<u8>, certificate: &Certificate, today: NaiveDate) {
    match certificate {
        Certificate::Stored { body, row } => write_filled(out, row, body, today),
        Certificate::Row(hit) => serde_json::to_writer(out, &Product::new((**hit).clone(), today))
            .expect("a certificate serializes"),
    }
}

/// About the length of a certificate's representation.
fn representation_len(certificate: &Certificate) -> usize {
    match certificate {
        Certificate::Stored { body, .. } => body.len() + 32,
        Certificate::Row(_) => 1024,
    }
}

/// `value` written as JSON with `certificates` spliced in (`paging::spliced`).
fn spliced(
    value: &impl Serialize,
    at: impl Fn(&[u8]) -> usize,
    lead: &[u8],
    certificates: &[Certificate],
    today: NaiveDate,
) -> Vec<u8> {
    paging::spliced(
        value,
        at,
        lead,
        certificates,
        representation_len,
        |out, c| write_representation(out, c, today),
    )
}

/// A page of certificates, with facet counts when `facets` was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    // Written empty, and the representations spliced in (`spliced`).
    pub items: Vec<Product>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Counts over the whole filtered set, per requested facet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<BTreeMap<String, Vec<FacetValue>>>,
}

/// Filters of `GET /products` and `/products.csv`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsQuery {
    /// Only certificates of this scheme.
    #[param(value_type = Option<Scheme>)]
    scheme: Option<String>,
    /// Chinese or Latin text in the holder's or the products' names (1 to 100 characters).
    #[param(value_type = Option<crate::domain::SearchQuery>, example = "大米")]
    q: Option<String>,
    /// Only certificates whose production base is in this division or below it.
    #[param(value_type = Option<crate::domain::Adcode>, example = "360000")]
    region: Option<String>,
    /// Only certificates of this certification body (CNCA approval number).
    #[param(
        pattern = "^CNCA-RF?-[0-9]{4}-[0-9]{2,3}$",
        example = "CNCA-R-2002-001"
    )]
    certifier: Option<String>,
    /// Only certificates with this status today (`expired`: past `expires_on`).
    #[param(value_type = Option<ProductStatus>)]
    status: Option<String>,
    /// Only certificates of this category (the first product's).
    #[param(value_type = Option<ProductCategory>)]
    category: Option<String>,
    /// Only certificates valid on this date (issued, not expired, and not suspended, revoked or withdrawn on it).
    #[param(value_type = Option<String>, format = Date, example = "2024-09-01")]
    valid_on: Option<String>,
    /// Comma-separated facets to count over the filtered set: `scheme`, `status`, `category`, `region`, `certifier` (JSON list only).
    #[param(
        pattern = "^(scheme|status|category|region|certifier)(,(scheme|status|category|region|certifier))*$",
        example = "status,region"
    )]
    facets: Option<String>,
    /// Page size: 1 to 100 for the JSON list (default 20), 1 to 1000 for CSV (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

const FACETS: [&str; 5] = ["scheme", "status", "category", "region", "certifier"];

#[derive(Debug)]
struct ProductRequest {
    filter: ProductFilter,
    order: ProductOrder,
    after: Option<ProductKey>,
    limit: i64,
    facets: Vec<&'static str>,
}

impl ProductsQuery {
    fn parse(self, csv: bool) -> Result<ProductRequest, ApiError> {
        let mut check = Checker::default();
        let q = check.parse("q", self.q.as_deref(), SearchQuery::parse);
        let order = if q.is_some() {
            ProductOrder::Relevance
        } else {
            ProductOrder::CertificateNo
        };
        let facets = match (self.facets.as_deref(), csv) {
            (None, _) => Vec::new(),
            (Some(_), true) => {
                check.refuse("facets", "is only available on the JSON list");
                Vec::new()
            }
            (Some(raw), false) => super::query::facets(&mut check, raw, &FACETS),
        };
        let limit = if csv {
            super::query::feed_limit(&mut check, self.limit.as_deref())
        } else {
            check.limit(self.limit.as_deref())
        };
        let request = ProductRequest {
            filter: ProductFilter {
                scheme: check.parse("scheme", self.scheme.as_deref(), str::parse),
                q,
                region: check.parse("region", self.region.as_deref(), str::parse::<Adcode>),
                certifier: check.parse("certifier", self.certifier.as_deref(), |raw| {
                    raw.parse::<ApprovalNo>().map(|n| n.as_str().to_owned())
                }),
                status: check.parse("status", self.status.as_deref(), str::parse),
                category: check.parse("category", self.category.as_deref(), str::parse),
                valid_on: check.parse("valid_on", self.valid_on.as_deref(), parse_date),
                today: today_in_shanghai(),
            },
            after: check.parse("cursor", self.cursor.as_deref(), |raw| {
                decode_cursor(raw, order)
            }),
            order,
            limit,
            facets,
        };
        check.finish(request)
    }
}

fn encode_cursor(key: &ProductKey) -> String {
    let body = match key {
        ProductKey::CertificateNo(no) => format!("no|{no}"),
        ProductKey::Relevance(key) => format!("rel|{key}"),
    };
    paging::encode("products", &body)
}

fn decode_cursor(raw: &str, order: ProductOrder) -> Result<ProductKey, Invalid> {
    let refuse =
        || Invalid::new("is not a cursor of this list and order; follow the Link rel=\"next\" URL");
    let body = paging::decode_list("products", raw)?;
    match (order, body.split_once('|')) {
        (ProductOrder::CertificateNo, Some(("no", no))) => no
            .parse::<CertificateNo>()
            .map(|n| ProductKey::CertificateNo(n.into_string()))
            .map_err(|_| refuse()),
        (ProductOrder::Relevance, Some(("rel", key))) => key
            .parse::<i64>()
            .ok()
            .filter(|k| *k > 0)
            .map(ProductKey::Relevance)
            .ok_or_else(refuse),
        _ => Err(refuse()),
    }
}

fn facet_values(counts: FacetCounts, wanted: &[&str]) -> BTreeMap<String, Vec<FacetValue>> {
    let sorted = |mut values: Vec<FacetValue>| {
        values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        values
    };
    let plain = |map: HashMap<String, i64>| {
        sorted(
            map.into_iter()
                .map(|(value, count)| FacetValue {
                    value,
                    name: None,
                    count,
                })
                .collect(),
        )
    };
    let named = |map: HashMap<(String, String), i64>| {
        sorted(
            map.into_iter()
                .map(|((value, name), count)| FacetValue {
                    value,
                    name: Some(name),
                    count,
                })
                .collect(),
        )
    };
    let FacetCounts {
        scheme,
        status,
        category,
        region,
        certifier,
    } = counts;
    let mut parts = HashMap::from([
        ("scheme", plain(scheme)),
        ("status", plain(status)),
        ("category", plain(category)),
        ("region", named(region)),
        ("certifier", named(certifier)),
    ]);
    // Ordered keys: the same request must give the same bytes (and ETag).
    let mut out = BTreeMap::new();
    for name in wanted {
        if let Some(values) = parts.remove(name) {
            out.insert((*name).to_owned(), values);
        }
    }
    out
}

type Fetched = (
    Vec<Certificate>,
    Option<String>,
    Option<FacetCounts>,
    ProductRequest,
);

async fn fetch(
    state: &AppState,
    request: ProductRequest,
    reading: Reading,
) -> Result<Fetched, ApiError> {
    let lists = state.indexes.products.clone();
    let counts = !request.facets.is_empty();
    super::run_counting(state, counts, move |conn| {
        let (hits, more) = crate::db::products::list(
            conn,
            &request.filter,
            request.order,
            request.after.as_ref(),
            request.limit,
            &lists,
            reading,
        )?;
        let next = more
            .then(|| hits.last().map(|h| encode_cursor(&h.key(request.order))))
            .flatten();
        let facets = if request.facets.is_empty() {
            None
        } else {
            Some(crate::db::products::facets(
                conn,
                &request.filter,
                &request.facets,
            )?)
        };
        Ok((hits, next, facets, request))
    })
    .await
}

/// List certified products.
///
/// Filters combine with AND. With `q`, the most recently added certificates
/// come first; otherwise the list is in certificate-number order.
#[utoipa::path(
    operation_id = "list_products",
    tag = "products",
    params(ProductsQuery),
    responses(
        (status = 200, description = "A page of certificates", body = ProductPage,
            headers(("Link" = String, description = "rel=\"next\" URL when more pages follow"))),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_products(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<ProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(false)?;
    let today = request.filter.today;
    let (hits, next_cursor, facets, request) =
        fetch(&state, request, Reading::Representations).await?;
    let page = ProductPage {
        items: Vec::new(),
        next_cursor,
        facets: facets.map(|counts| facet_values(counts, &request.facets)),
    };
    // `items` is the first field: `{"items":[`.
    let body = spliced(&page, |_| r#"{"items":["#.len(), b"", &hits, today);
    Ok(paging::respond_json(
        &req,
        body,
        page.next_cursor.as_deref(),
    ))
}

/// Certified products as CSV that opens in Excel (same rules as `/events.csv`);
/// `ticweek import` reads it back.
#[utoipa::path(
    operation_id = "list_products_csv",
    tag = "products",
    params(ProductsQuery),
    responses(
        (status = 200, description = "CSV export", content_type = "text/csv", body = String),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/products.csv")]
pub async fn list_products_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<ProductsQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(true)?;
    let today = request.filter.today;
    let (hits, next_cursor, _, _) = fetch(&state, request, Reading::Rows).await?;
    let products = hits
        .into_iter()
        .map(|certificate| match certificate {
            Certificate::Row(hit) => Ok(Product::new(*hit, today)),
            Certificate::Stored { .. } => Err(ApiError::Internal(
                "a CSV page was read as representations".to_owned(),
            )),
        })
        .collect::<Result<Vec<Product>, ApiError>>()?;
    let body = crate::import::products_csv(&products)
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"products.csv\"",
        ));
    if let Some(cursor) = next_cursor {
        response.insert_header((header::LINK, paging::next_link(&req, "cursor", &cursor)));
    }
    Ok(response.body(body))
}

fn certificate_no(raw: &str) -> Result<String, ApiError> {
    raw.parse::<CertificateNo>()
        .map(CertificateNo::into_string)
        .map_err(|Invalid(message)| ApiError::invalid("certificate_no", message))
}

/// Look up a certificate.
///
/// The number is matched as people type it: case, surrounding spaces and
/// full-width characters do not matter.
#[utoipa::path(
    operation_id = "get_product",
    tag = "products",
    params(("certificate_no" = crate::domain::CertificateNo, Path, description = "Certificate number")),
    responses(
        (status = 200, description = "The certificate with its current status", body = Product),
        (status = 400, description = "Not a certificate number", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such certificate", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{certificate_no}")]
pub async fn get_product(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = certificate_no(&path)?;
    let today = today_in_shanghai();
    let certificate = state
        .certificates
        .get(&state, number.clone())
        .await?
        .ok_or_else(|| crate::db::products::not_found(&number))?;
    let mut body = Vec::with_capacity(representation_len(&certificate));
    write_representation(&mut body, &certificate, today);
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// One status change of a certificate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusChange {
    /// When the change took effect.
    #[serde(serialize_with = "crate::domain::date")]
    pub changed_on: NaiveDate,
    /// Status before (`null` for the first entry).
    pub from: Option<ProductStatus>,
    pub to: ProductStatus,
    pub reason: Option<String>,
}

impl From<StatusChangeRow> for StatusChange {
    fn from(row: StatusChangeRow) -> Self {
        Self {
            changed_on: row.changed_on,
            from: row.from_status.and_then(|s| s.parse().ok()),
            to: row.to_status.parse().unwrap_or(ProductStatus::Valid),
            reason: row.reason,
        }
    }
}

/// Paging of the status history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A certificate's status history, oldest first.
#[utoipa::path(
    operation_id = "get_product_history",
    tag = "products",
    params(("certificate_no" = crate::domain::CertificateNo, Path, description = "Certificate number"), HistoryQuery),
    responses(
        (status = 200, description = "Status changes, oldest first", body = Page<StatusChange>),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such certificate", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{certificate_no}/history")]
pub async fn get_product_history(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(query): Params<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let number = certificate_no(&path)?;
    let mut check = Checker::default();
    let limit = check.limit(query.limit.as_deref());
    let after = check.parse("cursor", query.cursor.as_deref(), |raw| {
        paging::decode_list("product-history", raw)?
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                Invalid::new("is not a cursor of this list; follow the Link rel=\"next\" URL")
            })
    });
    check.finish(())?;
    let (rows, more) = run(&state, move |conn| {
        crate::db::products::history(conn, &number, after, limit)
    })
    .await?;
    let next = more
        .then(|| {
            rows.last()
                .map(|r| paging::encode("product-history", &r.id.to_string()))
        })
        .flatten();
    let page = Page {
        items: rows.into_iter().map(StatusChange::from).collect::<Vec<_>>(),
        next_cursor: next.clone(),
    };
    Ok(paging::respond(&req, page, next.as_deref()))
}

/// A status change in the feed, with its certificate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateChange {
    pub certificate_no: String,
    pub scheme: Scheme,
    /// The holder's name.
    pub holder: String,
    pub region: RegionRef,
    #[serde(flatten)]
    pub change: StatusChange,
}

impl From<ChangeHit> for CertificateChange {
    fn from(hit: ChangeHit) -> Self {
        Self {
            certificate_no: hit.change.certificate_no.clone(),
            scheme: hit.scheme.parse().unwrap_or(Scheme::Organic),
            holder: hit.holder_name,
            region: RegionRef {
                adcode: hit.region,
                name: hit.region_name,
            },
            change: StatusChange::from(hit.change),
        }
    }
}

/// Filters of the change feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Changes effective on or after this date (Asia/Shanghai); required.
    #[param(value_type = String, format = Date, example = "2026-11-01")]
    since: Option<String>,
    /// Comma-separated statuses the certificates changed to, e.g. `suspended,revoked`.
    #[param(
        pattern = "^(valid|suspended|revoked|withdrawn)(,(valid|suspended|revoked|withdrawn))*$",
        example = "suspended,revoked"
    )]
    to: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn statuses(raw: &str) -> Result<Vec<ProductStatus>, Invalid> {
    let mut list = Vec::new();
    for part in raw.split(',').map(str::trim) {
        let status: ProductStatus = part.parse()?;
        if !status.is_stored() {
            return Err(Invalid::new(
                "`expired` is derived from the expiry date, not a recorded change; \
                 allowed: valid, suspended, revoked, withdrawn",
            ));
        }
        if !list.contains(&status) {
            list.push(status);
        }
    }
    Ok(list)
}

/// Status changes of all certificates since a date: "which certificates were
/// suspended or revoked this month".
#[utoipa::path(
    operation_id = "list_product_changes",
    tag = "products",
    params(ChangesQuery),
    responses(
        (status = 200, description = "Status changes by effective date", body = Page<CertificateChange>),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/changes")]
pub async fn list_product_changes(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut check = Checker::default();
    let since = check.parse("since", query.since.as_deref(), parse_date);
    if query.since.is_none() {
        check.refuse("since", "is required: a date such as 2026-11-01");
    }
    let to = check
        .parse("to", query.to.as_deref(), statuses)
        .unwrap_or_default();
    let limit = check.limit(query.limit.as_deref());
    let after = check.parse("cursor", query.cursor.as_deref(), decode_change_cursor);
    let since = check.finish(since)?.unwrap_or_default();
    let (hits, more) = run(&state, move |conn| {
        crate::db::products::changes_since(conn, since, &to, after, limit)
    })
    .await?;
    let next = more
        .then(|| {
            hits.last().map(|h| {
                paging::encode(
                    "product-changes",
                    &format!("{}|{}", h.change.changed_on, h.change.id),
                )
            })
        })
        .flatten();
    let page = Page {
        items: hits
            .into_iter()
            .map(CertificateChange::from)
            .collect::<Vec<_>>(),
        next_cursor: next.clone(),
    };
    Ok(paging::respond(&req, page, next.as_deref()))
}

fn decode_change_cursor(raw: &str) -> Result<ChangeKey, Invalid> {
    let refuse = || Invalid::new("is not a cursor of this list; follow the Link rel=\"next\" URL");
    let body = paging::decode_list("product-changes", raw)?;
    let (day, id) = body.split_once('|').ok_or_else(refuse)?;
    Ok(ChangeKey {
        changed_on: parse_date(day).map_err(|_| refuse())?,
        id: id.parse().ok().filter(|i| *i > 0).ok_or_else(refuse)?,
    })
}

/// An organic code, decoded, with the certificate it was issued under.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganicCodeCheck {
    /// The code's 17 digits.
    #[schema(example = "00121000000123456")]
    pub code: String,
    /// Which published layout the code follows.
    pub layout: OrganicCodeLayout,
    /// Digits 1–3: the certification body's code (serial of its CNCA approval number; 9xx for foreign-invested bodies).
    #[schema(example = "001")]
    pub certifier_code: String,
    /// The body with that code, when a stored certificate names it.
    pub certifier: Option<Certifier>,
    /// Digits 4–5: the year the mark was issued.
    #[schema(example = 2021)]
    pub year: i32,
    /// Digits 6–17: the body's serial.
    pub serial: String,
    /// The certificate the code was issued under, with its current status.
    // The check is written by `write_check`; this type is its schema (and,
    // without the certificate, what a test holds `write_check` to).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Product, required = true)]
    pub certificate: Option<Product>,
}

/// Check an organic code (有机码).
///
/// Validates the code's layout, decodes certification body and year, and
/// returns the certificate whose range holds the code. A malformed code is a
/// 400 naming the rule it breaks; a well-formed code that no certificate
/// holds is a 404.
#[utoipa::path(
    operation_id = "check_organic_code",
    tag = "products",
    params(("code" = crate::domain::OrganicCode, Path, description = "The 17-digit organic code; spaces, hyphens and full-width digits are tolerated")),
    responses(
        (status = 200, description = "The code is on record", body = OrganicCodeCheck),
        (status = 400, description = "Malformed code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Well-formed, but no certificate holds it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{code}")]
pub async fn check_organic_code(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let today = today_in_shanghai();
    let code = OrganicCode::decode(&path)
        .map_err(|Invalid(message)| ApiError::invalid("code", message))?;
    let key = (code.value(), code.body_code.clone());
    let (hit, issuer) = state.organic_codes.get(&state, key).await?;
    let Some(hit) = hit else {
        return Err(ApiError::NotFound(format!(
            "organic code {} (certification body {}, issued {}) is well-formed but on no \
             certificate on record",
            code.digits, code.body_code, code.year
        )));
    };
    let mut body = Vec::with_capacity(representation_len(&hit) + 256);
    write_check(&mut body, &code, issuer.as_deref());
    body.extend_from_slice(br#","certificate":"#);
    write_representation(&mut body, &hit, today);
    body.push(b'}');
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

/// Writes an `OrganicCodeCheck` up to its certificate: its object opened,
/// and every field before `certificate` written as serde would write them
/// (by hand, as certificates are: serde's writer and the splice of the
/// certificate into its output cost a check 5 % of its instructions).
fn write_check(out: &mut Vec<u8>, code: &OrganicCode, issuer: Option<&Issuer>) {
    // The code's parts are digits (`OrganicCode::decode`) and the layout a
    // name of ours: none needs escaping. The body's names may.
    let raw = |out: &mut Vec<u8>, key: &[u8], value: &str| {
        out.extend_from_slice(key);
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    };
    raw(out, br#"{"code":""#, &code.digits);
    raw(out, br#","layout":""#, code.layout.as_str());
    raw(out, br#","certifier_code":""#, &code.body_code);
    match issuer {
        Some(issuer) => {
            out.extend_from_slice(br#","certifier":{"name":""#);
            push_json_string_contents(out, &issuer.name);
            out.extend_from_slice(br#"","approval_no":""#);
            push_json_string_contents(out, &issuer.approval_no);
            out.extend_from_slice(br#""}"#);
        }
        None => out.extend_from_slice(br#","certifier":null"#),
    }
    out.extend_from_slice(br#","year":"#);
    out.extend_from_slice(itoa::Buffer::new().format(code.year).as_bytes());
    raw(out, br#","serial":""#, &code.serial);
}

#[cfg(test)]
mod tests {
    use super::{write_check, Certifier, Issuer, OrganicCodeCheck};
    use crate::domain::OrganicCode;

    /// A check is written as serde writes an `OrganicCodeCheck` (the
    /// type the OpenAPI document describes), with and without a body, and
    /// with a name that needs escaping.
    #[test]
    fn a_check_is_written_as_its_schema_serializes() {
        let code = OrganicCode::decode("001 21 000000123456").unwrap();
        let issuers = [
            None,
            Some(Issuer {
                name: "中绿华夏有机产品认证中心".into(),
                approval_no: "CNCA-R-2002-001".into(),
            }),
            Some(Issuer {
                name: "a\"b\\c\u{1}".into(),
                approval_no: String::new().into(),
            }),
        ];
        for issuer in &issuers {
            let mut written = Vec::new();
            write_check(&mut written, &code, issuer.as_ref());
            written.push(b'}');
            let check = OrganicCodeCheck {
                code: code.digits.clone(),
                layout: code.layout,
                certifier_code: code.body_code.clone(),
                certifier: issuer.as_ref().map(|issuer| Certifier {
                    name: issuer.name.to_string(),
                    approval_no: issuer.approval_no.to_string(),
                }),
                year: code.year,
                serial: code.serial.clone(),
                certificate: None,
            };
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&check).unwrap()
            );
        }
    }

    /// A region's name goes into its hole as the serializer would write it
    /// (the bundled names need no escaping; a name that did gets it).
    #[test]
    fn a_hole_is_filled_with_json_string_contents() {
        for name in ["南昌县", "a\"b\\c\u{1}d", ""] {
            let mut out = Vec::new();
            super::push_json_string_contents(&mut out, name);
            let written = format!("\"{}\"", String::from_utf8(out).unwrap());
            assert_eq!(written, serde_json::to_string(name).unwrap());
        }
    }
}
