//! The VGA text-mode backend: cells into the 0xb8000 buffer, the cursor through the CRTC.
//!
//! Key items: [`TextBuffer`] (write one 16-bit cell of the 80x25 buffer) and [`Crtc`] (write one
//! CRT controller register through index port 0x3D4 and data port 0x3D5) — `console::screen`
//! implements both over the handles in `arch` (the mapped buffer and the ports), tests with
//! memory; [`VgaTextBackend`] is the [`Backend`].
//!
//! The backend keeps a copy of what it wrote and writes only cells whose value changed (the
//! buffer is slow, uncached memory). Blinking (attribute bit 7) and the cursor blink are left to
//! the hardware. The cursor is an underline: cursor-start register 0x0A and cursor-end register
//! 0x0B select scan lines 14-15 of the 16-line character cell; 0x0A bit 5 hides it. Its position
//! `row * 80 + col` goes to registers 0x0E (high byte) and 0x0F (low byte).

use super::backend::{Backend, RowStyle};
use super::grid::{COLS, Cell, ROWS};

/// CRTC register: cursor start scan line (bit 5: cursor disabled).
pub const CRTC_CURSOR_START: u8 = 0x0A;
/// CRTC register: cursor end scan line.
pub const CRTC_CURSOR_END: u8 = 0x0B;
/// CRTC register: cursor location, high byte.
pub const CRTC_CURSOR_HIGH: u8 = 0x0E;
/// CRTC register: cursor location, low byte.
pub const CRTC_CURSOR_LOW: u8 = 0x0F;
/// Bit of [`CRTC_CURSOR_START`] that hides the cursor.
pub const CURSOR_DISABLE: u8 = 0x20;

/// The 80x25 text buffer: cell `index` is `row * 80 + col`, holding the glyph in the low byte and
/// the attribute in the high byte.
pub trait TextBuffer {
    /// Writes one cell. `index` is below 2000; implementations may ignore anything else.
    fn write_cell(&mut self, index: usize, value: u16);
}

/// The VGA CRT controller, reached through index port 0x3D4 and data port 0x3D5.
pub trait Crtc {
    /// Selects register `index` and writes `value` to it.
    fn write_register(&mut self, index: u8, value: u8);
}

impl<T: TextBuffer + ?Sized> TextBuffer for &mut T {
    fn write_cell(&mut self, index: usize, value: u16) {
        (**self).write_cell(index, value);
    }
}

impl<C: Crtc + ?Sized> Crtc for &mut C {
    fn write_register(&mut self, index: u8, value: u8) {
        (**self).write_register(index, value);
    }
}

/// A CRTC that does nothing (for text buffers without a hardware cursor, and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoCrtc;

impl Crtc for NoCrtc {
    fn write_register(&mut self, _index: u8, _value: u8) {}
}

/// What the backend last told the CRTC about the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorState {
    /// Nothing written yet (or after a reset).
    Unknown,
    Hidden,
    At(usize, usize),
}

/// Draws the grid into a VGA text buffer. See the module docs.
#[derive(Debug)]
pub struct VgaTextBackend<T, C> {
    buffer: T,
    crtc: C,
    /// Value last written to each cell; `u32::MAX` = unknown.
    shown: [[u32; COLS]; ROWS],
    cursor: CursorState,
    /// Scan lines of the underline cursor (start, end).
    cursor_lines: (u8, u8),
}

impl<T, C> VgaTextBackend<T, C> {
    /// A backend writing to `buffer`, moving the cursor through `crtc`; underline cursor on scan
    /// lines 14-15 (the standard 9x16 character cell of 80x25 mode).
    pub const fn new(buffer: T, crtc: C) -> Self {
        VgaTextBackend {
            buffer,
            crtc,
            shown: [[u32::MAX; COLS]; ROWS],
            cursor: CursorState::Unknown,
            cursor_lines: (14, 15),
        }
    }

    /// Uses scan lines `start..=end` (0-31) for the cursor, e.g. (6, 7) for an 8-line font.
    pub const fn with_cursor_lines(mut self, start: u8, end: u8) -> Self {
        self.cursor_lines = (start & 0x1F, end & 0x1F);
        self
    }

    /// The text buffer.
    pub fn buffer(&self) -> &T {
        &self.buffer
    }

    /// The CRTC.
    pub fn crtc(&self) -> &C {
        &self.crtc
    }

    /// The CRTC, mutably (e.g. to clear a test recorder).
    pub fn crtc_mut(&mut self) -> &mut C {
        &mut self.crtc
    }

    /// The text buffer, mutably.
    pub fn buffer_mut(&mut self) -> &mut T {
        &mut self.buffer
    }
}

impl<T: TextBuffer, C: Crtc> Backend for VgaTextBackend<T, C> {
    fn soft_cursor(&self) -> bool {
        false
    }

