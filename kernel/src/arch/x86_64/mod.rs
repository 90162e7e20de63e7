//! x86_64 support: CPU control, descriptor tables and traps, page tables, the devices.
//!
//! Every hardware handle here has one documented `unsafe` constructor and safe methods; where
//! an upper layer needs a handle, a safe way to get it sits next to the constructor: taking a
//! fixed-port device once (`serial`, `ps2`, `vga`), a checked constructor over a mapping this
//! module verified (`apic`, `vga`, `acpi`, `framebuffer`, see `paging::Window`), or a fact the
//! boot module declared from the loader's responses (`paging`, `framebuffer`).

pub mod acpi;
pub mod apic;
pub mod cpu;
pub mod demo;
pub mod framebuffer;
pub mod gdt;
pub mod idt;
pub mod paging;
pub mod pat;
pub mod pic;
pub mod pit;
pub mod pmtimer;
pub mod power;
#[cfg(feature = "ktest")]
pub mod probe;
pub mod ps2;
pub mod qemu;
pub mod refclock;
pub mod serial;
pub mod stop;
pub mod trap;
pub mod vga;
pub mod walk;
