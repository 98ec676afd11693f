//! `/embed/events.js`: the widget a government portal includes with one
//! `<script>` tag to list upcoming events and open days (see the file's
//! header for its `data-*` attributes).

use actix_web::http::header;
use actix_web::{get, HttpResponse};

use super::query::{NoParams, Params};
use crate::error::Problem;

/// The widget's source, compiled into the binary: nothing is fetched from
/// elsewhere, by the server or by the page.
const EVENTS_JS: &str = include_str!("embed/events.js");

/// The embeddable events widget (JavaScript).
///
/// Include it with `<script src="…/embed/events.js" data-region="360000"
/// data-kind="lab_open_day"></script>`: it renders an accessible list of
/// upcoming events and lab open days, in Chinese, in the page's own font,
/// and requests nothing but this API. Attributes: `data-region`, `data-kind`,
/// `data-limit` (1–20), `data-href` (event link template with `{id}`),
/// `data-target` (CSS selector to render into).
#[utoipa::path(
    operation_id = "get_events_widget",
    tag = "embed",
    responses(
        (status = 200, description = "The widget script", content_type = "text/javascript", body = String),
        (status = 400, description = "A query parameter was given (there are none)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/embed/events.js")]
pub async fn events_widget(_params: Params<NoParams>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        // An hour: a fix reaches every portal the same day, and the ETag
        // makes the revalidation a 304.
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(EVENTS_JS)
}
