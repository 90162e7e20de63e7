//! Byte stream to grid operations: incremental UTF-8 plus a small ANSI escape-sequence subset.
//!
//! Key type: [`Parser`], a state machine fed one byte at a time that emits [`Op`]s for the
//! [`super::grid::Grid`]. It keeps the SGR "pen" (colours, intensity, blink) and turns it into a
//! [`ColorCode`] with [`ansi_to_vga`]. Text is mapped to CP437 through [`super::cp437`].
//!
//! Supported (everything else is parsed to its end and dropped):
//!
//! | sequence | effect |
//! |---|---|
//! | `ESC[…m` | SGR: 0 reset, 1 bright (foreground intensity bit), 22 normal intensity, 5/6 blink, 25 no blink, 30-37/90-97 foreground, 39 default foreground, 40-47/100-107 background (the bright ones lose their intensity bit: bit 7 is blink), 49 default background, 38/48 `;5;n` and `;2;r;g;b` mapped to the nearest VGA colour |
//! | `ESC[2J` (`0J`, `1J`, `3J`) | erase display (the cursor stays) |
//! | `ESC[K` (`0K`, `1K`, `2K`) | erase in line |
//! | `ESC[H`, `ESC[row;colH`, `…f` | move, 1-based, clamped to the grid |
//! | `ESC[nA`/`B`/`C`/`D`, `ESC[nG` | relative moves, absolute column |
//! | `ESC[?25h` / `ESC[?25l` | show / hide the cursor |
//! | `ESC c` | reset: default attribute, clear, home |
//!
//! Robustness rules: parameters saturate at 65535; at most [`MAX_PARAMS`] parameters are kept
//! (the rest are ignored); `ESC` restarts a sequence anywhere; CAN (0x18) and SUB (0x1A) abort
//! one; any byte in 0x40-0x7E ends any CSI or two-byte escape; other C0 controls inside a sequence
//! still act (as on a VT100); a non-ASCII byte aborts the sequence and is decoded as text; string
//! sequences (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _`) are skipped until BEL, ESC, any other
//! C0 control, or 256 bytes. So the parser is never stuck: after any garbage, a single byte in
//! 0x40-0x7E (or an ESC-started sequence) brings it back to plain text. Invalid UTF-8 shows one
//! ■ (0xFE) per ill-formed subpart; an ESC or ASCII byte after a truncated sequence
//! resynchronises.

use super::color::{ColorCode, PALETTE, ansi_to_vga};
use super::cp437;
use super::grid::{Erase, Op};
use super::utf8::{Utf8Decoder, Utf8Step};

/// Parameters kept per CSI sequence; later ones are ignored.
pub const MAX_PARAMS: usize = 16;

/// Bytes of a string sequence (OSC, DCS, …) skipped before the parser gives up on it.
const MAX_STRING: u16 = 256;

const ESC: u8 = 0x1B;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1A;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Plain text.
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and an intermediate byte (0x20-0x2F), e.g. `ESC ( B`.
    EscapeIntermediate,
    /// After `ESC [`: collecting parameters.
    Csi,
    /// Inside a CSI sequence that will be dropped.
    CsiIgnore,
    /// Inside a string sequence that is skipped.
    StringIgnore,
}

/// The SGR state: what attribute printed text gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pen {
    /// Foreground VGA index (0-15) without the bold intensity bit.
    fg: u8,
    /// Background VGA index (0-7).
    bg: u8,
    /// SGR 1: sets the foreground intensity bit.
    bold: bool,
    /// SGR 5: sets the blink bit.
    blink: bool,
}

impl Pen {
    const fn from_attr(attr: ColorCode) -> Pen {
        Pen {
            fg: attr.byte() & 0x0F,
            bg: (attr.byte() >> 4) & 0x07,
            bold: false,
            blink: attr.blink(),
        }
    }

    const fn attr(self) -> ColorCode {
        let fg = if self.bold { self.fg | 0x08 } else { self.fg };
        ColorCode::from_byte(fg | (self.bg << 4)).with_blink(self.blink)
    }
}

/// The escape-sequence and UTF-8 state machine. Feed it bytes with [`Parser::feed`].
#[derive(Debug, Clone)]
pub struct Parser {
    state: State,
    utf8: Utf8Decoder,
    params: [u16; MAX_PARAMS],
    /// Index of the parameter being collected (may run past `MAX_PARAMS`).
    param: usize,
    /// Whether any parameter byte has been seen.
    has_params: bool,
    /// Private marker (`?`, `<`, `=`, `>`) or 0.
    private: u8,
    /// Bytes skipped in the current string sequence.
    string_len: u16,
    default: ColorCode,
    pen: Pen,
    /// Pen saved by `ESC 7` / `CSI s`, restored by `ESC 8` / `CSI u`.
    saved_pen: Pen,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser in plain-text state whose SGR 0 means [`ColorCode::DEFAULT`].
    pub const fn new() -> Parser {
        Self::with_default(ColorCode::DEFAULT)
    }

