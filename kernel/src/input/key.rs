//! The key type shared by the PS/2 keyboard and the serial line.

use pc_keyboard::{DecodedKey, KeyCode};

/// One key press, as the line editor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Return (CR, LF or CRLF on a serial line).
    Enter,
    /// Tab (completion).
    Tab,
    /// Erase the character before the cursor.
    Backspace,
    /// Erase the character under the cursor.
    Delete,
    /// A lone Escape.
    Escape,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// History: older.
    Up,
    /// History: newer.
    Down,
    /// Start of line.
    Home,
    /// End of line.
    End,
    /// Scroll back.
    PageUp,
    /// Scroll forward.
    PageDown,
    /// Insert.
    Insert,
    /// Control plus a letter (`'a'..='z'`) without a key of its own above: `Ctrl('c')`
    /// abandons the line, `Ctrl('l')` clears the screen.
    Ctrl(char),
}

impl Key {
    /// Ctrl-C.
    pub const INTERRUPT: Key = Key::Ctrl('c');
    /// Ctrl-L.
    pub const CLEAR: Key = Key::Ctrl('l');

    /// The key a C0 control byte stands for on a terminal (`None` for NUL and 0x1C-0x1F).
    /// ESC is not handled here (it starts sequences); 0x7F is Backspace, as terminals send it.
    pub const fn from_control(byte: u8) -> Option<Key> {
        match byte {
            b'\r' | b'\n' => Some(Key::Enter),
            b'\t' => Some(Key::Tab),
            0x08 | 0x7F => Some(Key::Backspace),
            0x1B => Some(Key::Escape),
            0x01..=0x1A => Some(Key::Ctrl((b'a' + byte - 1) as char)),
            _ => None,
        }
    }
}

/// Maps a key decoded by `pc-keyboard` (US layout; Ctrl letters arrive as U+0001-U+001A with
/// `HandleControl::MapLettersToUnicode`). Keys the shell has no use for give `None`.
///
/// The PS/2 Delete key decodes to U+007F, so here 0x7F is [`Key::Delete`], unlike on a serial
/// line, where terminals send it for Backspace.
pub fn from_pc_keyboard(key: DecodedKey) -> Option<Key> {
    match key {
        DecodedKey::Unicode('\u{7f}') => Some(Key::Delete),
        DecodedKey::Unicode(c) if (c as u32) < 0x20 => Key::from_control(c as u8),
        DecodedKey::Unicode(c) => Some(Key::Char(c)),
        DecodedKey::RawKey(code) => match code {
            KeyCode::ArrowLeft => Some(Key::Left),
            KeyCode::ArrowRight => Some(Key::Right),
            KeyCode::ArrowUp => Some(Key::Up),
            KeyCode::ArrowDown => Some(Key::Down),
            KeyCode::Home => Some(Key::Home),
            KeyCode::End => Some(Key::End),
            KeyCode::PageUp => Some(Key::PageUp),
            KeyCode::PageDown => Some(Key::PageDown),
            KeyCode::Insert => Some(Key::Insert),
            KeyCode::Delete => Some(Key::Delete),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pc_keyboard::layouts::Us104Key;
    use pc_keyboard::{HandleControl, PS2Keyboard, ScancodeSet1};

    fn decode(bytes: &[u8]) -> Vec<Key> {
        let mut kb = PS2Keyboard::new(
            ScancodeSet1::new(),
            Us104Key,
            HandleControl::MapLettersToUnicode,
        );
        let mut keys = Vec::new();
        for &b in bytes {
            if let Ok(Some(ev)) = kb.add_byte(b)
                && let Some(k) = kb.process_keyevent(ev).and_then(from_pc_keyboard)
            {
                keys.push(k);
            }
        }
        keys
    }

    #[test]
    fn scancodes_become_keys() {
        // h, i, Return, Backspace, Tab, Esc (make and break codes).
        let keys = decode(&[
            0x23, 0xA3, 0x17, 0x97, 0x1C, 0x9C, 0x0E, 0x8E, 0x0F, 0x8F, 0x01, 0x81,
        ]);
        assert_eq!(
            keys,
            [
                Key::Char('h'),
                Key::Char('i'),
                Key::Enter,
                Key::Backspace,
                Key::Tab,
                Key::Escape
            ]
        );
    }

    #[test]
    fn extended_keys_and_ctrl_letters() {
        let e0 = |c: u8| [0xE0, c, 0xE0, c | 0x80];
        let mut bytes = Vec::new();
        for c in [0x48, 0x50, 0x4B, 0x4D, 0x47, 0x4F, 0x49, 0x51, 0x53, 0x52] {
            bytes.extend(e0(c));
        }
        // Left Ctrl down, C, L, Ctrl up.
        bytes.extend([0x1D, 0x2E, 0xAE, 0x26, 0xA6, 0x9D]);
        assert_eq!(
            decode(&bytes),
            [
                Key::Up,
                Key::Down,
                Key::Left,
                Key::Right,
                Key::Home,
                Key::End,
                Key::PageUp,
                Key::PageDown,
                Key::Delete,
                Key::Insert,
                Key::INTERRUPT,
                Key::CLEAR,
            ]
        );
    }

    #[test]
    fn control_bytes() {
        assert_eq!(Key::from_control(0x03), Some(Key::INTERRUPT));
        assert_eq!(Key::from_control(0x0C), Some(Key::CLEAR));
        assert_eq!(Key::from_control(0x01), Some(Key::Ctrl('a')));
        assert_eq!(Key::from_control(0x7F), Some(Key::Backspace));
        assert_eq!(Key::from_control(0x00), None);
        assert_eq!(Key::from_control(0x1C), None);
        assert_eq!(
            from_pc_keyboard(DecodedKey::Unicode('é')),
            Some(Key::Char('é'))
        );
    }
}
