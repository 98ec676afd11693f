//! Strong ETags and `Cache-Control` for every successful GET, and 304 for a
//! matching `If-None-Match` (RFC 9110 §13.1.2, weak comparison).

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use sha2::{Digest, Sha256};

/// Reads are public data that changes a few times a day.
const DEFAULT_CACHE_CONTROL: &str = "public, max-age=60";

/// The tag is a hash of the bytes actually sent. This middleware sits outside
/// compression, so a gzip and an identity representation get different tags,
/// as strong validators must.
pub async fn etag(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let cacheable = matches!(*req.method(), Method::GET | Method::HEAD);
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = next.call(req).await?;
    if !cacheable || response.status() != StatusCode::OK {
        return Ok(response.map_into_boxed_body());
    }
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|_| actix_web::error::ErrorInternalServerError("response body"))?;
    let digest = Sha256::digest(&bytes);
    let tag = format!("\"{}\"", hex(&digest[..16]));

    let headers = head.headers_mut();
    headers.insert(
        header::ETAG,
        header::HeaderValue::from_str(&tag).expect("hex is ASCII"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(DEFAULT_CACHE_CONTROL),
        );
    }
    if if_none_match.is_some_and(|candidates| matches(&candidates, &tag)) {
        let mut not_modified = HttpResponse::NotModified();
        for name in [
            header::ETAG,
            header::CACHE_CONTROL,
            header::VARY,
            header::CONTENT_LOCATION,
        ] {
            if let Some(value) = head.headers().get(&name) {
                not_modified.insert_header((name, value.clone()));
            }
        }
        return Ok(ServiceResponse::new(request, not_modified.finish()));
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(bytes).map_into_boxed_body(),
    ))
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

fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == tag)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        assert!(super::matches("\"a\", W/\"b\"", "\"b\""));
        assert!(super::matches("*", "\"b\""));
        assert!(!super::matches("\"a\"", "\"b\""));
    }
}
