//! The console facade: byte stream in, pixels or VGA cells out.
//!
//! Key type: [`Console`], which owns the [`Grid`], the escape-sequence [`Parser`], the scrollback
//! [`History`] and a [`Backend`], and draws exactly what changed. It is pure and generic; the
//! kernel wraps one in a global behind an interrupt-disabling lock, mirrors output to serial and
//! presents it from a task (see `console::screen`).
//!
//! Drawing goes in two steps. [`Console::snapshot`] copies what the screen should show (the
//! view: the grid, or history rows while scrolled back) into a private frame together with the
//! dirty marks, and clears the grid's marks; [`Console::paint_rows`] then draws pending rows of
//! that frame, a few at a time. Output fed between the two steps goes to the grid only and is
//! picked up by the next snapshot, so a caller can release its lock between rows (interrupts
//! get in) without the screen ever showing half-updated rows. [`Console::present`] does both.
//!
//! Scrollback: every row that scrolls off the top of the scroll region is kept (the last
//! [`SCROLLBACK_LINES`]); [`Console::scroll_back`] and friends move the view, which then shows a
//! small indicator (in the row above the scroll region when there is one, a pinned title bar,
//! else at the right end of the region's last row) and no cursor. Any output returns to the live
//! view, except [`Console::feed_keep_view`] (status updates such as the uptime clock).
//!
//! Blinking: one phase flag, set by [`Console::set_blink`] / [`Console::tick`], serves both the
//! cursor and cells with attribute bit 7 (on software backends). In the "on" phase (the state
//! before the timer runs) the cursor underline shows and blinking cells show their foreground; in
//! the "off" phase the cursor is hidden and blinking cells show their background colour in place
//! of the foreground. A phase change redraws only the blinking cells and the cursor cell. Bit 7
//! is never a background intensity bit. On VGA text mode the hardware blinks both by itself.

use core::fmt;

use super::ansi::Parser;
use super::backend::{Backend, Display, RowStyle};
use super::color::{Color, ColorCode};
use super::font::Layout;
use super::framebuffer::{Framebuffer, FramebufferError};
use super::grid::{COLS, Cell, Grid, ROWS};
use super::render::FramebufferBackend;
use super::scrollback::{History, SCROLLBACK_LINES};
use super::vga_text::{Crtc, TextBuffer, VgaTextBackend};

/// Mask with one bit per column of a row.
const ALL_COLS: u128 = (1u128 << COLS) - 1;

/// Colours of the scrollback indicator: black on yellow.
const INDICATOR: ColorCode = ColorCode::new(Color::Black, Color::Brown);

/// Columns the indicator covers when it sits in the title bar (the uptime starts at 52).
const INDICATOR_TITLE_COLS: usize = 50;

/// What the screen should show, as copied by [`Console::snapshot`], and what of it is not drawn
/// yet.
#[derive(Debug, Clone)]
struct Frame {
    cells: [[Cell; COLS]; ROWS],
    /// Per row, the columns not drawn yet.
    dirty: [u128; ROWS],
    /// One bit per row with a non-zero `dirty` mask.
    pending: u32,
    /// The cursor the backend gets once every pending row is drawn (`None`: hidden).
    cursor: Option<(usize, usize)>,
    /// Whether `cursor` still has to be handed to the backend.
    cursor_pending: bool,
}

impl Frame {
    const fn new() -> Frame {
        Frame {
            cells: [[Cell::blank(ColorCode::DEFAULT); COLS]; ROWS],
            dirty: [0; ROWS],
            pending: 0,
            cursor: None,
            cursor_pending: false,
        }
    }

    fn mark(&mut self, row: usize, cols: u128) {
        if let Some(d) = self.dirty.get_mut(row) {
            let cols = cols & ALL_COLS;
            if cols != 0 {
                *d |= cols;
                self.pending |= 1 << row;
            }
        }
    }

    fn mark_blinking(&mut self) {
        for r in 0..ROWS {
            let mut mask = 0u128;
            for (c, cell) in self.cells[r].iter().enumerate() {
                if cell.attr.blink() {
                    mask |= 1u128 << c;
                }
            }
            self.mark(r, mask);
        }
    }
}

/// A text console drawing on backend `B`. See the module docs.
#[derive(Debug)]
pub struct Console<B> {
    grid: Grid,
    parser: Parser,
    history: History<SCROLLBACK_LINES>,
    /// Rows the view is scrolled back (0: live).
    offset: usize,
    /// The view changed as a whole (scrolled, recoloured, repainted): redraw every row.
    view_dirty: bool,
    backend: B,
    /// Blink phase wanted: true = cursor and blinking cells visible.
    blink_on: bool,
    /// Blink phase of the last snapshot (what the frame is drawn in).
    drawn_blink: bool,
    /// Where a software backend draws the cursor (as of the last snapshot).
    drawn_cursor: Option<(usize, usize)>,
    frame: Frame,
}

