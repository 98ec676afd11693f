//! Headers every response carries, whatever produced it (a handler, the
//! cache, a framework error, the docs UI).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
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
