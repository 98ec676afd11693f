//! Posters: list, read, upload (multipart, decided by the bytes), and file
//! downloads with strong SHA-256 tags, Range requests and a bounded shared
//! cache of file bytes (one copy per hot file, however many downloads).

use std::sync::Arc;

use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::paging::{self, Page};
use super::query::{year, Checker, Params};
use super::write::Bearer;
use super::{run, run_write, AppState};
use crate::db::access::{self, AuditEntry};
use crate::db::posters::{FileRow, PosterFilter, PosterHit, PosterRow};
use crate::db::DbError;
use crate::domain::poster::{self, FileFormat, Refusal, MAX_FILE_BYTES};
use crate::domain::{to_shanghai, Actor, CampaignKind};
use crate::error::{ApiError, Problem};

/// Which file of a poster: as uploaded, or a JPEG rendition by width.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FileVariant {
    Png,
    Jpeg,
    Pdf,
    W480,
    W1080,
}

/// A stored file of a poster.
#[derive(Debug, Serialize, ToSchema)]
pub struct PosterFile {
    /// `png`, `jpeg` or `pdf` for an uploaded file; `w480`, `w1080` for a rendition.
    #[schema(value_type = FileVariant)]
    pub variant: String,
    pub format: FileFormat,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Size in bytes.
    pub bytes: i64,
    /// Hex SHA-256 of the bytes: also the file's strong ETag.
    pub sha256: String,
    /// Content-addressed URL: immutable, cacheable for a year.
    pub url: String,
}

/// A campaign poster and its files.
#[derive(Debug, Serialize, ToSchema)]
pub struct Poster {
    pub id: String,
    pub title: String,
    pub kind: CampaignKind,
    pub year: i32,
    pub campaign_id: Option<String>,
    /// BCP 47 language tag.
    pub language: String,
    /// Who published it (the national regulator, a bureau).
    pub source: String,
    /// Licence or usage note.
    pub usage_note: Option<String>,
    /// The region whose bureau posted it; `null` for a national poster.
    pub region: Option<String>,
    pub files: Vec<PosterFile>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(serialize_with = "crate::domain::rfc3339")]
    pub updated_at: DateTime<FixedOffset>,
}

impl From<PosterHit> for Poster {
    fn from(hit: PosterHit) -> Self {
        let row = hit.row;
        Self {
            files: hit
                .files
                .into_iter()
                .map(|f| PosterFile {
                    url: file_url(&f.sha256),
                    format: f.format.parse().unwrap_or(FileFormat::Png),
                    variant: f.variant,
                    width: f.width,
                    height: f.height,
                    bytes: f.size,
                    sha256: f.sha256,
                })
                .collect(),
            id: row.id,
            title: row.title,
            kind: row.kind.parse().unwrap_or(CampaignKind::OrganicWeek),
            year: row.year,
            campaign_id: row.campaign_id,
            language: row.language,
            source: row.source,
            usage_note: row.usage_note,
            region: row.region,
            updated_at: to_shanghai(row.updated_at),
        }
    }
}

fn file_url(sha256: &str) -> String {
    format!("/api/v1/files/{sha256}")
}

/// Filters of `GET /posters`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PostersQuery {
    /// Only posters of this campaign.
    #[param(value_type = Option<crate::domain::RecordId>)]
    campaign: Option<String>,
    /// Only posters of this campaign kind.
    #[param(value_type = Option<CampaignKind>)]
    kind: Option<String>,
    /// Only posters of this year.
    #[param(value_type = Option<i32>, minimum = 2000, maximum = 2100)]
    year: Option<String>,
    /// Page size, 1 to 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List posters by id.
#[utoipa::path(
    operation_id = "list_posters",
    tag = "posters",
    params(PostersQuery),
    responses(
        (status = 200, description = "A page of posters", body = Page<Poster>),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("")]