impl<B> Console<B> {
    /// A blank console drawing on `backend` (usable in a `static`). Nothing is drawn until the
    /// first write, [`Console::present`] or [`Console::repaint`].
    pub const fn new(backend: B) -> Self {
        Console {
            grid: Grid::new(),
            parser: Parser::new(),
            history: History::new(),
            offset: 0,
            view_dirty: false,
            backend,
            blink_on: true,
            drawn_blink: true,
            drawn_cursor: None,
            frame: Frame::new(),
        }
    }

    /// The text grid (cells, cursor, attribute): the live screen, whatever the view shows.
    pub const fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The rows that scrolled off the top of the scroll region.
    pub const fn history(&self) -> &History<SCROLLBACK_LINES> {
        &self.history
    }

    /// The backend.
    pub const fn backend(&self) -> &B {
        &self.backend
    }

    /// The backend, mutably. After changing what it draws on, call [`Console::repaint`].
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// The current blink phase (true before the timer first ticks).
    pub const fn blink_phase(&self) -> bool {
        self.blink_on
    }

    /// Sets the blink phase without drawing (the next snapshot redraws what it affects).
    pub fn set_blink(&mut self, on: bool) {
        self.blink_on = on;
    }

    /// Interprets `bytes` without drawing; [`Console::present`] draws the accumulated changes
    /// (for callers that batch several pieces). Non-empty output returns the view to the live
    /// screen.
    pub fn feed(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.go_live();
        }
        self.feed_keep_view(bytes);
    }

    /// As [`Console::feed`], but a scrolled-back view stays where it is (for status updates
    /// outside the scroll region, such as a clock in the title bar).
    pub fn feed_keep_view(&mut self, bytes: &[u8]) {
        let (grid, history, offset) = (&mut self.grid, &mut self.history, &mut self.offset);
        self.parser.feed_all(bytes, &mut |op| {
            grid.apply(op);
            if let Some(row) = grid.take_departed() {
                history.push(&row);
                if *offset > 0 {
                    // Keep showing the same rows.
                    *offset = (*offset + 1).min(history.len());
                }
            }
        });
    }

    /// Rows the view is scrolled back (0: the live screen).
    pub const fn scrollback_offset(&self) -> usize {
        self.offset
    }

    /// Rows a page scroll moves: the scroll region's height minus one.
    pub fn page_lines(&self) -> usize {
        let (top, bottom) = self.grid.scroll_region();
        (bottom - top).max(1)
    }

    /// Moves the view `lines` rows back into the history (at most to its oldest row).
    pub fn scroll_back(&mut self, lines: usize) {
        self.set_offset(self.offset.saturating_add(lines).min(self.history.len()));
    }

    /// Moves the view `lines` rows forward, back to the live screen at the end.
    pub fn scroll_forward(&mut self, lines: usize) {
        self.set_offset(self.offset.saturating_sub(lines));
    }

    /// Back to the live screen.
    pub fn go_live(&mut self) {
        self.set_offset(0);
    }

    fn set_offset(&mut self, offset: usize) {
        if offset != self.offset {
            self.offset = offset;
            self.view_dirty = true;
        }
    }

    /// Makes `fg` on `bg` the attribute SGR 0, SGR 39/49, `ESC c` and erasing fall back to, for
    /// good, and the attribute of the text written next. Cells of the scroll region and of the
    /// history that have the old default attribute take the new one; rows outside the region
    /// (a pinned title bar) keep theirs. A background of index 8-15 loses
    /// its intensity bit (see [`ColorCode::new`]).
    pub fn set_default_colors(&mut self, fg: Color, bg: Color) {
        let old = self.parser.default_attr();
        let new = ColorCode::new(fg, bg);
        self.parser.set_default(new);
        self.grid.set_attr(self.parser.attr());
        if old != new {
            let (top, bottom) = self.grid.scroll_region();
            self.grid.recolor(top..=bottom, old, new);
            self.history.recolor(old, new);
            self.view_dirty = true;
        }
    }

    /// The attribute SGR 0 restores.
    pub const fn default_attr(&self) -> ColorCode {
        self.parser.default_attr()
    }

    /// Row `r` of the view.
    fn view_row(&self, r: usize) -> [Cell; COLS] {
        let (top, bottom) = self.grid.scroll_region();
        let live = |row: usize| {
            self.grid
                .row(row)
                .copied()
                .unwrap_or([Cell::blank(ColorCode::DEFAULT); COLS])
        };
        if self.offset == 0 || r < top || r > bottom {
            return live(r);
        }
        let v = self.history.len() - self.offset.min(self.history.len()) + (r - top);
        match self.history.get(v) {
            Some(row) => *row,
            None => live(top + (v - self.history.len())),
        }
    }

    /// Writes the scrollback indicator into the frame.
    fn draw_indicator(&mut self) {
        let (top, bottom) = self.grid.scroll_region();
        let mut text: heapless::String<COLS> = heapless::String::new();
        let _ = fmt::Write::write_fmt(
            &mut text,
            format_args!(" scrollback -{} of {} ", self.offset, self.history.len()),
        );
        let (row, start, width) = if top > 0 {
            (top - 1, 0, INDICATOR_TITLE_COLS.max(text.len()))
        } else {
            (bottom, COLS - text.len(), text.len())
        };
        let cells = &mut self.frame.cells[row];
        let mut glyphs = text.bytes().chain(core::iter::repeat(b' '));
        for cell in cells.iter_mut().skip(start).take(width) {
            *cell = Cell::new(glyphs.next().unwrap_or(b' '), INDICATOR);
        }
        self.frame.mark(row, ALL_COLS);
    }
}

