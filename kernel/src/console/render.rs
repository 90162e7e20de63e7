//! The framebuffer backend: draws grid cells as glyphs into a 32-bpp linear framebuffer.
//!
//! Key type: [`FramebufferBackend`], a [`Backend`] over any [`PixelTarget`] (the kernel's
//! [`super::framebuffer::Framebuffer`], a counting wrapper in tests). It picks a [`Layout`] and
//! builds a [`GlyphSet`] when attached, then draws from the cell model only; it never reads pixel
//! memory.
//!
//! How a cell row becomes pixels: each glyph row is 2 bits per pixel (4 intensity levels). For
//! each of the 128 foreground/background pairs a 16-entry table maps two pixels (4 bits) to two
//! encoded 32-bit pixels (one `u64`), blending fg and bg at 0, 1/3, 2/3 and 1 with integer math
//! when attached. For up to 8 recently used pairs a 256-entry table (4 KiB each, built on demand)
//! maps four pixels (8 bits) to 16 bytes; cells of other pairs fall back to the two-pixel table.
//! No per-pixel arithmetic: the inner loop is a load of the glyph row, then one table lookup and
//! one copy per four pixels, unrolled for each of the four cell widths.
//!
//! A run of changed cells in a text row is drawn one pixel row at a time, left to right, so writes
//! are sequential (good for write-combining memory). Targets that offer direct row access
//! ([`PixelTarget::row_mut`], the kernel's framebuffer) are written in place, store-only and
//! exactly within the run; others (and scaled cells) get each pixel row assembled in a RAM span
//! and copied with one [`PixelTarget::write`].
//!
//! Dirty tracking: the backend remembers the look (glyph, effective colours, cursor) of every cell
//! it drew and redraws a cell only when its look changed, so printing one character touches one
//! cell (plus the cursor cells) and a scroll at most every cell once.
//!
//! Cursor and blink: the cursor is an underline over the bottom two pixel rows of its cell
//! (scaled) in the cell's foreground colour. In the blink "off" phase, cells with attribute bit 7
//! draw their foreground in the background colour. Both arrive through [`RowStyle`].

use super::backend::{Backend, RowStyle};
use super::color::{Color, PALETTE, Rgb};
use super::font::{
    FontWeight, GlyphSet, Layout, MAX_CELL_HEIGHT, MAX_CELL_WIDTH, MAX_SCALE, RasterHeight,
};
use super::framebuffer::{FramebufferError, FramebufferInfo, PixelFormat, PixelTarget};
use super::grid::{COLS, Cell, ROWS};

/// Pixels of the RAM span a framebuffer write is assembled in (when the target offers no direct
/// row access, and for scaled cells): a full unscaled grid row of the widest font.
const SPAN_PIXELS: usize = COLS * MAX_CELL_WIDTH;
const SPAN_BYTES: usize = SPAN_PIXELS * FramebufferInfo::BYTES_PER_PIXEL;

/// "Not drawn yet" in the shadow of drawn looks.
const UNKNOWN: u32 = u32::MAX;
/// Look bit: the cursor underline is drawn in this cell.
const LOOK_CURSOR: u32 = 1 << 16;

/// Index of a colour pair in the lookup tables: foreground (0-15) plus 16 times background (0-7).
const PAIRS: usize = 16 * 8;

/// Draws the grid into a framebuffer. See the module docs.
#[derive(Debug)]
pub struct FramebufferBackend<T> {
    target: Option<T>,
    weight: FontWeight,
    layout: Layout,
    glyphs: GlyphSet,
    /// `pairs[fg + 16 * bg][l0 | l1 << 2]`: two encoded pixels of intensity levels l0, l1.
    pairs: [[u64; 16]; PAIRS],
    /// Encoded border colour.
    border: u32,
    /// Quad tables for up to [`QUAD_SLOTS`] colour pairs.
    quads: [QuadTable; QUAD_SLOTS],
    /// Colour pair of each quad slot.
    quad_pair: [u8; QUAD_SLOTS],
    /// Run counter value when each slot was last used (0: never).
    quad_stamp: [u32; QUAD_SLOTS],
    /// Counts runs, for the quad slots' least-recently-used replacement.
    clock: u32,
    /// The look of every cell as last drawn, or [`UNKNOWN`].
    shown: [[u32; COLS]; ROWS],
    span: [u8; SPAN_BYTES],
}

impl<T> Default for FramebufferBackend<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> FramebufferBackend<T> {
    /// A detached backend (draws nothing) using the regular font weight.
    pub const fn new() -> Self {
        Self::with_weight(FontWeight::Regular)
    }

