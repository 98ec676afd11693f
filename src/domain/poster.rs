//! Poster files: what an upload is (decided by its bytes), how an image is
//! cleaned (decoded within limits and encoded anew, so nothing rides along
//! in metadata or after the image's end), its renditions, and the checks a
//! PDF must pass. Pure: bytes in, bytes out.

use std::io::Cursor;

use super::Invalid;

vocabulary!(
    /// A stored file's format.
    FileFormat {
        Png = "png",
        Jpeg = "jpeg",
        Webp = "webp",
        Pdf = "pdf",
    }
);

impl FileFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Pdf => "pdf",
        }
    }
}

/// Largest file accepted, and largest image.
pub const MAX_FILE_BYTES: usize = 20 * 1024 * 1024;
pub const MAX_SIDE: u32 = 10_000;
/// Widths of the renditions made of every image (never wider than it).
pub const RENDITION_WIDTHS: [u32; 2] = [480, 1080];

/// Why an upload is refused; the API maps each to its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not PNG, JPEG or PDF by its bytes (415).
    UnsupportedType(String),
    /// Too large in bytes or pixels (413).
    TooLarge(String),
    /// The right type, but unusable or unsafe (422).
    Unprocessable(String),
}

/// PNG, JPEG or PDF, by the file's first bytes; its name and declared type
/// are never consulted.
pub fn sniff(bytes: &[u8]) -> Result<FileFormat, Refusal> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(FileFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(FileFormat::Jpeg)
    } else if bytes.starts_with(b"%PDF-") {
        Ok(FileFormat::Pdf)
    } else {
        Err(Refusal::UnsupportedType(
            "only PNG, JPEG and PDF files are accepted (decided by the file's content)".into(),
        ))
    }
}

/// One stored file made from an upload.
#[derive(Debug, Clone)]
pub struct Made {
    /// The uploaded file's format (`png`, `jpeg`, `pdf`), or a rendition's
    /// width (`w480`, `w1080`).
    pub variant: String,
    pub format: FileFormat,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bytes: Vec<u8>,
}

/// What gets stored for an uploaded file: for an image, the image encoded
/// anew plus its renditions; for a PDF, the PDF as uploaded once checked.
pub fn prepare(bytes: &[u8]) -> Result<Vec<Made>, Refusal> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Refusal::TooLarge(format!(
            "a file may have at most {MAX_FILE_BYTES} bytes"
        )));
    }
    match sniff(bytes)? {
        FileFormat::Pdf => {
            check_pdf(bytes)?;
            Ok(vec![Made {
                variant: FileFormat::Pdf.as_str().into(),
                format: FileFormat::Pdf,
                width: None,
                height: None,
                bytes: bytes.to_vec(),
            }])
        }
        format => image_files(bytes, format),
    }
}