impl<B: Backend> Console<B> {
    /// Interprets `bytes` (UTF-8 text with ANSI escapes) and draws the result.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.feed(bytes);
        self.present();
    }

    /// Interprets `s` and draws the result.
    pub fn write_str(&mut self, s: &str) {
        self.write_bytes(s.as_bytes());
    }

    /// Draws every cell changed since the last present, and the cursor.
    pub fn present(&mut self) {
        self.snapshot();
        while self.paint_rows(ROWS) {}
    }

    /// Whether [`Console::snapshot`] would find something to draw (cells changed, the view
    /// moved, the blink phase changed) or rows of the last snapshot are not drawn yet.
    pub fn needs_present(&self) -> bool {
        self.grid.dirty_rows() != 0
            || self.view_dirty
            || self.blink_on != self.drawn_blink
            || self.frame.pending != 0
            || self.frame.cursor_pending
    }

    /// Copies the view and what changed into the frame (see the module docs); draws nothing.
    /// Rows of an earlier snapshot not drawn yet are drawn from the new one.
    pub fn snapshot(&mut self) {
        let (top, bottom) = self.grid.scroll_region();
        let scrolled = self.offset > 0;
        let region_dirty = (top..=bottom).any(|r| self.grid.dirty_cols(r) != 0);
        let whole_region = self.view_dirty || (scrolled && region_dirty);
        for r in 0..ROWS {
            self.frame.cells[r] = self.view_row(r);
            let in_region = (top..=bottom).contains(&r);
            let cols = if self.view_dirty || (whole_region && in_region) {
                ALL_COLS
            } else {
                self.grid.dirty_cols(r)
            };
            self.frame.mark(r, cols);
        }
        if scrolled {
            self.draw_indicator();
        }
        self.grid.clear_dirty();
        self.view_dirty = false;

        let soft = self.backend.soft_cursor();
        let cursor = if !scrolled && self.grid.cursor_visible() {
            Some(self.grid.cursor())
        } else {
            None
        };
        let want = cursor.filter(|_| !soft || self.blink_on);
        if soft {
            if self.blink_on != self.drawn_blink {
                self.frame.mark_blinking();
            }
            if want != self.drawn_cursor {
                for (r, c) in [self.drawn_cursor, want].into_iter().flatten() {
                    self.frame.mark(r, 1u128 << c);
                }
                self.drawn_cursor = want;
            }
        }
        self.drawn_blink = self.blink_on;
        self.frame.cursor = want;
        self.frame.cursor_pending = true;
    }

    /// Draws up to `max_rows` pending rows of the last snapshot, and the cursor once none is
    /// left; returns whether rows are still pending.
    pub fn paint_rows(&mut self, max_rows: usize) -> bool {
        let soft = self.backend.soft_cursor();
        let blink_off = soft && !self.drawn_blink;
        let mut drawn = 0;
        while self.frame.pending != 0 && drawn < max_rows {
            let r = self.frame.pending.trailing_zeros() as usize;
            self.frame.pending &= self.frame.pending - 1;
            let cursor_col = match self.drawn_cursor {
                Some((cr, cc)) if soft && cr == r => Some(cc),
                _ => None,
            };
            let style = RowStyle {
                cursor_col,
                blink_off,
            };
            let changed = core::mem::take(&mut self.frame.dirty[r]);
            self.backend
                .draw_row(r, &self.frame.cells[r], changed, style);
            drawn += 1;
        }
        if self.frame.pending == 0 && self.frame.cursor_pending {
            self.frame.cursor_pending = false;
            self.backend.set_cursor(self.frame.cursor);
        }
        self.frame.pending != 0
    }

    /// Clears the screen in the current attribute and moves the cursor home.
    pub fn clear(&mut self) {
        self.go_live();
        self.grid.clear();
        self.present();
    }

    /// Sets the blink phase (the timer calls this, e.g. every 500 ms with alternating values);
    /// redraws the blinking cells and the cursor cell if the phase changed.
    pub fn tick(&mut self, blink_phase_on: bool) {
        if blink_phase_on == self.blink_on {
            return;
        }
        self.blink_on = blink_phase_on;
        self.present();
    }

    /// Redraws everything, the framebuffer border included (after attaching a backend, or if
    /// the screen was overwritten behind the console's back).
    pub fn repaint(&mut self) {
        self.backend.reset();
        self.view_dirty = true;
        self.drawn_cursor = None;
        self.present();
    }

    /// Shows or hides the cursor (as `ESC[?25h` / `ESC[?25l`).
    pub fn set_cursor_visible(&mut self, visible: bool) {
        self.grid.set_cursor_visible(visible);
        self.present();
    }

    /// Back to the initial state: parser reset, default attribute, blank screen, cursor home and
    /// visible (as `ESC c`), live view. The history and the default colours stay.
    pub fn reset(&mut self) {
        self.go_live();
        self.parser.reset();
        self.grid.set_attr(self.parser.attr());
        self.grid.clear();
        self.grid.set_cursor_visible(true);
        self.present();
    }

    /// Swaps in another backend, repaints on it and returns the old one.
    pub fn replace_backend(&mut self, backend: B) -> B {
        let old = core::mem::replace(&mut self.backend, backend);
        self.repaint();
        old
    }
}

