//! VGA colours and attribute bytes.
//!
//! Key types: [`Color`] (the 16 VGA colours), [`ColorCode`] (one attribute byte: bits 0-3
//! foreground, 4-6 background, 7 blink), [`Rgb`] and [`PALETTE`] (the standard VGA palette the
//! framebuffer renderer draws with). [`ansi_to_vga`] maps ANSI colour numbers to VGA indices for
//! the escape-sequence parser in [`super::ansi`]; the cells of [`super::grid`] carry a
//! [`ColorCode`] each.

/// One of the 16 VGA text-mode colours, numbered as the hardware numbers them.
///
/// Indices 8-15 are the "bright" (intensity bit set) versions of 0-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Color {
    /// Index 0.
    Black = 0,
    /// Index 1.
    Blue = 1,
    /// Index 2.
    Green = 2,
    /// Index 3.
    Cyan = 3,
    /// Index 4.
    Red = 4,
    /// Index 5.
    Magenta = 5,
    /// Index 6 (dark yellow; the VGA palette makes it brown).
    Brown = 6,
    /// Index 7: the default foreground.
    LightGray = 7,
    /// Index 8.
    DarkGray = 8,
    /// Index 9.
    LightBlue = 9,
    /// Index 10.
    LightGreen = 10,
    /// Index 11.
    LightCyan = 11,
    /// Index 12.
    LightRed = 12,
    /// Index 13, also known as light magenta ([`Color::LIGHT_MAGENTA`]).
    Pink = 13,
    /// Index 14.
    Yellow = 14,
    /// Index 15.
    White = 15,
}

impl Color {
    /// Alias of [`Color::Pink`] under its other common name.
    pub const LIGHT_MAGENTA: Color = Color::Pink;

    /// All colours in index order.
    pub const ALL: [Color; 16] = [
        Color::Black,
        Color::Blue,
        Color::Green,
        Color::Cyan,
        Color::Red,
        Color::Magenta,
        Color::Brown,
        Color::LightGray,
        Color::DarkGray,
        Color::LightBlue,
        Color::LightGreen,
        Color::LightCyan,
        Color::LightRed,
        Color::Pink,
        Color::Yellow,
        Color::White,
    ];

    /// The colour with VGA index `index & 0x0f` (only the low four bits count).
    pub const fn from_index(index: u8) -> Color {
        Color::ALL[(index & 0x0f) as usize]
    }

    /// The VGA index (0-15).
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The colour's RGB value in the standard VGA palette.
    pub const fn rgb(self) -> Rgb {
        PALETTE[self as usize]
    }
}

/// An 8-bit-per-channel colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red, 0-255.
    pub r: u8,
    /// Green, 0-255.
    pub g: u8,
    /// Blue, 0-255.
    pub b: u8,
}

impl Rgb {
    /// A colour from its three channels.
    pub const fn new(r: u8, g: u8, b: u8) -> Rgb {
        Rgb { r, g, b }
    }
}

/// The standard VGA 16-colour palette (0x00/0xAA/0x55/0xFF levels; index 6 is brown, not dark
/// yellow), indexed by [`Color::index`].
pub const PALETTE: [Rgb; 16] = [
    Rgb::new(0x00, 0x00, 0x00),
    Rgb::new(0x00, 0x00, 0xAA),
    Rgb::new(0x00, 0xAA, 0x00),
    Rgb::new(0x00, 0xAA, 0xAA),
    Rgb::new(0xAA, 0x00, 0x00),
    Rgb::new(0xAA, 0x00, 0xAA),
    Rgb::new(0xAA, 0x55, 0x00),
    Rgb::new(0xAA, 0xAA, 0xAA),
    Rgb::new(0x55, 0x55, 0x55),
    Rgb::new(0x55, 0x55, 0xFF),
    Rgb::new(0x55, 0xFF, 0x55),
    Rgb::new(0x55, 0xFF, 0xFF),
    Rgb::new(0xFF, 0x55, 0x55),
    Rgb::new(0xFF, 0x55, 0xFF),
    Rgb::new(0xFF, 0xFF, 0x55),
    Rgb::new(0xFF, 0xFF, 0xFF),
];

/// A VGA attribute byte: bits 0-3 foreground, bits 4-6 background, bit 7 blink.
///
/// The background has only eight colours: bit 7 is the blink bit (the framebuffer renderer blinks
/// in software, the VGA text mode in hardware), never a background intensity bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct ColorCode(u8);

impl ColorCode {
    /// Light gray on black, not blinking: the console's default attribute.
    pub const DEFAULT: ColorCode = ColorCode::new(Color::LightGray, Color::Black);

