//! Procedural glyphs: CP437 characters the bitmap font lacks, drawn to the cell's exact size.
//!
//! Key items: [`Canvas`] (a glyph being built: 2-bit intensity per pixel, one `u32` per row) and
//! [`draw`], which knows the box-drawing set 0xB3-0xDA (single and double lines and every mixed
//! junction), the shades ░▒▓, the blocks █▄▌▐▀, ■ ▬ ≡ ∟, the triangles ►◄▲▼, the arrows
//! ↑↓→←↕↔↨ and the circles •◘○◙. [`super::font`] calls it before looking in the font.
//!
//! Lines and blocks reach the cell edges, so neighbouring cells join seamlessly. Line thickness is
//! `max(1, width / 7)` pixels (2 at the 14-pixel-wide font); a double line is two lines with a gap
//! of the same thickness.

/// Brightest intensity level of the 2-bit encoding.
pub const FULL: u32 = 3;

/// A glyph under construction: `rows[y]` holds pixel `x` in bits `2x..2x+2` (0 = background,
/// 3 = foreground).
#[derive(Debug)]
pub struct Canvas<'a> {
    rows: &'a mut [u32],
    w: usize,
    h: usize,
}

impl<'a> Canvas<'a> {
    /// A canvas over `rows` (its length is the height), `width` pixels wide (at most 16).
    pub fn new(rows: &'a mut [u32], width: usize) -> Self {
        let h = rows.len();
        Canvas {
            rows,
            w: width.min(16),
            h,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.w
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.h
    }

    /// The 2-bit mask of columns `x0..x1` (clamped to the width).
    fn span_mask(&self, x0: usize, x1: usize) -> u32 {
        let x1 = x1.min(self.w);
        if x0 >= x1 {
            return 0;
        }
        let bits = 2 * (x1 - x0) as u32;
        let ones = if bits >= 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        ones << (2 * x0 as u32)
    }

    /// Sets the rectangle `x0..x1` x `y0..y1` (clamped) to full intensity.
    pub fn fill(&mut self, x0: usize, x1: usize, y0: usize, y1: usize) {
        let mask = self.span_mask(x0, x1);
        let y1 = y1.min(self.h);
        if let Some(rows) = self.rows.get_mut(y0.min(y1)..y1) {
            for row in rows {
                *row |= mask;
            }
        }
    }

    /// Clears the rectangle `x0..x1` x `y0..y1` (clamped) to background.
    pub fn clear(&mut self, x0: usize, x1: usize, y0: usize, y1: usize) {
        let mask = self.span_mask(x0, x1);
        let y1 = y1.min(self.h);
        if let Some(rows) = self.rows.get_mut(y0.min(y1)..y1) {
            for row in rows {
                *row &= !mask;
            }
        }
    }

    /// Sets one pixel to `level` (0-3); ignored outside the canvas.
    pub fn set(&mut self, x: usize, y: usize, level: u32) {
        if x < self.w
            && let Some(row) = self.rows.get_mut(y)
        {
            let shift = 2 * x as u32;
            *row = (*row & !(3 << shift)) | ((level & 3) << shift);
        }
    }

    /// The level (0-3) of one pixel; 0 outside the canvas.
    pub fn get(&self, x: usize, y: usize) -> u32 {
        if x >= self.w {
            return 0;
        }
        self.rows.get(y).map_or(0, |r| (r >> (2 * x as u32)) & 3)
    }

    /// Inverts every pixel (level `l` becomes `3 - l`).
    pub fn invert(&mut self) {
        let mask = self.span_mask(0, self.w);
        for row in self.rows.iter_mut() {
            *row ^= mask;
        }
    }
}

/// Line positions across an axis of `len` pixels: the single line, and the two lines of a double
/// line, each as `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Lines {
    s0: usize,
    s1: usize,
    a0: usize,
    a1: usize,
    b0: usize,
    b1: usize,
}

impl Lines {
    fn new(len: usize, t: usize) -> Lines {
        let s0 = len.saturating_sub(t) / 2;
        let a0 = len.saturating_sub(3 * t) / 2;
        Lines {
            s0,
            s1: s0 + t,
            a0,
            a1: a0 + t,
            b0: a0 + 2 * t,
            b1: a0 + 3 * t,
        }
    }
}

/// Arms of a box-drawing character: 0 none, 1 single, 2 double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arms {
    up: u8,
    down: u8,
    left: u8,
    right: u8,
}