impl<'a, T: TextBuffer, C: Crtc> Console<Display<'a, T, C>> {
    /// Draws on `framebuffer` from now on and repaints; returns the chosen layout. When the
    /// console already holds a (detached) framebuffer backend, the glyph tables are built in place;
    /// otherwise the ~95 KiB backend passes through the stack once.
    ///
    /// # Errors
    ///
    /// The framebuffer is unsupported or too small ([`FramebufferError`]); the backend is left as
    /// it was (a detached framebuffer backend draws nothing: keep using serial).
    pub fn attach_framebuffer(
        &mut self,
        framebuffer: Framebuffer<'a>,
    ) -> Result<Layout, FramebufferError> {
        if let Display::Framebuffer(fb) = &mut self.backend {
            let layout = fb.attach(framebuffer)?;
            self.repaint();
            return Ok(layout);
        }
        // Switching variants builds the (large) backend on the stack once.
        let mut backend = FramebufferBackend::new();
        let layout = backend.attach(framebuffer)?;
        self.backend = Display::Framebuffer(backend);
        self.repaint();
        Ok(layout)
    }

    /// Draws on the VGA text buffer from now on and repaints.
    pub fn attach_vga_text(&mut self, buffer: T, crtc: C) {
        self.backend = Display::VgaText(VgaTextBackend::new(buffer, crtc));
        self.repaint();
    }
}