fn image_files(bytes: &[u8], format: FileFormat) -> Result<Vec<Made>, Refusal> {
    let image_format = match format {
        FileFormat::Png => image::ImageFormat::Png,
        _ => image::ImageFormat::Jpeg,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // 10,000 × 10,000 RGBA, and the decoder's own buffers.
    limits.max_alloc = Some(448 * 1024 * 1024);
    reader.limits(limits);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| refusal_of(e, format))?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_many_pixels(width, height));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.limits(limits_for_decode());
    let image = reader.decode().map_err(|e| refusal_of(e, format))?;
    let mut made = vec![Made {
        variant: format.as_str().into(),
        format,
        width: Some(image.width()),
        height: Some(image.height()),
        bytes: encode(&image, format)?,
    }];
    // Scaled by fast_image_resize in the image's own pixel type, with the
    // same filter as before (bilinear: `image`'s Triangle). `image`'s
    // `resize_exact` kept a copy of the whole image at the new width in
    // 32-bit floats (14 MB for a 1200 × 800 poster's 1080 px rendition).
    // One upload of such a poster: 68-69 ms instead of 137-160, and 18-19
    // MiB added to the server's peak RSS instead of 20-28. Alpha is not
    // premultiplied (that would copy the whole image first): renditions
    // are JPEG, which drops it anyway.
    let mut resizer = fast_image_resize::Resizer::new();
    let options = fast_image_resize::ResizeOptions::new()
        .resize_alg(fast_image_resize::ResizeAlg::Convolution(
            fast_image_resize::FilterType::Bilinear,
        ))
        .use_alpha(false);
    for target in RENDITION_WIDTHS {
        if target >= image.width() {
            continue;
        }
        let scaled_height = ((u64::from(image.height()) * u64::from(target))
            / u64::from(image.width()))
        .max(1) as u32;
        let mut small = image::DynamicImage::new(target, scaled_height, image.color());
        resizer
            .resize(&image, &mut small, &options)
            .map_err(|e| Refusal::Unprocessable(format!("could not scale the image: {e}")))?;
        made.push(Made {
            variant: format!("w{target}"),
            format: FileFormat::Jpeg,
            width: Some(small.width()),
            height: Some(small.height()),
            bytes: encode(&small, FileFormat::Jpeg)?,
        });
    }
    Ok(made)
}

fn limits_for_decode() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(448 * 1024 * 1024);
    limits
}

fn too_many_pixels(width: u32, height: u32) -> Refusal {
    Refusal::TooLarge(format!(
        "the image is {width} × {height} pixels; at most {MAX_SIDE} × {MAX_SIDE} are accepted"
    ))
}

fn refusal_of(err: image::ImageError, format: FileFormat) -> Refusal {
    match err {
        image::ImageError::Limits(_) => Refusal::TooLarge(format!(
            "the image exceeds {MAX_SIDE} × {MAX_SIDE} pixels or the memory allowed for decoding"
        )),
        other => Refusal::Unprocessable(format!(
            "not a readable {} image: {other}",
            format.as_str().to_uppercase()
        )),
    }
}

/// Encodes pixels only: no text chunks, no EXIF, nothing after the end.
fn encode(image: &image::DynamicImage, format: FileFormat) -> Result<Vec<u8>, Refusal> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        FileFormat::Png => image.write_to(&mut out, image::ImageFormat::Png),
        _ => {
            let rgb = image.to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88).encode_image(&rgb)
        }
    };
    result.map_err(|e| Refusal::Unprocessable(format!("could not encode the image: {e}")))?;
    Ok(out.into_inner())
}

/// PDF names that make a document act (scripts, actions, launched
/// programs, form submission) or carry other files.
const FORBIDDEN_PDF_NAMES: [&str; 12] = [
    "JavaScript",
    "JS",
    "AA",
    "EmbeddedFile",
    "EmbeddedFiles",
    "Launch",
    "RichMedia",
    "XFA",
    "SubmitForm",
    "ImportData",
    "GoToR",
    "GoToE",
];

/// Refuses a PDF that does not parse, is encrypted, or holds any of the
/// forbidden names anywhere: the raw bytes are scanned (`#xx` escapes
/// decoded), then every object the parser recovers, compressed object
/// streams included, is walked through all its dictionaries and arrays.
pub fn check_pdf(bytes: &[u8]) -> Result<(), Refusal> {
    if let Some(name) = raw_forbidden_name(bytes) {
        return Err(pdf_refusal(&name));
    }
    // Before the parser inflates object streams: no stream may be a bomb.
    if let Some(ratio) = inflation_bomb(bytes) {
        return Err(Refusal::Unprocessable(format!(
            "a stream of this PDF inflates {ratio}-fold past {} MiB; refused",
            BOMB_FLOOR >> 20
        )));
    }
    let document = lopdf::Document::load_mem(bytes)
        .map_err(|e| Refusal::Unprocessable(format!("not a readable PDF: {e}")))?;
    if document.trailer.get(b"Encrypt").is_ok() {
        return Err(Refusal::Unprocessable(
            "encrypted PDFs are refused: their content cannot be checked".into(),
        ));
    }
    for object in document.objects.values() {
        if let Some(name) = forbidden_in(object, 0) {
            return Err(pdf_refusal(&name));
        }
    }
    Ok(())
}