    fn draw_row(&mut self, row: usize, cells: &[Cell; COLS], changed: u128, _style: RowStyle) {
        let Some(shown) = self.shown.get_mut(row) else {
            return;
        };
        let mut pending = changed & ((1u128 << COLS) - 1);
        while pending != 0 {
            let c = pending.trailing_zeros() as usize;
            pending &= pending - 1;
            let value = cells[c].to_vga();
            if shown[c] != u32::from(value) {
                shown[c] = u32::from(value);
                self.buffer.write_cell(row * COLS + c, value);
            }
        }
    }

    fn set_cursor(&mut self, cursor: Option<(usize, usize)>) {
        match cursor {
            Some((row, col)) if row < ROWS && col < COLS => {
                if self.cursor == CursorState::At(row, col) {
                    return;
                }
                if !matches!(self.cursor, CursorState::At(..)) {
                    self.crtc
                        .write_register(CRTC_CURSOR_START, self.cursor_lines.0);
                    self.crtc
                        .write_register(CRTC_CURSOR_END, self.cursor_lines.1);
                }
                let pos = (row * COLS + col) as u16;
                self.crtc.write_register(CRTC_CURSOR_LOW, pos as u8);
                self.crtc.write_register(CRTC_CURSOR_HIGH, (pos >> 8) as u8);
                self.cursor = CursorState::At(row, col);
            }
            _ => {
                if self.cursor != CursorState::Hidden {
                    self.crtc.write_register(CRTC_CURSOR_START, CURSOR_DISABLE);
                    self.cursor = CursorState::Hidden;
                }
            }
        }
    }

    fn reset(&mut self) {
        self.shown = [[u32::MAX; COLS]; ROWS];
        self.cursor = CursorState::Unknown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::color::{Color, ColorCode};

    use crate::console::testutil::{FakeCrtc, MemBuffer};

    fn backend() -> VgaTextBackend<MemBuffer, FakeCrtc> {
        VgaTextBackend::new(MemBuffer::new(), FakeCrtc::default())
    }

    #[test]
    fn writes_cells_in_vga_layout() {
        let mut b = backend();
        let mut row = [Cell::blank(ColorCode::DEFAULT); COLS];
        row[3] = Cell::new(b'A', ColorCode::new(Color::Yellow, Color::Blue));
        b.draw_row(2, &row, u128::MAX, RowStyle::default());
        assert_eq!(b.buffer().cells[2 * 80 + 3], 0x1e41);
        assert_eq!(b.buffer().cells[2 * 80 + 4], 0x0720);
        assert_eq!(b.buffer().writes, 80);
    }

    #[test]
    fn writes_only_changed_cells() {
        let mut b = backend();
        let mut row = [Cell::blank(ColorCode::DEFAULT); COLS];
        b.draw_row(0, &row, u128::MAX, RowStyle::default());
        b.buffer_mut().writes = 0;
        b.draw_row(0, &row, u128::MAX, RowStyle::default());
        assert_eq!(b.buffer().writes, 0, "unchanged cells are not rewritten");
        row[10] = Cell::new(b'x', ColorCode::DEFAULT);
        b.draw_row(0, &row, u128::MAX, RowStyle::default());
        assert_eq!(b.buffer().writes, 1);
        b.reset();
        b.draw_row(0, &row, u128::MAX, RowStyle::default());
        assert_eq!(b.buffer().writes, 81, "a reset forgets what was written");
        // Out-of-range rows are ignored.
        b.draw_row(ROWS, &row, u128::MAX, RowStyle::default());
        assert_eq!(b.buffer().writes, 81);
    }

    #[test]
    fn cursor_registers() {
        let mut b = backend();
        b.set_cursor(Some((1, 2)));
        // Enable an underline, then position 82 = 0x0052.
        assert_eq!(
            b.crtc().0,
            [(0x0A, 14), (0x0B, 15), (0x0F, 0x52), (0x0E, 0x00)]
        );
        b.crtc_mut().0.clear();
        b.set_cursor(Some((1, 2)));
        assert!(b.crtc().0.is_empty(), "unchanged position writes nothing");
        b.set_cursor(Some((24, 79)));
        assert_eq!(b.crtc().0, [(0x0F, 0xCF), (0x0E, 0x07)]); // 1999 = 0x07CF
        b.crtc_mut().0.clear();
        b.set_cursor(None);
        assert_eq!(b.crtc().0, [(0x0A, 0x20)]);
        b.set_cursor(None);
        assert_eq!(b.crtc().0.len(), 1);
        b.crtc_mut().0.clear();
        b.set_cursor(Some((0, 0)));
        assert_eq!(b.crtc().0, [(0x0A, 14), (0x0B, 15), (0x0F, 0), (0x0E, 0)]);
        b.crtc_mut().0.clear();
        b.set_cursor(Some((99, 0)));
        assert_eq!(
            b.crtc().0,
            [(0x0A, 0x20)],
            "an impossible position hides the cursor"
        );
    }

    #[test]
    fn custom_cursor_lines() {
        let mut b = backend().with_cursor_lines(6, 7);
        b.set_cursor(Some((0, 0)));
        assert_eq!(&b.crtc().0[..2], [(0x0A, 6), (0x0B, 7)]);
    }
}