pub async fn list_posters(
    req: HttpRequest,
    state: web::Data<AppState>,
    Params(query): Params<PostersQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut check = Checker::default();
    let filter = PosterFilter {
        campaign: check.parse("campaign", query.campaign.as_deref(), |raw| {
            raw.parse::<crate::domain::RecordId>()
                .map(crate::domain::RecordId::into_string)
        }),
        kind: check
            .parse("kind", query.kind.as_deref(), str::parse::<CampaignKind>)
            .map(|k| k.as_str().to_owned()),
        year: check.parse("year", query.year.as_deref(), year),
    };
    let after = check.parse("cursor", query.cursor.as_deref(), |raw| {
        paging::decode_list("posters", raw).and_then(|key| paging::decode_id(&key))
    });
    let limit = check.limit(query.limit.as_deref());
    let filter = check.finish(filter)?;
    let (hits, more) = run(&state, move |conn| {
        crate::db::posters::list(conn, &filter, after.as_deref(), limit)
    })
    .await?;
    let next_cursor = more
        .then(|| hits.last())
        .flatten()
        .map(|hit| paging::encode("posters", &hit.row.id));
    let next = next_cursor.clone();
    let items = hits.into_iter().map(Poster::from).collect();
    Ok(paging::respond(
        &req,
        Page { items, next_cursor },
        next.as_deref(),
    ))
}

/// Get one poster with its files.
#[utoipa::path(
    operation_id = "get_poster",
    tag = "posters",
    params(("id" = crate::domain::RecordId, Path, description = "Poster id")),
    responses(
        (status = 200, description = "The poster", body = Poster),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such poster", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}")]
pub async fn get_poster(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _params: Params<super::query::NoParams>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let hit = run(&state, move |conn| crate::db::posters::get(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(Poster::from(hit)))
}

/// File content, as sent.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(#[allow(dead_code)] Vec<u8>);

/// The parts of a poster upload.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PosterUpload {
    /// The poster's description, as JSON.
    meta: PosterMeta,
    /// A PNG, JPEG or PDF file; send one `file` part per format.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The `meta` part of an upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PosterMeta {
    /// Generated when absent.
    #[schema(value_type = Option<crate::domain::RecordId>)]
    id: Option<String>,
    title: String,
    #[schema(value_type = CampaignKind)]
    kind: String,
    #[schema(minimum = 2000, maximum = 2100)]
    year: i32,
    #[schema(value_type = Option<crate::domain::RecordId>)]
    campaign_id: Option<String>,
    /// BCP 47 tag, e.g. `zh-CN`.
    language: String,
    source: String,
    usage_note: Option<String>,
    /// The posting bureau's region (needs a token covering it); absent for
    /// a national poster (national tokens only).
    region: Option<String>,
}

/// Most parts of an upload: the meta part and up to four files.
const MAX_PARTS: usize = 5;
const MAX_META_BYTES: usize = 64 * 1024;

/// One part of the upload, read whole within its limit.
struct Part {
    name: String,
    file_name: Option<String>,
    bytes: Vec<u8>,
}

fn too_large(detail: String) -> ApiError {
    ApiError::status(StatusCode::PAYLOAD_TOO_LARGE, detail)
}

async fn read_parts(mut multipart: actix_multipart::Multipart) -> Result<Vec<Part>, ApiError> {
    use futures_core::Stream;
    let mut parts = Vec::new();
    while let Some(field) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut multipart).poll_next(cx)).await
    {
        let mut field = field
            .map_err(|e| ApiError::invalid("body", format!("not multipart/form-data: {e}")))?;
        if parts.len() == MAX_PARTS {
            return Err(too_large(format!(
                "at most {MAX_PARTS} parts: one meta and up to {} files",
                MAX_PARTS - 1
            )));
        }
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or_default()
            .to_owned();
        let file_name = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let limit = if name == "meta" {
            MAX_META_BYTES
        } else {
            MAX_FILE_BYTES
        };
        let bytes = super::write::collect_capped(&mut field, 0, limit, || {
            too_large(format!(
                "part {name:?} is larger than the {limit} bytes accepted"
            ))
        })
        .await?;
        parts.push(Part {
            name,
            file_name,
            bytes,
        });
    }
    Ok(parts)
}

