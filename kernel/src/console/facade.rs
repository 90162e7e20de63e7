//! The console facade: byte stream in, pixels or VGA cells out.
//!
//! Key type: [`Console`], which owns the [`Grid`], the escape-sequence [`Parser`] and a
//! [`Backend`], and after every write draws exactly what changed. It is pure and generic; the
//! kernel wraps one in a global behind an interrupt-disabling lock, mirrors output to serial and
//! drives [`Console::tick`] from the timer.
//!
//! Blinking: one phase flag, toggled by [`Console::tick`], serves both the cursor and cells with
//! attribute bit 7 (on software backends). In the "on" phase (the state before the timer runs)
//! the cursor underline shows and blinking cells show their foreground; in the "off" phase the
//! cursor is hidden and blinking cells show their background colour in place of the foreground.
//! A tick redraws only the blinking cells and the cursor cell. Bit 7 is never a background
//! intensity bit. On VGA text mode the hardware blinks both by itself.

use core::fmt;

use super::ansi::Parser;
use super::backend::{Backend, Display, RowStyle};
use super::font::Layout;
use super::framebuffer::{Framebuffer, FramebufferError};
use super::grid::Grid;
use super::render::FramebufferBackend;
use super::vga_text::{Crtc, TextBuffer, VgaTextBackend};

/// A text console drawing on backend `B`. See the module docs.
#[derive(Debug)]
pub struct Console<B> {
    grid: Grid,
    parser: Parser,
    backend: B,
    /// Blink phase: true = cursor and blinking cells visible.
    blink_on: bool,
    /// Where a software backend last drew the cursor.
    drawn_cursor: Option<(usize, usize)>,
}

impl<B> Console<B> {
    /// A blank console drawing on `backend` (usable in a `static`). Nothing is drawn until the
    /// first write, [`Console::present`] or [`Console::repaint`].
    pub const fn new(backend: B) -> Self {
        Console {
            grid: Grid::new(),
            parser: Parser::new(),
            backend,
            blink_on: true,
            drawn_cursor: None,
        }
    }

    /// The text grid (cells, cursor, attribute).
    pub const fn grid(&self) -> &Grid {
        &self.grid
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

    /// Interprets `bytes` without drawing; [`Console::present`] draws the accumulated changes
    /// (for callers that batch several pieces).
    pub fn feed(&mut self, bytes: &[u8]) {
        let grid = &mut self.grid;
        self.parser.feed_all(bytes, &mut |op| grid.apply(op));
    }

    /// Draws every cell changed since the last present, and the cursor.
    pub fn present(&mut self) {
        let soft = self.backend.soft_cursor();
        let visible = self.grid.cursor_visible() && (!soft || self.blink_on);
        let want = if visible {
            Some(self.grid.cursor())
        } else {
            None
        };
        if soft && want != self.drawn_cursor {
            for (r, c) in [self.drawn_cursor, want].into_iter().flatten() {
                self.grid.mark_dirty(r, c);
            }
            self.drawn_cursor = want;
        }
        let blink_off = soft && !self.blink_on;
        let mut rows = self.grid.dirty_rows();
        while rows != 0 {
            let r = rows.trailing_zeros() as usize;
            rows &= rows - 1;
            let cursor_col = match want {
                Some((cr, cc)) if soft && cr == r => Some(cc),
                _ => None,
            };
            if let Some(cells) = self.grid.row(r) {
                let style = RowStyle {
                    cursor_col,
                    blink_off,
                };
                self.backend
                    .draw_row(r, cells, self.grid.dirty_cols(r), style);
            }
        }
        self.grid.clear_dirty();
        self.backend.set_cursor(want);
    }

    /// Clears the screen in the current attribute and moves the cursor home.
    pub fn clear(&mut self) {
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
        if self.backend.soft_cursor() {
            self.grid.mark_blinking_dirty();
        }
        self.present();
    }

    /// Redraws everything, the framebuffer border included (after attaching a backend, or if
    /// the screen was overwritten behind the console's back).
    pub fn repaint(&mut self) {
        self.backend.reset();
        self.grid.mark_all_dirty();
        self.drawn_cursor = None;
        self.present();
    }

    /// Shows or hides the cursor (as `ESC[?25h` / `ESC[?25l`).
    pub fn set_cursor_visible(&mut self, visible: bool) {
        self.grid.set_cursor_visible(visible);
        self.present();
    }

    /// Back to the initial state: parser reset, default attribute, blank screen, cursor home and
    /// visible (as `ESC c`).
    pub fn reset(&mut self) {
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
}
