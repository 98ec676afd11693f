//! A campaign poster localized for one venue: the poster with a footer band
//! carrying the event's title, venue and date, and a QR code to the event.
//! Drawn with the bundled CJK font (data/fonts), so nothing is fetched.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};

use super::poster::FileFormat;

/// Noto Sans CJK SC, subset to GB 2312 (see data/fonts/README.md).
static FONT: &[u8] = include_bytes!("../../data/fonts/NotoSansSC-Regular-GB2312.otf");

/// What the footer says.
#[derive(Debug, Clone)]
pub struct Footer {
    pub title: String,
    pub venue: String,
    pub when: String,
    /// Encoded in the QR code.
    pub url: String,
}

/// Widest localized poster: wider posters are scaled down to this first.
pub const MAX_WIDTH: u32 = 1080;
/// Narrowest canvas: room for three lines of text beside the QR code.
pub const MIN_WIDTH: u32 = 480;

const INK: Rgb<u8> = Rgb([24, 24, 24]);
const PAPER: Rgb<u8> = Rgb([255, 255, 255]);

/// The poster (decoded image bytes) with the footer band below it, as PNG
/// or as a one-page PDF.
pub fn render(poster: &[u8], footer: &Footer, format: FileFormat) -> Result<Vec<u8>, String> {
    let image = compose(poster, footer)?;
    match format {
        FileFormat::Pdf => Ok(pdf(&image)?),
        _ => {
            let mut out = std::io::Cursor::new(Vec::new());
            image
                .write_to(&mut out, image::ImageFormat::Png)
                .map_err(|e| e.to_string())?;
            Ok(out.into_inner())
        }
    }
}

/// The band's height for a poster `width` wide.
pub fn band_height(width: u32) -> u32 {
    (width * 3 / 10).max(120)
}

fn compose(poster: &[u8], footer: &Footer) -> Result<RgbImage, String> {
    let mut picture = image::load_from_memory(poster).map_err(|e| e.to_string())?;
    if picture.width() > MAX_WIDTH {
        let height = (u64::from(picture.height()) * u64::from(MAX_WIDTH)
            / u64::from(picture.width())) as u32;
        picture = picture.resize_exact(
            MAX_WIDTH,
            height.max(1),
            image::imageops::FilterType::Triangle,
        );
    }
    let picture = picture.to_rgb8();
    let height = picture.height();
    // A narrow poster is centred on a canvas wide enough for the footer.
    let width = picture.width().max(MIN_WIDTH);
    let band = band_height(width);
    let mut canvas = RgbImage::from_pixel(width, height + band, PAPER);
    image::imageops::replace(
        &mut canvas,
        &picture,
        i64::from((width - picture.width()) / 2),
        0,
    );

    let margin = band / 10;
    let qr_side = band - 2 * margin;
    draw_qr(
        &mut canvas,
        &footer.url,
        width - margin - qr_side,
        height + margin,
        qr_side,
    )?;

    let font = FontRef::try_from_slice(FONT).map_err(|e| e.to_string())?;
    let text_width = (width - 3 * margin - qr_side) as f32;
    let line = band as f32 / 4.2;
    let lines = [
        (footer.title.as_str(), line * 1.15),
        (footer.venue.as_str(), line * 0.8),
        (footer.when.as_str(), line * 0.8),
    ];
    let mut baseline = (height + margin) as f32;
    for (text, size) in lines {
        let size = fitting_size(&font, text, size, text_width);
        let scaled = font.as_scaled(PxScale::from(size));
        baseline += scaled.ascent();
        draw_text(
            &mut canvas,
            &font,
            text,
            size,
            margin as f32,
            baseline,
            text_width,
        );
        baseline += -scaled.descent() + size * 0.25;
    }
    Ok(canvas)
}