impl<B: Backend> fmt::Write for Console<B> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::backend::Headless;
    use crate::console::color::{Color, ColorCode};
    use crate::console::framebuffer::PixelFormat;
    use crate::console::grid::{COLS, ROWS};
    use crate::console::testutil::{Counting, FakeCrtc, MemBuffer, info};
    use crate::console::vga_text::NoCrtc;
    use core::fmt::Write as _;

    type FbConsole = Console<FramebufferBackend<Counting>>;

    fn fb_console(w: usize, h: usize) -> Box<FbConsole> {
        let mut c = Box::new(Console::new(FramebufferBackend::new()));
        c.backend_mut()
            .attach(Counting::new(info(w, h, w * 4, PixelFormat::XRGB8888)))
            .unwrap();
        c.repaint();
        c
    }

    fn fb(c: &FbConsole) -> &Counting {
        c.backend().target().unwrap()
    }

    fn reset_counts(c: &mut FbConsole) {
        c.backend_mut().target_mut().unwrap().reset_counts();
    }

    /// The set of cells (row, col) whose pixels were written since the last reset.
    fn touched_cells(c: &FbConsole) -> Vec<(usize, usize)> {
        let layout = *c.backend().layout().unwrap();
        let mut cells: Vec<(usize, usize)> = fb(c)
            .written()
            .iter()
            .map(|&(x, y)| {
                assert!(
                    x >= layout.origin_x && y >= layout.origin_y,
                    "border written"
                );
                (
                    (y - layout.origin_y) / layout.cell_pixels_y(),
                    (x - layout.origin_x) / layout.cell_pixels_x(),
                )
            })
            .collect();
        cells.sort_unstable();
        cells.dedup();
        cells
    }

    #[test]
    fn static_construction() {
        static _CONSOLE: spin::Mutex<Console<Display<'static, MemBuffer, NoCrtc>>> =
            spin::Mutex::new(Console::new(
                Display::Framebuffer(FramebufferBackend::new()),
            ));
        static _HEADLESS: spin::Mutex<Console<Headless>> = spin::Mutex::new(Console::new(Headless));
    }

    #[test]
    fn fmt_write_and_grid() {
        let mut c = Console::new(Headless);
        write!(c, "x = {}\n\x1b[32mok\x1b[0m", 42).unwrap();
        assert_eq!(&c.grid().row_text(0)[..6], b"x = 42");
        assert_eq!(&c.grid().row_text(1)[..2], b"ok");
        assert_eq!(c.grid().cell(1, 0).unwrap().attr.foreground(), Color::Green);
        c.clear();
        assert_eq!(c.grid().cursor(), (0, 0));
        assert_eq!(c.grid().row_text(0), [b' '; COLS]);
    }

    #[test]
    fn printing_one_char_redraws_its_cell_and_the_cursor_cells() {
        let mut c = fb_console(1280, 800);
        c.write_str("\x1b[5;10H");
        reset_counts(&mut c);
        c.write_str("a");
        // The cell that got 'a' (it also loses the cursor) and the cell the cursor moved to.
        assert_eq!(touched_cells(&c), [(4, 9), (4, 10)]);
        let layout = *c.backend().layout().unwrap();
        let per_cell = layout.cell_pixels_x() * layout.cell_pixels_y();
        assert_eq!(fb(&c).written().len(), 2 * per_cell, "each pixel once");
    }

    #[test]
    fn a_scroll_is_at_most_one_pass() {
        let mut c = fb_console(1024, 768);
        for i in 0..ROWS {
            writeln!(c, "line {i:2} {}", "=".repeat(i)).unwrap();
        }
        reset_counts(&mut c);
        c.write_str("last line\n");
        assert!(
            fb(&c).writes.iter().all(|&n| n <= 1),
            "no pixel written twice"
        );
        // Rows whose text did not change are skipped.
        assert!(fb(&c).written().len() < 1024 * 768);
    }

    #[test]
    fn repaint_writes_every_pixel_once() {
        let mut c = fb_console(800, 600);
        c.write_str("hello\n\x1b[44mworld");
        reset_counts(&mut c);
        c.repaint();
        assert!(fb(&c).writes.iter().all(|&n| n == 1));
    }

    #[test]
    fn nothing_drawn_when_nothing_changed() {
        let mut c = fb_console(640, 480);
        c.write_str("abc");
        reset_counts(&mut c);
        c.write_str("");
        c.present();
        c.tick(true);
        assert!(fb(&c).written().is_empty());
    }

    #[test]
    fn tick_redraws_only_blinking_cells_and_cursor() {
        let mut c = fb_console(640, 480);
        c.write_str("plain \x1b[5;31mBL\x1b[25m x");
        assert!(c.blink_phase(), "visible before the timer runs");
        let layout = *c.backend().layout().unwrap();
        let (bx, by) = layout.cell_origin(0, 6);
        let red = PixelFormat::XRGB8888.encode(Color::Red.rgb()).to_le_bytes();
        let glyph_px = (0..16)
            .flat_map(|y| (0..7).map(move |x| (x, y)))
            .find(|&(x, y)| fb(&c).pixel(bx + x, by + y) == red)
            .expect("the B has fully red pixels");

        reset_counts(&mut c);
        c.tick(false);
        // B and L at columns 6-7, and the cursor cell at column 10.
        assert_eq!(touched_cells(&c), [(0, 6), (0, 7), (0, 10)]);
        assert_eq!(fb(&c).pixel(bx + glyph_px.0, by + glyph_px.1), [0, 0, 0, 0]);
        let (cx, cy) = layout.cell_origin(0, 10);
        assert_eq!(fb(&c).pixel(cx, cy + 15), [0, 0, 0, 0], "cursor hidden");

        reset_counts(&mut c);
        c.tick(true);
        assert_eq!(touched_cells(&c), [(0, 6), (0, 7), (0, 10)]);
        assert_eq!(fb(&c).pixel(bx + glyph_px.0, by + glyph_px.1), red);
        let gray = PixelFormat::XRGB8888
            .encode(Color::LightGray.rgb())
            .to_le_bytes();
        assert_eq!(fb(&c).pixel(cx, cy + 15), gray, "cursor underline");
    }

    #[test]
    fn hidden_cursor_is_not_drawn() {
        let mut c = fb_console(640, 480);
        reset_counts(&mut c);
        c.write_str("\x1b[?25l");
        assert_eq!(touched_cells(&c), [(0, 0)], "the old cursor is erased");
        reset_counts(&mut c);
        c.write_str("ab");
        assert_eq!(touched_cells(&c), [(0, 0), (0, 1)]);
        reset_counts(&mut c);
        c.tick(false);
        c.tick(true);
        assert!(fb(&c).written().is_empty());
    }

    #[test]
    fn vga_text_console_end_to_end() {
        let mut c = Console::new(VgaTextBackend::new(MemBuffer::new(), FakeCrtc::default()));
        c.repaint();
        assert_eq!(c.backend().buffer().writes, COLS * ROWS);
        assert_eq!(c.backend().buffer().cells[0], 0x0720);
        c.backend_mut().buffer_mut().writes = 0;
        c.backend_mut().crtc_mut().0.clear();
        c.write_str("\x1b[1;33;44mHi");
        let b = c.backend();
        assert_eq!(b.buffer().writes, 2);
        assert_eq!(b.buffer().cells[0], 0x1e48);
        assert_eq!(b.buffer().cells[1], 0x1e69);
        assert_eq!(b.crtc().0, [(0x0F, 2), (0x0E, 0)]);
        // Ticks do nothing: the hardware blinks.
        c.backend_mut().crtc_mut().0.clear();
        c.tick(false);
        assert!(c.backend().crtc().0.is_empty());
        assert_eq!(c.backend().buffer().writes, 2);
        c.write_str("\x1b[?25l");
        assert_eq!(c.backend().crtc().0, [(0x0A, 0x20)]);
    }

    #[test]
    fn display_switches_backends() {
        let mut c: Console<Display<'_, MemBuffer, FakeCrtc>> = Console::new(Display::Headless);
        c.write_str("early boot text");
        c.attach_vga_text(MemBuffer::new(), FakeCrtc::default());
        let Display::VgaText(vga) = c.backend() else {
            panic!("expected the VGA backend");
        };
        assert_eq!(
            vga.buffer().cells[0],
            0x0765,
            "text written before is repainted"
        );

        let (w, h) = (640, 480);
        let mut mem = vec![0u8; w * h * 4];
        let fbuf = Framebuffer::new(&mut mem, info(w, h, w * 4, PixelFormat::XRGB8888)).unwrap();
        let layout = c.attach_framebuffer(fbuf).unwrap();
        assert_eq!(layout.cell_height, 16);
        drop(c);
        // Something was drawn: the 'e' of "early".
        let (x0, y0) = (layout.origin_x, layout.origin_y);
        let lit = (0..16).any(|y| (0..7).any(|x| mem[((y0 + y) * w + x0 + x) * 4] != 0));
        assert!(lit);

        let mut c: Console<Display<'_, MemBuffer, FakeCrtc>> = Console::new(Display::Headless);
        let mut small = vec![0u8; 320 * 200 * 4];
        let fbuf = Framebuffer::new(&mut small, info(320, 200, 1280, PixelFormat::XRGB8888));
        let err = c.attach_framebuffer(fbuf.unwrap()).unwrap_err();
        assert!(matches!(err, FramebufferError::TooSmall { .. }));
        c.write_str("still fine");
    }

    #[test]
    fn reset_restores_defaults() {
        let mut c = Console::new(Headless);
        c.write_str("\x1b[31;44m\x1b[?25ljunk");
        c.reset();
        assert_eq!(c.grid().cursor(), (0, 0));
        assert!(c.grid().cursor_visible());
        assert_eq!(c.grid().attr(), ColorCode::DEFAULT);
        c.write_str("x");
        assert_eq!(c.grid().cell(0, 0).unwrap().attr, ColorCode::DEFAULT);
    }

    #[test]
    fn random_bytes_through_a_framebuffer_console() {
        let mut c = fb_console(640, 480);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut buf = vec![0u8; 64 * 1024];
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for chunk in buf.chunks(97) {
            c.write_bytes(chunk);
            c.tick(chunk[0] & 1 == 0);
        }
        c.write_str("\x1b[0m\r\nOK");
        assert_eq!(&c.grid().row_text(ROWS - 1)[..2], b"OK");
    }

    /// A VGA text console with a pinned title row and 100 numbered lines printed below it.
    fn scrolled_vga(lines: usize) -> Console<VgaTextBackend<MemBuffer, FakeCrtc>> {
        let mut c = Console::new(VgaTextBackend::new(MemBuffer::new(), FakeCrtc::default()));
        c.write_str("\x1b[1;37;44mTITLE\x1b[0m\x1b[2;25r\x1b[2;1H");
        for i in 0..lines {
            write!(c, "\r\nline {i}").unwrap();
        }
        c.present();
        c
    }

    /// The glyphs shown on row `row` of a VGA text console, trailing blanks dropped.
    fn shown(c: &Console<VgaTextBackend<MemBuffer, FakeCrtc>>, row: usize) -> String {
        let cells = &c.backend().buffer().cells[row * COLS..(row + 1) * COLS];
        let s: String = cells.iter().map(|&v| char::from(v as u8)).collect();
        s.trim_end().to_string()
    }

    #[test]
    fn rows_leaving_the_region_go_to_the_history() {
        let c = scrolled_vga(100);
        // Row 2 (index 1) was blank, then lines 0..=99: 101 rows went through 24 region rows.
        assert_eq!(c.history().len(), 101 - 24);
        let first = c.history().get(0).unwrap();
        assert_eq!(
            first[0].glyph, b' ',
            "the blank row under the title left first"
        );
        assert_eq!(
            c.history().get(1).unwrap()[..6]
                .iter()
                .map(|c| c.glyph)
                .collect::<Vec<_>>(),
            b"line 0"
        );
        assert_eq!(shown(&c, 0), "TITLE", "the title bar is never recorded");
        assert_eq!(shown(&c, 24), "line 99");
    }

    #[test]
    fn scrolling_back_shows_history_and_output_returns_live() {
        let mut c = scrolled_vga(100);
        assert_eq!(c.page_lines(), 23);
        c.scroll_back(3);
        c.present();
        assert_eq!(c.scrollback_offset(), 3);
        assert_eq!(shown(&c, 24), "line 96");
        assert_eq!(shown(&c, 1), "line 73");
        assert!(
            shown(&c, 0).starts_with(" scrollback -3 of 77"),
            "{}",
            shown(&c, 0)
        );
        assert_eq!(
            c.backend().crtc().0.last(),
            Some(&(0x0A, 0x20)),
            "cursor hidden"
        );
        c.scroll_back(c.page_lines());
        c.present();
        assert_eq!(shown(&c, 24), "line 73");
        // Clamped at the oldest row.
        c.scroll_back(10_000);
        c.present();
        assert_eq!(c.scrollback_offset(), 77);
        assert_eq!(shown(&c, 1), "");
        assert_eq!(shown(&c, 2), "line 0");
        // Forward to the end: live again, title restored.
        c.scroll_forward(1_000);
        c.present();
        assert_eq!(c.scrollback_offset(), 0);
        assert_eq!(shown(&c, 0), "TITLE");
        assert_eq!(shown(&c, 24), "line 99");
        // Any output returns to the live view.
        c.scroll_back(5);
        c.present();
        assert_eq!(shown(&c, 24), "line 94");
        c.write_str("!");
        assert_eq!(c.scrollback_offset(), 0);
        assert_eq!(shown(&c, 24), "line 99!");
        assert_eq!(shown(&c, 0), "TITLE");
    }

    #[test]
    fn status_updates_keep_the_scrolled_view() {
        let mut c = scrolled_vga(50);
        c.scroll_back(2);
        c.feed_keep_view(b"\x1b7\x1b[1;60Hup\x1b8");
        c.present();
        assert_eq!(c.scrollback_offset(), 2);
        assert_eq!(&shown(&c, 0)[59..], "up");
        assert_eq!(shown(&c, 24), "line 47");
    }

    #[test]
    fn history_keeps_the_last_500_rows() {
        let mut c = Console::new(Headless);
        for i in 0..(SCROLLBACK_LINES + ROWS + 40) {
            writeln!(c, "row {i}").unwrap();
        }
        assert_eq!(c.history().len(), SCROLLBACK_LINES);
        c.scroll_back(usize::MAX);
        assert_eq!(c.scrollback_offset(), SCROLLBACK_LINES);
        let oldest = c.history().get(0).unwrap();
        let text: String = oldest[..7].iter().map(|c| char::from(c.glyph)).collect();
        assert_eq!(text, "row 41 ");
    }

    #[test]
    fn scrollback_on_the_framebuffer_restores_the_live_pixels() {
        let mut c = fb_console(640, 480);
        for i in 0..60 {
            writeln!(c, "line {i} {}", "#".repeat(i % 30)).unwrap();
        }
        let live = fb(&c).buf.clone();
        c.scroll_back(10);
        c.present();
        assert_ne!(fb(&c).buf, live, "history shown");
        c.scroll_forward(10);
        c.present();
        assert!(fb(&c).buf == live, "the live screen comes back exactly");
    }

    #[test]
    fn painting_in_steps_never_mixes_two_snapshots() {
        let mut c = scrolled_vga(30);
        c.write_str("\x1b[2J");
        // Snapshot "A" on every region row and draw part of it.
        for r in 2..=25 {
            c.feed(format!("\x1b[{r};1HA").as_bytes());
        }
        assert!(c.needs_present());
        assert_eq!(shown(&c, 1), "", "feeding draws nothing");
        c.snapshot();
        assert!(c.paint_rows(5));
        // Output between the steps reaches the grid only.
        for r in 2..=25 {
            c.feed(format!("\x1b[{r};1HB").as_bytes());
        }
        while c.paint_rows(1) {}
        for r in 1..25 {
            assert_eq!(shown(&c, r), "A", "row {r} drawn from the snapshot");
        }
        assert!(c.needs_present());
        c.present();
        assert!(!c.needs_present());
        for r in 1..25 {
            assert_eq!(shown(&c, r), "B");
        }
    }

    #[test]
    fn default_colors_survive_sgr_0_and_erase() {
        let mut c = Console::new(Headless);
        c.write_str("old");
        let white_on_blue = ColorCode::new(Color::White, Color::Blue);
        c.set_default_colors(Color::White, Color::Blue);
        assert_eq!(c.default_attr(), white_on_blue);
        assert_eq!(
            c.grid().cell(0, 0).unwrap().attr,
            white_on_blue,
            "recoloured"
        );
        c.write_str("\x1b[1;31mERR\x1b[0m after\x1b[K");
        assert_eq!(
            c.grid().cell(0, 3).unwrap().attr.foreground(),
            Color::LightRed
        );
        assert_eq!(c.grid().cell(0, 7).unwrap().attr, white_on_blue, "SGR 0");
        assert_eq!(c.grid().cell(0, 79).unwrap().attr, white_on_blue, "erase");
        c.write_str("\x1b[32;41mx\x1b[39;49my");
        assert_eq!(
            c.grid().cell(0, 13).unwrap().attr,
            white_on_blue,
            "SGR 39/49"
        );
        c.write_str("\x1b[2J");
        assert!(
            c.grid()
                .cells()
                .iter()
                .flatten()
                .all(|cell| cell.attr == white_on_blue)
        );
        c.write_str("\x1bc");
        assert_eq!(c.grid().attr(), white_on_blue, "ESC c");
        c.reset();
        assert_eq!(c.grid().attr(), white_on_blue, "reset");
        // A title bar above the scroll region keeps its colours, even the default ones.
        c.write_str("\x1b[1;37;44mT\x1b[0m\x1b[2;25r\x1b[2;1Hx");
        let title = ColorCode::new(Color::White, Color::Blue);
        assert_eq!(c.grid().cell(0, 0).unwrap().attr, title);
        c.set_default_colors(Color::Black, Color::LightGray);
        assert_eq!(c.grid().cell(0, 0).unwrap().attr, title);
        assert_eq!(
            c.grid().cell(0, 1).unwrap().attr,
            title,
            "blank title cells too"
        );
        let black_on_gray = ColorCode::new(Color::Black, Color::LightGray);
        assert_eq!(c.grid().cell(1, 0).unwrap().attr, black_on_gray);
        assert_eq!(c.grid().cell(24, 79).unwrap().attr, black_on_gray);
        // Bright backgrounds lose the intensity bit (bit 7 is blink).
        c.set_default_colors(Color::Yellow, Color::LightGreen);
        assert!(!c.default_attr().blink());
        assert_eq!(c.default_attr().background(), Color::Green);
    }
}