/// Serialises image decoding: one 10,000 × 10,000 image may take 400 MiB
/// while it is decoded, and uploads are rare.
static DECODING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::UnsupportedType(detail) => {
            ApiError::status(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
        }
        Refusal::TooLarge(detail) => too_large(detail),
        Refusal::Unprocessable(detail) => {
            ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, detail)
        }
    }
}

/// Upload a poster: a `meta` part (JSON) and one or more `file` parts.
#[utoipa::path(
    operation_id = "upload_poster",
    tag = "posters",
    summary = "Upload a poster",
    description = "PNG, JPEG or PDF, decided by the file's bytes; images are decoded and encoded anew (nothing survives in metadata or after the image's end) and get 480 and 1080 px wide JPEG renditions; PDFs with JavaScript or embedded files are refused. At most 20 MiB per file and 5 parts.",
    request_body(content = PosterUpload, content_type = "multipart/form-data", description = "`meta`: JSON (PosterMeta); `file`: one part per format."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = Poster),
        super::write::Refusals,
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A file over 20 MiB or 10,000 × 10,000 pixels, or over 5 parts", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unreadable image, or a PDF with JavaScript or embedded files", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("")]
pub async fn upload_poster(
    state: web::Data<AppState>,
    Bearer(actor): Bearer,
    multipart: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    let parts = read_parts(multipart).await?;
    let mut meta = None;
    let mut files = Vec::new();
    for part in parts {
        match part.name.as_str() {
            "meta" => {
                // JSON carries NUL only escaped; PostgreSQL text cannot hold it.
                if part.bytes.windows(6).any(|w| w == b"\\u0000") {
                    return Err(ApiError::invalid(
                        "meta",
                        "text may not contain NUL characters",
                    ));
                }
                let parsed: PosterMeta = serde_json::from_slice(&part.bytes)
                    .map_err(|e| ApiError::invalid("meta", e.to_string()))?;
                meta = Some(parsed);
            }
            "file" => files.push(part),
            other => {
                return Err(ApiError::invalid(
                    other,
                    "is not a part of an upload; send `meta` and `file`",
                ))
            }
        }
    }
    let meta = meta.ok_or_else(|| ApiError::invalid("meta", "is required (JSON)"))?;
    if files.is_empty() {
        return Err(ApiError::invalid("file", "at least one file is required"));
    }
    let now = Utc::now().naive_utc().trunc_subsecs(6);
    let row = poster_row(meta, now)?;
    // Scope and references first: decoding is the expensive part.
    let (checked_row, checked_actor) = (row.clone(), actor.clone());
    run(&state, move |conn| {
        check_scope(conn, &checked_actor, checked_row.region.as_deref())?;
        check_references(conn, &checked_row)
    })
    .await?;
    let made = web::block(move || {
        let _one_at_a_time = DECODING.lock().unwrap_or_else(|e| e.into_inner());
        let mut made = Vec::new();
        for part in files {
            let name = part.file_name.map(clean_file_name);
            for file in poster::prepare(&part.bytes).map_err(refused)? {
                made.push((file, name.clone()));
            }
        }
        // A decoded poster is tens of MiB of pixels, freed by now: hand
        // them back rather than keep them resident (see `crate::trim_heap`).
        crate::trim_heap();
        Ok::<_, ApiError>(made)
    })
    .await??;
    let mut stored: Vec<(FileRow, Vec<u8>)> = Vec::new();
    for (file, file_name) in made {
        if stored.iter().any(|(f, _)| f.variant == file.variant) {
            return Err(ApiError::invalid(
                "file",
                format!(
                    "two files make {:?}: send one file per format",
                    file.variant
                ),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&file.bytes));
        stored.push((
            FileRow {
                poster_id: row.id.clone(),
                variant: file.variant,
                format: file.format.as_str().to_owned(),
                width: file.width.map(|w| w as i32),
                height: file.height.map(|h| h as i32),
                size: file.bytes.len() as i64,
                sha256,
                file_name,
            },
            file.bytes,
        ));
    }
    let id = row.id.clone();
    let body = run_write(&state, move |conn| {
        crate::db::exclusive_transaction(conn, |conn| {
            crate::db::posters::insert(conn, &row, &stored)?;
            let after =
                serde_json::to_string(&Poster::from(crate::db::posters::get(conn, &row.id)?))
                    .map_err(|e| DbError::Query(e.to_string()))?;
            access::record(
                conn,
                &[AuditEntry {
                    at: now,
                    actor: actor.name.clone(),
                    action: "create",
                    target_type: "poster",
                    target_id: row.id.clone(),
                    before: None,
                    after: Some(after.clone()),
                }],
            )?;
            Ok(after)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/posters/{id}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body))
}

fn poster_row(meta: PosterMeta, now: chrono::NaiveDateTime) -> Result<PosterRow, ApiError> {
    let mut check = Checker::default();
    let id = match meta.id {
        Some(id) => check.parse("id", Some(&id), |raw| {
            raw.parse::<crate::domain::RecordId>()
                .map(crate::domain::RecordId::into_string)
        }),
        None => Some(super::write::new_record_id("poster")?),
    };
    let kind = check.parse("kind", Some(&meta.kind), str::parse::<CampaignKind>);
    let language = check.parse("language", Some(&meta.language), poster::language);
    let year = check.parse("year", Some(&meta.year.to_string()), year);
    let region = check.parse(
        "region",
        meta.region.as_deref(),
        str::parse::<crate::domain::Adcode>,
    );
    let campaign_id = check.parse("campaign_id", meta.campaign_id.as_deref(), |raw| {
        raw.parse::<crate::domain::RecordId>()
            .map(crate::domain::RecordId::into_string)
    });
    for (field, value) in [("title", &meta.title), ("source", &meta.source)] {
        if value.trim().is_empty() || value.chars().count() > 500 {
            check.refuse(field, "is required, at most 500 characters");
        }
    }
    check.finish(())?;
    Ok(PosterRow {
        id: id.unwrap_or_default(),
        title: meta.title,
        kind: kind.map(|k| k.as_str().to_owned()).unwrap_or_default(),
        year: year.unwrap_or_default(),
        campaign_id,
        language: language.unwrap_or_default(),
        source: meta.source,
        usage_note: meta.usage_note,
        region: region.map(|r| r.as_str().to_owned()),
        updated_at: now,
    })
}

/// A file name is metadata only: its last path segment, printable, short.
fn clean_file_name(raw: String) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    last.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn check_scope(
    conn: &mut crate::db::DbConn,
    actor: &Actor,
    region: Option<&str>,
) -> crate::db::DbResult<()> {
    // A national poster (no region) is national tokens' only.
    if actor.scope.covers(&access::place_of(conn, region, None)?) {
        Ok(())
    } else {
        Err(DbError::Forbidden("poster".into()))
    }
}

/// The region and campaign a poster names must exist: 400, not a foreign
/// key failing in the database.
fn check_references(conn: &mut crate::db::DbConn, row: &PosterRow) -> crate::db::DbResult<()> {
    let mut errors = Vec::new();
    if let Some(region) = &row.region {
        if access::region_places(conn, std::slice::from_ref(region))?.is_empty() {
            errors.push((
                "region".to_owned(),
                format!("no region with adcode {region}"),
            ));
        }
    }
    if let Some(campaign) = &row.campaign_id {
        match crate::db::campaigns::get(conn, campaign) {
            Ok(_) => {}
            Err(DbError::NotFound(_)) => errors.push((
                "campaign_id".to_owned(),
                format!("no campaign with id {campaign:?}"),
            )),
            Err(err) => return Err(err),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DbError::Invalid(errors))
    }
}

/// The answers of a file download. Written out because the derive gives a
/// response one media type, and a file is served as what it is.
struct Download;

impl utoipa::IntoResponses for Download {
    fn responses(
    ) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        use utoipa::openapi::{Content, Ref, ResponseBuilder, ResponsesBuilder};
        let file = |description: &str| {
            ["image/png", "image/jpeg", "application/pdf"]
                .into_iter()
                .fold(
                    ResponseBuilder::new().description(description),
                    |response, media| {
                        response.content(
                            media,
                            Content::new(Some(Ref::from_schema_name("FileBytes"))),
                        )
                    },
                )
        };
        let problem = crate::openapi::problem_response;
        ResponsesBuilder::new()
            .response(
                "200",
                file("The file (`Content-Type` of its format, `ETag` = its SHA-256)"),
            )
            .response("206", file("The requested range"))
            .response(
                "304",
                ResponseBuilder::new().description("If-None-Match names the file"),
            )
            .response("400", problem("Invalid parameter"))
            .response("404", problem("No such poster or file"))
            .response("416", problem("The range lies outside the file"))
            .build()
            .into()
    }
}

/// The widths a poster's JPEG renditions come in (schema only).
pub struct RenditionWidth;

impl utoipa::PartialSchema for RenditionWidth {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::Integer)
            .enum_values(Some(crate::domain::poster::RENDITION_WIDTHS))
            .into()
    }
}

