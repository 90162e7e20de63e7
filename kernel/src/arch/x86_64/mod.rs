//! x86_64 support: CPU control, serial port, PIT, QEMU exit device.

pub mod apic;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod pmtimer;
#[cfg(feature = "ktest")]
pub mod probe;
pub mod ps2;
pub mod qemu;
pub mod refclock;
pub mod serial;
pub mod trap;
pub mod vga;
