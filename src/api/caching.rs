//! Strong ETags and `Cache-Control` for every successful GET, 304 for a
//! matching `If-None-Match` (RFC 9110 §13.1.2, weak comparison), and the read
//! cache: finished representations of public reads, reused until the data
//! they were made from changes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use chrono::NaiveDate;

use super::AppState;
use crate::db::{self, DbPool};

/// Reads are public data that changes a few times a day.
const DEFAULT_CACHE_CONTROL: &str = "public, max-age=60";

/// Memory for cached representations unless configured otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How often a server polls the shared data version: writes by other
/// processes reach its read cache within this time (plus one query).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Bodies that fit in one TCP segment are sent as they are: gzip cannot
/// save a round trip there, and its per-stream set-up was 15 % of the CPU
/// of a certificate look-up (a 1.1 KB body).
const GZIP_MIN_BYTES: usize = 1400;

/// Bookkeeping charged to every entry on top of its key and body.
const ENTRY_OVERHEAD: u64 = 512;

/// What a cached representation was made from. It may be served only while
/// all three still hold: no write committed by this process since, the same
/// database-wide data version, and the same Asia/Shanghai day (defaults such
/// as "from today" and derived statuses change at midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Generation {
    local_writes: u64,
    data_version: i64,
    day: NaiveDate,
}

/// A finished 200 response: headers (including ETag), body bytes as sent.
struct Representation {
    generation: Option<Generation>,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<String, Arc<Representation>> for ByBytes {
    fn weight(&self, key: &String, value: &Arc<Representation>) -> u64 {
        key.len() as u64 + value.body.len() as u64 + ENTRY_OVERHEAD
    }
}

/// Bounded cache of representations, plus the last data version read from
/// the database.
pub struct ReadCache {
    entries: Option<quick_cache::sync::Cache<String, Arc<Representation>, ByBytes>>,
    data_version: AtomicI64,
}

impl ReadCache {
    /// A cache holding at most `bytes` of representations; 0 turns it off.
    pub fn new(bytes: u64) -> Self {
        let entries = (bytes > 0).then(|| {
            let estimated_items = usize::try_from(bytes / 16_384)
                .unwrap_or(usize::MAX)
                .max(16);
            quick_cache::sync::Cache::with_weighter(estimated_items, bytes, ByBytes)
        });
        Self {
            entries,
            data_version: AtomicI64::new(-1),
        }
    }

    pub(super) fn generation(&self) -> Generation {
        Generation {
            local_writes: db::local_writes(),
            data_version: self.data_version.load(Ordering::Acquire),
            day: crate::domain::today_in_shanghai(),
        }
    }

    fn observe(&self, version: i64) {
        if self.data_version.swap(version, Ordering::AcqRel) != version {
            if let Some(entries) = &self.entries {
                entries.clear();
            }
        }
    }