    /// A detached backend that will use `weight` once attached.
    pub const fn with_weight(weight: FontWeight) -> Self {
        FramebufferBackend {
            target: None,
            weight,
            layout: Layout {
                size: RasterHeight::Size16,
                weight,
                cell_width: 0,
                cell_height: 0,
                scale: 1,
                origin_x: 0,
                origin_y: 0,
            },
            glyphs: GlyphSet::new(),
            pairs: [[0; 16]; PAIRS],
            border: 0,
            quads: [[[0; 16]; 256]; QUAD_SLOTS],
            quad_pair: [NO_SLOT; QUAD_SLOTS],
            quad_stamp: [0; QUAD_SLOTS],
            clock: 0,
            shown: [[UNKNOWN; COLS]; ROWS],
            span: [0; SPAN_BYTES],
        }
    }

    /// The layout in use, if attached.
    pub fn layout(&self) -> Option<&Layout> {
        self.target.as_ref().map(|_| &self.layout)
    }

    /// The framebuffer, if attached.
    pub fn target(&self) -> Option<&T> {
        self.target.as_ref()
    }

    /// The framebuffer, if attached, for direct access (e.g. a test inspecting pixels).
    pub fn target_mut(&mut self) -> Option<&mut T> {
        self.target.as_mut()
    }

    /// Detaches and returns the framebuffer; the backend draws nothing afterwards.
    pub fn detach(&mut self) -> Option<T> {
        self.target.take()
    }
}

impl<T: PixelTarget> FramebufferBackend<T> {
    /// A backend attached to `target` (convenience for tests and benches; it is large, so a
    /// kernel `static` should use [`FramebufferBackend::new`] and [`FramebufferBackend::attach`]).
    ///
    /// # Errors
    ///
    /// As [`FramebufferBackend::attach`].
    pub fn with_target(target: T) -> Result<Self, FramebufferError> {
        let mut backend = Self::new();
        backend.attach(target)?;
        Ok(backend)
    }

    /// Starts drawing on `target`: picks the font size and scale, builds the glyph and colour
    /// tables in place. Draws nothing yet: repaint afterwards (the console's `repaint`).
    ///
    /// # Errors
    ///
    /// The target's geometry is unsupported ([`FramebufferInfo::validate`]) or too small for
    /// 80x25 cells ([`FramebufferError::TooSmall`]); the backend then stays detached.
    pub fn attach(&mut self, target: T) -> Result<Layout, FramebufferError> {
        let info = target.info();
        info.validate()?;
        let layout = Layout::fit(info.width, info.height, self.weight)?;
        self.glyphs.build(layout.size, layout.weight);
        self.build_pairs(info.format);
        self.quad_pair = [NO_SLOT; QUAD_SLOTS];
        self.quad_stamp = [0; QUAD_SLOTS];
        self.border = info.format.encode(Color::Black.rgb());
        self.layout = layout;
        self.shown = [[UNKNOWN; COLS]; ROWS];
        self.target = Some(target);
        Ok(layout)
    }

    fn build_pairs(&mut self, format: PixelFormat) {
        for (index, table) in self.pairs.iter_mut().enumerate() {
            let fg = PALETTE[index % 16];
            let bg = PALETTE[index / 16];
            let levels: [u32; 4] = core::array::from_fn(|l| format.encode(blend(fg, bg, l as u32)));
            for (i, entry) in table.iter_mut().enumerate() {
                let lo = levels[i & 3];
                let hi = levels[(i >> 2) & 3];
                *entry = u64::from(lo) | (u64::from(hi) << 32);
            }
        }
    }

    /// Returns the quad-table slot holding colour pair `pair`, building it if needed, unless
    /// every slot is in use by the current run (`stamp == self.clock`).
    fn quad_slot(&mut self, pair: usize) -> Option<usize> {
        if let Some(slot) = self.quad_pair.iter().position(|&p| usize::from(p) == pair) {
            self.quad_stamp[slot] = self.clock;
            return Some(slot);
        }
        let (slot, &stamp) = self
            .quad_stamp
            .iter()
            .enumerate()
            .min_by_key(|&(_, &stamp)| stamp)?;
        if stamp == self.clock {
            return None;
        }
        let pairs = self.pairs.get(pair)?;
        let quads = self.quads.get_mut(slot)?;
        for (i, quad) in quads.iter_mut().enumerate() {
            quad[..8].copy_from_slice(&pairs[i & 15].to_le_bytes());
            quad[8..].copy_from_slice(&pairs[(i >> 4) & 15].to_le_bytes());
        }
        self.quad_pair[slot] = pair as u8;
        self.quad_stamp[slot] = self.clock;
        Some(slot)
    }

