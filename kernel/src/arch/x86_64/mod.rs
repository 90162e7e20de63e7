//! x86_64 support: CPU control, serial port, PIT, QEMU exit device.

pub mod cpu;
pub mod paging;
pub mod pit;
pub mod qemu;
pub mod serial;
pub mod vga;