    /// Polls the database-wide data version every `interval`, so that
    /// writes by other processes invalidate this one's cache within about
    /// that time. The thread ends when the cache is dropped.
    pub fn watch(self: &Arc<Self>, pool: DbPool, interval: Duration) {
        let cache: Weak<Self> = Arc::downgrade(self);
        std::thread::spawn(move || loop {
            let Some(cache) = cache.upgrade() else { return };
            match pool
                .get()
                .map_err(db::DbError::from)
                .and_then(|mut c| db::data_version(&mut c))
            {
                Ok(version) => cache.observe(version),
                Err(err) => log::debug!("data version poll: {err}"),
            }
            drop(cache);
            std::thread::sleep(interval);
        });
    }
}

/// The cache key: everything a representation depends on. The query's
/// parameters are sorted (repeated parameters are refused, so order carries
/// no meaning); `Accept` and `Accept-Encoding` choose the format and
/// encoding, `Host` the absolute links in feeds.
fn cache_key(req: &ServiceRequest) -> Option<String> {
    let header = |name| match req.headers().get(name) {
        Some(value) => value.to_str().ok(),
        None => Some(""),
    };
    let mut params: Vec<&str> = req.query_string().split('&').collect();
    params.sort_unstable();
    Some(format!(
        "{}\n{}\n{}\n{}?{}",
        header(header::HOST)?,
        header(header::ACCEPT)?,
        header(header::ACCEPT_ENCODING)?,
        req.uri().path(),
        params.join("&")
    ))
}

/// The tag is a hash of the bytes actually sent. This middleware compresses
/// (see `gzip`), so a gzip and an identity representation get different
/// tags, as strong validators must. Successful reads under `/api/` are kept in the
/// read cache and answered from it until their generation passes.
pub async fn representations(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let cache = req
        .uri()
        .path()
        .starts_with("/api/")
        .then(|| req.app_data::<web::Data<AppState>>())
        .flatten()
        .map(|state| state.cache.clone())
        .filter(|cache| cache.entries.is_some());
    let slot = cache
        .as_ref()
        .and_then(|cache| Some((cache, cache_key(&req)?, cache.generation())));
    if let Some((cache, key, generation)) = &slot {
        if let Some(hit) = cache.entries.as_ref().and_then(|e| e.get(key)) {
            if hit.generation == Some(*generation) {
                let response = respond(&hit, if_none_match.as_deref());
                return Ok(ServiceResponse::new(req.into_parts().0, response));
            }
        }
    }

    let response = next.call(req).await?;
    // A response that brings its own tag (a file download: its SHA-256)
    // is neither hashed again nor kept: files have their own cache.
    if response.status() != StatusCode::OK || response.headers().contains_key(header::ETAG) {
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let mut bytes = body::to_bytes(body)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("response body"))?;
    if compressible(head.headers(), bytes.len()) {
        let headers = head.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(gzipped) = accepts_gzip(&request).then(|| gzip(&bytes)).flatten() {
            bytes = gzipped;
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    let tag = tag_of(&bytes);
    let headers = head.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).expect("hex is ASCII"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(DEFAULT_CACHE_CONTROL),
        );
    }
    let representation = Representation {
        // Only read when the entry is in the cache, where the slot's is set.
        generation: slot.as_ref().map(|(_, _, g)| *g),
        headers: std::mem::take(head.headers_mut()),
        body: bytes,
    };
    if let Some((cache, key, _)) = slot {
        if let Some(entries) = &cache.entries {
            let representation = Arc::new(representation);
            let response = respond(&representation, if_none_match.as_deref());
            entries.insert(key, representation);
            return Ok(ServiceResponse::new(request, response));
        }
    }
    // Not kept: its headers move into the response rather than being
    // copied (a map clone, 1 % of an uncached look-up).
    let Representation { headers, body, .. } = representation;
    let response =
        not_modified(&headers, if_none_match.as_deref()).unwrap_or_else(|| ok(body, headers));
    Ok(ServiceResponse::new(request, response))
}

/// Text bodies big enough to gain from gzip: their representation depends
/// on `Accept-Encoding`.
fn compressible(headers: &HeaderMap, len: usize) -> bool {
    len >= GZIP_MIN_BYTES
        && !headers.contains_key(header::CONTENT_ENCODING)
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                let t = t.split(';').next().unwrap_or_default().trim();
                t.starts_with("text/")
                    || t.ends_with("/json")
                    || t.ends_with("+json")
                    || t.ends_with("/javascript")
                    || t.ends_with("/xml")
            })
}

/// Whether the client prefers gzip to identity (RFC 9110 §12.5.3, q-values).
fn accepts_gzip(request: &actix_web::HttpRequest) -> bool {
    use actix_web::http::header::{AcceptEncoding, ContentEncoding, Encoding, Header};
    AcceptEncoding::parse(request)
        .ok()
        .and_then(|accept| accept.negotiate([Encoding::identity(), Encoding::gzip()].iter()))
        == Some(Encoding::Known(ContentEncoding::Gzip))
}

/// Gzip, fast level, with the zlib-rs backend: on a 13 KB open-days page
/// 17 µs and 2.2 KB, where miniz_oxide (flate2's default) took 28 µs for
/// 2.0 KB. Done here, on the worker, because the whole body is at hand:
/// actix's `Compress` handed every body over 1 KiB to the blocking thread
/// pool, a thread switch per response that cost more than the compression.
///
/// Each worker thread keeps one deflate state and resets it per body: a
/// new state allocates and zeroes its window and hash tables (~270 KiB),
/// about a fifth of the compression's time on a 16 KB search page. The
/// gzip framing around the raw deflate stream is RFC 1952's fixed header
/// and its CRC-32 and length trailer.
fn gzip(bytes: &[u8]) -> Option<Bytes> {
    use flate2::{Compress, Compression, Crc, FlushCompress, Status};
    /// ID1 ID2, deflate, no flags, no mtime, fast (XFL 4), unknown OS.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
    thread_local! {
        static DEFLATE: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(Compression::fast(), false));
    }
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        let mut out = Vec::with_capacity(HEADER.len() + bytes.len() / 4 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let consumed = usize::try_from(deflate.total_in()).ok()?;
            let rest = bytes.get(consumed..)?;
            match deflate
                .compress_vec(rest, &mut out, FlushCompress::Finish)
                .ok()?
            {
                Status::StreamEnd => break,
                // `compress_vec` writes into spare capacity only.
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(1024)),
            }
        }
        let mut crc = Crc::new();
        crc.update(bytes);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE: the input length modulo 2^32.
        out.extend_from_slice(&(bytes.len() as u64 as u32).to_le_bytes());
        Some(Bytes::from(out))
    })
}

