//! Posters through HTTP: uploads decided by their bytes and cleaned,
//! renditions, downloads with strong tags and ranges, and every hostile
//! upload refused with nothing stored.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use ticweek::domain::{Role, Scope};

use crate::common::{get, send, Reply};

fn issue(db: &crate::common::TestDb, name: &str, role: Role, scope: Option<&str>) -> String {
    let (token, hash) = ticweek::domain::new_token().unwrap();
    let scope = Scope::new(role, scope).unwrap();
    let now = chrono::Utc::now().naive_utc();
    ticweek::db::access::create_token(&mut db.connect(), name, &scope, &hash, now).unwrap();
    token
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 120])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG chunk: length, type, data, CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut covered = kind.to_vec();
    covered.extend_from_slice(data);
    out.extend_from_slice(&crc32(&covered).to_be_bytes());
    out
}

/// A real PNG carrying HTML in a text chunk and after its end.
fn polyglot_png() -> Vec<u8> {
    let clean = png(64, 48);
    // Signature (8) + IHDR chunk (25), then a tEXt chunk before the rest.
    let mut out = clean[..33].to_vec();
    out.extend(chunk(b"tEXt", b"Comment\0<script>alert(1)</script>"));
    out.extend_from_slice(&clean[33..]);
    out.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    out
}

/// Only a header: a 50,000 x 50,000 image nobody should try to decode.
fn huge_png_header() -> Vec<u8> {
    let mut ihdr = 50_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

fn pdf(javascript: bool) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let content = doc.add_object(Stream::new(dictionary! {}, b"BT ET".to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
    if javascript {
        let action = doc.add_object(dictionary! {
            "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)"),
        });
        catalog.set("OpenAction", action);
    }
    let catalog = doc.add_object(catalog);
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

const BOUNDARY: &str = "ticweek-test-boundary";

/// A multipart body: the meta part, then (file name, content type, bytes).
fn multipart(meta: &Value, files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{meta}\r\n"
    )
    .into_bytes();
    for (name, content_type, bytes) in files {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .into_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").into_bytes());
    body
}

fn meta(id: &str) -> Value {
    json!({
        "id": id, "title": "2024年有机产品认证宣传周海报", "kind": "organic_week", "year": 2024,
        "language": "zh-CN", "source": "国家认监委", "usage_note": "宣传使用"
    })
}

async fn upload<S, B>(app: &S, token: Option<&str>, body: Vec<u8>) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::post()
        .uri("/api/v1/posters")
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        ))
        .set_payload(body);
    if let Some(token) = token {
        req = req.insert_header(("authorization", format!("Bearer {token}")));
    }
    send(app, req.to_request()).await
}

/// Uploads a generated PNG poster as `id` and checks it was created.
async fn upload_png<S, B>(app: &S, token: &str, id: &str, width: u32, height: u32)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = multipart(&meta(id), &[("p.png", "image/png", &png(width, height))]);
    let reply = upload(app, Some(token), body).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
}