/// Arms of CP437 0xB3-0xDA, as (up, down, left, right).
const BOX_ARMS: [(u8, u8, u8, u8); 40] = [
    (1, 1, 0, 0), // B3 │
    (1, 1, 1, 0), // B4 ┤
    (1, 1, 2, 0), // B5 ╡
    (2, 2, 1, 0), // B6 ╢
    (0, 2, 1, 0), // B7 ╖
    (0, 1, 2, 0), // B8 ╕
    (2, 2, 2, 0), // B9 ╣
    (2, 2, 0, 0), // BA ║
    (0, 2, 2, 0), // BB ╗
    (2, 0, 2, 0), // BC ╝
    (2, 0, 1, 0), // BD ╜
    (1, 0, 2, 0), // BE ╛
    (0, 1, 1, 0), // BF ┐
    (1, 0, 0, 1), // C0 └
    (1, 0, 1, 1), // C1 ┴
    (0, 1, 1, 1), // C2 ┬
    (1, 1, 0, 1), // C3 ├
    (0, 0, 1, 1), // C4 ─
    (1, 1, 1, 1), // C5 ┼
    (1, 1, 0, 2), // C6 ╞
    (2, 2, 0, 1), // C7 ╟
    (2, 0, 0, 2), // C8 ╚
    (0, 2, 0, 2), // C9 ╔
    (2, 0, 2, 2), // CA ╩
    (0, 2, 2, 2), // CB ╦
    (2, 2, 0, 2), // CC ╠
    (0, 0, 2, 2), // CD ═
    (2, 2, 2, 2), // CE ╬
    (1, 0, 2, 2), // CF ╧
    (2, 0, 1, 1), // D0 ╨
    (0, 1, 2, 2), // D1 ╤
    (0, 2, 1, 1), // D2 ╥
    (2, 0, 0, 1), // D3 ╙
    (1, 0, 0, 2), // D4 ╘
    (0, 1, 0, 2), // D5 ╒
    (0, 2, 0, 1), // D6 ╓
    (2, 2, 1, 1), // D7 ╫
    (1, 1, 2, 2), // D8 ╪
    (1, 0, 1, 0), // D9 ┘
    (0, 1, 0, 1), // DA ┌
];

/// Draws CP437 byte `byte` if it is one of the procedural glyphs; returns whether it was.
pub fn draw(byte: u8, c: &mut Canvas<'_>) -> bool {
    let (w, h) = (c.width(), c.height());
    if w == 0 || h == 0 {
        return false;
    }
    let t = (w / 7).max(1);
    match byte {
        0xB3..=0xDA => {
            let (up, down, left, right) = BOX_ARMS[usize::from(byte - 0xB3)];
            box_drawing(
                c,
                Arms {
                    up,
                    down,
                    left,
                    right,
                },
                t,
            );
        }
        0xB0..=0xB2 => {
            for y in 0..h {
                for x in 0..w {
                    let on = match byte {
                        0xB0 => x % 2 == 0 && y % 2 == 0,
                        0xB1 => (x + y) % 2 == 0,
                        _ => !(x % 2 == 1 && y % 2 == 1),
                    };
                    if on {
                        c.set(x, y, FULL);
                    }
                }
            }
        }
        0xDB => c.fill(0, w, 0, h),
        0xDC => c.fill(0, w, h / 2, h),
        0xDD => c.fill(0, w / 2, 0, h),
        0xDE => c.fill(w / 2, w, 0, h),
        0xDF => c.fill(0, w, 0, h / 2),
        0xFE => {
            // ■: a square of about 4/7 of the width around the middle of the x-height.
            let side = (w * 4 / 7).max(2);
            let x0 = (w - side.min(w)) / 2;
            let y0 = (h.saturating_sub(side)) / 2 + h / 16;
            c.fill(x0, x0 + side, y0, y0 + side);
        }
        0x16 => c.fill(0, w - 1, h * 10 / 16, h * 13 / 16), // ▬
        0xF0 => {
            // ≡
            for yc in [h * 5 / 16, h * 8 / 16, h * 11 / 16] {
                c.fill(1, w - 1, yc, yc + t);
            }
        }
        0x1C => {
            // ∟
            let bottom = h * 12 / 16;
            c.fill(1, 1 + t, h * 7 / 16, bottom);
            c.fill(1, w - 1, bottom - t, bottom);
        }
        0x10 | 0x11 | 0x1E | 0x1F => triangle(c, byte, 1, w - 1, h * 3 / 16, h * 13 / 16),
        0x18 | 0x19 | 0x12 | 0x17 => {
            // ↑ ↓ ↕ ↨: a vertical shaft with heads.
            let v = Lines::new(w, t);
            let (top, bottom) = (h * 3 / 16, h * 12 / 16);
            let head = (w / 2).max(2);
            c.fill(v.s0, v.s1, top, bottom);
            if byte != 0x19 {
                triangle(c, 0x1E, 0, w, top, top + head);
            }
            if byte != 0x18 {
                triangle(c, 0x1F, 0, w, bottom - head, bottom);
            }
            if byte == 0x17 {
                c.fill(0, w, bottom + t, bottom + 2 * t);
            }
        }
        0x1A | 0x1B | 0x1D => {
            // → ← ↔: a horizontal shaft with heads.
            let hl = Lines::new(h, t);
            let head = (w / 3).max(2);
            let (y0, y1) = (hl.s0.saturating_sub(head / 2 + t), hl.s1 + head / 2 + t);
            c.fill(0, w, hl.s0, hl.s1);
            if byte != 0x1B {
                triangle(c, 0x10, w - head, w, y0, y1);
            }
            if byte != 0x1A {
                triangle(c, 0x11, 0, head, y0, y1);
            }
        }
        0x07 | 0x08 => {
            // • and its inverse ◘.
            disk(c, w / 4 + 1, 0);
            if byte == 0x08 {
                c.invert();
            }
        }
        0x09 | 0x0A => {
            // ○ and its inverse ◙.
            let r = (w * 3 / 7).max(2);
            disk(c, r, r.saturating_sub(t));
            if byte == 0x0A {
                c.invert();
            }
        }
        _ => return false,
    }
    true
}