    /// A parser whose SGR 0 (and 39, 49) restore `default`.
    pub const fn with_default(default: ColorCode) -> Parser {
        Parser {
            state: State::Ground,
            utf8: Utf8Decoder::new(),
            params: [0; MAX_PARAMS],
            param: 0,
            has_params: false,
            private: 0,
            string_len: 0,
            default,
            pen: Pen::from_attr(default),
            saved_pen: Pen::from_attr(default),
        }
    }

    /// The attribute text printed now gets.
    pub const fn attr(&self) -> ColorCode {
        self.pen.attr()
    }

    /// The attribute SGR 0 restores.
    pub const fn default_attr(&self) -> ColorCode {
        self.default
    }

    /// Makes `default` what SGR 0 (and 39, 49, `ESC c`) restore from now on, and the pen (and
    /// the pen saved by `ESC 7`) as after SGR 0.
    pub fn set_default(&mut self, default: ColorCode) {
        self.default = default;
        self.pen = Pen::from_attr(default);
        self.saved_pen = Pen::from_attr(default);
    }

    /// Back to plain text and the default attribute (the grid is not touched).
    pub fn reset(&mut self) {
        *self = Self::with_default(self.default);
    }

    /// Whether the parser is in plain-text state with no partial UTF-8 character.
    pub fn is_ground(&self) -> bool {
        self.state == State::Ground && !self.utf8.is_pending()
    }

    /// Feeds every byte of `bytes`.
    pub fn feed_all(&mut self, bytes: &[u8], out: &mut impl FnMut(Op)) {
        for &b in bytes {
            self.feed(b, out);
        }
    }

    /// Feeds one byte; calls `out` for each resulting operation (none, one or a few).
    pub fn feed(&mut self, byte: u8, out: &mut impl FnMut(Op)) {
        match self.state {
            State::Ground => self.ground(byte, out),
            State::Escape => self.escape(byte, out),
            State::EscapeIntermediate => match byte {
                0x20..=0x2F | 0x7F => {}
                0x30..=0x7E => self.state = State::Ground,
                _ => self.in_sequence_control(byte, out),
            },
            State::Csi => self.csi(byte, out),
            State::CsiIgnore => match byte {
                0x20..=0x3F | 0x7F => {}
                0x40..=0x7E => self.state = State::Ground,
                _ => self.in_sequence_control(byte, out),
            },
            State::StringIgnore => match byte {
                ESC => self.start_escape(),
                0x00..=0x1F => {
                    self.state = State::Ground;
                    execute(byte, out);
                }
                _ => {
                    self.string_len += 1;
                    if self.string_len >= MAX_STRING {
                        self.state = State::Ground;
                    }
                }
            },
        }
    }

    fn ground(&mut self, byte: u8, out: &mut impl FnMut(Op)) {
        let (broke, step) = self.utf8.push(byte);
        if broke {
            out(Op::Print(cp437::REPLACEMENT));
        }
        match step {
            Utf8Step::Pending => {}
            Utf8Step::Invalid => out(Op::Print(cp437::REPLACEMENT)),
            Utf8Step::Char(c) if c.is_ascii() => match byte {
                ESC => self.start_escape(),
                0x00..=0x1F | 0x7F => execute(byte, out),
                _ => out(Op::Print(byte)),
            },
            Utf8Step::Char(c) => out(Op::Print(cp437::from_char_lossy(c))),
        }
    }

    fn start_escape(&mut self) {
        self.state = State::Escape;
    }

    /// A byte outside 0x20-0x7E inside an escape or CSI sequence.
    fn in_sequence_control(&mut self, byte: u8, out: &mut impl FnMut(Op)) {
        match byte {
            ESC => self.start_escape(),
            CAN | SUB => self.state = State::Ground,
            0x00..=0x1F => execute(byte, out),
            0x7F => {}
            _ => {
                // Not ASCII: the sequence is broken; the byte starts text again.
                self.state = State::Ground;
                self.ground(byte, out);
            }
        }
    }

