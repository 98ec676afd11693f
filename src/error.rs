//! The one error type of the HTTP API, rendered as RFC 9457 problem details.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input: which parameter or body field, and what is allowed.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The query parameter, path segment or body field that was refused.
    pub field: String,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// RFC 9457 problem details, the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What happened in this occurrence, in words a client developer can act on.
    pub detail: String,
    /// For invalid input: every refused field with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Input the document allows that names nothing stored: 422, so that a
    /// client tells "my request is malformed" (400) from "that is not here".
    #[error("unknown reference")]
    Unknown(FieldError),
    #[error("not found: {0}")]
    NotFound(String),
    /// A write outside the token's scope; for a bulk import, the rows.
    #[error("forbidden")]
    Forbidden(Vec<FieldError>),
    /// No usable bearer token on a write; `true` when one was presented.
    #[error("unauthorized")]
    Unauthorized { presented: bool },
    /// A response the framework produced (404 route, 405, 413, 415 …) that
    /// only needs its status and a sentence.
    #[error("{detail}")]
    Status { status: StatusCode, detail: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::Status {
            status,
            detail: detail.into(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let (kind, detail, errors) = match self {
            Self::Invalid(errors) => (
                "urn:ticweek:problem:invalid-input",
                summary(errors),
                errors.clone(),
            ),
            Self::Unknown(error) => (
                "urn:ticweek:problem:unknown-reference",
                summary(std::slice::from_ref(error)),
                vec![error.clone()],
            ),
            Self::NotFound(what) => ("about:blank", what.clone(), Vec::new()),
            Self::Forbidden(errors) => (
                "urn:ticweek:problem:outside-scope",
                "This token may not write there: the record, or where it would go, is outside \
                 the token's scope."
                    .to_owned(),
                errors.clone(),
            ),
            Self::Unauthorized { presented } => (
                "urn:ticweek:problem:unauthorized",
                if *presented {
                    "The bearer token is unknown or revoked.".to_owned()
                } else {
                    "Writes need `Authorization: Bearer <token>` (see `ticweek token create`)."
                        .to_owned()
                },
                Vec::new(),
            ),
            Self::Status { detail, .. } => ("about:blank", detail.clone(), Vec::new()),
            Self::Unavailable(_) => (
                "urn:ticweek:problem:database-unavailable",
                "The database is unreachable; retry shortly.".to_owned(),
                Vec::new(),
            ),
            Self::Internal(_) => (
                "about:blank",
                "An unexpected error occurred; it has been logged.".to_owned(),
                Vec::new(),
            ),
        };
        Problem {
            kind: kind.to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

fn summary(errors: &[FieldError]) -> String {
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    match errors {
        [only] => format!("`{}` {}", only.field, only.message),
        _ => format!("invalid input in: {}", fields.join(", ")),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unknown(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Status { status, .. } => *status,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => log::error!("internal error: {cause}"),
            Self::Unavailable(cause) => log::warn!("database unavailable: {cause}"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::Unauthorized { presented } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    if *presented {
                        r#"Bearer realm="ticweek", error="invalid_token""#
                    } else {
                        r#"Bearer realm="ticweek""#
                    },
                ));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(err: crate::db::DbError) -> Self {
        use crate::db::DbError;
        match err {
            DbError::Unavailable(cause) => Self::Unavailable(cause),
            DbError::NotFound(what) => Self::NotFound(what),
            DbError::Invalid(errors) => Self::Invalid(
                errors
                    .into_iter()
                    .map(|(field, message)| FieldError::new(field, message))
                    .collect(),
            ),
            DbError::Unknown(field, message) => Self::Unknown(FieldError::new(field, message)),
            DbError::Forbidden(_) => Self::Forbidden(Vec::new()),
            DbError::Conflict(detail) => Self::status(StatusCode::CONFLICT, detail),
            DbError::PreconditionFailed(detail) => {
                Self::status(StatusCode::PRECONDITION_FAILED, detail)
            }
            DbError::Query(cause) => Self::Internal(cause),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking pool: {err}"))
    }
}

/// Rewrites every error response that did not come from `ApiError` (unknown
/// route, 405 from a resource, 413/415 from extractors, CORS refusals) as a
/// problem body, keeping the status and headers such as `Allow`.
pub fn framework_errors<B: 'static>() -> actix_web::middleware::ErrorHandlers<B> {
    use actix_web::dev::ServiceResponse;
    use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};

    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_problem = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
        if is_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let detail = framework_detail(&res);
        let (req, old) = res.into_parts();
        let mut new = ApiError::status(status, detail).error_response();
        for (name, value) in old.headers() {
            let body_header = [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::CONTENT_ENCODING,
            ];
            if !body_header.contains(name) {
                new.headers_mut().insert(name.clone(), value.clone());
            }
        }
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, new).map_into_right_body(),
        ))
    })
}

fn framework_detail<B>(res: &actix_web::dev::ServiceResponse<B>) -> String {
    let req = res.request();
    match res.status() {
        StatusCode::NOT_FOUND => format!(
            "no resource at {}; the API lives under /api/v1 (see /docs)",
            req.path()
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = res
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("GET");
            format!(
                "{} is not allowed on {}; allowed: {allow}",
                req.method(),
                req.path()
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "unsupported Content-Type; send application/json".to_owned()
        }
        status if status.is_server_error() => {
            "An unexpected error occurred; it has been logged.".to_owned()
        }
        status => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    }
}

/// Extractor configs that send malformed JSON, paths and payloads through
/// `ApiError` too.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { length, limit } => ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is {length} bytes; at most {limit} are accepted"),
        ),
        E::Overflow { limit } => ApiError::status(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the {limit} bytes accepted"),
        ),
        E::ContentType => ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        E::Deserialize(inner) => ApiError::invalid("body", inner.to_string()),
        other => ApiError::invalid("body", other.to_string()),
    };
    api.into()
}
