//! Test doubles for the console's hardware-facing traits (host tests only).
//!
//! [`Counting`] is an in-memory [`PixelTarget`] pre-filled with [`SENTINEL`] that counts writes
//! per pixel and checks every write stays inside its row; [`MemBuffer`] is a [`TextBuffer`] over
//! an array; [`FakeCrtc`] records CRTC register writes.

use super::framebuffer::{FramebufferInfo, PixelFormat, PixelTarget};
use super::grid::{COLS, ROWS};
use super::vga_text::{Crtc, TextBuffer};

/// Byte value the counting framebuffer starts with.
pub const SENTINEL: u8 = 0x5A;

/// A 32-bpp geometry.
pub fn info(width: usize, height: usize, pitch: usize, format: PixelFormat) -> FramebufferInfo {
    FramebufferInfo {
        width,
        height,
        pitch,
        bpp: 32,
        format,
    }
}

/// An in-memory framebuffer that counts writes per pixel.
pub struct Counting {
    pub buf: Vec<u8>,
    pub info: FramebufferInfo,
    pub writes: Vec<u32>,
}

impl Counting {
    /// A framebuffer of this geometry filled with [`SENTINEL`].
    pub fn new(info: FramebufferInfo) -> Self {
        Counting {
            buf: vec![SENTINEL; info.pitch * info.height],
            info,
            writes: vec![0; info.width * info.height],
        }
    }

    /// The four bytes of pixel `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        let o = y * self.info.pitch + x * 4;
        self.buf[o..o + 4].try_into().unwrap()
    }

    /// Forgets the write counts.
    pub fn reset_counts(&mut self) {
        self.writes.fill(0);
    }

    /// Pixels written at least once since the last reset, as (x, y).
    pub fn written(&self) -> Vec<(usize, usize)> {
        let w = self.info.width;
        self.writes
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(i, _)| (i % w, i / w))
            .collect()
    }
}

impl PixelTarget for Counting {
    fn info(&self) -> FramebufferInfo {
        self.info
    }

    fn write(&mut self, y: usize, offset: usize, bytes: &[u8]) {
        assert_eq!(offset % 4, 0);
        assert_eq!(bytes.len() % 4, 0);
        assert!(
            offset + bytes.len() <= self.info.width * 4,
            "write past the row"
        );
        assert!(y < self.info.height, "write below the screen");
        let o = y * self.info.pitch + offset;
        self.buf[o..o + bytes.len()].copy_from_slice(bytes);
        for x in offset / 4..(offset + bytes.len()) / 4 {
            self.writes[y * self.info.width + x] += 1;
        }
    }
}

/// The VGA text buffer as an array, counting writes.
pub struct MemBuffer {
    pub cells: [u16; COLS * ROWS],
    pub writes: usize,
}

impl MemBuffer {
    /// All zero, no writes.
    pub fn new() -> Self {
        MemBuffer {
            cells: [0; COLS * ROWS],
            writes: 0,
        }
    }
}

impl TextBuffer for MemBuffer {
    fn write_cell(&mut self, index: usize, value: u16) {
        self.cells[index] = value;
        self.writes += 1;
    }
}

/// Records CRTC register writes as (index, value).
#[derive(Default)]
pub struct FakeCrtc(pub Vec<(u8, u8)>);

impl Crtc for FakeCrtc {
    fn write_register(&mut self, index: u8, value: u8) {
        self.0.push((index, value));
    }
}
