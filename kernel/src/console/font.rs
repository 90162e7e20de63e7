//! Glyphs for the framebuffer: font size selection and the pre-expanded CP437 glyph set.
//!
//! Key types: [`Layout`] (which raster height, weight and integer scale fit 80x25 cells into a
//! given resolution, and where the centred grid starts) and [`GlyphSet`] (all 256 CP437 glyphs at
//! one size, 2 bits of intensity per pixel, one `u32` per glyph row). Glyphs come from
//! `noto-sans-mono-bitmap`; what the font lacks (box drawing, blocks, shapes) is drawn by
//! [`super::shapes`]; a few more are derived from font glyphs (⌐ is ¬ mirrored, ≤ and ≥ are the
//! less-than and greater-than signs underlined, ∙ is ·); anything else shows a hollow box. The renderer ([`super::render`])
//! expands the 2-bit rows to pixels through per-colour-pair lookup tables.
//!
//! Size policy: the largest raster height (32, 24, 20, 16 px; cells 14x32, 11x24, 9x20, 7x16) whose
//! 80x25 grid fits; then the largest integer scale of that cell that still fits (so 2560x1600
//! gets the 32-px font doubled). 1280x800 fits the 32-px font exactly, 1024x768 takes 24 px,
//! 800x600 20 px and 640x480 16 px; anything below 560x400 is refused.
//!
//! Intensity: the font's 8-bit coverage is quantised to 4 levels (0, 1/3, 2/3, 1), which keeps
//! visible anti-aliasing while letting the renderer produce two pixels per table lookup.

use noto_sans_mono_bitmap::{get_raster, get_raster_width};

pub use noto_sans_mono_bitmap::{FontWeight, RasterHeight};

use super::cp437;
use super::framebuffer::FramebufferError;
use super::grid::{COLS, ROWS};
use super::shapes::{self, Canvas};

/// Tallest raster height the glyph set stores.
pub const MAX_CELL_HEIGHT: usize = 32;
/// Widest unscaled cell (the 32-px font is 14 pixels wide).
pub const MAX_CELL_WIDTH: usize = 14;
/// Largest integer scale used on very large screens.
pub const MAX_SCALE: usize = 8;

/// Candidate raster heights, largest first.
const SIZES: [RasterHeight; 4] = [
    RasterHeight::Size32,
    RasterHeight::Size24,
    RasterHeight::Size20,
    RasterHeight::Size16,
];

const _: () = {
    let mut i = 0;
    while i < SIZES.len() {
        assert!(get_raster_width(FontWeight::Regular, SIZES[i]) <= MAX_CELL_WIDTH);
        assert!(get_raster_width(FontWeight::Bold, SIZES[i]) <= MAX_CELL_WIDTH);
        assert!(SIZES[i].val() <= MAX_CELL_HEIGHT);
        i += 1;
    }
};

/// Where and how large the 80x25 grid is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Raster height of the font.
    pub size: RasterHeight,
    /// Weight of the font.
    pub weight: FontWeight,
    /// Unscaled cell width in pixels (the font's advance).
    pub cell_width: usize,
    /// Unscaled cell height in pixels (the raster height).
    pub cell_height: usize,
    /// Integer scale applied to every glyph pixel (1 unless the screen is much larger).
    pub scale: usize,
    /// X of the grid's left edge.
    pub origin_x: usize,
    /// Y of the grid's top edge.
    pub origin_y: usize,
}

impl Layout {
    /// The layout for a `width` x `height` screen (see the module docs for the policy).
    ///
    /// # Errors
    ///
    /// [`FramebufferError::TooSmall`] if not even the 16-px font fits 80x25 cells.
    pub fn fit(
        width: usize,
        height: usize,
        weight: FontWeight,
    ) -> Result<Layout, FramebufferError> {
        for size in SIZES {
            let cw = get_raster_width(weight, size);
            let ch = size.val();
            let (gw, gh) = (COLS * cw, ROWS * ch);
            if gw <= width && gh <= height {
                let scale = (width / gw).min(height / gh).clamp(1, MAX_SCALE);
                return Ok(Layout {
                    size,
                    weight,
                    cell_width: cw,
                    cell_height: ch,
                    scale,
                    origin_x: (width - gw * scale) / 2,
                    origin_y: (height - gh * scale) / 2,
                });
            }
        }
        let smallest = RasterHeight::Size16;
        Err(FramebufferError::TooSmall {
            width,
            height,
            min_width: COLS * get_raster_width(weight, smallest),
            min_height: ROWS * smallest.val(),
        })
    }

    /// Width of one cell on screen (scaled).
    pub const fn cell_pixels_x(&self) -> usize {
        self.cell_width * self.scale
    }

    /// Height of one cell on screen (scaled).
    pub const fn cell_pixels_y(&self) -> usize {
        self.cell_height * self.scale
    }

    /// Width of the whole grid on screen.
    pub const fn grid_width(&self) -> usize {
        COLS * self.cell_pixels_x()
    }

    /// Height of the whole grid on screen.
    pub const fn grid_height(&self) -> usize {
        ROWS * self.cell_pixels_y()
    }

