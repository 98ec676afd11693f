//! What answers when no route matched: 405 with `Allow` when the path exists
//! under another method, else 404. The table of paths and methods is read
//! from the OpenAPI document, i.e. from the same registrations that route
//! requests, so it cannot drift from them.

use std::rc::Rc;

use actix_router::ResourceDef;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

pub struct KnownPaths(Vec<(ResourceDef, String)>);

impl KnownPaths {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let paths = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<String> = Vec::new();
                for (method, op) in [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                ] {
                    if op.is_some() {
                        methods.push(method.to_owned());
                        if method == "GET" {
                            methods.push("HEAD".to_owned());
                        }
                    }
                }
                (ResourceDef::new(path.as_str()), methods.join(", "))
            })
            .chain(
                ["/openapi.json", "/docs", "/docs/{_:.*}"]
                    .map(|path| (ResourceDef::new(path), "GET, HEAD".to_owned())),
            )
            .collect();
        Self(paths)
    }

    fn allowed(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_str())
    }
}

pub async fn not_matched(req: HttpRequest, known: Rc<KnownPaths>) -> HttpResponse {
    match known.allowed(req.path()) {
        Some(allow) => {
            let mut response = ApiError::status(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not allowed on {}; allowed: {allow}",
                    req.method(),
                    req.path()
                ),
            )
            .error_response();
            response.headers_mut().insert(
                header::ALLOW,
                header::HeaderValue::from_str(allow).expect("method names are ASCII"),
            );
            response
        }
        None => ApiError::NotFound(format!(
            "no resource at {}; the API lives under /api/v1 (see /docs)",
            req.path()
        ))
        .error_response(),
    }
}