/// Output a stream may inflate to whatever its ratio.
const BOMB_FLOOR: u64 = 64 << 20;
/// Past the floor, the largest output per input byte (images compress well
/// under this; a deflate bomb reaches about 1,000).
const BOMB_RATIO: u64 = 100;

/// The ratio of the first deflate stream that inflates past `BOMB_FLOOR`
/// at more than `BOMB_RATIO` times its input. Every `stream` keyword is
/// tried as deflate data; the output is counted and discarded, so this
/// holds no more than one small buffer whatever the stream says.
fn inflation_bomb(bytes: &[u8]) -> Option<u64> {
    use std::io::Read;
    let mut from = 0;
    let mut scratch = vec![0u8; 64 * 1024];
    while let Some(at) = find(&bytes[from..], b"stream") {
        let mut start = from + at + b"stream".len();
        from = start;
        if bytes.get(start) == Some(&b'\r') {
            start += 1;
        }
        if bytes.get(start) != Some(&b'\n') {
            continue;
        }
        let mut decoder = flate2::read::ZlibDecoder::new(&bytes[start + 1..]);
        let mut out: u64 = 0;
        while let Ok(n) = decoder.read(&mut scratch) {
            if n == 0 {
                break;
            }
            out += n as u64;
            let ratio = out / decoder.total_in().max(1);
            if out > BOMB_FLOOR && ratio > BOMB_RATIO {
                return Some(ratio);
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The first forbidden name in `object` or anything nested in it.
fn forbidden_in(object: &lopdf::Object, depth: usize) -> Option<String> {
    const MAX_DEPTH: usize = 64;
    if depth > MAX_DEPTH {
        return Some("(nesting deeper than 64)".into());
    }
    let named = |name: &[u8]| {
        let name = String::from_utf8_lossy(name);
        FORBIDDEN_PDF_NAMES
            .contains(&name.as_ref())
            .then(|| name.into_owned())
    };
    match object {
        lopdf::Object::Name(name) => named(name),
        lopdf::Object::Array(items) => items.iter().find_map(|i| forbidden_in(i, depth + 1)),
        lopdf::Object::Dictionary(dictionary) => dictionary
            .iter()
            .find_map(|(key, value)| named(key).or_else(|| forbidden_in(value, depth + 1))),
        lopdf::Object::Stream(stream) => stream
            .dict
            .iter()
            .find_map(|(key, value)| named(key).or_else(|| forbidden_in(value, depth + 1))),
        _ => None,
    }
}

fn pdf_refusal(name: &str) -> Refusal {
    Refusal::Unprocessable(format!(
        "PDFs with JavaScript, embedded files or launch actions are refused (found /{name})"
    ))
}

/// The first forbidden `/Name` token in the raw bytes, escapes decoded.
fn raw_forbidden_name(bytes: &[u8]) -> Option<String> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'/' {
            i += 1;
            continue;
        }
        let mut name = Vec::new();
        i += 1;
        while i < bytes.len() && !is_pdf_delimiter(bytes[i]) {
            if bytes[i] == b'#' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    name.push(byte);
                    i += 3;
                    continue;
                }
            }
            name.push(bytes[i]);
            i += 1;
        }
        let name = String::from_utf8_lossy(&name);
        if FORBIDDEN_PDF_NAMES.contains(&name.as_ref()) {
            return Some(name.into_owned());
        }
    }
    None
}

fn is_pdf_delimiter(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"()<>[]{}/%".contains(&byte)
}

