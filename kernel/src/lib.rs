//! The kernel library: everything but the entry point.
//!
//! Pure logic (text grid, parsers, boot-info checks, allocators) compiles on the host too, so
//! `cargo test -p kernel --lib` exercises it; hardware access lives under [`arch`] and only
//! builds for the bare-metal target (`target_os = "none"`).

#![cfg_attr(not(test), no_std)]

#[cfg(target_os = "none")]
pub mod acpi;
pub mod allocator;
#[cfg(target_os = "none")]
pub mod arch;
pub mod boot;
pub mod cmdline;
pub mod console;
pub mod drivers;
pub mod exceptions;
#[cfg(target_os = "none")]
pub mod init;
pub mod interrupts;
pub mod logger;
pub mod memory;
#[cfg(target_os = "none")]
mod panic;
pub mod print;
#[cfg(target_os = "none")]
pub mod serial;
pub mod sync;
pub mod testing;
pub mod time;
