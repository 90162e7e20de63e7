//! The text grid: 80x25 VGA cells, a write cursor and dirty tracking.
//!
//! Key types: [`Cell`] (CP437 byte + [`ColorCode`]), [`Grid`] (the screen model) and [`Op`] (the
//! operations the escape-sequence parser in [`super::ansi`] produces). The backends
//! ([`super::render`], [`super::vga_text`]) draw from the grid; the facade [`super::Console`] ties
//! parser, grid and backend together.
//!
//! Cursor rules (terminal conventions):
//! - `\n` moves to column 0 of the next row (it implies `\r`); on the last row it scrolls.
//! - `\r` moves to column 0; `\t` moves to the next multiple of 8 (column 79 at most) without
//!   writing anything.
//! - Backspace moves one column left without erasing (a line editor sends `"\x08 \x08"`); at
//!   column 0 it stays where it is — it never moves to the previous row.
//! - Wrapping is deferred: writing column 79 leaves the cursor on column 79 with a pending wrap,
//!   and the next printable character wraps first. A line of exactly 80 characters followed by
//!   `\n` therefore takes one row, not two. Any cursor movement cancels the pending wrap.
//! - Scrolling moves every row up by one and fills the new bottom row with spaces in the current
//!   attribute.
//!
//! Dirty tracking: every change marks the cells it touches in a per-row 80-bit mask, so a backend
//! redraws one cell for one printed character and the whole screen (once) for a scroll.

use super::color::ColorCode;

/// Columns of the text grid.
pub const COLS: usize = 80;
/// Rows of the text grid.
pub const ROWS: usize = 25;

/// Tab stops are at every multiple of this column count.
const TAB_WIDTH: usize = 8;

/// Mask with one bit per column of a row.
const ALL_COLS: u128 = (1u128 << COLS) - 1;
/// Mask with one bit per row.
const ALL_ROWS: u32 = (1u32 << ROWS) - 1;

/// One character cell: a CP437 byte and its attribute, in the VGA text buffer's byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Cell {
    /// The CP437 glyph.
    pub glyph: u8,
    /// Colours and blink bit.
    pub attr: ColorCode,
}

impl Cell {
    /// A cell showing `glyph` in `attr`.
    pub const fn new(glyph: u8, attr: ColorCode) -> Cell {
        Cell { glyph, attr }
    }

    /// A space in `attr`.
    pub const fn blank(attr: ColorCode) -> Cell {
        Cell::new(b' ', attr)
    }

    /// The 16-bit value of the VGA text buffer: glyph in the low byte, attribute in the high byte.
    pub const fn to_vga(self) -> u16 {
        (self.glyph as u16) | ((self.attr.byte() as u16) << 8)
    }

    /// The cell stored as `value` in the VGA text buffer.
    pub const fn from_vga(value: u16) -> Cell {
        Cell::new(value as u8, ColorCode::from_byte((value >> 8) as u8))
    }
}

/// Which part of a line or of the screen an erase covers (the parameter of `ESC[J` / `ESC[K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erase {
    /// From the cursor (inclusive) to the end.
    ToEnd,
    /// From the start to the cursor (inclusive).
    ToStart,
    /// Everything.
    All,
}