    /// Screen position of the top-left pixel of cell `(row, col)`.
    pub const fn cell_origin(&self, row: usize, col: usize) -> (usize, usize) {
        (
            self.origin_x + col * self.cell_pixels_x(),
            self.origin_y + row * self.cell_pixels_y(),
        )
    }
}

/// All 256 CP437 glyphs at one size: `rows[glyph][y]` holds pixel `x` in bits `2x..2x+2`
/// (intensity 0-3).
#[derive(Debug, Clone)]
pub struct GlyphSet {
    rows: [[u32; MAX_CELL_HEIGHT]; 256],
    width: usize,
    height: usize,
}

impl Default for GlyphSet {
    fn default() -> Self {
        Self::new()
    }
}

impl GlyphSet {
    /// An empty set (every glyph blank, size 0x0) for `const` construction; fill it with
    /// [`GlyphSet::build`].
    pub const fn new() -> GlyphSet {
        GlyphSet {
            rows: [[0; MAX_CELL_HEIGHT]; 256],
            width: 0,
            height: 0,
        }
    }

    /// Unscaled glyph width.
    pub const fn width(&self) -> usize {
        self.width
    }

    /// Unscaled glyph height.
    pub const fn height(&self) -> usize {
        self.height
    }

    /// Row `y` of `glyph` (0 past the glyph height).
    #[inline]
    pub fn row(&self, glyph: u8, y: usize) -> u32 {
        self.rows[usize::from(glyph)].get(y).copied().unwrap_or(0)
    }

    /// All rows of `glyph` (rows past the glyph height are 0).
    #[inline]
    pub fn rows(&self, glyph: u8) -> &[u32; MAX_CELL_HEIGHT] {
        &self.rows[usize::from(glyph)]
    }

    /// Intensity (0-3) of pixel `(x, y)` of `glyph`.
    pub fn level(&self, glyph: u8, x: usize, y: usize) -> u32 {
        if x >= self.width {
            return 0;
        }
        (self.row(glyph, y) >> (2 * x)) & 3
    }

    /// Fills the set for `size` and `weight`, in place (the set is 32 KiB; no stack copy).
    pub fn build(&mut self, size: RasterHeight, weight: FontWeight) {
        let w = get_raster_width(weight, size).min(MAX_CELL_WIDTH);
        let h = size.val().min(MAX_CELL_HEIGHT);
        self.width = w;
        self.height = h;
        for byte in 0..=255u8 {
            let rows = &mut self.rows[usize::from(byte)];
            *rows = [0; MAX_CELL_HEIGHT];
            let mut canvas = Canvas::new(&mut rows[..h], w);
            if shapes::draw(byte, &mut canvas) {
                continue;
            }
            match byte {
                0x00 | 0xFF => {}
                0xF9 | 0xFA => {
                    font_glyph(&mut canvas, '·', size, weight);
                }
                0xA9 => {
                    font_glyph(&mut canvas, '¬', size, weight);
                    mirror(&mut canvas);
                }
                0xF2 | 0xF3 => {
                    font_glyph(
                        &mut canvas,
                        if byte == 0xF2 { '>' } else { '<' },
                        size,
                        weight,
                    );
                    underline(&mut canvas);
                }
                _ => {
                    if !font_glyph(&mut canvas, cp437::to_unicode(byte), size, weight) {
                        missing(&mut canvas);
                    }
                }
            }
        }
    }
}

/// Quantises font coverage (0-255) to the 2-bit level nearest to it.
const fn quantise(coverage: u8) -> u32 {
    (coverage as u32 * 3 + 127) / 255
}

/// Copies the font's glyph for `c`; returns false if the font lacks it.
fn font_glyph(canvas: &mut Canvas<'_>, c: char, size: RasterHeight, weight: FontWeight) -> bool {
    let Some(raster) = get_raster(c, weight, size) else {
        return false;
    };
    let width = raster.width();
    if width == 0 {
        return false;
    }
    for (i, &coverage) in raster.pixels().iter().enumerate() {
        canvas.set(i % width, i / width, quantise(coverage));
    }
    true
}

/// Flips the glyph left to right.
fn mirror(canvas: &mut Canvas<'_>) {
    let w = canvas.width();
    for y in 0..canvas.height() {
        for x in 0..w / 2 {
            let (a, b) = (canvas.get(x, y), canvas.get(w - 1 - x, y));
            canvas.set(x, y, b);
            canvas.set(w - 1 - x, y, a);
        }
    }
}

/// Adds a line below the glyph's ink (turns < into ≤).
fn underline(canvas: &mut Canvas<'_>) {
    let (w, h) = (canvas.width(), canvas.height());
    let t = (w / 7).max(1);
    let bottom = (0..h)
        .rev()
        .find(|&y| (0..w).any(|x| canvas.get(x, y) != 0))
        .unwrap_or(h / 2);
    let y = (bottom + 1 + t).min(h.saturating_sub(t));
    canvas.fill(1, w - 1, y, y + t);
}