    /// Draws cells `c0..c1` of text row `row` from their looks.
    fn render_run(&mut self, row: usize, c0: usize, c1: usize, looks: &[u32; COLS]) {
        if self.target.is_none() {
            return;
        }
        let layout = self.layout;
        let (cw, ch, scale) = (layout.cell_width, layout.cell_height, layout.scale);
        let cell_px = cw * scale;
        if cell_px == 0 || cw > MAX_CELL_WIDTH || c1 > COLS {
            return;
        }
        // Per cell, resolved once per run: quad-table slot (0xFF: use the pair table).
        self.clock = self.clock.wrapping_add(1);
        if self.clock == 0 {
            // The clock wrapped: restart ages so that no slot looks in use.
            self.quad_stamp = [0; QUAD_SLOTS];
            self.clock = 1;
        }
        let mut slots = [NO_SLOT; COLS];
        if scale == 1 {
            for c in c0..c1 {
                let pair = ((looks[c] >> 8) & 0x7F) as usize;
                slots[c] = self.quad_slot(pair).map_or(NO_SLOT, |s| s as u8);
            }
        }
        let Some(target) = self.target.as_mut() else {
            return;
        };
        // Per cell: glyph rows (a copy with the underline for the cursor cell) and colour tables.
        let mut cursor_rows = [0u32; MAX_CELL_HEIGHT];
        if let Some(c) = (c0..c1).find(|&c| looks[c] & LOOK_CURSOR != 0) {
            cursor_rows = *self.glyphs.rows(looks[c] as u8);
            let full = (1u32 << (2 * cw)) - 1;
            for r in cursor_rows.iter_mut().take(ch).skip(ch.saturating_sub(2)) {
                *r = full;
            }
        }
        let mut cells: [CellRows<'_>; COLS] = [(&EMPTY_ROWS, &self.pairs[0], None); COLS];
        for c in c0..c1 {
            let look = looks[c];
            let glyph = if look & LOOK_CURSOR != 0 {
                &cursor_rows
            } else {
                self.glyphs.rows(look as u8)
            };
            let pair = &self.pairs[((look >> 8) & 0x7F) as usize];
            let quad = self.quads.get(usize::from(slots[c]));
            cells[c] = (glyph, pair, quad);
        }

        let mut start = c0;
        let per_chunk = (SPAN_PIXELS / cell_px).max(1);
        while start < c1 {
            let end = if scale == 1 {
                c1
            } else {
                (start + per_chunk).min(c1)
            };
            let chunk = cells.get(start..end).unwrap_or(&[]);
            let (x, y0) = layout.cell_origin(row, start);
            let (from, to) = (x * 4, (x + (end - start) * cell_px) * 4);
            let bytes = to - from;
            for gy in 0..ch {
                if scale == 1 {
                    // Straight into the framebuffer row when the target allows it.
                    if let Some(dst) = target.row_mut(y0 + gy).and_then(|r| r.get_mut(from..to)) {
                        expand(dst, chunk, gy, cw);
                        continue;
                    }
                    if let Some(span) = self.span.get_mut(..bytes) {
                        expand(span, chunk, gy, cw);
                        target.write(y0 + gy, from, span);
                    }
                } else if let Some(span) = self.span.get_mut(..bytes) {
                    for (out, &(glyph, pair, _)) in span
                        .chunks_exact_mut(cell_px.clamp(1, MAX_CELL_WIDTH * MAX_SCALE) * 4)
                        .zip(chunk)
                    {
                        expand_row_scaled(out, scale, glyph[gy % MAX_CELL_HEIGHT], pair);
                    }
                    for sy in 0..scale {
                        target.write(y0 + gy * scale + sy, from, span);
                    }
                }
            }
            start = end;
        }
    }
}

/// Four encoded pixels per entry: `quad[l0 | l1 << 2 | l2 << 4 | l3 << 6]`, for one colour pair.
type QuadTable = [[u8; 16]; 256];

/// Colour pairs with a quad table at a time (4 KiB each).
const QUAD_SLOTS: usize = 8;

/// "No quad table" in a cell's slot.
const NO_SLOT: u8 = 0xFF;

/// A cell prepared for expansion: glyph rows, pair table, quad table if one is cached.
type CellRows<'a> = (
    &'a [u32; MAX_CELL_HEIGHT],
    &'a [u64; 16],
    Option<&'a QuadTable>,
);

/// Rows of a blank glyph.
static EMPTY_ROWS: [u32; MAX_CELL_HEIGHT] = [0; MAX_CELL_HEIGHT];