/// One operation on the grid, as produced by the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write a CP437 glyph at the cursor and advance.
    Print(u8),
    /// `\n` (and VT, FF): column 0 of the next row, scrolling on the last row.
    LineFeed,
    /// `\r`: column 0.
    CarriageReturn,
    /// `\t`: next multiple of 8.
    Tab,
    /// Backspace: one column left, staying put at column 0.
    Backspace,
    /// Use this attribute for what is written or erased from now on.
    SetAttr(ColorCode),
    /// Fill part of the screen with spaces in the current attribute; the cursor stays.
    EraseDisplay(Erase),
    /// Fill part of the cursor's row with spaces in the current attribute; the cursor stays.
    EraseLine(Erase),
    /// Move to a 0-based position, clamped to the grid.
    MoveTo {
        /// Target row (0-based).
        row: u16,
        /// Target column (0-based).
        col: u16,
    },
    /// Move up by this many rows, stopping at row 0.
    Up(u16),
    /// Move down by this many rows, stopping at the last row (never scrolls).
    Down(u16),
    /// Move right by this many columns, stopping at column 79.
    Forward(u16),
    /// Move left by this many columns, stopping at column 0.
    Back(u16),
    /// Move to this 0-based column of the current row, clamped.
    Column(u16),
    /// Show (true) or hide (false) the cursor.
    ShowCursor(bool),
    /// Remember the cursor position and attribute (`ESC 7`, `CSI s`).
    SaveCursor,
    /// Limit scrolling to rows `top..=bottom` (0-based; `CSI top;bottom r`, DECSTBM) and move
    /// the cursor home. An empty or inverted region resets to the whole screen.
    SetScrollRegion {
        /// First scrolling row.
        top: u16,
        /// Last scrolling row.
        bottom: u16,
    },
    /// Return to the remembered position and attribute (`ESC 8`, `CSI u`).
    RestoreCursor,
}

/// The 80x25 screen model with cursor, current attribute and dirty masks.
#[derive(Debug, Clone)]
pub struct Grid {
    cells: [[Cell; COLS]; ROWS],
    row: usize,
    col: usize,
    wrap_pending: bool,
    attr: ColorCode,
    cursor_visible: bool,
    /// Per row, one bit per column that changed since the last [`Grid::clear_dirty`].
    dirty: [u128; ROWS],
    /// One bit per row with a non-zero `dirty` mask.
    dirty_rows: u32,
    /// Cursor row, column, pending wrap and attribute saved by [`Op::SaveCursor`].
    saved: (usize, usize, bool, ColorCode),
    /// Scroll region: rows `top..=bottom` scroll; rows outside stay put (a status line).
    top: usize,
    /// Last row of the scroll region.
    bottom: usize,
    /// The row that last scrolled off the top of the scroll region, until taken
    /// ([`Grid::take_departed`]); a scrollback keeps it.
    departed: Option<[Cell; COLS]>,
}

impl Default for Grid {
    fn default() -> Self {
        Self::new()
    }
}

impl Grid {
    /// A blank grid in [`ColorCode::DEFAULT`], cursor at the top left and visible, every cell
    /// dirty (nothing has been drawn yet).
    pub const fn new() -> Grid {
        Grid {
            cells: [[Cell::blank(ColorCode::DEFAULT); COLS]; ROWS],
            row: 0,
            col: 0,
            wrap_pending: false,
            attr: ColorCode::DEFAULT,
            cursor_visible: true,
            dirty: [ALL_COLS; ROWS],
            dirty_rows: ALL_ROWS,
            saved: (0, 0, false, ColorCode::DEFAULT),
            top: 0,
            bottom: ROWS - 1,
            departed: None,
        }
    }