/// A ring of outer radius `r` and inner radius `inner` (0: a disk), centred in the cell, in
/// half-pixel precision.
fn disk(c: &mut Canvas<'_>, r: usize, inner: usize) {
    let (w, h) = (c.width(), c.height());
    let (cx2, cy2) = (w as isize, h as isize);
    let (r2, i2) = ((2 * r * 2 * r) as isize, (2 * inner * 2 * inner) as isize);
    for y in 0..h {
        for x in 0..w {
            let dx = 2 * x as isize + 1 - cx2;
            let dy = 2 * y as isize + 1 - cy2;
            let d = dx * dx + dy * dy;
            if d <= r2 && (inner == 0 || d > i2) {
                c.set(x, y, FULL);
            }
        }
    }
}

/// A filled isosceles triangle in the box `x0..x1` x `y0..y1` pointing right (0x10), left (0x11),
/// up (0x1E) or down (0x1F).
fn triangle(c: &mut Canvas<'_>, dir: u8, x0: usize, x1: usize, y0: usize, y1: usize) {
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let (bw, bh) = (x1 - x0, y1 - y0);
    match dir {
        0x10 | 0x11 => {
            // Row y: length shrinks linearly with the distance from the middle row.
            for y in y0..y1 {
                let d2 = (2 * (y - y0) + 1).abs_diff(bh); // 0 in the middle, up to bh at the ends
                let len = (bw * (bh - d2.min(bh)) + bh / 2) / bh;
                if dir == 0x10 {
                    c.fill(x0, x0 + len, y, y + 1);
                } else {
                    c.fill(x1 - len, x1, y, y + 1);
                }
            }
        }
        _ => {
            for y in y0..y1 {
                // Distance from the tip row, 1-based, scaled to the half-width.
                let k = if dir == 0x1E { y - y0 + 1 } else { y1 - y };
                let half2 = (bw * k + bh / 2) / bh; // full width at the base
                let start = x0 + (bw - half2.min(bw)) / 2;
                c.fill(start, start + half2.max(1), y, y + 1);
            }
        }
    }
}