    fn escape(&mut self, byte: u8, out: &mut impl FnMut(Op)) {
        match byte {
            b'[' => {
                self.params = [0; MAX_PARAMS];
                self.param = 0;
                self.has_params = false;
                self.private = 0;
                self.state = State::Csi;
            }
            b']' | b'P' | b'X' | b'^' | b'_' => {
                self.string_len = 0;
                self.state = State::StringIgnore;
            }
            b'c' => {
                self.pen = Pen::from_attr(self.default);
                self.state = State::Ground;
                out(Op::SetAttr(self.pen.attr()));
                out(Op::EraseDisplay(Erase::All));
                out(Op::MoveTo { row: 0, col: 0 });
                out(Op::ShowCursor(true));
            }
            b'7' => {
                self.state = State::Ground;
                self.save_cursor(out);
            }
            b'8' => {
                self.state = State::Ground;
                self.restore_cursor(out);
            }
            0x20..=0x2F => self.state = State::EscapeIntermediate,
            0x30..=0x7E => self.state = State::Ground,
            _ => self.in_sequence_control(byte, out),
        }
    }

    fn csi(&mut self, byte: u8, out: &mut impl FnMut(Op)) {
        match byte {
            b'0'..=b'9' => {
                self.has_params = true;
                if let Some(p) = self.params.get_mut(self.param) {
                    *p = p.saturating_mul(10).saturating_add(u16::from(byte - b'0'));
                }
            }
            b';' => {
                self.has_params = true;
                self.param = self.param.saturating_add(1);
            }
            b'<'..=b'?' if !self.has_params && self.private == 0 => self.private = byte,
            // Sub-parameters, misplaced private markers, intermediates: not supported.
            b':'..=b'?' | 0x20..=0x2F => self.state = State::CsiIgnore,
            0x40..=0x7E => {
                self.state = State::Ground;
                self.dispatch(byte, out);
            }
            _ => self.in_sequence_control(byte, out),
        }
    }

    /// The parameters of the finished sequence (at least one; empty ones are 0).
    fn param_list(&self) -> &[u16] {
        let n = (self.param + 1).min(MAX_PARAMS);
        self.params.get(..n).unwrap_or(&[])
    }

    /// Parameter `i`, with `default` when absent or 0.
    fn param_or(&self, i: usize, default: u16) -> u16 {
        match self.param_list().get(i) {
            Some(&p) if p != 0 => p,
            _ => default,
        }
    }

    fn dispatch(&mut self, final_byte: u8, out: &mut impl FnMut(Op)) {
        if self.private == b'?' {
            if self.param_list().contains(&25) {
                match final_byte {
                    b'h' => out(Op::ShowCursor(true)),
                    b'l' => out(Op::ShowCursor(false)),
                    _ => {}
                }
            }
            return;
        }
        if self.private != 0 {
            return;
        }
        let first = self.param_list().first().copied().unwrap_or(0);
        match final_byte {
            b'm' => {
                self.sgr();
                out(Op::SetAttr(self.pen.attr()));
            }
            b'H' | b'f' => out(Op::MoveTo {
                row: self.param_or(0, 1) - 1,
                col: self.param_or(1, 1) - 1,
            }),
            b'J' => {
                if let Some(which) = erase_mode(first, true) {
                    out(Op::EraseDisplay(which));
                }
            }
            b'K' => {
                if let Some(which) = erase_mode(first, false) {
                    out(Op::EraseLine(which));
                }
            }
            b'A' => out(Op::Up(self.param_or(0, 1))),
            b'B' => out(Op::Down(self.param_or(0, 1))),
            b'C' => out(Op::Forward(self.param_or(0, 1))),
            b'D' => out(Op::Back(self.param_or(0, 1))),
            b'G' => out(Op::Column(self.param_or(0, 1) - 1)),
            b'r' => out(Op::SetScrollRegion {
                top: self.param_or(0, 1) - 1,
                bottom: self.param_or(1, crate::console::grid::ROWS as u16) - 1,
            }),
            b's' if !self.has_params => self.save_cursor(out),
            b'u' if !self.has_params => self.restore_cursor(out),
            _ => {}
        }
    }

    /// DECSC: remember the cursor and the pen.
    fn save_cursor(&mut self, out: &mut impl FnMut(Op)) {
        self.saved_pen = self.pen;
        out(Op::SaveCursor);
    }

    /// DECRC: go back to the saved cursor and pen.
    fn restore_cursor(&mut self, out: &mut impl FnMut(Op)) {
        self.pen = self.saved_pen;
        out(Op::RestoreCursor);
        out(Op::SetAttr(self.pen.attr()));
    }

