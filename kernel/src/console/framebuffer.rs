//! The linear framebuffer as the renderer sees it: a byte slice plus its geometry.
//!
//! Key types: [`PixelFormat`] (channel sizes and shifts of a 32-bit pixel, as the Limine
//! framebuffer response describes them), [`FramebufferInfo`] (width, height, pitch, bpp, format),
//! [`Framebuffer`] (a validated `&mut [u8]` over the pixels) and [`PixelTarget`], the write-only
//! interface the renderer ([`super::render`]) draws through. Errors are [`FramebufferError`].
//!
//! The kernel builds the slice from the framebuffer's virtual address (`pitch * height` bytes);
//! tests use a `Vec<u8>`. Nothing here ever reads pixel memory: framebuffers are often mapped
//! write-combining or uncached, where reads are very slow.

use core::fmt;

use super::color::Rgb;

/// Position and width of the red, green and blue fields inside a 32-bit little-endian pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    /// Bits of red.
    pub red_size: u8,
    /// Bit position of the lowest red bit.
    pub red_shift: u8,
    /// Bits of green.
    pub green_size: u8,
    /// Bit position of the lowest green bit.
    pub green_shift: u8,
    /// Bits of blue.
    pub blue_size: u8,
    /// Bit position of the lowest blue bit.
    pub blue_shift: u8,
}

/// One colour channel, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Red.
    Red,
    /// Green.
    Green,
    /// Blue.
    Blue,
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Red => "red",
            Channel::Green => "green",
            Channel::Blue => "blue",
        })
    }
}

impl PixelFormat {
    /// `0x00RRGGBB` (bytes B, G, R, x in memory): what UEFI GOP calls BGR-reserved and most
    /// firmware uses.
    pub const XRGB8888: PixelFormat = PixelFormat {
        red_size: 8,
        red_shift: 16,
        green_size: 8,
        green_shift: 8,
        blue_size: 8,
        blue_shift: 0,
    };

    /// `0x00BBGGRR` (bytes R, G, B, x in memory).
    pub const XBGR8888: PixelFormat = PixelFormat {
        red_size: 8,
        red_shift: 0,
        green_size: 8,
        green_shift: 8,
        blue_size: 8,
        blue_shift: 16,
    };

    /// Checks that every channel has 1-16 bits and fits in 32 bits.
    pub fn validate(&self) -> Result<(), FramebufferError> {
        for (channel, size, shift) in [
            (Channel::Red, self.red_size, self.red_shift),
            (Channel::Green, self.green_size, self.green_shift),
            (Channel::Blue, self.blue_size, self.blue_shift),
        ] {
            if size == 0 || size > 16 || u32::from(size) + u32::from(shift) > 32 {
                return Err(FramebufferError::BadChannel {
                    channel,
                    size,
                    shift,
                });
            }
        }
        Ok(())
    }

    /// The pixel value of `rgb`. Channels are scaled from 8 bits to their size with rounding;
    /// fields that do not fit (an unvalidated format) are dropped rather than overflowing.
    pub fn encode(&self, rgb: Rgb) -> u32 {
        field(rgb.r, self.red_size, self.red_shift)
            | field(rgb.g, self.green_size, self.green_shift)
            | field(rgb.b, self.blue_size, self.blue_shift)
    }
}

/// `value` (0-255) scaled to `size` bits and shifted into place.
fn field(value: u8, size: u8, shift: u8) -> u32 {
    if size == 0 || size > 16 {
        return 0;
    }
    let max = (1u32 << size) - 1;
    let scaled = (u32::from(value) * max + 127) / 255;
    scaled.checked_shl(u32::from(shift)).unwrap_or(0)
}

/// Geometry of a framebuffer, as the boot loader reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FramebufferInfo {
    /// Visible pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes from the start of one row to the start of the next (at least `width * 4`).
    pub pitch: usize,
    /// Bits per pixel; only 32 is supported.
    pub bpp: u16,
    /// Channel layout.
    pub format: PixelFormat,
}

impl FramebufferInfo {
    /// Bytes per pixel of every supported mode.
    pub const BYTES_PER_PIXEL: usize = 4;

    /// Checks bpp, channel layout and pitch.
    pub fn validate(&self) -> Result<(), FramebufferError> {
        if self.bpp != 32 {
            return Err(FramebufferError::UnsupportedBpp(self.bpp));
        }
        self.format.validate()?;
        if self.width == 0 || self.height == 0 {
            return Err(FramebufferError::Empty);
        }
        let min = self
            .width
            .checked_mul(Self::BYTES_PER_PIXEL)
            .ok_or(FramebufferError::Empty)?;
        if self.pitch < min {
            return Err(FramebufferError::PitchTooSmall {
                pitch: self.pitch,
                min,
            });
        }
        Ok(())
    }