    /// Applies one parser operation.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Print(glyph) => self.put(glyph),
            Op::LineFeed => self.new_line(),
            Op::CarriageReturn => self.set_col(0),
            Op::Tab => self.set_col((self.col / TAB_WIDTH + 1) * TAB_WIDTH),
            Op::Backspace => self.set_col(self.col.saturating_sub(1)),
            Op::SetAttr(attr) => self.attr = attr,
            Op::EraseDisplay(which) => self.erase_display(which),
            Op::EraseLine(which) => self.erase_line(which),
            Op::MoveTo { row, col } => self.move_to(usize::from(row), usize::from(col)),
            Op::Up(n) => self.move_to(self.row.saturating_sub(usize::from(n)), self.col),
            Op::Down(n) => self.move_to(self.row.saturating_add(usize::from(n)), self.col),
            Op::Forward(n) => self.set_col(self.col.saturating_add(usize::from(n))),
            Op::Back(n) => self.set_col(self.col.saturating_sub(usize::from(n))),
            Op::Column(col) => self.set_col(usize::from(col)),
            Op::ShowCursor(visible) => self.cursor_visible = visible,
            Op::SetScrollRegion { top, bottom } => {
                let (top, bottom) = (usize::from(top), usize::from(bottom).min(ROWS - 1));
                (self.top, self.bottom) = if top < bottom {
                    (top, bottom)
                } else {
                    (0, ROWS - 1)
                };
                self.move_to(0, 0);
            }
            Op::SaveCursor => self.saved = (self.row, self.col, self.wrap_pending, self.attr),
            Op::RestoreCursor => {
                let (row, col, wrap, attr) = self.saved;
                self.move_to(row, col);
                self.wrap_pending = wrap;
                self.attr = attr;
            }
        }
    }

    /// Writes `glyph` at the cursor in the current attribute and advances (wrapping lazily, see
    /// the module docs).
    pub fn put(&mut self, glyph: u8) {
        if self.wrap_pending {
            self.new_line();
        }
        let (row, col) = (self.row, self.col);
        self.set_cell(row, col, Cell::new(glyph, self.attr));
        if col + 1 >= COLS {
            self.wrap_pending = true;
        } else {
            self.col = col + 1;
        }
    }

    /// Column 0 of the next row; scrolls up by one row when the cursor is on the last row.
    pub fn new_line(&mut self) {
        self.wrap_pending = false;
        self.col = 0;
        if self.row == self.bottom {
            self.scroll_up();
        } else if self.row + 1 < ROWS {
            self.row += 1;
        }
    }

    /// Moves every row of the scroll region up by one; its new bottom row is spaces in the
    /// current attribute. The cursor does not move; rows outside the region are untouched.
    pub fn scroll_up(&mut self) {
        let (top, bottom) = (self.top, self.bottom);
        self.departed = Some(self.cells[top]);
        self.cells.copy_within(top + 1..=bottom, top);
        self.cells[bottom] = [Cell::blank(self.attr); COLS];
        for row in top..=bottom {
            self.dirty[row] = ALL_COLS;
            self.dirty_rows |= 1 << row;
        }
    }

    /// The row that scrolled off the top of the scroll region since the last call, if any (one
    /// operation scrolls at most one row, so taking it after every [`Grid::apply`] sees them all).
    pub fn take_departed(&mut self) -> Option<[Cell; COLS]> {
        self.departed.take()
    }

    /// Replaces every cell of rows `rows` in attribute `from` with the same glyph in `to` (a
    /// new default colour applied to what is already on screen) and marks them dirty.
    pub fn recolor(
        &mut self,
        rows: core::ops::RangeInclusive<usize>,
        from: ColorCode,
        to: ColorCode,
    ) {
        for r in rows.filter(|&r| r < ROWS) {
            for c in 0..COLS {
                if self.cells[r][c].attr == from {
                    self.cells[r][c].attr = to;
                    self.mark_dirty(r, c);
                }
            }
        }
    }

    /// The scroll region `(top, bottom)`, 0-based and inclusive.
    pub const fn scroll_region(&self) -> (usize, usize) {
        (self.top, self.bottom)
    }

    /// Fills the screen with spaces in the current attribute and moves the cursor home.
    pub fn clear(&mut self) {
        self.erase_display(Erase::All);
        self.move_to(0, 0);
    }

    /// The cursor position `(row, col)`. With a pending wrap this is still column 79.
    pub const fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Whether the cursor sits on column 79 after writing it, so the next glyph wraps first.
    pub const fn wrap_pending(&self) -> bool {
        self.wrap_pending
    }

    /// Whether the cursor should be shown (`ESC[?25h` / `ESC[?25l`).
    pub const fn cursor_visible(&self) -> bool {
        self.cursor_visible
    }

    /// Shows or hides the cursor.
    pub fn set_cursor_visible(&mut self, visible: bool) {
        self.cursor_visible = visible;
    }

    /// The attribute used for writing and erasing.
    pub const fn attr(&self) -> ColorCode {
        self.attr
    }

    /// Sets the attribute used for writing and erasing.
    pub fn set_attr(&mut self, attr: ColorCode) {
        self.attr = attr;
    }

    /// All rows, top first.
    pub const fn cells(&self) -> &[[Cell; COLS]; ROWS] {
        &self.cells
    }

    /// Row `row`, or `None` past the last row.
    pub fn row(&self, row: usize) -> Option<&[Cell; COLS]> {
        self.cells.get(row)
    }

    /// The cell at `(row, col)`, or `None` outside the grid.
    pub fn cell(&self, row: usize, col: usize) -> Option<Cell> {
        self.cells.get(row).and_then(|r| r.get(col)).copied()
    }

    /// The glyph bytes of row `row` (spaces past the last row), handy for tests and dumps.
    pub fn row_text(&self, row: usize) -> [u8; COLS] {
        let mut text = [b' '; COLS];
        if let Some(cells) = self.cells.get(row) {
            for (t, c) in text.iter_mut().zip(cells) {
                *t = c.glyph;
            }
        }
        text
    }

    /// Overwrites one cell (ignored outside the grid) and marks it dirty.
    pub fn set_cell(&mut self, row: usize, col: usize, cell: Cell) {
        if let Some(slot) = self.cells.get_mut(row).and_then(|r| r.get_mut(col)) {
            *slot = cell;
            self.mark_dirty(row, col);
        }
    }

    /// Marks one cell as needing a redraw (ignored outside the grid).
    pub fn mark_dirty(&mut self, row: usize, col: usize) {
        if row < ROWS && col < COLS {
            self.dirty[row] |= 1u128 << col;
            self.dirty_rows |= 1u32 << row;
        }
    }

    /// Marks every cell as needing a redraw.
    pub fn mark_all_dirty(&mut self) {
        self.dirty = [ALL_COLS; ROWS];
        self.dirty_rows = ALL_ROWS;
    }

    /// Marks every cell with the blink bit set; returns how many there are.
    pub fn mark_blinking_dirty(&mut self) -> usize {
        let mut count = 0;
        for (r, row) in self.cells.iter().enumerate() {
            let mut mask = 0u128;
            for (c, cell) in row.iter().enumerate() {
                if cell.attr.blink() {
                    mask |= 1u128 << c;
                }
            }
            if mask != 0 {
                self.dirty[r] |= mask;
                self.dirty_rows |= 1u32 << r;
                count += mask.count_ones() as usize;
            }
        }
        count
    }

    /// One bit per row that has dirty cells (bit 0 = row 0).
    pub const fn dirty_rows(&self) -> u32 {
        self.dirty_rows
    }

    /// One bit per dirty column of row `row` (bit 0 = column 0); 0 past the last row.
    pub fn dirty_cols(&self, row: usize) -> u128 {
        self.dirty.get(row).copied().unwrap_or(0)
    }

    /// Forgets all dirty marks (after a backend has drawn them).
    pub fn clear_dirty(&mut self) {
        self.dirty = [0; ROWS];
        self.dirty_rows = 0;
    }

    fn set_col(&mut self, col: usize) {
        self.wrap_pending = false;
        self.col = col.min(COLS - 1);
    }

    fn move_to(&mut self, row: usize, col: usize) {
        self.wrap_pending = false;
        self.row = row.min(ROWS - 1);
        self.col = col.min(COLS - 1);
    }

    fn fill(&mut self, row: usize, cols: core::ops::Range<usize>) {
        let blank = Cell::blank(self.attr);
        if let Some(cells) = self
            .cells
            .get_mut(row)
            .and_then(|r| r.get_mut(cols.clone()))
        {
            cells.fill(blank);
            let width = cols.end - cols.start;
            if width > 0 {
                let mask = if width >= 128 {
                    u128::MAX
                } else {
                    ((1u128 << width) - 1) << cols.start
                };
                self.dirty[row] |= mask & ALL_COLS;
                self.dirty_rows |= 1u32 << row;
            }
        }
    }

    fn erase_line(&mut self, which: Erase) {
        let (row, col) = (self.row, self.col);
        match which {
            Erase::ToEnd => self.fill(row, col..COLS),
            Erase::ToStart => self.fill(row, 0..col + 1),
            Erase::All => self.fill(row, 0..COLS),
        }
    }

    fn erase_display(&mut self, which: Erase) {
        let row = self.row;
        let rows = match which {
            Erase::ToEnd => {
                self.erase_line(Erase::ToEnd);
                row + 1..ROWS
            }
            Erase::ToStart => {
                self.erase_line(Erase::ToStart);
                0..row
            }
            Erase::All => 0..ROWS,
        };
        for r in rows {
            self.fill(r, 0..COLS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::color::Color;

    fn text(grid: &Grid, row: usize) -> String {
        String::from_utf8(grid.row_text(row).to_vec())
            .unwrap()
            .trim_end()
            .to_string()
    }

    fn write(grid: &mut Grid, s: &str) {
        for b in s.bytes() {
            match b {
                b'\n' => grid.apply(Op::LineFeed),
                b'\r' => grid.apply(Op::CarriageReturn),
                b'\t' => grid.apply(Op::Tab),
                0x08 => grid.apply(Op::Backspace),
                _ => grid.apply(Op::Print(b)),
            }
        }
    }

    #[test]
    fn starts_blank_and_dirty() {
        let grid = Grid::new();
        assert_eq!(grid.cursor(), (0, 0));
        assert!(grid.cursor_visible());
        assert_eq!(grid.dirty_rows(), ALL_ROWS);
        assert!(
            grid.cells()
                .iter()
                .flatten()
                .all(|c| *c == Cell::blank(ColorCode::DEFAULT))
        );
    }

    #[test]
    fn wraps_at_column_80() {
        let mut grid = Grid::new();
        let line: String = (0..80).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        write(&mut grid, &line);
        assert_eq!(text(&grid, 0), line);
        // Deferred wrap: the cursor waits on the last column.
        assert_eq!(grid.cursor(), (0, 79));
        write(&mut grid, "X");
        assert_eq!(grid.cursor(), (1, 1));
        assert_eq!(text(&grid, 1), "X");
    }

    #[test]
    fn exactly_80_columns_then_newline_takes_one_row() {
        let mut grid = Grid::new();
        write(&mut grid, &"=".repeat(80));
        write(&mut grid, "\nnext");
        assert_eq!(text(&grid, 1), "next");
        assert_eq!(grid.cursor(), (1, 4));
    }

    #[test]
    fn newline_is_column_zero_of_next_row() {
        let mut grid = Grid::new();
        write(&mut grid, "abc\ndef");
        assert_eq!(text(&grid, 0), "abc");
        assert_eq!(text(&grid, 1), "def");
        assert_eq!(grid.cursor(), (1, 3));
    }

    #[test]
    fn carriage_return_overwrites() {
        let mut grid = Grid::new();
        write(&mut grid, "hello\rJ");
        assert_eq!(text(&grid, 0), "Jello");
        assert_eq!(grid.cursor(), (0, 1));
    }

    #[test]
    fn tab_stops() {
        let mut grid = Grid::new();
        write(&mut grid, "\t");
        assert_eq!(grid.cursor(), (0, 8));
        write(&mut grid, "ab\t");
        assert_eq!(grid.cursor(), (0, 16));
        write(&mut grid, "1234567\t");
        assert_eq!(grid.cursor(), (0, 24));
        grid.apply(Op::Column(75));
        write(&mut grid, "\t");
        assert_eq!(grid.cursor(), (0, 79), "tab stops at the last column");
        write(&mut grid, "\t");
        assert_eq!(grid.cursor(), (0, 79));
        // Tabs move only; they write nothing.
        assert_eq!(text(&grid, 0), "        ab      1234567");
    }

    #[test]
    fn backspace_moves_left_and_stays_at_column_0() {
        let mut grid = Grid::new();
        write(&mut grid, "ab\x08");
        assert_eq!(grid.cursor(), (0, 1));
        assert_eq!(text(&grid, 0), "ab", "backspace does not erase");
        write(&mut grid, "\x08\x08\x08");
        assert_eq!(grid.cursor(), (0, 0));
        write(&mut grid, "\nx\x08\x08");
        assert_eq!(grid.cursor(), (1, 0), "never moves to the previous row");
        write(&mut grid, "\x08 \x08");
        assert_eq!(text(&grid, 1), "");
    }

    #[test]
    fn backspace_cancels_pending_wrap() {
        let mut grid = Grid::new();
        write(&mut grid, &"x".repeat(80));
        write(&mut grid, "\x08Y");
        assert_eq!(grid.cursor(), (0, 79));
        assert_eq!(grid.cell(0, 78).unwrap().glyph, b'Y');
    }

    #[test]
    fn scrolls_at_row_25_with_attributes() {
        let mut grid = Grid::new();
        let red = ColorCode::new(Color::White, Color::Red);
        for i in 0..ROWS {
            write(&mut grid, &format!("line {i}\n"));
        }
        // 25 line feeds: the first line scrolled off, the cursor is on the last row.
        assert_eq!(grid.cursor(), (ROWS - 1, 0));
        assert_eq!(text(&grid, 0), "line 1");
        assert_eq!(text(&grid, ROWS - 2), "line 24");
        assert_eq!(text(&grid, ROWS - 1), "");
        grid.set_attr(red);
        write(&mut grid, "tail\n");
        assert_eq!(text(&grid, 0), "line 2");
        assert_eq!(text(&grid, ROWS - 2), "tail");
        assert_eq!(grid.cell(ROWS - 2, 0).unwrap().attr, red);
        assert_eq!(grid.cell(ROWS - 2, 10).unwrap().attr, ColorCode::DEFAULT);
        // The new bottom row is spaces in the current attribute.
        assert!(
            grid.row(ROWS - 1)
                .unwrap()
                .iter()
                .all(|c| *c == Cell::blank(red))
        );
        // Older rows keep their attributes as they move up.
        assert_eq!(grid.cell(0, 0).unwrap().attr, ColorCode::DEFAULT);
    }

    #[test]
    fn wrap_on_last_row_scrolls() {
        let mut grid = Grid::new();
        grid.apply(Op::MoveTo { row: 24, col: 78 });
        write(&mut grid, "abc");
        assert_eq!(grid.cursor(), (24, 1));
        assert_eq!(&grid.row_text(23)[78..], b"ab");
        assert_eq!(text(&grid, 24), "c");
    }

    #[test]
    fn clear_fills_with_current_attribute_and_homes() {
        let mut grid = Grid::new();
        write(&mut grid, "junk\njunk");
        let attr = ColorCode::new(Color::Yellow, Color::Blue);
        grid.set_attr(attr);
        grid.clear();
        assert_eq!(grid.cursor(), (0, 0));
        assert!(
            grid.cells()
                .iter()
                .flatten()
                .all(|c| *c == Cell::blank(attr))
        );
    }

    #[test]
    fn erase_line_variants() {
        let mut grid = Grid::new();
        let fill = "0123456789";
        for mode in [Erase::ToEnd, Erase::ToStart, Erase::All] {
            grid.clear();
            write(&mut grid, fill);
            grid.apply(Op::Column(4));
            grid.apply(Op::EraseLine(mode));
            let expected = match mode {
                Erase::ToEnd => "0123",
                Erase::ToStart => "     56789",
                Erase::All => "",
            };
            assert_eq!(text(&grid, 0), expected, "{mode:?}");
            assert_eq!(grid.cursor(), (0, 4));
        }
    }

    #[test]
    fn erase_display_variants() {
        let mut grid = Grid::new();
        for mode in [Erase::ToEnd, Erase::ToStart, Erase::All] {
            grid.clear();
            write(&mut grid, "aaa\nbbb\nccc");
            grid.apply(Op::MoveTo { row: 1, col: 1 });
            grid.apply(Op::EraseDisplay(mode));
            let rows: Vec<String> = (0..3).map(|r| text(&grid, r)).collect();
            let expected = match mode {
                Erase::ToEnd => ["aaa", "b", ""],
                Erase::ToStart => ["", "  b", "ccc"],
                Erase::All => ["", "", ""],
            };
            assert_eq!(rows, expected, "{mode:?}");
            assert_eq!(grid.cursor(), (1, 1));
        }
    }

    #[test]
    fn moves_clamp() {
        let mut grid = Grid::new();
        grid.apply(Op::MoveTo { row: 999, col: 999 });
        assert_eq!(grid.cursor(), (24, 79));
        grid.apply(Op::Up(u16::MAX));
        assert_eq!(grid.cursor(), (0, 79));
        grid.apply(Op::Back(u16::MAX));
        assert_eq!(grid.cursor(), (0, 0));
        grid.apply(Op::Down(3));
        grid.apply(Op::Forward(5));
        assert_eq!(grid.cursor(), (3, 5));
        grid.apply(Op::Down(u16::MAX));
        assert_eq!(grid.cursor(), (24, 5));
    }

    #[test]
    fn dirty_tracking() {
        let mut grid = Grid::new();
        grid.clear_dirty();
        write(&mut grid, "ab");
        assert_eq!(grid.dirty_rows(), 1);
        assert_eq!(grid.dirty_cols(0), 0b11);
        grid.clear_dirty();
        write(&mut grid, "\n\t");
        assert_eq!(grid.dirty_rows(), 0, "moving the cursor changes no cell");
        grid.apply(Op::MoveTo { row: 24, col: 0 });
        write(&mut grid, "\n");
        assert_eq!(grid.dirty_rows(), ALL_ROWS, "a scroll dirties everything");
        grid.clear_dirty();
        grid.set_attr(ColorCode::DEFAULT.with_blink(true));
        grid.apply(Op::MoveTo { row: 3, col: 7 });
        write(&mut grid, "b");
        grid.clear_dirty();
        assert_eq!(grid.mark_blinking_dirty(), 1);
        assert_eq!(grid.dirty_rows(), 1 << 3);
        assert_eq!(grid.dirty_cols(3), 1 << 7);
    }

    #[test]
    fn departed_rows_are_reported_once() {
        let mut grid = Grid::new();
        grid.apply(Op::SetScrollRegion { top: 1, bottom: 24 });
        grid.apply(Op::MoveTo { row: 0, col: 0 });
        write(&mut grid, "title");
        grid.apply(Op::MoveTo { row: 1, col: 0 });
        write(&mut grid, "first");
        assert!(grid.take_departed().is_none());
        grid.apply(Op::MoveTo { row: 24, col: 0 });
        write(&mut grid, "\n");
        let row = grid.take_departed().expect("a row left the region");
        assert_eq!(row[0].glyph, b'f');
        assert!(grid.take_departed().is_none(), "taken once");
        assert_eq!(text(&grid, 0), "title", "the pinned row stays");
    }

    #[test]
    fn vga_cell_layout() {
        let cell = Cell::new(b'A', ColorCode::new(Color::Yellow, Color::Blue));
        assert_eq!(cell.to_vga(), 0x1e41);
        assert_eq!(Cell::from_vga(0x1e41), cell);
    }
}
