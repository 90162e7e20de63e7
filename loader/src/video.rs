//! Choosing a display mode and describing its pixels the way the Limine protocol does.

/// A mode the firmware offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Firmware's mode number.
    pub number: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout, if it is a linear 32-bit one the kernel can draw to.
    pub format: Option<PixelFormat>,
}

/// A 32-bit pixel layout as (size, shift) of each channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    /// Bits per pixel (always 32 here).
    pub bpp: u16,
    /// Red (size, shift).
    pub red: (u8, u8),
    /// Green (size, shift).
    pub green: (u8, u8),
    /// Blue (size, shift).
    pub blue: (u8, u8),
}

impl PixelFormat {
    /// Bytes `R G B x` in memory (UEFI `PixelRedGreenBlueReserved8BitPerColor`).
    pub const RGBX: Self = Self {
        bpp: 32,
        red: (8, 0),
        green: (8, 8),
        blue: (8, 16),
    };
    /// Bytes `B G R x` in memory (UEFI `PixelBlueGreenRedReserved8BitPerColor`).
    pub const BGRX: Self = Self {
        bpp: 32,
        red: (8, 16),
        green: (8, 8),
        blue: (8, 0),
    };

    /// Builds a format from UEFI channel bit masks; `None` unless each mask is one contiguous
    /// run of bits and they do not overlap.
    pub fn from_masks(red: u32, green: u32, blue: u32, reserved: u32) -> Option<Self> {
        fn run(mask: u32) -> Option<(u8, u8)> {
            if mask == 0 {
                return None;
            }
            let shift = mask.trailing_zeros();
            let size = (mask >> shift).trailing_ones();
            if (mask >> shift) >> size != 0 {
                return None;
            }
            Some((u8::try_from(size).ok()?, u8::try_from(shift).ok()?))
        }
        if red & green != 0 || red & blue != 0 || green & blue != 0 {
            return None;
        }
        let bits = 32 - (red | green | blue | reserved).leading_zeros();
        if bits > 32 {
            return None;
        }
        Some(Self {
            bpp: 32,
            red: run(red)?,
            green: run(green)?,
            blue: run(blue)?,
        })
    }
}

/// The preferred size when the configuration names none: it fits 80x25 cells of 16x32 exactly.
pub const PREFERRED: (u32, u32) = (1280, 800);

/// Picks the mode to use: an exact `wanted` match if offered; else the preferred size; else
/// the usable mode closest in area to it that is no larger than 1920x1200, else any usable one.
pub fn choose(modes: &[Mode], wanted: Option<(u32, u32)>) -> Option<Mode> {
    let usable = || modes.iter().filter(|m| m.format.is_some());
    if let Some((w, h)) = wanted
        && let Some(m) = usable().find(|m| m.width == w && m.height == h)
    {
        return Some(*m);
    }
    if let Some(m) = usable().find(|m| (m.width, m.height) == PREFERRED) {
        return Some(*m);
    }
    let target = u64::from(PREFERRED.0) * u64::from(PREFERRED.1);
    let distance = |m: &&Mode| (u64::from(m.width) * u64::from(m.height)).abs_diff(target);
    usable()
        .filter(|m| m.width <= 1920 && m.height <= 1200)
        .min_by_key(distance)
        .or_else(|| usable().min_by_key(distance))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(number: u32, width: u32, height: u32) -> Mode {
        Mode {
            number,
            width,
            height,
            format: Some(PixelFormat::BGRX),
        }
    }

    #[test]
    fn mode_choice() {
        let modes = [
            m(0, 640, 480),
            m(1, 800, 600),
            m(2, 1024, 768),
            m(3, 1280, 800),
            m(4, 2560, 1600),
        ];
        assert_eq!(choose(&modes, None).map(|m| m.number), Some(3));
        assert_eq!(choose(&modes, Some((800, 600))).map(|m| m.number), Some(1));
        assert_eq!(choose(&modes, Some((123, 45))).map(|m| m.number), Some(3));
        assert_eq!(choose(&modes[..3], None).map(|m| m.number), Some(2));
        assert_eq!(choose(&[m(9, 2560, 1600)], None).map(|m| m.number), Some(9));
        let blt_only = Mode {
            format: None,
            ..m(5, 1280, 800)
        };
        assert_eq!(choose(&[blt_only], None), None);
    }

    #[test]
    fn masks() {
        assert_eq!(
            PixelFormat::from_masks(0xff0000, 0xff00, 0xff, 0xff000000),
            Some(PixelFormat::BGRX)
        );
        assert_eq!(
            PixelFormat::from_masks(0xff, 0xff00, 0xff0000, 0),
            Some(PixelFormat::RGBX)
        );
        let f = PixelFormat::from_masks(0xf800, 0x07e0, 0x001f, 0).expect("565");
        assert_eq!((f.red, f.green, f.blue), ((5, 11), (6, 5), (5, 0)));
        assert_eq!(PixelFormat::from_masks(0xff00ff, 0xff00, 0, 0), None);
        assert_eq!(PixelFormat::from_masks(0xff, 0xff, 0xff00, 0), None);
    }
}