/// `size`, shrunk (to half at most) until `text` fits in `width`.
fn fitting_size(font: &FontRef, text: &str, size: f32, width: f32) -> f32 {
    let measured = text_width(font, text, size);
    if measured <= width {
        size
    } else {
        (size * width / measured).max(size / 2.0)
    }
}

fn text_width(font: &FontRef, text: &str, size: f32) -> f32 {
    let scaled = font.as_scaled(PxScale::from(size));
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum()
}

/// Draws `text` from (`x`, `baseline`), cut off (with …) past `width`.
fn draw_text(
    canvas: &mut RgbImage,
    font: &FontRef,
    text: &str,
    size: f32,
    x: f32,
    baseline: f32,
    width: f32,
) {
    let scaled = font.as_scaled(PxScale::from(size));
    let ellipsis = scaled.h_advance(scaled.glyph_id('…'));
    let mut pen = x;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let id = scaled.glyph_id(c);
        let advance = scaled.h_advance(id);
        let last = chars.peek().is_none();
        let (c, id) = if !last && pen + advance + ellipsis > x + width {
            ('…', scaled.glyph_id('…'))
        } else {
            (c, id)
        };
        let glyph = id.with_scale_and_position(PxScale::from(size), ab_glyph::point(pen, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + i64::from(gx);
                let py = bounds.min.y as i64 + i64::from(gy);
                if px < 0
                    || py < 0
                    || px >= i64::from(canvas.width())
                    || py >= i64::from(canvas.height())
                {
                    return;
                }
                let pixel = canvas.get_pixel_mut(px as u32, py as u32);
                for (channel, ink) in pixel.0.iter_mut().zip(INK.0) {
                    *channel =
                        (f32::from(*channel) * (1.0 - coverage) + f32::from(ink) * coverage) as u8;
                }
            });
        }
        pen += scaled.h_advance(id);
        if c == '…' {
            break;
        }
    }
}

/// A QR code of `url`, `side` pixels square with its quiet zone, at (x, y).
fn draw_qr(canvas: &mut RgbImage, url: &str, x: u32, y: u32, side: u32) -> Result<(), String> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| e.to_string())?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    // Four modules of quiet zone on each side.
    let total = modules + 8;
    let module = (side / total).max(1);
    let offset_x = x + (side - module * total) / 2 + 4 * module;
    let offset_y = y + (side - module * total) / 2 + 4 * module;
    for (i, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (mx, my) = (i as u32 % modules, i as u32 / modules);
        for dy in 0..module {
            for dx in 0..module {
                let (px, py) = (offset_x + mx * module + dx, offset_y + my * module + dy);
                if px < canvas.width() && py < canvas.height() {
                    canvas.put_pixel(px, py, Rgb([0, 0, 0]));
                }
            }
        }
    }
    Ok(())
}

/// One page the size of the image (at 150 dpi), the image as JPEG.
fn pdf(image: &RgbImage) -> Result<Vec<u8>, String> {
    use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref};
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(image)
        .map_err(|e| e.to_string())?;
    let jpeg = jpeg.into_inner();
    let (catalog, tree, page_id, picture, content_id) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let name = Name(b"Im1");
    let points = |px: u32| px as f32 * 72.0 / 150.0;
    let (w, h) = (points(image.width()), points(image.height()));
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, w, h));
    page.parent(tree);
    page.contents(content_id);
    page.resources().x_objects().pair(name, picture);
    page.finish();
    let mut xobject = pdf.image_xobject(picture, &jpeg);
    xobject.filter(Filter::DctDecode);
    xobject.width(image.width() as i32);
    xobject.height(image.height() as i32);
    xobject.color_space().device_rgb();
    xobject.bits_per_component(8);
    xobject.finish();
    let mut content = Content::new();
    content.save_state();
    content.transform([w, 0.0, 0.0, h, 0.0, 0.0]);
    content.x_object(name);
    content.restore_state();
    pdf.stream(content_id, &content.finish());
    Ok(pdf.finish())
}