/// 304 when `If-None-Match` names the representation's tag, else the
/// representation itself (its body shared, not copied).
fn respond(representation: &Representation, if_none_match: Option<&str>) -> HttpResponse {
    not_modified(&representation.headers, if_none_match)
        .unwrap_or_else(|| ok(representation.body.clone(), representation.headers.clone()))
}

/// A 200 of `body` with exactly `headers`.
fn ok(body: Bytes, headers: HeaderMap) -> HttpResponse {
    let mut response = HttpResponse::with_body(StatusCode::OK, body);
    *response.headers_mut() = headers;
    response.map_into_boxed_body()
}

/// 304, with the validators and caching headers of the representation
/// that `headers` are of, when `If-None-Match` names its tag.
fn not_modified(headers: &HeaderMap, if_none_match: Option<&str>) -> Option<HttpResponse> {
    let tag = headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !if_none_match.is_some_and(|candidates| matches(candidates, tag)) {
        return None;
    }
    let mut response = HttpResponse::NotModified();
    for name in [
        header::ETAG,
        header::CACHE_CONTROL,
        header::VARY,
        header::CONTENT_LOCATION,
    ] {
        if let Some(value) = headers.get(&name) {
            response.insert_header((name, value.clone()));
        }
    }
    Some(response.finish())
}

/// HEAD is answered as GET (RFC 9110 §9.3.2): routing, ETag and 304 see a
/// GET, and actix-http, which remembers the request was HEAD, sends the
/// headers (with the GET's Content-Length) and no body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// `If-None-Match` (weak comparison, lists, `*`) against a representation's tag.
pub fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == tag)
}

/// The strong tag of bytes as sent: their 128-bit XXH3, in hex.
///
/// A tag only has to tell one representation of a resource from another,
/// which 128 bits do (a chance collision among a resource's versions is
/// out of reach); it is no digest a client checks content against (a
/// poster file's own tag is its SHA-256, `posters.rs`). SHA-256 was 2.8 %
/// of an uncached certificate look-up and 3.5 % of an organic-code check
/// (`perf`, with the CPU's SHA instructions); XXH3 hashes the same 1 KB
/// about ten times faster. Its hex is written by `hex`, not `format!`:
/// the formatter's padding and width machinery was 2 % of an uncached
/// look-up's instructions.
pub fn tag_of(bytes: &[u8]) -> String {
    let mut tag = [b'"'; 34];
    hex::encode_to_slice(
        twox_hash::XxHash3_128::oneshot(bytes).to_be_bytes(),
        &mut tag[1..33],
    )
    .expect("16 bytes are 32 hex digits");
    String::from_utf8(tag.to_vec()).expect("hex is ASCII")
}

/// The tags a JSON body of a GET is served under: identity, and gzip when
/// it is big enough to be compressed. `If-Match` on a write is compared
/// with these.
pub fn json_tags(body: &[u8]) -> Vec<String> {
    let mut tags = vec![tag_of(body)];
    if body.len() >= GZIP_MIN_BYTES {
        tags.extend(gzip(body).map(|gzipped| tag_of(&gzipped)));
    }
    tags
}

/// `If-Match` (RFC 9110 §13.1.1): strong comparison, `*` for "exists".
pub fn if_match(header: &str, current: Option<&[String]>) -> bool {
    let Some(tags) = current else { return false };
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || tags.iter().any(|t| t == candidate))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tag_is_the_quoted_hex_of_the_bodys_xxh3() {
        // Tags written before stay valid: a client's `If-None-Match` from
        // an earlier release still matches the same bytes.
        for body in [&b""[..], b"{}", &[0xA5; 1500]] {
            let hash = twox_hash::XxHash3_128::oneshot(body);
            assert_eq!(super::tag_of(body), format!("\"{hash:032x}\""));
        }
        assert_eq!(super::tag_of(b"{}").len(), 34);
    }

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        assert!(super::matches("\"a\", W/\"b\"", "\"b\""));
        assert!(super::matches("*", "\"b\""));
        assert!(!super::matches("\"a\"", "\"b\""));
    }
}