    fn sgr(&mut self) {
        let n = (self.param + 1).min(MAX_PARAMS);
        let params = self.params;
        let mut i = 0;
        while i < n {
            let p = params[i];
            i += 1;
            match p {
                0 => self.pen = Pen::from_attr(self.default),
                1 => self.pen.bold = true,
                22 => self.pen.bold = false,
                5 | 6 => self.pen.blink = true,
                25 => self.pen.blink = false,
                30..=37 => self.pen.fg = ansi_to_vga((p - 30) as u8),
                39 => self.pen.fg = self.default.byte() & 0x0F,
                40..=47 => self.pen.bg = ansi_to_vga((p - 40) as u8),
                49 => self.pen.bg = (self.default.byte() >> 4) & 0x07,
                90..=97 => self.pen.fg = ansi_to_vga((p - 90) as u8) | 0x08,
                100..=107 => self.pen.bg = ansi_to_vga((p - 100) as u8),
                38 | 48 => {
                    let rest = params.get(i..n).unwrap_or(&[]);
                    let (used, color) = extended_color(rest);
                    i += used;
                    if let Some(rgb) = color {
                        if p == 38 {
                            self.pen.fg = nearest_vga(rgb, 16);
                        } else {
                            self.pen.bg = nearest_vga(rgb, 8);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Executes a C0 control byte (controls are never glyphs).
fn execute(byte: u8, out: &mut impl FnMut(Op)) {
    match byte {
        b'\n' | 0x0B | 0x0C => out(Op::LineFeed),
        b'\r' => out(Op::CarriageReturn),
        b'\t' => out(Op::Tab),
        0x08 => out(Op::Backspace),
        _ => {}
    }
}

fn erase_mode(p: u16, display: bool) -> Option<Erase> {
    match p {
        0 => Some(Erase::ToEnd),
        1 => Some(Erase::ToStart),
        2 => Some(Erase::All),
        3 if display => Some(Erase::All),
        _ => None,
    }
}

/// Decodes the arguments after SGR 38/48: `5;n` (256-colour index) or `2;r;g;b`. Returns how many
/// parameters it consumed and the colour, if complete and valid.
fn extended_color(rest: &[u16]) -> (usize, Option<(u8, u8, u8)>) {
    match rest {
        [5, n, ..] => (2, u8::try_from(*n).ok().map(xterm_256_rgb)),
        [5] => (1, None),
        [2, r, g, b, ..] => {
            let c = |v: u16| u8::try_from(v).unwrap_or(u8::MAX);
            (4, Some((c(*r), c(*g), c(*b))))
        }
        [2, more @ ..] => (1 + more.len(), None),
        _ => (0, None),
    }
}

/// RGB of an xterm 256-colour index.
fn xterm_256_rgb(n: u8) -> (u8, u8, u8) {
    match n {
        0..=15 => {
            let base = ansi_to_vga(n & 7) | if n >= 8 { 8 } else { 0 };
            let rgb = PALETTE[usize::from(base)];
            (rgb.r, rgb.g, rgb.b)
        }
        16..=231 => {
            const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
            let i = n - 16;
            let level = |v: u8| LEVELS[usize::from(v % 6)];
            (level(i / 36), level(i / 6), level(i))
        }
        232..=255 => {
            let v = 8 + (n - 232) * 10;
            (v, v, v)
        }
    }
}

/// Index of the palette colour among the first `count` nearest to `rgb`.
fn nearest_vga((r, g, b): (u8, u8, u8), count: usize) -> u8 {
    let mut best = 0u8;
    let mut best_dist = u32::MAX;
    for (i, p) in PALETTE.iter().take(count).enumerate() {
        let d = |a: u8, b: u8| {
            let x = u32::from(a.abs_diff(b));
            x * x
        };
        let dist = d(r, p.r) + d(g, p.g) + d(b, p.b);
        if dist < best_dist {
            best_dist = dist;
            best = i as u8;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::color::Color;
    use crate::console::grid::{Grid, ROWS};

    fn ops(bytes: &[u8]) -> Vec<Op> {
        let mut p = Parser::new();
        let mut v = Vec::new();
        p.feed_all(bytes, &mut |op| v.push(op));
        v
    }

    fn run(grid: &mut Grid, parser: &mut Parser, bytes: &[u8]) {
        parser.feed_all(bytes, &mut |op| grid.apply(op));
    }

    fn screen(bytes: &[u8]) -> Grid {
        let mut grid = Grid::new();
        let mut parser = Parser::new();
        run(&mut grid, &mut parser, bytes);
        grid
    }

    fn text(grid: &Grid, row: usize) -> String {
        String::from_utf8_lossy(&grid.row_text(row))
            .trim_end()
            .to_string()
    }

    #[test]
    fn save_and_restore_cursor_with_attribute() {
        // Status text in the top-right corner, then back to where we were, in our colours.
        let g = screen(b"ab\x1b[32m\x1b[s\x1b[1;75H\x1b[1;31mclock\x1b[ucd");
        assert_eq!(text(&g, 0), format!("abcd{}clock", " ".repeat(70)));
        assert_eq!(g.cursor(), (0, 4));
        let green = g.cell(0, 2).map(|c| c.attr.foreground());
        assert_eq!(green, Some(Color::Green));
        assert_eq!(
            g.cell(0, 74).map(|c| c.attr.foreground()),
            Some(Color::LightRed)
        );
        // ESC 7 / ESC 8 do the same; CSI s with parameters is not DECSC and is ignored.
        let g = screen(b"x\x1b7\x1b[5;5Hy\x1b8z\x1b[1sw");
        assert_eq!(text(&g, 0), "xzw");
        assert_eq!(text(&g, 4), "    y");
        assert!(ops(b"\x1b[2s").is_empty());
    }

    #[test]
    fn scroll_region_pins_a_status_line() {
        let mut bytes = b"STATUS\x1b[2;25r".to_vec();
        for i in 0..40 {
            bytes.extend_from_slice(format!("\nline {i}").as_bytes());
        }
        let g = screen(&bytes);
        assert_eq!(text(&g, 0), "STATUS");
        assert_eq!(text(&g, 24), "line 39");
        assert_eq!(text(&g, 1), "line 16");
        assert_eq!(g.scroll_region(), (1, 24));
        // Reset with an empty parameter list; an inverted region also resets.
        assert_eq!(screen(b"\x1b[2;25r\x1b[r").scroll_region(), (0, 24));
        assert_eq!(screen(b"\x1b[9;3r").scroll_region(), (0, 24));
        // Huge numbers are clamped, never overflow.
        assert_eq!(screen(b"\x1b[3;99999r").scroll_region(), (2, 24));
    }

    fn attr_of(bytes: &[u8]) -> ColorCode {
        let mut p = Parser::new();
        p.feed_all(bytes, &mut |_| {});
        p.attr()
    }

    fn code(fg: Color, bg: Color) -> ColorCode {
        ColorCode::new(fg, bg)
    }

    #[test]
    fn plain_text_and_controls() {
        assert_eq!(
            ops(b"a\n\r\t\x08\x07\x00\x0b\x0c\x7f"),
            [
                Op::Print(b'a'),
                Op::LineFeed,
                Op::CarriageReturn,
                Op::Tab,
                Op::Backspace,
                Op::LineFeed,
                Op::LineFeed,
            ]
        );
    }

    #[test]
    fn utf8_text_maps_to_cp437() {
        assert_eq!(
            ops("é░Σ☺◙€".as_bytes()),
            [
                Op::Print(0x82),
                Op::Print(0xB0),
                Op::Print(0xE4),
                Op::Print(0x01),
                Op::Print(0x0A),
                Op::Print(0xFE),
            ]
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_and_resyncs() {
        // Truncated sequence followed by ASCII, by ESC, and by another lead byte.
        assert_eq!(ops(b"\xE2\x82A"), [Op::Print(0xFE), Op::Print(b'A')]);
        assert_eq!(
            ops(b"\xC3\x1b[1mB"),
            [
                Op::Print(0xFE),
                Op::SetAttr(code(Color::White, Color::Black)),
                Op::Print(b'B')
            ]
        );
        assert_eq!(ops(b"\xE2\x82\xC3\xA9"), [Op::Print(0xFE), Op::Print(0x82)]);
        assert_eq!(ops(b"\xFF\x80"), [Op::Print(0xFE), Op::Print(0xFE)]);
        // A truncated sequence at the end stays pending until the next byte.
        let mut p = Parser::new();
        p.feed_all(b"\xE2", &mut |_| panic!("nothing yet"));
        assert!(!p.is_ground());
    }

    #[test]
    fn sgr_basic_colours() {
        assert_eq!(attr_of(b"\x1b[31m"), code(Color::Red, Color::Black));
        assert_eq!(attr_of(b"\x1b[34m"), code(Color::Blue, Color::Black));
        assert_eq!(attr_of(b"\x1b[33m"), code(Color::Brown, Color::Black));
        assert_eq!(attr_of(b"\x1b[93m"), code(Color::Yellow, Color::Black));
        assert_eq!(attr_of(b"\x1b[90m"), code(Color::DarkGray, Color::Black));
        assert_eq!(attr_of(b"\x1b[97m"), code(Color::White, Color::Black));
        assert_eq!(attr_of(b"\x1b[36;45m"), code(Color::Cyan, Color::Magenta));
        assert_eq!(attr_of(b"\x1b[32;104m"), code(Color::Green, Color::Blue));
        assert_eq!(
            attr_of(b"\x1b[30;47m"),
            code(Color::Black, Color::LightGray)
        );
    }

    #[test]
    fn sgr_every_ansi_colour() {
        let vga = [0u8, 4, 2, 6, 1, 5, 3, 7];
        for (ansi, &v) in vga.iter().enumerate() {
            let fg = attr_of(format!("\x1b[{}m", 30 + ansi).as_bytes());
            assert_eq!(fg.foreground().index(), v);
            let bright = attr_of(format!("\x1b[{}m", 90 + ansi).as_bytes());
            assert_eq!(bright.foreground().index(), v + 8);
            let bg = attr_of(format!("\x1b[{}m", 40 + ansi).as_bytes());
            assert_eq!(bg.background().index(), v);
            let bright_bg = attr_of(format!("\x1b[{}m", 100 + ansi).as_bytes());
            assert_eq!(bright_bg.background().index(), v);
            assert!(!bright_bg.blink(), "a bright background never sets blink");
        }
    }

    #[test]
    fn sgr_bright_and_normal_intensity() {
        assert_eq!(
            attr_of(b"\x1b[1;31;44m"),
            code(Color::LightRed, Color::Blue)
        );
        assert_eq!(attr_of(b"\x1b[31;1m"), code(Color::LightRed, Color::Black));
        assert_eq!(
            attr_of(b"\x1b[1m\x1b[33m"),
            code(Color::Yellow, Color::Black)
        );
        assert_eq!(attr_of(b"\x1b[1;33;22m"), code(Color::Brown, Color::Black));
        assert_eq!(attr_of(b"\x1b[1m"), code(Color::White, Color::Black));
        // 22 does not dim a colour that is bright by itself.
        assert_eq!(
            attr_of(b"\x1b[92;22m"),
            code(Color::LightGreen, Color::Black)
        );
    }

    #[test]
    fn sgr_defaults_and_reset() {
        assert_eq!(attr_of(b"\x1b[1;31;44m\x1b[0m"), ColorCode::DEFAULT);
        assert_eq!(attr_of(b"\x1b[1;31;44m\x1b[m"), ColorCode::DEFAULT);
        assert_eq!(
            attr_of(b"\x1b[31;44;39m"),
            code(Color::LightGray, Color::Blue)
        );
        assert_eq!(attr_of(b"\x1b[31;44;49m"), code(Color::Red, Color::Black));
        // Empty parameters are 0: `;` alone resets then sets.
        assert_eq!(attr_of(b"\x1b[31;;32m"), code(Color::Green, Color::Black));
        assert_eq!(attr_of(b"\x1b[31m\x1b[;m"), ColorCode::DEFAULT);
    }

    #[test]
    fn sgr_blink() {
        let a = attr_of(b"\x1b[5;33;41m");
        assert!(a.blink());
        assert_eq!(a.foreground(), Color::Brown);
        assert_eq!(a.background(), Color::Red);
        assert!(!attr_of(b"\x1b[5m\x1b[25m").blink());
        assert!(!attr_of(b"\x1b[5m\x1b[0m").blink());
    }

    #[test]
    fn sgr_extended_colours_do_not_leak_parameters() {
        // 38;5;196 is pure red (nearest: VGA red); the 5 must not turn blink on.
        let a = attr_of(b"\x1b[38;5;196m");
        assert_eq!(a.foreground(), Color::Red);
        assert!(!a.blink());
        assert_eq!(attr_of(b"\x1b[38;5;4m").foreground(), Color::Blue);
        assert_eq!(attr_of(b"\x1b[38;5;11m").foreground(), Color::Yellow);
        assert_eq!(attr_of(b"\x1b[38;5;232m").foreground(), Color::Black);
        let a = attr_of(b"\x1b[38;2;255;255;255;48;2;0;0;170m");
        assert_eq!(a, code(Color::White, Color::Blue));
        // Truncated forms are ignored without touching the rest.
        assert_eq!(attr_of(b"\x1b[32;38;5m"), code(Color::Green, Color::Black));
        assert_eq!(
            attr_of(b"\x1b[32;48;2;1m"),
            code(Color::Green, Color::Black)
        );
        assert_eq!(attr_of(b"\x1b[38;5;99999;31m").foreground(), Color::Red);
    }

    #[test]
    fn attributes_reach_the_grid() {
        let g = screen(b"\x1b[1;31;44mA\x1b[0mB");
        assert_eq!(
            g.cell(0, 0).unwrap().attr,
            code(Color::LightRed, Color::Blue)
        );
        assert_eq!(g.cell(0, 0).unwrap().glyph, b'A');
        assert_eq!(g.cell(0, 1).unwrap().attr, ColorCode::DEFAULT);
    }

    #[test]
    fn clear_and_home() {
        let g = screen(b"hello\nworld\x1b[2J");
        assert_eq!(text(&g, 0), "");
        assert_eq!(text(&g, 1), "");
        assert_eq!(g.cursor(), (1, 5), "2J leaves the cursor alone");
        let g = screen(b"hello\nworld\x1b[2J\x1b[HX");
        assert_eq!(text(&g, 0), "X");
        assert_eq!(g.cursor(), (0, 1));
    }

    #[test]
    fn clear_uses_current_background() {
        let g = screen(b"\x1b[44m\x1b[2J");
        let blank = g.cell(10, 10).unwrap();
        assert_eq!(blank.glyph, b' ');
        assert_eq!(blank.attr.background(), Color::Blue);
    }

    #[test]
    fn cursor_position() {
        let g = screen(b"\x1b[5;10HX");
        assert_eq!(g.cell(4, 9).unwrap().glyph, b'X');
        let g = screen(b"\x1b[3;4fY");
        assert_eq!(g.cell(2, 3).unwrap().glyph, b'Y');
        // Clamped, and 0 counts as 1.
        let g = screen(b"\x1b[99;999H");
        assert_eq!(g.cursor(), (ROWS - 1, 79));
        let g = screen(b"\x1b[0;0H");
        assert_eq!(g.cursor(), (0, 0));
        let g = screen(b"\x1b[7H");
        assert_eq!(g.cursor(), (6, 0));
        let g = screen(b"\x1b[;7H");
        assert_eq!(g.cursor(), (0, 6));
        let g = screen(b"\x1b[65535;65535H");
        assert_eq!(g.cursor(), (ROWS - 1, 79));
    }

    #[test]
    fn relative_moves() {
        let g = screen(b"\x1b[10;10H\x1b[2A\x1b[3C\x1b[B\x1b[D");
        assert_eq!(g.cursor(), (8, 11));
        let g = screen(b"\x1b[10;10H\x1b[40G");
        assert_eq!(g.cursor(), (9, 39));
    }

    #[test]
    fn erase_in_line() {
        for (seq, expected) in [
            (&b"\x1b[K"[..], "0123"),
            (b"\x1b[0K", "0123"),
            (b"\x1b[1K", "     56789"),
            (b"\x1b[2K", ""),
            (b"\x1b[9K", "0123456789"),
        ] {
            let mut bytes = b"0123456789\x1b[5G".to_vec();
            bytes.extend_from_slice(seq);
            let g = screen(&bytes);
            assert_eq!(text(&g, 0), expected, "{}", String::from_utf8_lossy(seq));
            assert_eq!(g.cursor(), (0, 4));
        }
    }

    #[test]
    fn cursor_show_hide() {
        assert_eq!(ops(b"\x1b[?25l"), [Op::ShowCursor(false)]);
        assert_eq!(ops(b"\x1b[?25h"), [Op::ShowCursor(true)]);
        assert_eq!(ops(b"\x1b[?1049h"), []);
        assert!(!screen(b"\x1b[?25l").cursor_visible());
    }

    #[test]
    fn reset_sequence() {
        let g = screen(b"\x1b[31mjunk\x1b[?25l\x1bcX");
        assert_eq!(text(&g, 0), "X");
        assert_eq!(g.cell(0, 0).unwrap().attr, ColorCode::DEFAULT);
        assert!(g.cursor_visible());
    }

    #[test]
    fn unknown_and_malformed_sequences_are_dropped() {
        for seq in [
            &b"\x1b[5n"[..],           // unknown final
            b"\x1b[1:2m",              // sub-parameters
            b"\x1b[1 q",               // intermediate
            b"\x1b[>0c",               // private marker
            b"\x1b[1?m",               // misplaced private marker
            b"\x1b(B",                 // charset designation
            b"\x1b7",                  // two-byte escape
            b"\x1b]0;title\x07",       // OSC with BEL
            b"\x1b]0;title\x1b\\",     // OSC with ST
            b"\x1bPq#0;2;0;0;0\x1b\\", // DCS
            b"\x1b[\x18",              // CAN aborts
            b"\x1b[12\x1a",            // SUB aborts
            b"\x1b\x1b[m",             // ESC restarts
        ] {
            let mut bytes = b"a".to_vec();
            bytes.extend_from_slice(seq);
            bytes.extend_from_slice(b"b");
            let g = screen(&bytes);
            assert_eq!(text(&g, 0), "ab", "{:x?}", seq);
        }
    }

    #[test]
    fn truncated_sequences_then_text() {
        // Any byte 0x40-0x7E ends a pending sequence, so at most that byte is lost.
        for seq in [
            &b"\x1b"[..],
            b"\x1b[",
            b"\x1b[12;",
            b"\x1b[?",
            b"\x1b(",
            b"\x1b[1:",
        ] {
            let mut bytes = seq.to_vec();
            bytes.extend_from_slice(b"@OK");
            let g = screen(&bytes);
            assert_eq!(text(&g, 0), "OK", "{:x?}", seq);
        }
    }

    #[test]
    fn controls_inside_sequences_still_act() {
        let g = screen(b"a\x1b[3\n1mb");
        assert_eq!(text(&g, 1), "b");
        assert_eq!(g.cell(1, 0).unwrap().attr.foreground(), Color::Red);
    }

    #[test]
    fn non_ascii_aborts_a_sequence() {
        let g = screen("\x1b[3é".as_bytes());
        assert_eq!(g.cell(0, 0).unwrap().glyph, 0x82);
    }

    #[test]
    fn long_parameter_lists_and_huge_numbers() {
        let mut seq = b"\x1b[".to_vec();
        for _ in 0..10_000 {
            seq.extend_from_slice(b"99999999999999999999;");
        }
        seq.extend_from_slice(b"31mX");
        let g = screen(&seq);
        assert_eq!(text(&g, 0), "X");
        // Parameters past MAX_PARAMS are ignored; the sequence still ends cleanly.
        let mut seq = b"\x1b[".to_vec();
        for _ in 0..MAX_PARAMS {
            seq.extend_from_slice(b"0;");
        }
        seq.extend_from_slice(b"31mY");
        let g = screen(&seq);
        assert_eq!(g.cell(0, 0).unwrap().attr, ColorCode::DEFAULT);
        // Within the limit everything counts.
        let mut seq = b"\x1b[".to_vec();
        for _ in 0..MAX_PARAMS - 1 {
            seq.extend_from_slice(b"0;");
        }
        seq.extend_from_slice(b"31mZ");
        let g = screen(&seq);
        assert_eq!(g.cell(0, 0).unwrap().attr.foreground(), Color::Red);
    }

    #[test]
    fn overlong_string_sequence_gives_up() {
        let mut seq = b"\x1b]".to_vec();
        seq.extend(std::iter::repeat_n(b'x', 300));
        let g = screen(&seq);
        assert_eq!(text(&g, 0), "x".repeat(300 - MAX_STRING as usize));
    }

    /// Small deterministic PRNG (xorshift64*).
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn one_mib_of_random_bytes_then_text() {
        for seed in [1u64, 0xdead_beef, 0x1234_5678_9abc] {
            let mut rng = XorShift(seed);
            let mut grid = Grid::new();
            let mut parser = Parser::new();
            let mut buf = vec![0u8; 1 << 20];
            for chunk in buf.chunks_mut(8) {
                let r = rng.next().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            // Make escape-heavy garbage more likely in half of the stream.
            for (i, b) in buf.iter_mut().enumerate() {
                if i % 2 == 0 && *b < 0x10 {
                    *b = [0x1b, b'[', b';', b'?', b'9', 0x1b, b'm', b']'][usize::from(*b & 7)];
                }
            }
            run(&mut grid, &mut parser, &buf);
            run(&mut grid, &mut parser, b"\x1b[0m\r\nOK");
            let (row, col) = grid.cursor();
            assert_eq!((row, col), (ROWS - 1, 2));
            assert_eq!(&grid.row_text(row)[..2], b"OK");
            assert_eq!(grid.cell(row, 0).unwrap().attr, ColorCode::DEFAULT);
            assert!(parser.is_ground());
        }
    }

    #[test]
    fn random_garbage_never_swallows_more_than_one_final_byte() {
        let mut rng = XorShift(42);
        for _ in 0..20_000 {
            let len = (rng.next() % 24) as usize;
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    // Mostly escape-relevant bytes.
                    match r % 4 {
                        0 => 0x1b,
                        1 => b"[;?0123:9 (]P\x18\x07mH"[(r >> 8) as usize % 17],
                        _ => (r >> 16) as u8,
                    }
                })
                .collect();
            let mut grid = Grid::new();
            let mut parser = Parser::new();
            run(&mut grid, &mut parser, &garbage);
            // Leave a possible string sequence with a control, end any other with '@'.
            run(&mut grid, &mut parser, b"\x18@OK");
            let (row, col) = grid.cursor();
            let end = if grid.wrap_pending() { col + 1 } else { col };
            assert!(end >= 2, "{garbage:x?}");
            assert_eq!(&grid.row_text(row)[end - 2..end], b"OK", "{garbage:x?}");
            assert!(parser.is_ground());
        }
    }
}