/// A poster's language: a BCP 47 tag such as `zh-CN` or `en`.
pub fn language(raw: &str) -> Result<String, Invalid> {
    let ok = (2..=35).contains(&raw.len())
        && raw.split('-').all(|part| {
            (1..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Invalid(format!(
            "must be a language tag such as zh-CN or en, got {raw:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pixel layout a PNG decodes to gets both renditions, as
    /// JPEGs of the right size (the scaler takes each layout as it is).
    #[test]
    fn renditions_are_made_of_grey_colour_alpha_and_16_bit_images() {
        use image::DynamicImage;
        // Wide enough for both renditions, low enough to be quick.
        let (width, height) = (1100, 40);
        let rgba = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 200])
        });
        let rgba = DynamicImage::ImageRgba8(rgba);
        let layouts = [
            DynamicImage::ImageLuma8(rgba.to_luma8()),
            DynamicImage::ImageLumaA8(rgba.to_luma_alpha8()),
            DynamicImage::ImageRgb8(rgba.to_rgb8()),
            rgba.clone(),
            DynamicImage::ImageLuma16(rgba.to_luma16()),
            DynamicImage::ImageLumaA16(rgba.to_luma_alpha16()),
            DynamicImage::ImageRgb16(rgba.to_rgb16()),
            DynamicImage::ImageRgba16(rgba.to_rgba16()),
        ];
        for image in layouts {
            let color = image.color();
            let mut png = std::io::Cursor::new(Vec::new());
            image.write_to(&mut png, image::ImageFormat::Png).unwrap();
            let made = super::prepare(png.get_ref()).unwrap();
            let sizes: Vec<(&str, Option<u32>, Option<u32>)> = made
                .iter()
                .map(|m| (m.variant.as_str(), m.width, m.height))
                .collect();
            assert_eq!(
                sizes,
                [
                    ("png", Some(1100), Some(40)),
                    ("w480", Some(480), Some(17)),
                    ("w1080", Some(1080), Some(39))
                ],
                "{color:?}"
            );
            for rendition in &made[1..] {
                let decoded = image::load_from_memory(&rendition.bytes).unwrap();
                assert_eq!(decoded.width(), rendition.width.unwrap(), "{color:?}");
            }
        }
    }

    #[test]
    fn the_bytes_decide_the_type() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Ok(FileFormat::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Ok(FileFormat::Jpeg));
        assert_eq!(sniff(b"%PDF-1.7\n"), Ok(FileFormat::Pdf));
        for other in [
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\">"[..],
            b"<html>",
            b"GIF89a",
        ] {
            assert!(matches!(sniff(other), Err(Refusal::UnsupportedType(_))));
        }
    }

    #[test]
    fn forbidden_names_are_found_however_deep() {
        use lopdf::{dictionary, Object};
        let action = dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("x") };
        let catalog = Object::Dictionary(dictionary! {
            "Type" => "Catalog",
            "Names" => vec![Object::Dictionary(dictionary! { "OpenAction" => action })],
        });
        assert_eq!(forbidden_in(&catalog, 0).as_deref(), Some("JavaScript"));
        let plain = Object::Dictionary(dictionary! { "Type" => "Page" });
        assert_eq!(forbidden_in(&plain, 0), None);
    }

    #[test]
    fn a_deflate_bomb_is_refused_before_parsing() {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..70 {
            encoder.write_all(&zeros).unwrap();
        }
        let mut pdf =
            b"%PDF-1.5\n1 0 obj << /Type /ObjStm /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend(encoder.finish().unwrap());
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        assert!(
            matches!(check_pdf(&pdf), Err(Refusal::Unprocessable(m)) if m.contains("inflates"))
        );
        assert_eq!(inflation_bomb(b"stream\nnot deflate at all"), None);
    }

    #[test]
    fn escaped_pdf_names_are_found() {
        assert_eq!(
            raw_forbidden_name(b"<< /S /J#61vaScript >>").as_deref(),
            Some("JavaScript")
        );
        assert_eq!(raw_forbidden_name(b"<< /Type /Page >>"), None);
    }
}