/// Writes pixel row `gy` of `cells` (unscaled, `width` pixels each) to `dst`, which is exactly as
/// wide; dispatches to a loop unrolled for the cell width.
fn expand(dst: &mut [u8], cells: &[CellRows<'_>], gy: usize, width: usize) {
    match width {
        7 => expand_cells::<28>(dst, cells, gy),
        9 => expand_cells::<36>(dst, cells, gy),
        11 => expand_cells::<44>(dst, cells, gy),
        14 => expand_cells::<56>(dst, cells, gy),
        w => {
            for (out, &(glyph, pair, _)) in dst
                .chunks_exact_mut(w.clamp(1, MAX_CELL_WIDTH) * 4)
                .zip(cells)
            {
                expand_row_scaled(out, 1, glyph[gy % MAX_CELL_HEIGHT], pair);
            }
        }
    }
}

/// [`expand`] for cells of `N / 4` pixels. With a quad table: four pixels (16 bytes) per lookup,
/// then two and one for the rest; without: two pixels per lookup. Never writes outside `dst`.
#[inline(always)]
fn expand_cells<const N: usize>(dst: &mut [u8], cells: &[CellRows<'_>], gy: usize) {
    let gy = gy % MAX_CELL_HEIGHT;
    for (out, &(glyph, pair, quad)) in dst.chunks_exact_mut(N).zip(cells) {
        let Some(out) = out.first_chunk_mut::<N>() else {
            continue;
        };
        let mut b = glyph[gy];
        if let Some(quad) = quad {
            let mut quads = out.chunks_exact_mut(16);
            for q in &mut quads {
                q.copy_from_slice(&quad[(b & 0xFF) as usize]);
                b >>= 8;
            }
            let rest = quads.into_remainder();
            let entry = &quad[(b & 0xFF) as usize];
            let n = rest.len();
            if let (Some(dst), Some(src)) = (rest.get_mut(..n), entry.get(..n)) {
                dst.copy_from_slice(src);
            }
        } else {
            let mut pairs = out.chunks_exact_mut(8);
            for p in &mut pairs {
                p.copy_from_slice(&pair[(b & 15) as usize].to_le_bytes());
                b >>= 4;
            }
            let rest = pairs.into_remainder();
            if let Some(last) = rest.first_chunk_mut::<4>() {
                last.copy_from_slice(&(pair[(b & 3) as usize] as u32).to_le_bytes());
            }
        }
    }
}

/// Writes one glyph row into `out` (the cell's `width * scale` pixels), each pixel repeated
/// `scale` times.
fn expand_row_scaled(out: &mut [u8], scale: usize, bits: u32, table: &[u64; 16]) {
    for (x, cell) in out
        .chunks_exact_mut(scale.clamp(1, MAX_SCALE) * 4)
        .enumerate()
    {
        let level = (bits >> (2 * x)) & 3;
        let pixel = (table[level as usize] as u32).to_le_bytes();
        for px in cell.chunks_exact_mut(4) {
            px.copy_from_slice(&pixel);
        }
    }
}

/// `fg` over `bg` at coverage `level`/3.
fn blend(fg: Rgb, bg: Rgb, level: u32) -> Rgb {
    let mix = |f: u8, b: u8| ((u32::from(f) * level + u32::from(b) * (3 - level) + 1) / 3) as u8;
    Rgb::new(mix(fg.r, bg.r), mix(fg.g, bg.g), mix(fg.b, bg.b))
}

/// What a cell looks like on screen: glyph, effective foreground, background, cursor.
fn look(cell: Cell, cursor: bool, blink_off: bool) -> u32 {
    let attr = cell.attr.byte();
    let bg = u32::from((attr >> 4) & 0x07);
    let fg = if blink_off && cell.attr.blink() {
        bg
    } else {
        u32::from(attr & 0x0F)
    };
    let cursor = if cursor { LOOK_CURSOR } else { 0 };
    u32::from(cell.glyph) | (fg << 8) | (bg << 12) | cursor
}

impl<T: PixelTarget> Backend for FramebufferBackend<T> {
    fn soft_cursor(&self) -> bool {
        true
    }

    fn draw_row(&mut self, row: usize, cells: &[Cell; COLS], changed: u128, style: RowStyle) {
        if self.target.is_none() {
            return;
        }
        let Some(shown) = self.shown.get_mut(row) else {
            return;
        };
        let mut looks = [0u32; COLS];
        let mut todo = 0u128;
        let mut pending = changed & ((1u128 << COLS) - 1);
        while pending != 0 {
            let c = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            let l = look(cells[c], style.cursor_col == Some(c), style.blink_off);
            looks[c] = l;
            if shown[c] != l {
                shown[c] = l;
                todo |= 1u128 << c;
            }
        }
        while todo != 0 {
            let c0 = todo.trailing_zeros() as usize;
            let len = (todo >> c0).trailing_ones() as usize;
            self.render_run(row, c0, c0 + len, &looks);
            todo &= !(((1u128 << len) - 1) << c0);
        }
    }

    fn set_cursor(&mut self, _cursor: Option<(usize, usize)>) {}

    fn reset(&mut self) {
        self.shown = [[UNKNOWN; COLS]; ROWS];
        let Some(target) = self.target.as_mut() else {
            return;
        };
        let info = target.info();
        let layout = self.layout;
        let border = self.border.to_le_bytes();
        for px in self.span.chunks_exact_mut(4) {
            px.copy_from_slice(&border);
        }
        let (gx0, gy0) = (layout.origin_x, layout.origin_y);
        let (gx1, gy1) = (gx0 + layout.grid_width(), gy0 + layout.grid_height());
        let mut fill = |y: usize, x0: usize, x1: usize| {
            let mut x = x0;
            while x < x1 {
                let n = (x1 - x).min(SPAN_PIXELS);
                if let Some(span) = self.span.get(..n * 4) {
                    target.write(y, x * 4, span);
                }
                x += n;
            }
        };
        for y in 0..info.height {
            if y < gy0 || y >= gy1 {
                fill(y, 0, info.width);
            } else {
                fill(y, 0, gx0);
                fill(y, gx1.min(info.width), info.width);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::color::ColorCode;
    use crate::console::framebuffer::Framebuffer;

    use crate::console::testutil::{Counting, SENTINEL, info};

    fn backend(w: usize, h: usize) -> Box<FramebufferBackend<Counting>> {
        let mut b = Box::new(FramebufferBackend::new());
        b.attach(Counting::new(info(w, h, w * 4, PixelFormat::XRGB8888)))
            .unwrap();
        b
    }

    fn row_of(cells: &[(usize, Cell)]) -> [Cell; COLS] {
        let mut row = [Cell::blank(ColorCode::DEFAULT); COLS];
        for &(c, cell) in cells {
            row[c] = cell;
        }
        row
    }

    fn px(format: PixelFormat, c: Color) -> [u8; 4] {
        format.encode(c.rgb()).to_le_bytes()
    }

    fn draw_all(b: &mut FramebufferBackend<Counting>, rows: &[[Cell; COLS]; ROWS]) {
        for (r, row) in rows.iter().enumerate() {
            b.draw_row(r, row, u128::MAX, RowStyle::default());
        }
    }

    #[test]
    fn full_block_and_space_fill_their_cells() {
        let mut b = backend(1280, 800);
        let attr = ColorCode::new(Color::Yellow, Color::Blue);
        let row = row_of(&[(3, Cell::new(0xDB, attr)), (4, Cell::new(b' ', attr))]);
        b.draw_row(2, &row, 0b11000, RowStyle::default());
        let layout = *b.layout().unwrap();
        let fb = b.target().unwrap();
        for (col, color) in [(3, Color::Yellow), (4, Color::Blue)] {
            let (x0, y0) = layout.cell_origin(2, col);
            for y in y0..y0 + 32 {
                for x in x0..x0 + 14 {
                    assert_eq!(
                        fb.pixel(x, y),
                        px(PixelFormat::XRGB8888, color),
                        "({x},{y})"
                    );
                }
            }
        }
        // Exactly those two cells were written.
        assert_eq!(fb.written().len(), 2 * 14 * 32);
    }

    #[test]
    fn glyph_pixels_are_foreground_where_set() {
        let mut b = backend(640, 480);
        let attr = ColorCode::new(Color::White, Color::Black);
        let row = row_of(&[(0, Cell::new(b'H', attr))]);
        b.draw_row(0, &row, 1, RowStyle::default());
        let layout = *b.layout().unwrap();
        let set = &b.glyphs;
        let fb = b.target().unwrap();
        let (x0, y0) = layout.cell_origin(0, 0);
        let (mut fg, mut bg) = (0, 0);
        for y in 0..16 {
            for x in 0..7 {
                let p = fb.pixel(x0 + x, y0 + y);
                match set.level(b'H', x, y) {
                    3 => {
                        assert_eq!(p, [0xff, 0xff, 0xff, 0]);
                        fg += 1;
                    }
                    0 => {
                        assert_eq!(p, [0, 0, 0, 0]);
                        bg += 1;
                    }
                    1 => assert_eq!(p, [0x55, 0x55, 0x55, 0]),
                    _ => assert_eq!(p, [0xaa, 0xaa, 0xaa, 0]),
                }
            }
        }
        assert!(fg > 10 && bg > 10);
    }

    #[test]
    fn rgb_and_bgr_swap_channel_bytes() {
        let attr = ColorCode::new(Color::LightRed, Color::Black); // ff5555
        let row = row_of(&[(0, Cell::new(0xDB, attr))]);
        let mut results = Vec::new();
        for format in [PixelFormat::XRGB8888, PixelFormat::XBGR8888] {
            let mut b = Box::new(FramebufferBackend::new());
            b.attach(Counting::new(info(640, 480, 2560, format)))
                .unwrap();
            b.draw_row(0, &row, 1, RowStyle::default());
            results.push(b.target().unwrap().pixel(40, 40));
        }
        assert_eq!(results[0], [0x55, 0x55, 0xff, 0]);
        assert_eq!(results[1], [0xff, 0x55, 0x55, 0]);
    }

    #[test]
    fn odd_pitch_leaves_padding_untouched() {
        let (w, h) = (800, 600);
        let pitch = w * 4 + 12;
        let mut buf = vec![SENTINEL; pitch * h];
        {
            let fb = Framebuffer::new(&mut buf, info(w, h, pitch, PixelFormat::XRGB8888)).unwrap();
            let mut b = Box::new(FramebufferBackend::new());
            b.attach(fb).unwrap();
            b.reset();
            let row = [Cell::new(0xDB, ColorCode::new(Color::White, Color::Blue)); COLS];
            for r in 0..ROWS {
                b.draw_row(r, &row, u128::MAX, RowStyle::default());
            }
        }
        for y in 0..h {
            let line = &buf[y * pitch..(y + 1) * pitch];
            assert!(
                line[w * 4..].iter().all(|&b| b == SENTINEL),
                "row {y} padding"
            );
            assert!(!line[..w * 4].contains(&SENTINEL), "row {y} fully drawn");
        }
    }

    #[test]
    fn grid_is_centred_with_a_black_border() {
        let mut b = backend(1024, 768);
        let rows = [[Cell::new(0xDB, ColorCode::new(Color::White, Color::Black)); COLS]; ROWS];
        b.reset();
        draw_all(&mut b, &rows);
        let fb = b.target().unwrap();
        let white = px(PixelFormat::XRGB8888, Color::White);
        let black = [0, 0, 0, 0];
        // Grid 880x600 at (72, 84).
        assert_eq!(fb.pixel(71, 84), black);
        assert_eq!(fb.pixel(72, 84), white);
        assert_eq!(fb.pixel(72, 83), black);
        assert_eq!(fb.pixel(72 + 879, 84 + 599), white);
        assert_eq!(fb.pixel(72 + 880, 84 + 599), black);
        assert_eq!(fb.pixel(72, 84 + 600), black);
        assert_eq!(fb.pixel(0, 0), black);
        assert_eq!(fb.pixel(1023, 767), black);
        // Every pixel was written exactly once: border plus cells tile the screen.
        assert!(fb.writes.iter().all(|&n| n == 1));
    }

    #[test]
    fn scaled_cells_on_large_screens() {
        let mut b = backend(2560, 1600);
        let layout = *b.layout().unwrap();
        assert_eq!(layout.scale, 2);
        let attr = ColorCode::new(Color::White, Color::Black);
        let row = row_of(&[(79, Cell::new(b'W', attr))]);
        b.draw_row(24, &row, 1 << 79, RowStyle::default());
        let set = b.glyphs.clone();
        let fb = b.target().unwrap();
        let (x0, y0) = layout.cell_origin(24, 79);
        assert_eq!((x0 + 28, y0 + 64), (2560 - 160, 1600));
        for y in 0..64 {
            for x in 0..28 {
                let level = set.level(b'W', x / 2, y / 2);
                let p = fb.pixel(x0 + x, y0 + y);
                assert_eq!(p[0], [0, 0x55, 0xaa, 0xff][level as usize], "({x},{y})");
            }
        }
        assert_eq!(fb.written().len(), 28 * 64);
    }

    #[test]
    fn never_writes_outside_changed_cells() {
        // Pre-filled with a sentinel: after drawing one row, only that row's cells changed.
        let mut b = backend(800, 600);
        let row = [Cell::new(b'x', ColorCode::DEFAULT); COLS];
        b.draw_row(5, &row, u128::MAX, RowStyle::default());
        let layout = *b.layout().unwrap();
        let fb = b.target().unwrap();
        let (gx, gy) = layout.cell_origin(5, 0);
        for y in 0..600 {
            for x in 0..800 {
                let inside = (gx..gx + 720).contains(&x) && (gy..gy + 20).contains(&y);
                assert_eq!(fb.pixel(x, y) != [SENTINEL; 4], inside, "({x},{y})");
            }
        }
    }

    #[test]
    fn redraws_only_cells_whose_look_changed() {
        let mut b = backend(1280, 800);
        let mut rows = [[Cell::blank(ColorCode::DEFAULT); COLS]; ROWS];
        draw_all(&mut b, &rows);
        b.target_mut().unwrap().reset_counts();
        // Same content again: nothing drawn.
        draw_all(&mut b, &rows);
        assert!(b.target().unwrap().written().is_empty());
        // One changed cell: only its pixels.
        rows[7][9] = Cell::new(b'a', ColorCode::DEFAULT);
        draw_all(&mut b, &rows);
        let layout = *b.layout().unwrap();
        let (x0, y0) = layout.cell_origin(7, 9);
        let written = b.target().unwrap().written();
        assert_eq!(written.len(), 14 * 32);
        assert!(
            written
                .iter()
                .all(|&(x, y)| (x0..x0 + 14).contains(&x) && (y0..y0 + 32).contains(&y))
        );
    }

    #[test]
    fn cursor_underline_and_blink() {
        let mut b = backend(640, 480);
        let blinking = ColorCode::new(Color::Yellow, Color::Blue).with_blink(true);
        let row = row_of(&[
            (0, Cell::new(0xDB, blinking)),
            (1, Cell::new(b' ', ColorCode::DEFAULT)),
        ]);
        let layout = *b.layout().unwrap();
        let yellow = px(PixelFormat::XRGB8888, Color::Yellow);
        let blue = px(PixelFormat::XRGB8888, Color::Blue);
        let gray = px(PixelFormat::XRGB8888, Color::LightGray);
        let black = [0, 0, 0, 0];

        b.draw_row(
            0,
            &row,
            0b11,
            RowStyle {
                cursor_col: Some(1),
                blink_off: false,
            },
        );
        let (x1, y1) = layout.cell_origin(0, 1);
        let fb = b.target().unwrap();
        assert_eq!(fb.pixel(layout.origin_x, layout.origin_y), yellow);
        assert_eq!(fb.pixel(x1, y1 + 13), black);
        assert_eq!(fb.pixel(x1, y1 + 14), gray, "underline: bottom two rows");
        assert_eq!(fb.pixel(x1 + 6, y1 + 15), gray);

        // Off phase without the cursor: the blinking cell shows its background, the cursor cell
        // loses its underline, nothing else is touched.
        b.target_mut().unwrap().reset_counts();
        b.draw_row(
            0,
            &row,
            0b11,
            RowStyle {
                cursor_col: None,
                blink_off: true,
            },
        );
        let fb = b.target().unwrap();
        assert_eq!(fb.pixel(layout.origin_x, layout.origin_y), blue);
        assert_eq!(fb.pixel(x1, y1 + 14), black);
        assert_eq!(fb.written().len(), 2 * 7 * 16);

        // A non-blinking cell is not redrawn by a phase change.
        b.target_mut().unwrap().reset_counts();
        let plain = row_of(&[(0, Cell::new(b'x', ColorCode::DEFAULT))]);
        b.draw_row(1, &plain, 1, RowStyle::default());
        b.target_mut().unwrap().reset_counts();
        b.draw_row(
            1,
            &plain,
            1,
            RowStyle {
                cursor_col: None,
                blink_off: true,
            },
        );
        assert!(b.target().unwrap().written().is_empty());
    }

    #[test]
    fn detached_and_too_small() {
        let mut b: Box<FramebufferBackend<Counting>> = Box::default();
        b.draw_row(
            0,
            &[Cell::blank(ColorCode::DEFAULT); COLS],
            u128::MAX,
            RowStyle::default(),
        );
        b.reset();
        assert!(b.layout().is_none());
        let err = b
            .attach(Counting::new(info(320, 200, 1280, PixelFormat::XRGB8888)))
            .unwrap_err();
        assert!(matches!(err, FramebufferError::TooSmall { .. }));
        assert!(b.target().is_none());
        let mut bad = info(640, 480, 2560, PixelFormat::XRGB8888);
        bad.bpp = 24;
        assert_eq!(
            b.attach(Counting::new(bad)).unwrap_err(),
            FramebufferError::UnsupportedBpp(24)
        );
        for (w, h) in [(1280, 800), (1024, 768), (800, 600), (640, 480)] {
            let b = FramebufferBackend::with_target(Counting::new(info(
                w,
                h,
                w * 4,
                PixelFormat::XRGB8888,
            )))
            .map(Box::new)
            .unwrap();
            let l = b.layout().unwrap();
            assert!(l.grid_width() <= w && l.grid_height() <= h);
        }
    }

    /// Renders one screen through the direct path (`Framebuffer`, `row_mut`) and the span path
    /// (`Counting`, `write` only) and checks both against pixels computed independently from the
    /// glyph levels and the palette. The screen has every glyph, every attribute (more colour
    /// pairs per row than there are quad slots) and the cursor.
    #[test]
    fn direct_and_span_paths_agree_with_the_model() {
        let blank = [Cell::blank(ColorCode::DEFAULT); COLS];
        let mut rows = [blank; ROWS];
        for (r, row) in rows.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                let i = r * COLS + c;
                // Rows 0-12: varied attributes everywhere; later rows: few attributes per row.
                let attr = if r < 13 {
                    (i * 7) as u8
                } else {
                    (r * 16 + c / 20) as u8
                };
                *cell = Cell::new((i * 13) as u8, ColorCode::from_byte(attr));
            }
        }
        let cursor = (3, 17);
        for (w, h) in [
            (640, 480),
            (800, 600),
            (1024, 768),
            (1280, 800),
            (2560, 1600),
        ] {
            let format = PixelFormat::XBGR8888;
            let pitch = w * 4 + 8;
            let mut mem = vec![SENTINEL; pitch * h];
            let mut direct = Box::new(FramebufferBackend::new());
            direct
                .attach(Framebuffer::new(&mut mem, info(w, h, pitch, format)).unwrap())
                .unwrap();
            let mut span = Box::new(FramebufferBackend::new());
            span.attach(Counting::new(info(w, h, pitch, format)))
                .unwrap();
            // Second pass: blink "off" phase with the cursor hidden (redraws what changed).
            for blink_off in [false, true] {
                for (r, row) in rows.iter().enumerate() {
                    let style = RowStyle {
                        cursor_col: (r == cursor.0 && !blink_off).then_some(cursor.1),
                        blink_off,
                    };
                    direct.draw_row(r, row, u128::MAX, style);
                    span.draw_row(r, row, u128::MAX, style);
                }
                let layout = *span.layout().unwrap();
                let (cw, ch, s) = (layout.cell_width, layout.cell_height, layout.scale);
                let glyphs = span.glyphs.clone();
                let fb = span.target().unwrap();
                let direct_buf = direct.target().unwrap().buf_for_tests();
                assert_eq!(
                    direct_buf,
                    &fb.buf[..],
                    "{w}x{h}: direct and span paths differ"
                );
                for (r, row) in rows.iter().enumerate() {
                    for (c, cell) in row.iter().enumerate() {
                        let attr = cell.attr;
                        let bg = attr.background().rgb();
                        let fg = if blink_off && attr.blink() {
                            bg
                        } else {
                            attr.foreground().rgb()
                        };
                        let (x0, y0) = layout.cell_origin(r, c);
                        for y in 0..ch * s {
                            for x in 0..cw * s {
                                let (gx, gy) = (x / s, y / s);
                                let level = if (r, c) == cursor && !blink_off && gy + 2 >= ch {
                                    3
                                } else {
                                    glyphs.level(cell.glyph, gx, gy)
                                };
                                let expected = format.encode(blend(fg, bg, level)).to_le_bytes();
                                assert_eq!(
                                    fb.pixel(x0 + x, y0 + y),
                                    expected,
                                    "{w}x{h} cell ({r},{c}) px ({x},{y})"
                                );
                            }
                        }
                    }
                }
            }
            drop(direct);
            for y in 0..h {
                assert!(
                    mem[y * pitch + w * 4..(y + 1) * pitch]
                        .iter()
                        .all(|&b| b == SENTINEL)
                );
            }
        }
    }

    #[test]
    fn blend_levels() {
        let fg = Rgb::new(0xff, 0x00, 0x30);
        let bg = Rgb::new(0x00, 0xff, 0x30);
        assert_eq!(blend(fg, bg, 0), bg);
        assert_eq!(blend(fg, bg, 3), fg);
        assert_eq!(blend(fg, bg, 1), Rgb::new(0x55, 0xaa, 0x30));
        assert_eq!(blend(fg, bg, 2), Rgb::new(0xaa, 0x55, 0x30));
    }
}
