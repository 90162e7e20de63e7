//! Terminal bytes to keys: what a serial console (or any VT100-style terminal) sends.
//!
//! Key type: [`SerialDecoder`], fed one byte at a time; it calls back with each [`Key`] it
//! completes and keeps at most a few bytes of state, no heap.
//!
//! | bytes | key |
//! |---|---|
//! | printable ASCII, well-formed UTF-8 | `Char` |
//! | CR, LF, CR LF (one key) | `Enter` |
//! | 0x08, 0x7F | `Backspace` |
//! | 0x09 | `Tab` |
//! | 0x01-0x1A otherwise | `Ctrl(letter)` (Ctrl-C, Ctrl-L, ...) |
//! | `ESC [ A/B/C/D`, `ESC O A/B/C/D` | `Up`/`Down`/`Right`/`Left` |
//! | `ESC [ H`, `ESC [ F`, `ESC O H/F`, `ESC [ 1~ / 7~`, `ESC [ 4~ / 8~` | `Home`, `End` |
//! | `ESC [ 2~ / 3~ / 5~ / 6~` | `Insert`, `Delete`, `PageUp`, `PageDown` |
//! | ESC then a timeout ([`SerialDecoder::timeout`]), ESC ESC, ESC then another byte | `Escape` (the other byte is then decoded normally) |
//!
//! Modifier parameters (`ESC [ 1;5C`) are accepted and ignored. Robustness: a control byte
//! or a non-ASCII byte inside a sequence ends the sequence and is decoded as itself, an ESC
//! starts a new one, an unknown final byte drops the sequence, and a sequence longer than
//! [`MAX_PARAMS`] parameter bytes is skipped to its final byte; an ill-formed UTF-8 sequence
//! is dropped and the byte that broke it decoded afresh. So no byte sequence wedges the
//! decoder, and every key after garbage still arrives.

use super::Key;
use crate::console::utf8::{Utf8Decoder, Utf8Step};

/// Parameter bytes kept per CSI sequence.
pub const MAX_PARAMS: usize = 8;