    /// Bit 7 of the attribute byte.
    pub const BLINK_BIT: u8 = 0x80;

    /// `foreground` on `background`, not blinking. A bright background (index 8-15) loses its
    /// intensity bit: the attribute byte has three background bits.
    pub const fn new(foreground: Color, background: Color) -> ColorCode {
        ColorCode((foreground as u8) | (((background as u8) & 0x07) << 4))
    }

    /// The attribute with exactly this byte value.
    pub const fn from_byte(byte: u8) -> ColorCode {
        ColorCode(byte)
    }

    /// The attribute byte.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// The foreground colour (bits 0-3).
    pub const fn foreground(self) -> Color {
        Color::from_index(self.0)
    }

    /// The background colour (bits 4-6; always index 0-7).
    pub const fn background(self) -> Color {
        Color::from_index((self.0 >> 4) & 0x07)
    }

    /// Whether the blink bit (bit 7) is set.
    pub const fn blink(self) -> bool {
        self.0 & Self::BLINK_BIT != 0
    }

    /// This attribute with the blink bit set or cleared.
    pub const fn with_blink(self, blink: bool) -> ColorCode {
        if blink {
            ColorCode(self.0 | Self::BLINK_BIT)
        } else {
            ColorCode(self.0 & !Self::BLINK_BIT)
        }
    }

    /// This attribute with another foreground.
    pub const fn with_foreground(self, foreground: Color) -> ColorCode {
        ColorCode((self.0 & 0xf0) | foreground as u8)
    }

    /// This attribute with another background (its intensity bit dropped).
    pub const fn with_background(self, background: Color) -> ColorCode {
        ColorCode((self.0 & 0x8f) | (((background as u8) & 0x07) << 4))
    }
}

impl Default for ColorCode {
    fn default() -> Self {
        ColorCode::DEFAULT
    }
}

/// VGA index of ANSI colour `ansi` (0-7: black, red, green, yellow, blue, magenta, cyan, white).
/// Only the low three bits of `ansi` count. ANSI yellow is VGA brown (6); add 8 for the bright
/// variant (bright yellow is VGA yellow, 14).
pub const fn ansi_to_vga(ansi: u8) -> u8 {
    const MAP: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    MAP[(ansi & 0x07) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bit_layout() {
        let code = ColorCode::new(Color::Yellow, Color::Blue);
        assert_eq!(code.byte(), 0x1e);
        assert_eq!(code.foreground(), Color::Yellow);
        assert_eq!(code.background(), Color::Blue);
        assert!(!code.blink());
        let blinking = code.with_blink(true);
        assert_eq!(blinking.byte(), 0x9e);
        assert!(blinking.blink());
        assert_eq!(blinking.background(), Color::Blue);
        assert_eq!(blinking.with_blink(false), code);
        assert_eq!(ColorCode::DEFAULT.byte(), 0x07);
    }

    #[test]
    fn bright_background_loses_intensity() {
        let code = ColorCode::new(Color::Black, Color::White);
        assert_eq!(code.background(), Color::LightGray);
        assert!(!code.blink());
        assert_eq!(
            ColorCode::DEFAULT.with_background(Color::Yellow).byte(),
            0x67
        );
    }

    #[test]
    fn indices_and_palette() {
        for (i, c) in Color::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i);
            assert_eq!(Color::from_index(i as u8), *c);
        }
        assert_eq!(Color::LIGHT_MAGENTA, Color::Pink);
        assert_eq!(Color::Brown.rgb(), Rgb::new(0xaa, 0x55, 0x00));
        assert_eq!(Color::Yellow.rgb(), Rgb::new(0xff, 0xff, 0x55));
        assert_eq!(Color::LightBlue.rgb(), Rgb::new(0x55, 0x55, 0xff));
    }

    #[test]
    fn ansi_order_maps_to_vga_order() {
        assert_eq!(ansi_to_vga(0), Color::Black as u8);
        assert_eq!(ansi_to_vga(1), Color::Red as u8);
        assert_eq!(ansi_to_vga(2), Color::Green as u8);
        assert_eq!(ansi_to_vga(3), Color::Brown as u8);
        assert_eq!(ansi_to_vga(4), Color::Blue as u8);
        assert_eq!(ansi_to_vga(5), Color::Magenta as u8);
        assert_eq!(ansi_to_vga(6), Color::Cyan as u8);
        assert_eq!(ansi_to_vga(7), Color::LightGray as u8);
        assert_eq!(ansi_to_vga(3) + 8, Color::Yellow as u8);
    }
}