/// The glyph for characters neither the font nor the shapes have: a hollow box.
fn missing(canvas: &mut Canvas<'_>) {
    let (w, h) = (canvas.width(), canvas.height());
    let (x0, x1, y0, y1) = (1, w - 1, h * 4 / 16, h * 12 / 16);
    canvas.fill(x0, x1, y0, y1);
    canvas.clear(x0 + 1, x1 - 1, y0 + 1, y1 - 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(w: usize, h: usize) -> Layout {
        Layout::fit(w, h, FontWeight::Regular).unwrap()
    }

    #[test]
    fn common_resolutions_pick_a_fitting_size() {
        let l = fit(1280, 800);
        assert_eq!(
            (l.size, l.scale, l.cell_width, l.cell_height),
            (RasterHeight::Size32, 1, 14, 32)
        );
        assert_eq!((l.origin_x, l.origin_y), (80, 0));
        assert_eq!((l.grid_width(), l.grid_height()), (1120, 800));

        let l = fit(1024, 768);
        assert_eq!((l.size, l.scale), (RasterHeight::Size24, 1));
        assert_eq!(
            (l.origin_x, l.origin_y),
            ((1024 - 880) / 2, (768 - 600) / 2)
        );

        let l = fit(800, 600);
        assert_eq!((l.size, l.scale), (RasterHeight::Size20, 1));
        assert_eq!((l.origin_x, l.origin_y), (40, 50));

        let l = fit(640, 480);
        assert_eq!((l.size, l.scale), (RasterHeight::Size16, 1));
        assert_eq!((l.origin_x, l.origin_y), (40, 40));

        let l = fit(1920, 1080);
        assert_eq!((l.size, l.scale), (RasterHeight::Size32, 1));
        assert_eq!((l.origin_x, l.origin_y), (400, 140));

        let l = fit(2560, 1600);
        assert_eq!((l.size, l.scale), (RasterHeight::Size32, 2));
        assert_eq!((l.origin_x, l.origin_y), (160, 0));

        let l = fit(3840, 2160);
        assert_eq!((l.size, l.scale), (RasterHeight::Size32, 2));

        let l = fit(560, 400);
        assert_eq!(
            (l.size, l.scale, l.origin_x, l.origin_y),
            (RasterHeight::Size16, 1, 0, 0)
        );
    }

    #[test]
    fn too_small_is_an_error() {
        assert_eq!(
            Layout::fit(320, 200, FontWeight::Regular),
            Err(FramebufferError::TooSmall {
                width: 320,
                height: 200,
                min_width: 560,
                min_height: 400
            })
        );
        assert!(Layout::fit(559, 400, FontWeight::Regular).is_err());
        assert!(Layout::fit(560, 399, FontWeight::Regular).is_err());
        assert!(Layout::fit(0, 0, FontWeight::Bold).is_err());
    }

    fn ink(set: &GlyphSet, glyph: u8) -> usize {
        (0..set.height())
            .map(|y| {
                (0..set.width())
                    .filter(|&x| set.level(glyph, x, y) != 0)
                    .count()
            })
            .sum()
    }

    #[test]
    fn glyph_set_covers_every_byte() {
        for size in SIZES {
            for weight in [FontWeight::Regular, FontWeight::Bold] {
                let mut set = Box::new(GlyphSet::new());
                set.build(size, weight);
                assert_eq!(set.height(), size.val());
                for byte in 0..=255u8 {
                    let blank = matches!(byte, 0x00 | 0x20 | 0xFF);
                    assert_eq!(
                        ink(&set, byte) == 0,
                        blank,
                        "{byte:#x} at {size:?} {weight:?}"
                    );
                }
                // Full block: every pixel at full intensity.
                assert_eq!(ink(&set, 0xDB), set.width() * set.height());
                assert!(
                    (0..set.height()).all(|y| set.row(0xDB, y) == (1 << (2 * set.width())) - 1)
                );
            }
        }
    }

    #[test]
    fn letters_come_from_the_font_and_gaps_show_a_box() {
        let mut set = Box::new(GlyphSet::new());
        set.build(RasterHeight::Size16, FontWeight::Regular);
        let raster = get_raster('é', FontWeight::Regular, RasterHeight::Size16).unwrap();
        for (y, row) in raster.rows().enumerate() {
            for (x, &c) in row.iter().enumerate() {
                assert_eq!(set.level(0x82, x, y), quantise(c));
            }
        }
        // α is not in the font: hollow box, identical for every missing character.
        assert_eq!(set.rows[0xE0], set.rows[0xE2]);
        assert_ne!(set.rows[0xE0], set.rows[usize::from(b'a')]);
        // ⌐ is ¬ mirrored.
        let not = 0xAA;
        for y in 0..16 {
            for x in 0..7 {
                assert_eq!(set.level(0xA9, x, y), set.level(not, 6 - x, y));
            }
        }
    }

    #[test]
    fn quantisation_levels() {
        assert_eq!(quantise(0), 0);
        assert_eq!(quantise(42), 0);
        assert_eq!(quantise(43), 1);
        assert_eq!(quantise(127), 1);
        assert_eq!(quantise(128), 2);
        assert_eq!(quantise(212), 2);
        assert_eq!(quantise(213), 3);
        assert_eq!(quantise(255), 3);
    }
}
