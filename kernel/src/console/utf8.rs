//! Incremental UTF-8 decoding, one byte at a time, with resynchronisation.
//!
//! Key type: [`Utf8Decoder`]. The escape-sequence parser ([`super::ansi`]) feeds it the bytes
//! of printable text. It accepts exactly the well-formed sequences of the Unicode standard (no
//! overlong forms, no surrogates, nothing above U+10FFFF) and reports each maximal ill-formed
//! subpart as one [`Utf8Step::Invalid`], so one broken character costs one replacement glyph and
//! the next valid byte is decoded normally.

/// What one byte did to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Step {
    /// The byte started or continued a sequence that is not complete yet.
    Pending,
    /// The byte completed a character (or was ASCII).
    Char(char),
    /// The byte can start no sequence (a stray continuation byte, 0xC0, 0xC1, 0xF5-0xFF).
    Invalid,
}

/// Decoder state between bytes: the code point so far and what the next byte must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Decoder {
    /// Bits collected so far.
    code: u32,
    /// Continuation bytes still expected (0: between characters).
    need: u8,
    /// Smallest acceptable value of the next byte.
    lower: u8,
    /// Largest acceptable value of the next byte.
    upper: u8,
}

impl Default for Utf8Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Utf8Decoder {
    /// A decoder between characters.
    pub const fn new() -> Self {
        Utf8Decoder {
            code: 0,
            need: 0,
            lower: 0x80,
            upper: 0xBF,
        }
    }

    /// Whether a multi-byte sequence is incomplete.
    pub const fn is_pending(&self) -> bool {
        self.need != 0
    }

    /// Abandons an incomplete sequence; returns whether there was one (the caller shows one
    /// replacement glyph for it).
    pub fn flush(&mut self) -> bool {
        let pending = self.is_pending();
        *self = Self::new();
        pending
    }

    /// Feeds one byte. The flag is true when the byte broke an incomplete sequence: that sequence
    /// counts as one invalid character *before* the step, and the byte itself was decoded afresh.
    pub fn push(&mut self, byte: u8) -> (bool, Utf8Step) {
        let mut broke = false;
        if self.need != 0 {
            if (self.lower..=self.upper).contains(&byte) {
                self.code = (self.code << 6) | u32::from(byte & 0x3F);
                self.need -= 1;
                self.lower = 0x80;
                self.upper = 0xBF;
                if self.need != 0 {
                    return (false, Utf8Step::Pending);
                }
                let code = self.code;
                *self = Self::new();
                return match char::from_u32(code) {
                    Some(c) => (false, Utf8Step::Char(c)),
                    None => (false, Utf8Step::Invalid),
                };
            }
            broke = true;
            *self = Self::new();
        }
        let (need, lower, upper, bits) = match byte {
            0x00..=0x7F => return (broke, Utf8Step::Char(char::from(byte))),
            0xC2..=0xDF => (1, 0x80, 0xBF, byte & 0x1F),
            0xE0 => (2, 0xA0, 0xBF, byte & 0x0F),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF, byte & 0x0F),
            0xED => (2, 0x80, 0x9F, byte & 0x0F),
            0xF0 => (3, 0x90, 0xBF, byte & 0x07),
            0xF1..=0xF3 => (3, 0x80, 0xBF, byte & 0x07),
            0xF4 => (3, 0x80, 0x8F, byte & 0x07),
            _ => return (broke, Utf8Step::Invalid),
        };
        *self = Utf8Decoder {
            code: u32::from(bits),
            need,
            lower,
            upper,
        };
        (broke, Utf8Step::Pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `bytes` into chars, with U+FFFD for every invalid step or broken sequence.
    fn decode(bytes: &[u8]) -> String {
        let mut d = Utf8Decoder::new();
        let mut out = String::new();
        for &b in bytes {
            let (broke, step) = d.push(b);
            if broke {
                out.push('\u{FFFD}');
            }
            match step {
                Utf8Step::Pending => {}
                Utf8Step::Char(c) => out.push(c),
                Utf8Step::Invalid => out.push('\u{FFFD}'),
            }
        }
        if d.flush() {
            out.push('\u{FFFD}');
        }
        out
    }

    #[test]
    fn valid_text() {
        let s = "aé€😀░Σ";
        assert_eq!(decode(s.as_bytes()), s);
    }

    #[test]
    fn matches_std_lossy_decoding() {
        // The standard library also replaces each maximal ill-formed subpart once.
        let cases: &[&[u8]] = &[
            b"\xC3",
            b"\xC3(",
            b"\xE2\x82",
            b"\xE2\x82\x1b[m",
            b"\xE2\x82\xC3\xA9",
            b"\xC0\xAF",
            b"\xED\xA0\x80",
            b"\xF4\x90\x80\x80",
            b"\xF0\x9F\x98",
            b"\x80\xBF\xFE\xFF",
            b"\xE0\x80\xAF",
            b"a\xF0\x9F\x98\x80b",
        ];
        for case in cases {
            assert_eq!(decode(case), String::from_utf8_lossy(case), "{case:x?}");
        }
    }

    #[test]
    fn random_bytes_match_std() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Bias towards the interesting high bytes.
                buf.push((x as u8) | (0x80 * ((x >> 8) as u8 & 1)));
            }
            assert_eq!(decode(&buf), String::from_utf8_lossy(&buf), "{buf:x?}");
        }
    }
}