async fn get_with<S, B>(app: &S, uri: &str, headers: &[(&str, &str)]) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::get().uri(uri);
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    send(app, req.to_request()).await
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[actix_web::test]
async fn an_uploaded_image_is_cleaned_rendered_and_served_with_ranges() {
    let (db, app) = crate::common::app().await;
    let token = issue(&db, "national", Role::National, None);
    let original = png(1200, 800);
    let reply = upload(
        &app,
        Some(&token),
        multipart(
            &meta("poster-2024"),
            &[("海报.png", "image/png", &original)],
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(
        reply.header("location"),
        Some("/api/v1/posters/poster-2024")
    );
    let poster = get(&app, "/api/v1/posters/poster-2024").await.json();
    let files = poster["files"].as_array().unwrap();
    let sizes: Vec<(String, i64, i64)> = files
        .iter()
        .map(|f| {
            (
                f["variant"].as_str().unwrap().to_owned(),
                f["width"].as_i64().unwrap(),
                f["height"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [
            ("png".into(), 1200, 800),
            ("w480".into(), 480, 320),
            ("w1080".into(), 1080, 720)
        ]
    );

    for (query, width) in [
        ("", 1200),
        ("?width=480", 480),
        ("?width=1080", 1080),
        ("?format=png", 1200),
    ] {
        let file = get(&app, &format!("/api/v1/posters/poster-2024/file{query}")).await;
        assert_eq!(file.status, StatusCode::OK, "{query}");
        let decoded = image::load_from_memory(&file.body).unwrap();
        assert_eq!(decoded.width(), width, "{query}");
        let listed = files.iter().find(|f| f["width"] == width).unwrap();
        assert_eq!(sha(&file.body), listed["sha256"], "{query}");
        assert_eq!(file.body.len() as i64, listed["bytes"].as_i64().unwrap());
        assert_eq!(
            file.header("etag").unwrap(),
            format!("\"{}\"", listed["sha256"].as_str().unwrap())
        );
        assert_eq!(file.header("x-content-type-options"), Some("nosniff"));
        let disposition = file.header("content-disposition").unwrap();
        assert!(
            disposition.contains("filename*=UTF-8''2024%E5%B9%B4"),
            "{disposition}"
        );
    }
    let png_file = &files[0];
    let url = png_file["url"].as_str().unwrap();
    let full = get(&app, url).await;
    assert_eq!(full.header("content-type"), Some("image/png"));
    assert_eq!(
        full.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let len = full.body.len();
    // The same bytes on every download.
    assert_eq!(get(&app, url).await.body, full.body);

    let tag = full.header("etag").unwrap().to_owned();
    let not_modified = get_with(&app, url, &[("if-none-match", &tag)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.body.is_empty());

    let part = get_with(&app, url, &[("range", "bytes=0-9")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.header("content-range").unwrap(),
        format!("bytes 0-9/{len}")
    );
    assert_eq!(&part.body[..], &full.body[..10]);
    let tail = get_with(&app, url, &[("range", "bytes=-5")]).await;
    assert_eq!(&tail.body[..], &full.body[len - 5..]);
    let beyond = get_with(&app, url, &[("range", &format!("bytes={len}-"))]).await;
    beyond.assert_problem(416);
    assert_eq!(
        beyond.header("content-range").unwrap(),
        format!("bytes */{len}")
    );
    let many: Vec<String> = (0..1000).map(|i| format!("{i}-{i}")).collect();
    let flood = get_with(
        &app,
        url,
        &[("range", &format!("bytes={}", many.join(",")))],
    )
    .await;
    assert_eq!(flood.status, StatusCode::OK);
    assert_eq!(flood.body.len(), len);
    let stale_if_range = get_with(
        &app,
        url,
        &[("range", "bytes=0-9"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(stale_if_range.status, StatusCode::OK);
}

#[actix_web::test]
async fn a_file_by_hash_is_gone_as_soon_as_its_poster_is_deleted() {
    // Downloads by hash remember what the database said of the file; a
    // write must end that at once, for a 200 and for a 304 alike.
    let (db, app) = crate::common::app().await;
    let token = issue(&db, "national", Role::National, None);
    upload_png(&app, &token, "poster-gone", 600, 400).await;
    let poster = get(&app, "/api/v1/posters/poster-gone").await.json();
    let url = poster["files"][0]["url"].as_str().unwrap().to_owned();
    let full = get(&app, &url).await;
    assert_eq!(full.status, StatusCode::OK);
    let tag = full.header("etag").unwrap().to_owned();
    for _ in 0..2 {
        let again = get_with(&app, &url, &[("if-none-match", &tag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    }

    let now = chrono::Utc::now().naive_utc();
    ticweek::db::posters::delete(&mut db.connect(), "poster-gone", now).unwrap();
    let gone = get(&app, &url).await;
    gone.assert_problem(404);
    assert!(gone.json()["detail"].as_str().unwrap().contains("hash"));
    get_with(&app, &url, &[("if-none-match", &tag)])
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn a_pdf_is_kept_byte_for_byte_and_a_polyglot_loses_its_payload() {
    let (db, app) = crate::common::app().await;
    let token = issue(&db, "national", Role::National, None);
    let document = pdf(false);
    let polyglot = polyglot_png();
    assert!(
        image::load_from_memory(&polyglot).is_ok(),
        "the polyglot is a real PNG"
    );
    let body = multipart(
        &meta("poster-pdf"),
        &[
            ("poster.pdf", "application/pdf", &document),
            ("poster.png", "image/png", &polyglot),
        ],
    );
    let reply = upload(&app, Some(&token), body).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let pdf_file = get(&app, "/api/v1/posters/poster-pdf/file?format=pdf").await;
    assert_eq!(pdf_file.body.to_vec(), document);
    assert_eq!(pdf_file.header("content-type"), Some("application/pdf"));
    let image_file = get(&app, "/api/v1/posters/poster-pdf/file?format=png").await;
    assert!(image::load_from_memory(&image_file.body).is_ok());
    let text = String::from_utf8_lossy(&image_file.body).to_lowercase();
    assert!(
        !text.contains("<script") && !text.contains("<html"),
        "payload survived"
    );
}

#[actix_web::test]
async fn hostile_uploads_are_refused_and_nothing_is_stored() {
    let (db, app) = crate::common::app().await;
    let token = issue(&db, "national", Role::National, None);
    let lab = issue(&db, "a lab", Role::Lab, Some("jiangxi-tic-food-institute"));
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    let html = b"<!doctype html><html><script>alert(1)</script></html>".to_vec();
    let big = vec![0u8; 21 * 1024 * 1024];
    let cases: [(&str, &str, &str, Vec<u8>, u16); 6] = [
        ("svg with script", "poster.svg", "image/svg+xml", svg, 415),
        ("html named png", "poster.png", "image/png", html, 415),
        (
            "pdf with javascript",
            "poster.pdf",
            "application/pdf",
            pdf(true),
            422,
        ),
        (
            "50,000 x 50,000 header",
            "huge.png",
            "image/png",
            huge_png_header(),
            413,
        ),
        ("21 MiB", "big.png", "image/png", big, 413),
        (
            "broken png",
            "broken.png",
            "image/png",
            b"\x89PNG\r\n\x1a\nnot really".to_vec(),
            422,
        ),
    ];
    for (case, name, content_type, bytes, status) in cases {
        let reply = upload(
            &app,
            Some(&token),
            multipart(&meta("refused"), &[(name, content_type, &bytes)]),
        )
        .await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{case}: {:?}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.assert_problem(status);
    }
    let ok = png(40, 30);
    // Six parts: the meta and five files.
    let five = [("a.png", "image/png", &ok[..]); 5];
    upload(&app, Some(&token), multipart(&meta("refused"), &five))
        .await
        .assert_problem(413);
    let reply = upload(
        &app,
        None,
        multipart(&meta("refused"), &[("a.png", "image/png", &ok)]),
    )
    .await;
    reply.assert_problem(401);
    let reply = upload(
        &app,
        Some(&lab),
        multipart(&meta("refused"), &[("a.png", "image/png", &ok)]),
    )
    .await;
    reply.assert_problem(403);
    // Bad meta: a campaign that does not exist, a field that does not.
    for (field, key, value) in [
        ("campaign_id", "campaign_id", "no-such-campaign"),
        ("meta", "uploaded_by", "me"),
    ] {
        let mut bad = meta("refused");
        bad[key] = json!(value);
        let body = multipart(&bad, &[("a.png", "image/png", &ok)]);
        upload(&app, Some(&token), body).await.assert_invalid(field);
    }
    let listed = get(&app, "/api/v1/posters").await.json();
    assert_eq!(listed["items"], json!([]));

    // A file name is metadata: a traversal in it writes nothing anywhere.
    let target = std::env::temp_dir().join("ticweek-traversal.png");
    let name = format!("../../../../{}", target.display());
    let reply = upload(
        &app,
        Some(&token),
        multipart(&meta("named"), &[(&name, "image/png", &ok)]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(!target.exists());
    assert_eq!(
        get(&app, "/api/v1/posters/named/file").await.status,
        StatusCode::OK
    );
}

/// The text of the QR code in the footer of a localized PNG whose poster
/// part is `top` pixels high.
fn qr_of(png: &[u8], top: u32) -> Vec<u8> {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    let footer =
        image::imageops::crop_imm(&image, 0, top, image.width(), image.height() - top).to_image();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        footer.width() as usize,
        footer.height() as usize,
        |x, y| footer.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the footer");
    grids[0].decode().unwrap().1.into_bytes()
}

#[actix_web::test]
async fn a_localized_poster_carries_the_event_and_a_qr_code_to_it() {
    let (db, app) = crate::common::app().await;
    let token = issue(&db, "national", Role::National, None);
    upload_png(&app, &token, "organic-2024", 1200, 800).await;
    let event = "jiangxi-2022-organic-expert-visit-pengze";
    let uri = format!("/api/v1/posters/organic-2024/localized?event={event}");
    let localized = get(&app, &uri).await;
    assert_eq!(
        localized.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&localized.body)
    );
    assert_eq!(localized.header("content-type"), Some("image/png"));
    let image = image::load_from_memory(&localized.body).unwrap().to_luma8();
    // The 1080 px rendition with a band of 30 % of its width below it.
    let band = ticweek::domain::localize::band_height(1080);
    assert_eq!(image.dimensions(), (1080, 720 + band));
    let footer = image::imageops::crop_imm(&image, 0, 720, 1080, band).to_image();
    let url = String::from_utf8(qr_of(&localized.body, 720)).unwrap();
    assert!(
        url.starts_with("http") && url.ends_with(&format!("/api/v1/events/{event}")),
        "{url}"
    );
    assert_eq!(
        get(&app, &url[url.find("/api/").unwrap()..]).await.status,
        StatusCode::OK
    );
    // Text was drawn: the band is not blank left of the code.
    let inked = footer
        .pixels()
        .take((footer.width() * footer.height() / 2) as usize)
        .filter(|p| p.0[0] < 128)
        .count();
    assert!(inked > 500, "{inked} dark pixels");

    let again = get_with(
        &app,
        &uri,
        &[("if-none-match", localized.header("etag").unwrap())],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let pdf = get(&app, &format!("{uri}&format=pdf")).await;
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    let document = lopdf::Document::load_mem(&pdf.body).unwrap();
    assert_eq!(document.get_pages().len(), 1);

    // The link comes from Host, never from X-Forwarded-* a client sends.
    let forged = get_with(
        &app,
        &uri,
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert!(!String::from_utf8_lossy(&qr_of(&forged.body, 720)).contains("evil"));
    // A narrow poster gets a canvas wide enough for its footer.
    let reply = upload(
        &app,
        Some(&token),
        multipart(&meta("narrow"), &[("n.png", "image/png", &png(100, 80))]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let narrow = get(
        &app,
        &format!("/api/v1/posters/narrow/localized?event={event}"),
    )
    .await;
    let decoded = image::load_from_memory(&narrow.body).unwrap();
    assert_eq!(decoded.width(), 480);
    assert!(String::from_utf8_lossy(&qr_of(&narrow.body, 80)).ends_with(event));
    get(
        &app,
        "/api/v1/posters/organic-2024/localized?event=no-such-event",
    )
    .await
    .assert_problem(404);
    get(&app, "/api/v1/posters/organic-2024/localized")
        .await
        .assert_invalid("event");
    get(&app, &format!("{uri}&format=gif"))
        .await
        .assert_invalid("format");
}