impl ToSchema for RenditionWidth {}

/// Which file of a poster to download.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileQuery {
    /// `png`, `jpeg` or `pdf`: the uploaded file of that format (default:
    /// the first uploaded).
    #[param(value_type = Option<FileFormat>)]
    format: Option<String>,
    /// `480` or `1080`: the JPEG rendition of that width.
    #[param(value_type = Option<RenditionWidth>)]
    width: Option<String>,
}

/// Download a poster's file.
#[utoipa::path(
    operation_id = "download_poster_file",
    tag = "posters",
    params(("id" = crate::domain::RecordId, Path, description = "Poster id"), FileQuery,
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-1023`); several ranges are answered with the whole file")),
    responses(Download)
)]
#[get("/{id}/file")]
pub async fn download_poster_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(query): Params<FileQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let mut check = Checker::default();
    let format = check.parse("format", query.format.as_deref(), str::parse::<FileFormat>);
    let width = check.parse("width", query.width.as_deref(), |raw| match raw {
        "480" | "1080" => Ok(format!("w{raw}")),
        _ => Err(crate::domain::Invalid::new(format!(
            "must be 480 or 1080, got {raw:?}"
        ))),
    });
    check.finish(())?;
    let hit = run(&state, move |conn| crate::db::posters::get(conn, &id)).await?;
    let file = hit
        .files
        .iter()
        .find(|f| match (&width, format) {
            (Some(variant), _) => &f.variant == variant,
            (None, Some(format)) => f.variant == format.as_str(),
            (None, None) => !f.variant.starts_with('w'),
        })
        .cloned()
        .ok_or_else(|| ApiError::NotFound("this poster has no such file".into()))?;
    serve(&req, &state, &file, &hit.row.title, "public, max-age=300").await
}

/// Download a file by its SHA-256 (the `url` of every poster file).
#[utoipa::path(
    operation_id = "download_file",
    tag = "posters",
    params(("sha256" = String, Path, pattern = "^[0-9a-f]{64}$", description = "Hex SHA-256 of the file"),
        ("Range" = Option<String>, Header, description = "One byte range")),
    responses(Download)
)]
#[get("/{sha256}")]
pub async fn download_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _params: Params<super::query::NoParams>,
) -> Result<HttpResponse, ApiError> {
    let sha = path.into_inner();
    if sha.len() != 64
        || !sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ApiError::invalid(
            "sha256",
            "must be 64 lower-case hex digits",
        ));
    }
    // The generation is read before the database: a write that commits
    // meanwhile makes the record stale at once.
    let generation = state.cache.generation();
    let record = match state.files.records.get(&sha) {
        Some(record) if record.generation == generation => record,
        _ => {
            let key = sha.clone();
            let found = run(&state, move |conn| {
                crate::db::posters::file_by_sha(conn, &key)
            })
            .await?;
            let (file, title) =
                found.ok_or_else(|| ApiError::NotFound("no file with this hash".into()))?;
            let record = Arc::new(FileRecord {
                file,
                title,
                generation,
            });
            state.files.records.insert(sha, Arc::clone(&record));
            record
        }
    };
    serve(
        &req,
        &state,
        &record.file,
        &record.title,
        "public, max-age=31536000, immutable",
    )
    .await
}

/// The file's bytes from the shared cache (loaded once, however many ask).
async fn bytes_of(state: &AppState, sha256: &str) -> Result<Bytes, ApiError> {
    let files = state.files.clone();
    let key = sha256.to_owned();
    files
        .bytes
        .get_or_insert_async(&key, async {
            let sha = key.clone();
            let bytes = run(state, move |conn| crate::db::posters::blob(conn, &sha)).await?;
            bytes
                .map(Bytes::from)
                .ok_or_else(|| ApiError::NotFound("the file's bytes are gone".into()))
        })
        .await
}

async fn serve(
    req: &HttpRequest,
    state: &AppState,
    file: &FileRow,
    title: &str,
    cache_control: &'static str,
) -> Result<HttpResponse, ApiError> {
    let tag = format!("\"{}\"", file.sha256);
    let format: FileFormat = file.format.parse().unwrap_or(FileFormat::Png);
    let mut response = HttpResponse::build(StatusCode::OK);
    response
        .insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(title, &file.variant, format),
        ));
    let header_text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header_text(header::IF_NONE_MATCH)
        .is_some_and(|candidates| super::caching::matches(candidates, &tag))
    {
        return Ok(response.status(StatusCode::NOT_MODIFIED).finish());
    }
    let bytes = bytes_of(state, &file.sha256).await?;
    let len = bytes.len() as u64;
    // If-Range naming another version: the whole file.
    let range = header_text(header::RANGE)
        .filter(|_| header_text(header::IF_RANGE).is_none_or(|t| t == tag));
    match range.map(|r| byte_range(r, len)) {
        Some(RangeAnswer::One(first, last)) => Ok(response
            .status(StatusCode::PARTIAL_CONTENT)
            .insert_header((header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}")))
            .content_type(format.content_type())
            .body(Shared::new(bytes.slice(first as usize..=last as usize)))),
        Some(RangeAnswer::Unsatisfiable) => {
            let mut refusal = ApiError::status(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the file has {len} bytes"),
            )
            .error_response();
            refusal.headers_mut().insert(
                header::CONTENT_RANGE,
                header::HeaderValue::from_str(&format!("bytes */{len}")).expect("ASCII"),
            );
            Ok(refusal)
        }
        Some(RangeAnswer::Whole) | None => Ok(response
            .content_type(format.content_type())
            .body(Shared::new(bytes))),
    }
}

use actix_web::ResponseError;

/// A response body sent from a shared buffer in slices. actix copies what
/// it sends into each connection's write buffer, and asks for the next
/// slice only when that buffer has drained: so a download holds a slice,
/// not a copy of the file (64 downloads of a 20 MiB poster took 1.2 GiB
/// when the whole buffer was handed over at once).
struct Shared {
    bytes: Bytes,
    sent: usize,
}

impl Shared {
    /// Bytes handed to the connection at a time.
    const SLICE: usize = 64 * 1024;

    fn new(bytes: Bytes) -> Self {
        Self { bytes, sent: 0 }
    }
}

impl actix_web::body::MessageBody for Shared {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized((self.bytes.len() - self.sent) as u64)
    }

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.sent >= this.bytes.len() {
            return std::task::Poll::Ready(None);
        }
        let end = (this.sent + Self::SLICE).min(this.bytes.len());
        let slice = this.bytes.slice(this.sent..end);
        this.sent = end;
        std::task::Poll::Ready(Some(Ok(slice)))
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// One satisfiable range (inclusive bounds).
    One(u64, u64),
    Unsatisfiable,
    /// Several ranges, or a header this server ignores (RFC 9110 §14.2
    /// lets a server answer any Range with the whole representation).
    Whole,
}

fn byte_range(header: &str, len: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    // Several ranges (a thousand included) cost one scan: the whole file.
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (first, last) = match (first.trim().is_empty(), parse(first), parse(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) if n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
        (true, _, _) => return RangeAnswer::Unsatisfiable,
        (false, Some(a), None) if last.trim().is_empty() => (a, len.saturating_sub(1)),
        (false, Some(a), Some(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        _ => return RangeAnswer::Whole,
    };
    if len == 0 || first >= len {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::One(first, last)
    }
}

/// `inline` with the poster's title as the file name (RFC 6266): an ASCII
/// fallback and `filename*` in UTF-8, CR and LF (and quotes) removed.
fn disposition(title: &str, variant: &str, format: FileFormat) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    let suffix = if variant.starts_with('w') {
        format!("-{variant}")
    } else {
        String::new()
    };
    let name = format!("{clean}{suffix}.{}", format.extension());
    let encoded = percent_encoding::utf8_percent_encode(&name, RFC5987);
    format!(
        "inline; filename=\"poster{suffix}.{}\"; filename*=UTF-8''{encoded}",
        format.extension()
    )
}

/// attr-char of RFC 5987: everything else is percent-encoded.
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Bytes of hot files, shared by every download (bounded by weight).
/// What downloads share: files' bytes, and what the database said of each
/// file (its row and its poster's title), so that a download or a 304 by
/// hash asks the database only after a write.
pub struct FileCache {
    bytes: quick_cache::sync::Cache<String, Bytes, ByLength>,
    records: quick_cache::sync::Cache<String, Arc<FileRecord>>,
}

struct FileRecord {
    file: FileRow,
    title: String,
    /// Valid while the data is of this generation (see `caching`).
    generation: super::caching::Generation,
}

#[derive(Clone)]
pub struct ByLength;

impl quick_cache::Weighter<String, Bytes> for ByLength {
    fn weight(&self, _: &String, value: &Bytes) -> u64 {
        value.len().max(1) as u64
    }
}

/// Memory for file bytes shared by downloads.
pub const FILE_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Files' records kept: a few bytes each.
const FILE_RECORDS: usize = 4096;

pub fn file_cache() -> Arc<FileCache> {
    Arc::new(FileCache {
        bytes: quick_cache::sync::Cache::with_weighter(64, FILE_CACHE_BYTES, ByLength),
        records: quick_cache::sync::Cache::new(FILE_RECORDS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), RangeAnswer::One(0, 9));
        assert_eq!(byte_range("bytes=90-", 100), RangeAnswer::One(90, 99));
        assert_eq!(byte_range("bytes=-10", 100), RangeAnswer::One(90, 99));
        assert_eq!(byte_range("bytes=95-200", 100), RangeAnswer::One(95, 99));
        assert_eq!(byte_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-1,2-3", 100), RangeAnswer::Whole);
        assert_eq!(byte_range("items=0-1", 100), RangeAnswer::Whole);
        assert_eq!(byte_range("bytes=9-1", 100), RangeAnswer::Whole);
    }

    #[test]
    fn disposition_carries_the_chinese_title_without_line_breaks() {
        let value = disposition("有机产品\r\n认证周", "png", FileFormat::Png);
        assert!(!value.contains('\r') && !value.contains('\n'));
        assert!(value.contains("filename*=UTF-8''%E6%9C%89"));
        assert!(value.contains("filename=\"poster.png\""));
    }
}

/// Which event a localized poster is for, and its format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocalizedQuery {
    /// The event whose title, venue, date and link go on the poster.
    #[param(value_type = crate::domain::RecordId, required = true)]
    event: Option<String>,
    /// `png` (default) or `pdf`.
    #[param(value_type = Option<String>, pattern = "^(png|pdf)$")]
    format: Option<String>,
}

/// The campaign poster localized for one event.
#[utoipa::path(
    operation_id = "localize_poster",
    tag = "posters",
    summary = "The poster with an event's footer",
    description = "The poster's image with a footer band carrying the event's title, venue and date and a QR code linking to the event, as PNG or a one-page PDF. Rendered once per poster file and event version, then served from memory.",
    params(("id" = crate::domain::RecordId, Path, description = "Poster id"), LocalizedQuery),
    responses(
        (status = 200, description = "The localized poster", content(
            (FileBytes = "image/png"),
            (FileBytes = "application/pdf"),
        )),
        (status = 304, description = "If-None-Match names it"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such poster or event", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The poster has no image (only a PDF)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/{id}/localized")]
pub async fn localize_poster(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Params(query): Params<LocalizedQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::path_id(&path)?.into_string();
    let mut check = Checker::default();
    let event_id = check.parse("event", query.event.as_deref(), |raw| {
        raw.parse::<crate::domain::RecordId>()
            .map(crate::domain::RecordId::into_string)
    });
    if query.event.is_none() {
        check.refuse("event", "is required: the id of the event to localize for");
    }
    let format = check.parse("format", query.format.as_deref(), |raw| match raw {
        "png" => Ok(FileFormat::Png),
        "pdf" => Ok(FileFormat::Pdf),
        _ => Err(crate::domain::Invalid::new(format!(
            "must be png or pdf, got {raw:?}"
        ))),
    });
    check.finish(())?;
    let event_id = event_id.unwrap_or_default();
    let format = format.unwrap_or(FileFormat::Png);
    let (hit, event) = run(&state, move |conn| {
        let poster = crate::db::posters::get(conn, &id)?;
        let event = crate::db::events::get(conn, &event_id)?;
        Ok((poster, super::events::Event::from(event)))
    })
    .await?;
    // The uploaded image, or its 1080 rendition when it is wider.
    let source = hit
        .files
        .iter()
        .find(|f| f.variant == "w1080")
        .or_else(|| {
            hit.files
                .iter()
                .find(|f| f.variant == "png" || f.variant == "jpeg")
        })
        .cloned()
        .ok_or_else(|| {
            ApiError::status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "this poster has no image to localize",
            )
        })?;
    // The link in the QR code comes from the checked Host header only (never
    // X-Forwarded-*), and is part of what the rendering is cached under.
    let base = super::events::feeds::base_url(&req);
    let key = format!(
        "localized|{}|{}|{}|{}|{base}",
        format.as_str(),
        source.sha256,
        event.id,
        event.updated_at.timestamp_micros()
    );
    let tag = format!("\"{}\"", &hex::encode(Sha256::digest(key.as_bytes()))[..32]);
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(
                &format!("{}-{}", hit.row.title, event.title),
                "localized",
                format,
            ),
        ));
    let if_none_match = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|candidates| super::caching::matches(candidates, &tag)) {
        return Ok(response.status(StatusCode::NOT_MODIFIED).finish());
    }
    let footer = crate::domain::localize::Footer {
        title: event.title.clone(),
        // The venue as the notice gives it, else the region it names.
        venue: Some([event.venue.name.clone(), event.venue.address.clone()])
            .map(|parts| parts.into_iter().flatten().collect::<Vec<_>>().join(" · "))
            .filter(|venue| !venue.is_empty())
            .unwrap_or_else(|| event.region.name.clone()),
        when: when(&event),
        url: format!("{base}/api/v1/events/{}", event.id),
    };
    let source_bytes = bytes_of(&state, &source.sha256).await?;
    let rendered = state
        .files
        .bytes
        .get_or_insert_async(&key, async move {
            web::block(move || {
                // One decode or render at a time: each holds the whole image.
                let _one_at_a_time = DECODING.lock().unwrap_or_else(|e| e.into_inner());
                let rendered = crate::domain::localize::render(&source_bytes, &footer, format)
                    .map(Bytes::from);
                crate::trim_heap();
                rendered
            })
            .await
            .map_err(ApiError::from)?
            .map_err(|e| ApiError::Internal(format!("rendering a localized poster: {e}")))
        })
        .await?;
    Ok(response
        .content_type(format.content_type())
        .body(Shared::new(rendered)))
}

/// The event's dates as a visitor reads them (Asia/Shanghai).
fn when(event: &super::events::Event) -> String {
    let (start, end) = (event.starts_at, event.ends_at);
    let day = |t: DateTime<FixedOffset>| t.format("%Y年%-m月%-d日").to_string();
    let clock = |t: DateTime<FixedOffset>| t.format("%H:%M").to_string();
    let last = end - chrono::Duration::seconds(1);
    if start.date_naive() == last.date_naive() {
        format!("{} {}–{}", day(start), clock(start), clock(end))
    } else {
        format!("{} 至 {}", day(start), day(last))
    }
}