    /// Bytes a buffer needs: full pitch for every row but the last, which needs only its pixels.
    pub fn required_len(&self) -> Option<usize> {
        self.pitch
            .checked_mul(self.height.checked_sub(1)?)?
            .checked_add(self.width.checked_mul(Self::BYTES_PER_PIXEL)?)
    }
}

/// Why a framebuffer cannot host the console. The kernel then keeps the serial console only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramebufferError {
    /// Only 32 bits per pixel are supported.
    UnsupportedBpp(u16),
    /// A channel is empty, wider than 16 bits or sticks out of the 32-bit pixel.
    BadChannel {
        /// Which channel.
        channel: Channel,
        /// Its size in bits.
        size: u8,
        /// Its shift.
        shift: u8,
    },
    /// Zero width or height.
    Empty,
    /// The pitch is less than `width * 4`.
    PitchTooSmall {
        /// Reported pitch in bytes.
        pitch: usize,
        /// `width * 4`.
        min: usize,
    },
    /// The slice is shorter than the geometry requires.
    BufferTooSmall {
        /// Slice length.
        len: usize,
        /// Bytes required.
        needed: usize,
    },
    /// Even the smallest font cannot fit 80x25 cells.
    TooSmall {
        /// Framebuffer width.
        width: usize,
        /// Framebuffer height.
        height: usize,
        /// Width the smallest font needs.
        min_width: usize,
        /// Height the smallest font needs.
        min_height: usize,
    },
}

impl fmt::Display for FramebufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FramebufferError::UnsupportedBpp(bpp) => {
                write!(f, "unsupported framebuffer depth: {bpp} bpp (need 32)")
            }
            FramebufferError::BadChannel {
                channel,
                size,
                shift,
            } => write!(
                f,
                "unsupported pixel format: {channel} channel of {size} bits at shift {shift}"
            ),
            FramebufferError::Empty => f.write_str("framebuffer has no pixels"),
            FramebufferError::PitchTooSmall { pitch, min } => {
                write!(f, "framebuffer pitch {pitch} is below width * 4 = {min}")
            }
            FramebufferError::BufferTooSmall { len, needed } => {
                write!(
                    f,
                    "framebuffer slice has {len} bytes, geometry needs {needed}"
                )
            }
            FramebufferError::TooSmall {
                width,
                height,
                min_width,
                min_height,
            } => write!(
                f,
                "framebuffer {width}x{height} is too small for 80x25 text (needs {min_width}x{min_height})"
            ),
        }
    }
}

impl core::error::Error for FramebufferError {}

/// Where the renderer puts pixels: write-only access to a framebuffer's rows.
pub trait PixelTarget {
    /// The geometry (validated: 32 bpp, pitch at least `width * 4`).
    fn info(&self) -> FramebufferInfo;

    /// Copies `bytes` to row `y`, starting `offset` bytes into the row. The renderer keeps
    /// `offset + bytes.len() <= width * 4`; implementations drop writes outside the buffer.
    fn write(&mut self, y: usize, offset: usize, bytes: &[u8]);

    /// Direct access to the `width * 4` visible bytes of row `y`, if the target allows it. The
    /// renderer only stores to this slice (never loads), in ascending address order within a
    /// row, so write-combining memory is fine. The default offers none: every pixel then goes
    /// through [`PixelTarget::write`] (test targets that count writes rely on that).
    fn row_mut(&mut self, _y: usize) -> Option<&mut [u8]> {
        None
    }
}

/// A validated framebuffer over a byte slice.
#[derive(Debug)]
pub struct Framebuffer<'a> {
    buf: &'a mut [u8],
    info: FramebufferInfo,
}

impl<'a> Framebuffer<'a> {
    /// Wraps `buf` (the pixel memory, starting at pixel (0, 0)) described by `info`.
    ///
    /// # Errors
    ///
    /// [`FramebufferError::UnsupportedBpp`], [`FramebufferError::BadChannel`],
    /// [`FramebufferError::Empty`] or [`FramebufferError::PitchTooSmall`] for geometry the renderer
    /// cannot draw on, [`FramebufferError::BufferTooSmall`] if `buf` is shorter than the geometry.
    pub fn new(buf: &'a mut [u8], info: FramebufferInfo) -> Result<Self, FramebufferError> {
        info.validate()?;
        let needed = info.required_len().ok_or(FramebufferError::Empty)?;
        if buf.len() < needed {
            return Err(FramebufferError::BufferTooSmall {
                len: buf.len(),
                needed,
            });
        }
        Ok(Framebuffer { buf, info })
    }

    /// The whole buffer (tests compare rendered output with it).
    pub fn buf_for_tests(&self) -> &[u8] {
        self.buf
    }

