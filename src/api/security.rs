//! What protects the server from its clients: headers every response
//! carries, whatever produced it (a handler, the cache, a framework error,
//! the docs UI), and a deadline on every request body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::ResponseError;

type BoxedPayloadStream = Pin<Box<dyn futures_core::Stream<Item = Result<Bytes, PayloadError>>>>;
use actix_web::http::header::{
    HeaderValue, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use actix_web::middleware::Next;

/// API answers are data, never pages: nothing in them may run, load or be
/// framed (a JSON body rendered as HTML by a confused client stays inert).
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The docs UI loads only what this server serves (the vendored Swagger UI;
/// no CDN can slip in) and may be framed by a portal's own pages; Swagger
/// UI sets some styles inline and shows images as data URLs.
const DOCS_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = req.path() == "/docs" || req.path().starts_with("/docs/");
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let policy = if docs { DOCS_POLICY } else { API_POLICY };
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    Ok(res)
}

/// Longest URL (path and query) taken: every query this API answers fits
/// in a few hundred bytes. (URLs past 64 KiB never get here: the HTTP
/// parser refuses them with a bare 400.)
pub const MAX_URL: usize = 8 * 1024;
/// Most header bytes (names and values) taken; the HTTP layer's own limit
/// is 128 KiB per request head.
pub const MAX_HEADERS: usize = 16 * 1024;

/// Refuses requests whose URL (414) or headers (431) are larger than any
/// client of this API sends, before any handler reads them.
pub async fn bounds(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use actix_web::http::StatusCode;
    let url = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let refusal = if url > MAX_URL {
        Some((
            StatusCode::URI_TOO_LONG,
            format!("the URL has {url} bytes; at most {MAX_URL} are accepted"),
        ))
    } else if headers > MAX_HEADERS {
        Some((
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the headers have {headers} bytes; at most {MAX_HEADERS} are accepted"),
        ))
    } else {
        None
    };
    match refusal {
        Some((status, detail)) => {
            let response = crate::error::ApiError::status(status, detail).error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Longest a request body may take to arrive (a 20 MiB upload at 1 MiB/s
/// fits). A client that trickles its body gets a 400 naming `body` when the
/// time is up, so it holds no worker, buffer or pool connection past this.
/// (Headers have their own, shorter limit in the server settings.)
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// Puts the body deadline on the request's payload. (The payload, not the
/// handler: answering for a timed-out handler would need a clone of the
/// request, which the router refuses.)
pub async fn deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Reads carry no body: no timer and no boxed stream on the hot path.
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.call(req).await;
    }
    let (request, payload) = req.into_parts();
    let payload: BoxedPayloadStream = Box::pin(Deadline {
        payload,
        expiry: Box::pin(actix_web::rt::time::sleep(BODY_DEADLINE)),
        expired: false,
    });
    next.call(ServiceRequest::from_parts(request, Payload::from(payload)))
        .await
}

/// A payload that fails once its deadline passes.
struct Deadline {
    payload: Payload,
    expiry: Pin<Box<actix_web::rt::time::Sleep>>,
    expired: bool,
}

impl futures_core::Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.payload).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.expiry.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let late = format!("did not arrive within {} s", BODY_DEADLINE.as_secs());
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                late,
            )))));
        }
        Poll::Pending
    }
}
