//! Code page 437: the character set of the VGA text mode, both directions.
//!
//! [`to_unicode`] gives the glyph each of the 256 bytes shows (0x01-0x1F and 0x7F are the graphic
//! glyphs ☺☻♥…⌂, 0x00 and 0xFF show blank), [`from_char`] finds the byte for a Unicode scalar and
//! [`from_char_lossy`] falls back to [`REPLACEMENT`] (■, 0xFE). The grid ([`super::grid`]) stores
//! these bytes; the parser ([`super::ansi`]) maps decoded UTF-8 through here; the renderer
//! ([`super::font`]) maps bytes back to Unicode to find font glyphs.
//!
//! Controls are handled before this table is consulted: a `'\n'` in the byte stream is a line feed,
//! but a `'◙'` arriving as Unicode becomes glyph 0x0A.

/// The byte shown for characters CP437 lacks: ■ (0xFE).
pub const REPLACEMENT: u8 = 0xFE;

/// Unicode of each CP437 byte (the IBM graphic interpretation of 0x00-0x1F and 0x7F).
const TO_UNICODE: [char; 256] = [
    // 0x00
    '\u{0000}', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼',
    // 0x10
    '►', '◄', '↕', '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
    // 0x20
    ' ', '!', '"', '#', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    // 0x40
    '@', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '[', '\\', ']', '^', '_',
    // 0x60
    '`', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '{', '|', '}', '~', '⌂',
    // 0x80
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å',
    // 0x90
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ',
    // 0xA0
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»',
    // 0xB0
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐',
    // 0xC0
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧',
    // 0xD0
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀',
    // 0xE0
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩',
    // 0xF0
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{00A0}',
];

/// Unicode characters that are not in [`TO_UNICODE`] but look like (or mean) a CP437 glyph.
const ALIASES: [(char, u8); 8] = [
    ('\u{03B2}', 0xE1), // Greek small beta, drawn as the sharp s
    ('\u{03BC}', 0xE6), // Greek small mu, drawn as the micro sign
    ('\u{2211}', 0xE4), // n-ary summation
    ('\u{2126}', 0xEA), // ohm sign
    ('\u{2208}', 0xEE), // element of
    ('\u{03D5}', 0xED), // phi symbol
    ('\u{2205}', 0xED), // empty set
    ('\u{25AA}', 0xFE), // small black square
];

/// Number of entries of the reverse table: every non-ASCII glyph of [`TO_UNICODE`] plus
/// [`ALIASES`] (ASCII 0x20-0x7E maps to itself and is handled without the table).
const REVERSE_LEN: usize = 31 + 129 + 1 + ALIASES.len();

/// `(Unicode, byte)` pairs sorted by code point, built at compile time for binary search.
static REVERSE: [(u32, u8); REVERSE_LEN] = build_reverse();

const fn build_reverse() -> [(u32, u8); REVERSE_LEN] {
    let mut table = [(0u32, 0u8); REVERSE_LEN];
    let mut n = 0;
    let mut byte = 0usize;
    while byte < 256 {
        if (byte >= 0x01 && byte < 0x20) || byte >= 0x7F {
            table[n] = (TO_UNICODE[byte] as u32, byte as u8);
            n += 1;
        }
        byte += 1;
    }
    // Byte 0x00 is NUL: it has no graphic Unicode counterpart, so the slot maps U+0000 to blank.
    table[n] = (0, 0);
    n += 1;
    let mut a = 0;
    while a < ALIASES.len() {
        table[n] = (ALIASES[a].0 as u32, ALIASES[a].1);
        n += 1;
        a += 1;
    }
    assert!(n == REVERSE_LEN);
    // Insertion sort; duplicates keep the first (the table entry before any alias).
    let mut i = 1;
    while i < REVERSE_LEN {
        let mut j = i;
        while j > 0 && table[j - 1].0 > table[j].0 {
            let tmp = table[j - 1];
            table[j - 1] = table[j];
            table[j] = tmp;
            j -= 1;
        }
        i += 1;
    }
    table
}

/// The Unicode character CP437 byte `byte` shows. Byte 0x00 gives U+0000 and 0xFF gives the
/// no-break space; both draw blank.
pub const fn to_unicode(byte: u8) -> char {
    TO_UNICODE[byte as usize]
}

/// The CP437 byte that shows `c`, if CP437 has it.
///
/// ASCII letters, digits and punctuation map to themselves; the graphic glyphs of 0x01-0x1F and
/// 0x7F are reached only through their Unicode form (☺ gives 0x01). ASCII control characters
/// (other than U+0000) give `None`: they are controls, not glyphs.
pub fn from_char(c: char) -> Option<u8> {
    let code = c as u32;
    if (0x20..0x7F).contains(&code) {
        return Some(code as u8);
    }
    if code < 0x20 && code != 0 {
        return None;
    }
    REVERSE
        .binary_search_by_key(&code, |&(u, _)| u)
        .ok()
        .and_then(|i| REVERSE.get(i))
        .map(|&(_, b)| b)
}

/// The CP437 byte that shows `c`, or [`REPLACEMENT`] (■) when CP437 lacks it.
pub fn from_char_lossy(c: char) -> u8 {
    from_char(c).unwrap_or(REPLACEMENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_every_byte() {
        for byte in 0..=255u8 {
            let c = to_unicode(byte);
            assert_eq!(from_char(c), Some(byte), "byte {byte:#04x} ({c:?})");
        }
    }

    #[test]
    fn specific_letters() {
        assert_eq!(from_char('é'), Some(0x82));
        assert_eq!(from_char('░'), Some(0xB0));
        assert_eq!(from_char('Σ'), Some(0xE4));
        assert_eq!(from_char('█'), Some(0xDB));
        assert_eq!(from_char('╬'), Some(0xCE));
        assert_eq!(from_char('ü'), Some(0x81));
        assert_eq!(from_char('π'), Some(0xE3));
        assert_eq!(from_char('√'), Some(0xFB));
        assert_eq!(from_char('☺'), Some(0x01));
        assert_eq!(from_char('▼'), Some(0x1F));
        assert_eq!(from_char('⌂'), Some(0x7F));
        assert_eq!(from_char('A'), Some(b'A'));
        assert_eq!(from_char('~'), Some(b'~'));
    }

    #[test]
    fn aliases() {
        assert_eq!(from_char('β'), Some(0xE1));
        assert_eq!(from_char('ß'), Some(0xE1));
        assert_eq!(from_char('μ'), Some(0xE6));
        assert_eq!(from_char('∑'), Some(0xE4));
    }

    #[test]
    fn unmapped_and_controls() {
        assert_eq!(from_char('€'), None);
        assert_eq!(from_char_lossy('€'), 0xFE);
        assert_eq!(from_char_lossy('ж'), 0xFE);
        assert_eq!(from_char_lossy('😀'), 0xFE);
        assert_eq!(from_char_lossy('\u{FFFD}'), 0xFE);
        assert_eq!(from_char('\n'), None);
        assert_eq!(from_char('\u{1b}'), None);
        assert_eq!(from_char('\u{7f}'), None);
        assert_eq!(from_char('\u{9b}'), None);
    }

    #[test]
    fn reverse_table_is_sorted_and_complete() {
        assert!(REVERSE.windows(2).all(|w| w[0].0 <= w[1].0));
        let distinct: std::collections::HashSet<char> = TO_UNICODE.iter().copied().collect();
        assert_eq!(distinct.len(), 256, "every byte has its own character");
    }
}
