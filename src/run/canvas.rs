//! The drawing surface of the run directory's pictures: an RGB buffer that `plotters` draws on
//! through its bitmap backend, with text set by `ab_glyph` in DejaVu Sans (a Latin-1 subset
//! under `assets/fonts/`, with its licence) compiled into the binary, and PNG encoding.
//!
//! Text is drawn here rather than by plotters' own `ab_glyph` code, which places each glyph at
//! a whole pixel without its left side bearing, so letters come out unevenly spaced
//! ("valid ati on"). Layout sizes still come from plotters' side, which needs the same font
//! registered under [`FAMILY`].

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont, point};
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use crate::error::{Error, Result};

/// DejaVu Sans, ASCII and Latin-1 (see `assets/fonts/README.md`).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Latin1.ttf");

/// The font family every text of the pictures names: plotters' default.
pub const FAMILY: &str = "sans-serif";

/// Most pixels a picture may have (a guard against absurd image sizes in the data).
pub const MAX_PIXELS: u64 = 1 << 26;

/// The parsed font, registered with plotters on first use.
fn font() -> Result<&'static FontRef<'static>> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            // plotters registers fonts only natively; in a wasm32 build (the web page, which
            // draws its own curves) the canvas's own text still uses the parsed font below.
            #[cfg(not(target_arch = "wasm32"))]
            let registered =
                plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, FONT)
                    .is_ok();
            #[cfg(target_arch = "wasm32")]
            let registered = true;
            FontRef::try_from_slice(FONT).ok().filter(|_| registered)
        })
        .as_ref()
        .ok_or_else(|| Error::Config("the plot font compiled into shadernet does not parse".into()))
}

/// An RGB picture being drawn, row-major, white to begin with.
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    font: &'static FontRef<'static>,
}

impl Canvas {
    /// A white `width x height` canvas; refused past [`MAX_PIXELS`].
    pub fn new(width: u32, height: u32) -> Result<Self> {
        let count = u64::from(width) * u64::from(height);
        if count > MAX_PIXELS {
            return Err(Error::Config(format!(
                "a picture of {width}x{height} pixels is too big (at most {MAX_PIXELS} pixels)"
            )));
        }
        Ok(Canvas {
            width,
            height,
            pixels: vec![255; 3 * count as usize],
            font: font()?,
        })
    }

    /// A plotters drawing area over the whole canvas.
    pub fn area(&mut self) -> Result<DrawingArea<Backend<'_>, Shift>> {
        let size = (self.width, self.height);
        let bitmap = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut self.pixels, size)
            .map_err(|e| Error::Config(format!("a {}x{} picture: {e}", size.0, size.1)))?;
        Ok(Backend {
            bitmap,
            font: self.font,
        }
        .into_drawing_area())
    }

    /// Copies the RGB image `rgb` (row-major, rows of `width` pixels) with its top-left corner
    /// at `(x, y)`; what falls outside the canvas is cut off.
    pub fn blit(&mut self, x: u32, y: u32, width: u32, rgb: &[u8]) {
        let width = width as usize;
        if width == 0 || x >= self.width {
            return;
        }
        let shown = width.min((self.width - x) as usize);
        for (row, line) in rgb.chunks_exact(3 * width).enumerate() {
            let yy = y as usize + row;
            if yy >= self.height as usize {
                break;
            }
            let start = 3 * (yy * self.width as usize + x as usize);
            self.pixels[start..start + 3 * shown].copy_from_slice(&line[..3 * shown]);
        }
    }

    /// The picture as PNG bytes.
    pub fn to_png(self) -> Result<Vec<u8>> {
        let image = image::RgbImage::from_raw(self.width, self.height, self.pixels)
            .ok_or_else(|| Error::Config("a picture's size does not match its pixels".into()))?;
        let mut bytes = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, image::ImageFormat::Png)
            .map_err(|e| Error::Config(format!("encoding a PNG: {e}")))?;
        Ok(bytes.into_inner())
    }
}

/// The plotters backend of a [`Canvas`]: plotters' RGB bitmap backend for shapes, our own
/// text.
pub struct Backend<'a> {
    bitmap: BitMapBackend<'a, RGBPixel>,
    font: &'static FontRef<'static>,
}

impl Backend<'_> {
    /// The text box plotters lays out for `text` at `size` pixels: the advance widths with
    /// kerning, and plotters' line height (`size / 1.24`, as its `ab_glyph` layout).
    fn layout(&self, text: &str, size: f64) -> (u32, u32) {
        let font = self.font.as_scaled(size as f32);
        let mut width = 0.0f32;
        let mut previous = None;
        for ch in text.chars() {
            let id = font.glyph_id(ch);
            if let Some(before) = previous {
                width += font.kern(before, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        (width.ceil().max(0.0) as u32, (size / 1.24).round() as u32)
    }
}

impl<'a> DrawingBackend for Backend<'a> {
    type ErrorType = <BitMapBackend<'a, RGBPixel> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(self.layout(text, style.size()))
    }

    /// `text` in its box (as `estimate_text_size` measures it), placed by the style's anchor
    /// at `pos` and turned by its transform; capitals and digits are centred vertically in the
    /// box, each glyph at its exact pen position, anti-aliased.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let (width, height) = self.layout(text, style.size());
        let (width, height) = (width as i32, height as i32);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let turn = style.transform();
        let font = self.font.as_scaled(style.size() as f32);
        // The height of a capital, from the outline of `H` standing on the baseline.
        let capital = font
            .outline_glyph(font.scaled_glyph('H'))
            .map_or(0.7 * font.height(), |h| -h.px_bounds().min.y);
        let baseline = (height as f32 + capital) / 2.0;
        let mut pen = 0.0f32;
        let mut previous = None;
        for ch in text.chars() {
            let id = font.glyph_id(ch);
            if let Some(before) = previous {
                pen += font.kern(before, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(font.scale(), point(pen, baseline));
            pen += font.h_advance(id);
            let Some(outline) = font.outline_glyph(glyph) else {
                continue;
            };
            let corner = outline.px_bounds().min;
            let mut drawn = Ok(());
            outline.draw(|x, y, coverage| {
                if drawn.is_err() || coverage <= 0.0 {
                    return;
                }
                let (tx, ty) = turn.transform(
                    corner.x as i32 + x as i32 + dx,
                    corner.y as i32 + y as i32 + dy,
                );
                let ink = BackendColor {
                    alpha: colour.alpha * f64::from(coverage.min(1.0)),
                    rgb: colour.rgb,
                };
                drawn = self.bitmap.draw_pixel((pos.0 + tx, pos.1 + ty), ink);
            });
            drawn?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    #[test]
    fn draws_text_and_encodes_a_png() {
        let mut canvas = Canvas::new(120, 40).unwrap();
        {
            let area = canvas.area().unwrap();
            area.draw_text("Error 7", &(FAMILY, 20).into_font().color(&BLACK), (4, 4))
                .unwrap();
        }
        canvas.blit(110, 30, 2, &[0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255]);
        let png = canvas.to_png().unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!((back.width(), back.height()), (120, 40));
        let dark = back.pixels().filter(|p| p.0[0] < 100).count();
        assert!(dark > 40, "the text left only {dark} dark pixels");
        assert_eq!(back.get_pixel(111, 31).0, [0, 0, 255], "the blitted block");
        assert_eq!(back.get_pixel(119, 39).0, [255, 255, 255]);
    }

    #[test]
    fn refuses_absurd_sizes() {
        assert!(Canvas::new(1 << 20, 1 << 20).is_err());
    }
}
