//! VGA CRTC registers (index port 0x3D4, data port 0x3D5), for the hardware text cursor.
//!
//! A plain register API: the console decides what to write (see `console::vga_text`) and wraps
//! this handle in its own `Crtc` trait.

use x86_64::instructions::port::Port;

/// The colour CRTC's index/data port pair.
#[derive(Debug)]
pub struct PortCrtc {
    index: Port<u8>,
    data: Port<u8>,
}

impl PortCrtc {
    /// A handle on ports 0x3D4/0x3D5.
    ///
    /// # Safety
    /// The machine must have a VGA-compatible adapter in colour text mode (a BIOS boot without
    /// a framebuffer), and only this handle may program the CRTC.
    pub const unsafe fn new() -> Self {
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
