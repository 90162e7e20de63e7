//! Scrollback: the rows that scrolled off the top of the scroll region, kept for viewing.
//!
//! Key type: [`History`], a fixed ring of `N` cell rows (no heap: the console starts before the
//! allocator). The console ([`super::Console`]) pushes every row that leaves the top of the grid's
//! scroll region (a pinned title bar above the region is never recorded) and, while the user
//! scrolls back, shows the region's rows from the combined sequence "history, then live rows".

use super::color::ColorCode;
use super::grid::{COLS, Cell};

/// Rows the kernel's console keeps.
pub const SCROLLBACK_LINES: usize = 500;

/// The last `N` rows that scrolled off, oldest first.
#[derive(Debug, Clone)]
pub struct History<const N: usize> {
    rows: [[Cell; COLS]; N],
    /// Index of the oldest row.
    start: usize,
    len: usize,
}

impl<const N: usize> Default for History<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> History<N> {
    const SIZE_OK: () = assert!(N > 0, "a history holds at least one row");

    /// An empty history (usable in a `static`).
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        History {
            rows: [[Cell::blank(ColorCode::DEFAULT); COLS]; N],
            start: 0,
            len: 0,
        }
    }

    /// Rows held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows it can hold.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends `row` as the newest row, dropping the oldest one when full.
    pub fn push(&mut self, row: &[Cell; COLS]) {
        if self.len < N {
            self.rows[(self.start + self.len) % N] = *row;
            self.len += 1;
        } else {
            self.rows[self.start] = *row;
            self.start = (self.start + 1) % N;
        }
    }

    /// Row `i`, 0 being the oldest; `None` past the newest.
    pub fn get(&self, i: usize) -> Option<&[Cell; COLS]> {
        if i < self.len {
            self.rows.get((self.start + i) % N)
        } else {
            None
        }
    }

    /// Forgets every row.
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// Replaces attribute `from` with `to` in every held cell (a new default colour).
    pub fn recolor(&mut self, from: ColorCode, to: ColorCode) {
        for cell in self.rows.iter_mut().flatten() {
            if cell.attr == from {
                cell.attr = to;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::color::Color;

    fn row(tag: u8) -> [Cell; COLS] {
        [Cell::new(tag, ColorCode::DEFAULT); COLS]
    }

    #[test]
    fn keeps_the_newest_rows_in_order() {
        let mut h = History::<3>::new();
        assert!(h.is_empty());
        for tag in b'a'..=b'e' {
            h.push(&row(tag));
        }
        assert_eq!((h.len(), h.capacity()), (3, 3));
        let tags: Vec<u8> = (0..h.len()).map(|i| h.get(i).unwrap()[0].glyph).collect();
        assert_eq!(tags, b"cde");
        assert!(h.get(3).is_none());
        h.clear();
        assert!(h.get(0).is_none());
    }

    #[test]
    fn recolor_changes_only_the_old_attribute() {
        let mut h = History::<2>::new();
        let red = ColorCode::new(Color::Red, Color::Black);
        let mut r = row(b'x');
        r[1].attr = red;
        h.push(&r);
        let blue = ColorCode::new(Color::White, Color::Blue);
        h.recolor(ColorCode::DEFAULT, blue);
        let got = h.get(0).unwrap();
        assert_eq!((got[0].attr, got[1].attr, got[2].attr), (blue, red, blue));
    }
}