const ESC: u8 = 0x1B;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`.
    Csi,
    /// Inside an over-long CSI sequence, waiting for its final byte.
    CsiSkip,
    /// After `ESC O`.
    Ss3,
}

/// The decoder; see the module notes for the byte-to-key table.
#[derive(Debug, Clone)]
pub struct SerialDecoder {
    state: State,
    params: [u8; MAX_PARAMS],
    len: usize,
    utf8: Utf8Decoder,
    /// The last byte was CR: an LF right after it belongs to the same Enter.
    after_cr: bool,
    /// Bytes that produced nothing (garbage, unknown sequences), for statistics.
    dropped: u64,
}

impl Default for SerialDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialDecoder {
    /// A decoder between keys.
    pub const fn new() -> Self {
        Self {
            state: State::Ground,
            params: [0; MAX_PARAMS],
            len: 0,
            utf8: Utf8Decoder::new(),
            after_cr: false,
            dropped: 0,
        }
    }

    /// Sequences and bytes dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether a sequence or character is incomplete (a caller arms its timeout then).
    pub fn is_pending(&self) -> bool {
        self.state != State::Ground || self.utf8.is_pending()
    }

    /// Feeds every byte of `bytes`.
    pub fn feed_all(&mut self, bytes: &[u8], out: &mut impl FnMut(Key)) {
        for &b in bytes {
            self.feed(b, out);
        }
    }

    /// Feeds one byte; calls `out` for each key it completes (at most two).
    pub fn feed(&mut self, byte: u8, out: &mut impl FnMut(Key)) {
        let after_cr = core::mem::take(&mut self.after_cr);
        match self.state {
            State::Ground => self.ground(byte, after_cr, out),
            State::Escape => match byte {
                b'[' => {
                    self.state = State::Csi;
                    self.len = 0;
                }
                b'O' => self.state = State::Ss3,
                ESC => out(Key::Escape),
                _ => {
                    // ESC and then a key that starts nothing: both count.
                    self.state = State::Ground;
                    out(Key::Escape);
                    self.ground(byte, false, out);
                }
            },
            State::Csi => match byte {
                0x20..=0x3F => {
                    if self.len < MAX_PARAMS {
                        self.params[self.len] = byte;
                        self.len += 1;
                    } else {
                        self.state = State::CsiSkip;
                    }
                }
                0x40..=0x7E => {
                    self.state = State::Ground;
                    match self.csi_key(byte) {
                        Some(k) => out(k),
                        None => self.dropped += 1,
                    }
                }
                _ => self.abort(byte, out),
            },
            State::CsiSkip => match byte {
                0x20..=0x3F => {}
                0x40..=0x7E => {
                    self.state = State::Ground;
                    self.dropped += 1;
                }
                _ => self.abort(byte, out),
            },
            State::Ss3 => match byte {
                0x20..=0x7E => {
                    self.state = State::Ground;
                    match ss3_key(byte) {
                        Some(k) => out(k),
                        None => self.dropped += 1,
                    }
                }
                _ => self.abort(byte, out),
            },
        }
    }

    /// Nothing arrived for a while: a pending lone ESC is the Escape key; a partial sequence
    /// or character is dropped.
    pub fn timeout(&mut self, out: &mut impl FnMut(Key)) {
        match self.state {
            State::Escape => out(Key::Escape),
            State::Ground => {}
            _ => self.dropped += 1,
        }
        self.state = State::Ground;
        if self.utf8.flush() {
            self.dropped += 1;
        }
    }

    /// A byte that cannot continue the current sequence: drop the sequence, decode the byte.
    fn abort(&mut self, byte: u8, out: &mut impl FnMut(Key)) {
        self.dropped += 1;
        self.state = State::Ground;
        self.ground(byte, false, out);
    }

    fn ground(&mut self, byte: u8, after_cr: bool, out: &mut impl FnMut(Key)) {
        let (broke, step) = self.utf8.push(byte);
        if broke {
            self.dropped += 1;
        }
        match step {
            Utf8Step::Pending => {}
            Utf8Step::Invalid => self.dropped += 1,
            Utf8Step::Char(c) if c.is_ascii() => match byte {
                ESC => self.state = State::Escape,
                b'\r' => {
                    self.after_cr = true;
                    out(Key::Enter);
                }
                b'\n' if after_cr => {}
                0x00..=0x1F | 0x7F => match Key::from_control(byte) {
                    Some(k) => out(k),
                    None => self.dropped += 1,
                },
                _ => out(Key::Char(c)),
            },
            // C1 controls (U+0080-U+009F) are not printable.
            Utf8Step::Char(c) if (c as u32) < 0xA0 => self.dropped += 1,
            Utf8Step::Char(c) => out(Key::Char(c)),
        }
    }

    fn csi_key(&self, final_byte: u8) -> Option<Key> {
        let params = &self.params[..self.len];
        // Private markers (`<`, `=`, `>`, `?`) and intermediates mean other sequences
        // (mouse reports, device replies): none of them is a key here.
        if params.iter().any(|&b| !matches!(b, b'0'..=b'9' | b';')) {
            return None;
        }
        let first = params.split(|&b| b == b';').next().unwrap_or(&[]);
        let number = if first.is_empty() {
            None
        } else if first.len() > 3 {
            return None;
        } else {
            Some(first.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
        };
        match final_byte {
            b'A' => Some(Key::Up),
            b'B' => Some(Key::Down),
            b'C' => Some(Key::Right),
            b'D' => Some(Key::Left),
            b'H' => Some(Key::Home),
            b'F' => Some(Key::End),
            b'~' => match number? {
                1 | 7 => Some(Key::Home),
                2 => Some(Key::Insert),
                3 => Some(Key::Delete),
                4 | 8 => Some(Key::End),
                5 => Some(Key::PageUp),
                6 => Some(Key::PageDown),
                _ => None,
            },
            _ => None,
        }
    }
}

fn ss3_key(byte: u8) -> Option<Key> {
    match byte {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut d = SerialDecoder::new();
        let mut v = Vec::new();
        d.feed_all(bytes, &mut |k| v.push(k));
        v
    }

    fn chars(s: &str) -> Vec<Key> {
        s.chars().map(Key::Char).collect()
    }

    #[test]
    fn printable_and_utf8() {
        assert_eq!(keys(b"hi 9~"), chars("hi 9~"));
        assert_eq!(keys("é€😀".as_bytes()), chars("é€😀"));
    }

    #[test]
    fn enter_from_cr_lf_and_crlf() {
        assert_eq!(keys(b"a\rb\nc\r\nd"), {
            let mut v = vec![Key::Char('a'), Key::Enter, Key::Char('b'), Key::Enter];
            v.extend([Key::Char('c'), Key::Enter, Key::Char('d')]);
            v
        });
        assert_eq!(keys(b"\r\r\n\n"), [Key::Enter, Key::Enter, Key::Enter]);
        // CRLF split across two feeds is still one Enter.
        let mut d = SerialDecoder::new();
        let mut v = Vec::new();
        d.feed(b'\r', &mut |k| v.push(k));
        d.feed(b'\n', &mut |k| v.push(k));
        assert_eq!(v, [Key::Enter]);
    }

    #[test]
    fn control_keys() {
        assert_eq!(
            keys(b"\x08\x7f\t\x03\x0c\x01"),
            [
                Key::Backspace,
                Key::Backspace,
                Key::Tab,
                Key::INTERRUPT,
                Key::CLEAR,
                Key::Ctrl('a')
            ]
        );
    }

    #[test]
    fn csi_and_ss3_sequences() {
        let cases: &[(&[u8], Key)] = &[
            (b"\x1b[A", Key::Up),
            (b"\x1b[B", Key::Down),
            (b"\x1b[C", Key::Right),
            (b"\x1b[D", Key::Left),
            (b"\x1b[H", Key::Home),
            (b"\x1b[F", Key::End),
            (b"\x1bOA", Key::Up),
            (b"\x1bOB", Key::Down),
            (b"\x1bOC", Key::Right),
            (b"\x1bOD", Key::Left),
            (b"\x1bOH", Key::Home),
            (b"\x1bOF", Key::End),
            (b"\x1b[1~", Key::Home),
            (b"\x1b[7~", Key::Home),
            (b"\x1b[4~", Key::End),
            (b"\x1b[8~", Key::End),
            (b"\x1b[2~", Key::Insert),
            (b"\x1b[3~", Key::Delete),
            (b"\x1b[5~", Key::PageUp),
            (b"\x1b[6~", Key::PageDown),
            (b"\x1b[1;5C", Key::Right),
            (b"\x1b[3;2~", Key::Delete),
        ];
        for (bytes, key) in cases {
            assert_eq!(keys(bytes), [*key], "{bytes:?}");
        }
    }

    #[test]
    fn lone_escape_by_timeout_or_next_byte() {
        let mut d = SerialDecoder::new();
        let mut v = Vec::new();
        d.feed(ESC, &mut |k| v.push(k));
        assert!(v.is_empty() && d.is_pending());
        d.timeout(&mut |k| v.push(k));
        assert_eq!(v, [Key::Escape]);
        assert!(!d.is_pending());
        assert_eq!(keys(b"\x1bx"), [Key::Escape, Key::Char('x')]);
        assert_eq!(keys(b"\x1b\x1b[A"), [Key::Escape, Key::Up]);
        assert_eq!(keys(b"\x1b\r"), [Key::Escape, Key::Enter]);
    }

    #[test]
    fn split_sequences_arrive_whole() {
        let mut d = SerialDecoder::new();
        let mut v = Vec::new();
        for chunk in [
            &b"\x1b"[..],
            b"[",
            b"5",
            b"~",
            b"\xc3",
            b"\xa9",
            b"\x1bO",
            b"D",
        ] {
            d.feed_all(chunk, &mut |k| v.push(k));
        }
        assert_eq!(v, [Key::PageUp, Key::Char('é'), Key::Left]);
    }

    #[test]
    fn garbage_does_not_eat_later_keys() {
        // Unknown final, interrupted CSI, over-long CSI, private CSI, broken UTF-8, C1.
        assert_eq!(keys(b"\x1b[Zx"), chars("x"));
        assert_eq!(keys(b"\x1b[12\rx"), [Key::Enter, Key::Char('x')]);
        assert_eq!(keys(b"\x1b[1;2;3;4;5;6;7;8;9;10Ax"), chars("x"));
        assert_eq!(keys(b"\x1b[?1;2cx"), chars("x"));
        assert_eq!(keys(b"\x1b[999999~x"), chars("x"));
        assert_eq!(keys(b"\xc3x\xff\xe2\x82y"), chars("xy"));
        assert_eq!(keys("\u{85}z".as_bytes()), chars("z"));
        assert_eq!(keys(b"\x1b[\xc3\xa9"), chars("é"));
        assert_eq!(keys(b"\x1bO\x03"), [Key::INTERRUPT]);
        assert_eq!(keys(b"\x00\x1c\x1fq"), chars("q"));
        // A timeout drops a partial sequence without inventing keys.
        let mut d = SerialDecoder::new();
        let mut v = Vec::new();
        d.feed_all(b"\x1b[1;", &mut |k| v.push(k));
        d.timeout(&mut |k| v.push(k));
        d.feed_all(b"\x1b[A", &mut |k| v.push(k));
        assert_eq!(v, [Key::Up]);
    }

    proptest! {
        /// Any bytes, then a timeout, then a known tail: never panics, the tail's keys arrive.
        #[test]
        fn random_bytes_never_lose_later_keys(garbage in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut d = SerialDecoder::new();
            let mut v = Vec::new();
            d.feed_all(&garbage, &mut |k| v.push(k));
            d.timeout(&mut |k| v.push(k));
            prop_assert!(!d.is_pending());
            let mut tail = Vec::new();
            d.feed_all(b"echo \xc3\xa9\x1b[A\r\n", &mut |k| tail.push(k));
            let mut want = chars("echo é");
            want.extend([Key::Up, Key::Enter]);
            prop_assert_eq!(tail, want);
        }

        /// Without a timeout, one printable ASCII byte after any garbage can be lost only to
        /// the sequence it ends, never more: the second byte always arrives.
        #[test]
        fn garbage_then_two_letters(garbage in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = SerialDecoder::new();
            let mut v = Vec::new();
            d.feed_all(&garbage, &mut |k| v.push(k));
            let mut tail = Vec::new();
            // Enter ends any sequence (a control byte) and any broken UTF-8.
            d.feed_all(b"\rab", &mut |k| tail.push(k));
            prop_assert_eq!(tail.last().copied(), Some(Key::Char('b')));
            prop_assert_eq!(&tail[tail.len() - 2..], &[Key::Char('a'), Key::Char('b')]);
        }
    }
}
