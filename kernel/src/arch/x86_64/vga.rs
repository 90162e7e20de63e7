//! VGA CRTC registers (index port 0x3D4, data port 0x3D5), for the hardware text cursor.

use x86_64::instructions::port::Port;

use crate::console::Crtc;

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
}

impl Crtc for PortCrtc {
    fn write_register(&mut self, index: u8, value: u8) {
        // SAFETY: per `new`, these are the CRTC's ports and this handle owns them; selecting a
        // register and writing it only moves or reshapes the cursor.
        unsafe {
            self.index.write(index);
            self.data.write(value);
        }
    }
}
