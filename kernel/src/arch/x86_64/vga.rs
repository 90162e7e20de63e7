//! The VGA text buffer (physical 0xb8000) and the CRTC registers (index port 0x3D4, data port
//! 0x3D5, for the hardware text cursor).
//!
//! Plain APIs: the console decides what to write (see `console::vga_text`) and wraps these
//! handles in its own `TextBuffer` and `Crtc` traits.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::port::Port;

use super::paging::{Window, WindowError};

/// Physical address of the colour text buffer.
pub const TEXT_BUFFER_PHYS: u64 = 0xb8000;
/// Cells in the 80x25 text buffer.
pub const TEXT_CELLS: usize = 80 * 25;

/// The CRTC handle has been handed out by [`PortCrtc::take`].
static CRTC_TAKEN: AtomicBool = AtomicBool::new(false);

/// The 80x25 text buffer, written with volatile stores.
#[derive(Debug)]
pub struct TextMemory {
    base: NonNull<u16>,
}

// SAFETY: the handle owns device memory (the contract of `TextMemory::new`); moving it to
// another CPU does not change that.
unsafe impl Send for TextMemory {}

impl TextMemory {
    /// The text buffer behind `window`, which must map the 4000 bytes at physical 0xb8000
    /// uncached.
    ///
    /// # Errors
    /// [`WindowError`] when the window maps anything else, or memory the kernel owns.
    pub fn from_window(window: Window) -> Result<Self, WindowError> {
        if window.phys() != TEXT_BUFFER_PHYS {
            return Err(WindowError::WrongAddress {
                phys: window.phys(),
                expected: TEXT_BUFFER_PHYS,
            });
        }
        let virt = window.check((TEXT_CELLS * 2) as u64, true)?;
        let base = NonNull::new(virt as *mut u16).ok_or(WindowError::TooSmall {
            len: 0,
            needed: (TEXT_CELLS * 2) as u64,
        })?;
        // SAFETY: the window maps the 4000 bytes at 0xb8000, device memory the kernel does not
        // own (checked), and is consumed here, so this handle is its only user.
        Ok(unsafe { Self::new(base) })
    }

    /// A handle writing to the 2000 cells at `base`.
    ///
    /// # Safety
    /// `base` must point to 2000 writable, `u16`-aligned cells that stay mapped for the
    /// handle's lifetime and that nothing else accesses as ordinary Rust memory.
    pub const unsafe fn new(base: NonNull<u16>) -> Self {
        Self { base }
    }

    /// Writes cell `index` (`row * 80 + col`: glyph in the low byte, attribute in the high
    /// byte); ignores indices from 2000 on.
    pub fn write_cell(&mut self, index: usize, value: u16) {
        if index < TEXT_CELLS {
            // SAFETY: `index` is below 2000 and `new`'s contract makes all 2000 cells
            // writable and aligned for as long as `self` exists.
            unsafe { self.base.add(index).write_volatile(value) }
        }
    }
}

/// The colour CRTC's index/data port pair.
#[derive(Debug)]
pub struct PortCrtc {
    index: Port<u8>,
    data: Port<u8>,
}

impl PortCrtc {
    /// The one handle on the CRTC; `None` after the first call.
    pub fn take() -> Option<Self> {
        // SAFETY: the flag lets only the first call create the handle; without a VGA adapter
        // the ports are unused and writes to them do nothing.
        (!CRTC_TAKEN.swap(true, Ordering::AcqRel)).then(|| unsafe { Self::new() })
    }

    /// A handle on ports 0x3D4/0x3D5.
    ///
    /// # Safety
    /// The ports must belong to a VGA-compatible adapter (or nothing), and only this handle
    /// may program the CRTC.
    const unsafe fn new() -> Self {
        Self {
            index: Port::new(0x3d4),
            data: Port::new(0x3d5),
        }
    }

    /// Selects CRTC register `index` and writes `value` to it.
    pub fn write_register(&mut self, index: u8, value: u8) {
        // SAFETY: per `new`, these are the CRTC's ports and this handle owns them; selecting a
        // register and writing it only changes how the adapter displays, not memory.
        unsafe {
            self.index.write(index);
            self.data.write(value);
        }
    }
}