    /// Gives the slice back.
    pub fn into_inner(self) -> &'a mut [u8] {
        self.buf
    }
}

impl PixelTarget for Framebuffer<'_> {
    fn info(&self) -> FramebufferInfo {
        self.info
    }

    fn write(&mut self, y: usize, offset: usize, bytes: &[u8]) {
        let row_bytes = self.info.width * FramebufferInfo::BYTES_PER_PIXEL;
        if y >= self.info.height || offset.saturating_add(bytes.len()) > row_bytes {
            return;
        }
        let start = y * self.info.pitch + offset;
        if let Some(dst) = self.buf.get_mut(start..start + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }

    fn row_mut(&mut self, y: usize) -> Option<&mut [u8]> {
        if y >= self.info.height {
            return None;
        }
        let start = y * self.info.pitch;
        self.buf
            .get_mut(start..start + self.info.width * FramebufferInfo::BYTES_PER_PIXEL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(width: usize, height: usize, pitch: usize) -> FramebufferInfo {
        FramebufferInfo {
            width,
            height,
            pitch,
            bpp: 32,
            format: PixelFormat::XRGB8888,
        }
    }

    #[test]
    fn encodes_rgb_and_bgr_as_swapped_bytes() {
        let c = Rgb::new(0x12, 0x34, 0x56);
        assert_eq!(
            PixelFormat::XRGB8888.encode(c).to_le_bytes(),
            [0x56, 0x34, 0x12, 0]
        );
        assert_eq!(
            PixelFormat::XBGR8888.encode(c).to_le_bytes(),
            [0x12, 0x34, 0x56, 0]
        );
    }

    #[test]
    fn encodes_other_channel_sizes() {
        let rgb565_in_32 = PixelFormat {
            red_size: 5,
            red_shift: 11,
            green_size: 6,
            green_shift: 5,
            blue_size: 5,
            blue_shift: 0,
        };
        assert_eq!(rgb565_in_32.encode(Rgb::new(255, 255, 255)), 0xffff);
        assert_eq!(rgb565_in_32.encode(Rgb::new(255, 0, 0)), 0xf800);
        let ten_bit = PixelFormat {
            red_size: 10,
            red_shift: 20,
            green_size: 10,
            green_shift: 10,
            blue_size: 10,
            blue_shift: 0,
        };
        assert_eq!(ten_bit.encode(Rgb::new(255, 255, 255)), 0x3fff_ffff);
    }

    #[test]
    fn rejects_unsupported_geometry() {
        let mut i = info(640, 480, 2560);
        i.bpp = 24;
        assert_eq!(i.validate(), Err(FramebufferError::UnsupportedBpp(24)));
        i.bpp = 16;
        assert_eq!(i.validate(), Err(FramebufferError::UnsupportedBpp(16)));
        let i = info(640, 480, 2559);
        assert!(matches!(
            i.validate(),
            Err(FramebufferError::PitchTooSmall { .. })
        ));
        let mut i = info(640, 480, 2560);
        i.format.blue_shift = 28;
        assert!(matches!(
            i.validate(),
            Err(FramebufferError::BadChannel {
                channel: Channel::Blue,
                ..
            })
        ));
        let mut buf = vec![0u8; 2560 * 480 - 1];
        assert!(matches!(
            Framebuffer::new(&mut buf, info(640, 480, 2560)),
            Err(FramebufferError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            Framebuffer::new(&mut [], info(0, 0, 0)),
            Err(FramebufferError::Empty)
        ));
    }

    #[test]
    fn last_row_needs_no_padding() {
        let mut buf = vec![0u8; 100 * 2 + 16 * 4];
        assert!(Framebuffer::new(&mut buf, info(16, 3, 100)).is_ok());
    }

    #[test]
    fn writes_are_clipped_to_the_row() {
        let mut buf = vec![0u8; 12 * 2];
        let mut fb = Framebuffer::new(&mut buf, info(2, 2, 12)).unwrap();
        fb.write(1, 4, &[1, 2, 3, 4]);
        fb.write(1, 8, &[9; 4]); // would hit the padding: dropped
        fb.write(2, 0, &[9; 4]); // past the last row: dropped
        let buf = fb.into_inner();
        assert_eq!(&buf[12..24], &[0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    }

    #[test]
    fn errors_display() {
        let e = FramebufferError::TooSmall {
            width: 320,
            height: 200,
            min_width: 560,
            min_height: 400,
        };
        assert_eq!(
            e.to_string(),
            "framebuffer 320x200 is too small for 80x25 text (needs 560x400)"
        );
        assert!(
            FramebufferError::UnsupportedBpp(16)
                .to_string()
                .contains("16 bpp")
        );
    }
}