/// Single and double lines with every CP437 junction. Double arms are drawn as a band three
/// lines wide and then hollowed out; single arms are drawn last and end on the nearer double line
/// when they continue it, or cap both lines when they end the double line.
fn box_drawing(c: &mut Canvas<'_>, a: Arms, t: usize) {
    let (w, h) = (c.width(), c.height());
    let x = Lines::new(w, t);
    let y = Lines::new(h, t);
    let vertical = a.up.max(a.down);
    let horizontal = a.left.max(a.right);
    let pick = |kind: u8, double: usize, single: usize, none: usize| match kind {
        2 => double,
        1 => single,
        _ => none,
    };

    // 1. Double arms as solid bands reaching across the crossing line(s).
    if a.left == 2 {
        c.fill(0, pick(vertical, x.b1, x.s1, w), y.a0, y.b1);
    }
    if a.right == 2 {
        c.fill(pick(vertical, x.a0, x.s0, 0), w, y.a0, y.b1);
    }
    if a.up == 2 {
        c.fill(x.a0, x.b1, 0, pick(horizontal, y.b1, y.s1, h));
    }
    if a.down == 2 {
        c.fill(x.a0, x.b1, pick(horizontal, y.a0, y.s0, 0), h);
    }
    // 2. Hollow them out: each gap runs from the edge through the centre square (and across a
    //    crossing single line, which step 3 redraws where it belongs).
    if a.left == 2 {
        c.clear(0, pick(vertical, x.b0, x.s1, w), y.a1, y.b0);
    }
    if a.right == 2 {
        c.clear(pick(vertical, x.a1, x.s0, 0), w, y.a1, y.b0);
    }
    if a.up == 2 {
        c.clear(x.a1, x.b0, 0, pick(horizontal, y.b0, y.s1, h));
    }
    if a.down == 2 {
        c.clear(x.a1, x.b0, pick(horizontal, y.a1, y.s0, 0), h);
    }
    // 3. Single arms.
    let through_v = a.up == 2 && a.down == 2;
    let through_h = a.left == 2 && a.right == 2;
    if a.left == 1 {
        let end = if a.right == 1 {
            w
        } else {
            pick(vertical, if through_v { x.a1 } else { x.b1 }, x.s1, w)
        };
        c.fill(0, end, y.s0, y.s1);
    }
    if a.right == 1 {
        let start = if a.left == 1 {
            0
        } else {
            pick(vertical, if through_v { x.b0 } else { x.a0 }, x.s0, 0)
        };
        c.fill(start, w, y.s0, y.s1);
    }
    if a.up == 1 {
        let end = if a.down == 1 {
            h
        } else {
            pick(horizontal, if through_h { y.a1 } else { y.b1 }, y.s1, h)
        };
        c.fill(x.s0, x.s1, 0, end);
    }
    if a.down == 1 {
        let start = if a.up == 1 {
            0
        } else {
            pick(horizontal, if through_h { y.b0 } else { y.a0 }, y.s0, 0)
        };
        c.fill(x.s0, x.s1, start, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `byte` at `w` x `h` as strings of '#' and '.'.
    fn ascii(byte: u8, w: usize, h: usize) -> Vec<String> {
        let mut rows = vec![0u32; h];
        let mut c = Canvas::new(&mut rows, w);
        assert!(draw(byte, &mut c), "{byte:#x} is procedural");
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| if c.get(x, y) != 0 { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn single_lines_cross_the_centre() {
        let g = ascii(0xC5, 7, 16); // ┼
        assert_eq!(g[0], "...#...");
        assert_eq!(g[7], "#######");
        assert_eq!(g[15], "...#...");
    }

    #[test]
    fn double_corner() {
        let g = ascii(0xC9, 7, 16); // ╔
        assert_eq!(g[5], ".......");
        assert_eq!(g[6], "..#####");
        assert_eq!(g[7], "..#....");
        assert_eq!(g[8], "..#.###");
        assert_eq!(g[9], "..#.#..");
        assert_eq!(g[15], "..#.#..");
    }

    #[test]
    fn double_cross_has_four_inner_corners() {
        let g = ascii(0xCE, 7, 16); // ╬
        assert_eq!(g[0], "..#.#..");
        assert_eq!(g[6], "###.###");
        assert_eq!(g[7], ".......");
        assert_eq!(g[8], "###.###");
        assert_eq!(g[15], "..#.#..");
    }

    #[test]
    fn mixed_junctions() {
        let g = ascii(0xD1, 7, 16); // ╤: single down arm joins the lower line
        assert_eq!(g[6], "#######");
        assert_eq!(g[7], ".......");
        assert_eq!(g[8], "#######");
        assert_eq!(g[9], "...#...");
        let g = ascii(0xD8, 7, 16); // ╪: single vertical crosses both lines
        assert_eq!(g[7], "...#...");
        let g = ascii(0xD5, 7, 16); // ╒: the vertical caps both lines
        assert_eq!(g[5], ".......");
        assert_eq!(g[6], "...####");
        assert_eq!(g[7], "...#...");
        assert_eq!(g[8], "...####");
        let g = ascii(0xC7, 7, 16); // ╟: single arm starts at the right line
        assert_eq!(g[7], "..#.###");
        assert_eq!(g[6], "..#.#..");
        let g = ascii(0xD6, 7, 16); // ╓: single arm caps both lines
        assert_eq!(g[6], ".......");
        assert_eq!(g[7], "..#####");
        assert_eq!(g[8], "..#.#..");
    }

    #[test]
    fn lines_meet_the_cell_edges() {
        // Horizontal lines reach both edges on the same rows in every cell, vertical lines reach
        // top and bottom on the same columns, at every font size.
        for (w, h) in [(7, 16), (9, 20), (11, 24), (14, 32)] {
            let single = ascii(0xC4, w, h);
            let double = ascii(0xCD, w, h);
            for byte in 0xB3..=0xDAu8 {
                let g = ascii(byte, w, h);
                let (up, down, left, right) = BOX_ARMS[usize::from(byte - 0xB3)];
                for (arm, col) in [(left, 0), (right, w - 1)] {
                    let reference = if arm == 2 { &double } else { &single };
                    for y in 0..h {
                        let expect = arm != 0 && reference[y].as_bytes()[col] == b'#';
                        assert_eq!(
                            g[y].as_bytes()[col] == b'#',
                            expect,
                            "{byte:#x} {w}x{h} y={y}"
                        );
                    }
                }
                let vsingle = ascii(0xB3, w, h);
                let vdouble = ascii(0xBA, w, h);
                for (arm, row) in [(up, 0), (down, h - 1)] {
                    let reference = if arm == 2 {
                        &vdouble[row]
                    } else {
                        &vsingle[row]
                    };
                    let expect: String = if arm == 0 {
                        ".".repeat(w)
                    } else {
                        reference.clone()
                    };
                    assert_eq!(g[row], expect, "{byte:#x} {w}x{h}");
                }
            }
        }
    }

    #[test]
    fn blocks_fill_exactly() {
        let full = ascii(0xDB, 7, 16);
        assert!(full.iter().all(|r| r == "#######"));
        let lower = ascii(0xDC, 7, 16);
        assert!(lower[..8].iter().all(|r| r == "......."));
        assert!(lower[8..].iter().all(|r| r == "#######"));
        let left = ascii(0xDD, 7, 16);
        let right = ascii(0xDE, 7, 16);
        for (l, r) in left.iter().zip(&right) {
            assert_eq!(l, "###....");
            assert_eq!(r, "...####");
        }
        let upper = ascii(0xDF, 14, 32);
        assert!(upper[..16].iter().all(|r| r == &"#".repeat(14)));
        assert!(upper[16..].iter().all(|r| r == &".".repeat(14)));
    }

    #[test]
    fn shades_have_increasing_density() {
        let density = |b| {
            ascii(b, 14, 32)
                .iter()
                .map(|r| r.matches('#').count())
                .sum::<usize>()
        };
        assert_eq!(density(0xB0), 14 * 32 / 4);
        assert_eq!(density(0xB1), 14 * 32 / 2);
        assert_eq!(density(0xB2), 14 * 32 * 3 / 4);
    }

    #[test]
    fn other_shapes_draw_something_inside_the_cell() {
        for byte in [
            0x07u8, 0x08, 0x09, 0x0A, 0x10, 0x11, 0x12, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C,
            0x1D, 0x1E, 0x1F, 0xF0, 0xFE,
        ] {
            for (w, h) in [(7, 16), (9, 20), (11, 24), (14, 32)] {
                let g = ascii(byte, w, h);
                let ink: usize = g.iter().map(|r| r.matches('#').count()).sum();
                assert!(ink > 0 && ink < w * h, "{byte:#x} at {w}x{h}");
            }
        }
        // Not procedural: letters come from the font.
        let mut rows = [0u32; 16];
        assert!(!draw(b'A', &mut Canvas::new(&mut rows, 7)));
    }

    #[test]
    fn triangles_point_the_right_way() {
        let right = ascii(0x10, 14, 32);
        let mid = &right[16];
        assert!(mid.starts_with(".#"));
        let up = ascii(0x1E, 14, 32);
        let top = up.iter().position(|r| r.contains('#')).unwrap();
        let bottom = up.iter().rposition(|r| r.contains('#')).unwrap();
        assert!(up[top].matches('#').count() < up[bottom].matches('#').count());
    }
}
