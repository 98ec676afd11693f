//! Cursor pagination: `{"items": [...], "next_cursor": …}` plus `Link: rel="next"`.
//! Cursors are keyset positions (the sort key of the last item), so a page is
//! an indexed range scan at any depth and stays stable under inserts.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::YearIdKey;
use crate::domain::{Adcode, Invalid, RecordId};

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The records of this page, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Cursor format version, so the encoding can change without old cursors
/// being misread.
const VERSION: &str = "v1";

/// A cursor names the list it belongs to, so one list's cursor sent to
/// another is refused instead of being misread as a position there.
pub fn encode(list: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}|{list}|{key}"))
}

fn refuse() -> Invalid {
    Invalid::new("is not a cursor of this list; follow the Link rel=\"next\" URL")
}

pub fn decode_list(list: &str, raw: &str) -> Result<String, Invalid> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| refuse())?;
    let text = String::from_utf8(bytes).map_err(|_| refuse())?;
    text.strip_prefix(VERSION)
        .and_then(|rest| rest.strip_prefix('|'))
        .and_then(|rest| rest.strip_prefix(list))
        .and_then(|rest| rest.strip_prefix('|'))
        .map(str::to_owned)
        .ok_or_else(refuse)
}

/// Cursor of the region list, ordered by adcode.
pub fn decode_adcode(raw: &str) -> Result<String, Invalid> {
    let key = decode_list("regions", raw)?;
    key.parse::<Adcode>().map_err(|_| refuse())?;
    Ok(key)
}

/// A record id inside a cursor.
pub fn decode_id(raw: &str) -> Result<String, Invalid> {
    raw.parse::<RecordId>()
        .map(RecordId::into_string)
        .map_err(|_| refuse())
}

/// A squared chord inside a nearby cursor: finite, within the sphere.
pub fn decode_chord2(raw: &str) -> Result<f64, Invalid> {
    raw.parse()
        .ok()
        .filter(|k: &f64| k.is_finite() && (0.0..=4.0).contains(k))
        .ok_or_else(refuse)
}

/// An instant inside a cursor, in microseconds: only years 1900..2200
/// (anything else is forged and would overflow PostgreSQL's timestamp).
pub fn decode_micros(raw: &str) -> Result<NaiveDateTime, Invalid> {
    let micros: i64 = raw
        .parse()
        .ok()
        .filter(|m| (-2_208_988_800_000_000..7_258_118_400_000_000).contains(m))
        .ok_or_else(refuse)?;
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .ok_or_else(refuse)
}

pub fn encode_year_id(list: &str, key: &YearIdKey) -> String {
    encode(list, &format!("{}|{}", key.year, key.id))
}

/// Cursor of a list ordered by (year DESC, id).
pub fn decode_year_id(list: &str, raw: &str) -> Result<YearIdKey, Invalid> {
    let key = decode_list(list, raw)?;
    let (year, id) = key.split_once('|').ok_or_else(refuse)?;
    Ok(YearIdKey {
        year: year.parse().map_err(|_| refuse())?,
        id: id.parse::<RecordId>().map_err(|_| refuse())?.into_string(),
    })
}

/// 200 with the page as JSON and, when there is a next page, a `Link` header
/// to it that repeats the request's other parameters.
pub fn respond<T: Serialize>(
    req: &HttpRequest,
    page: T,
    next_cursor: Option<&str>,
) -> HttpResponse {
    linked(req, next_cursor).json(page)
}

/// `value` written as JSON, with `items` written into it at `at` (the place
/// `value`'s serializer left for them, found in the text it wrote), after
/// `lead` and separated by commas; `len` is about each item's length.
/// Stored representations go into pages this way as they are stored, not
/// parsed again to be embedded nor copied on the way.
pub fn spliced<T>(
    value: &impl Serialize,
    at: impl Fn(&[u8]) -> usize,
    lead: &[u8],
    items: &[T],
    len: impl Fn(&T) -> usize,
    mut write: impl FnMut(&mut Vec<u8>, &T),
) -> Vec<u8> {
    let outer = serde_json::to_vec(value).expect("a page serializes");
    let at = at(&outer);
    let inner: usize = items.iter().map(|item| len(item) + 1).sum();
    let mut out = Vec::with_capacity(outer.len() + lead.len() + inner);
    out.extend_from_slice(&outer[..at]);
    out.extend_from_slice(lead);
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write(&mut out, item);
    }
    out.extend_from_slice(&outer[at..]);
    out
}

/// `respond` for a `Page` whose items are written by `write` (stored
/// representations, spliced in as they are); `len` is about each one's
/// length.
pub fn respond_items<I>(
    req: &HttpRequest,
    next_cursor: Option<String>,
    items: &[I],
    len: impl Fn(&I) -> usize,
    write: impl FnMut(&mut Vec<u8>, &I),
) -> HttpResponse {
    // The items' type does not show in an empty list.
    let page = Page::<()> {
        items: Vec::new(),
        next_cursor,
    };
    // `items` is the first field: `{"items":[`.
    let at = |_: &[u8]| r#"{"items":["#.len();
    let body = spliced(&page, at, b"", items, len, write);
    respond_json(req, body, page.next_cursor.as_deref())
}

/// `respond`, for a page already written as JSON.
pub fn respond_json(req: &HttpRequest, page: Vec<u8>, next_cursor: Option<&str>) -> HttpResponse {
    linked(req, next_cursor)
        .content_type(header::ContentType::json())
        .body(page)
}

fn linked(req: &HttpRequest, next_cursor: Option<&str>) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = next_cursor {
        response.insert_header((header::LINK, next_link(req, "cursor", cursor)));
    }
    response
}

/// `Link` header value for the next page: the request's other parameters
/// with the position parameter (`cursor`, or `since` for the change feed)
/// replaced.
pub fn next_link(req: &HttpRequest, param: &str, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if key != param {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair(param, cursor);
    format!("<{}?{}>; rel=\"next\"", req.path(), query.finish())
}
