//! The kernel library: everything but the entry point.
//!
//! Pure logic (text grid, parsers, boot-info checks, allocators) compiles on the host too, so
//! `cargo test -p kernel --lib` exercises it; hardware access lives under [`arch`] and only
//! builds for the bare-metal target (`target_os = "none"`).

#![cfg_attr(not(test), no_std)]
// `unsafe` is fenced by the compiler (see docs/architecture.md, Unsafe): denied everywhere but
// in the places that must touch raw memory or the CPU, each allowed where it is declared: `arch`
// (below), `allocator` (in its mod.rs), `boot::limine` and `testing::runner` (with the `ktest!`
// expansion).
#![deny(unsafe_code)]

// The kernel's global allocator is in `heap` (target) or std's (host).
extern crate alloc;

pub mod acpi;
pub mod allocator;
pub mod aml;
// All hardware access: port and MMIO handles, descriptor tables, trap stubs, page tables. Each
// handle has one documented `unsafe` constructor and safe methods.
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod arch;
pub mod boot;
pub mod cmdline;
pub mod console;
pub mod drivers;
pub mod exceptions;
// The kernel heap and its `#[global_allocator]`: raw memory handed to the allocators (the
// `allocator` allowance of docs/architecture.md, "Unsafe").
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod heap;
#[cfg(target_os = "none")]
pub mod init;
pub mod input;
pub mod interrupts;
pub mod logger;
pub mod logring;
pub mod memory;
#[cfg(target_os = "none")]
mod panic;
// ACPI power: S5 soft-off and reset for the shell's `shutdown` and `reboot`.
#[cfg(target_os = "none")]
pub mod power;
pub mod print;
pub mod rand;
// The executor, input streams, timers and the shell as the kernel runs them.
#[cfg(target_os = "none")]
pub mod runtime;
#[cfg(target_os = "none")]
pub mod serial;
pub mod shell;
pub mod sync;
// Executor and timers (they allocate: on the kernel heap).
pub mod task;
pub mod testing;
pub mod time;
