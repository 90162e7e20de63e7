//! The kernel library: everything but the entry point.
//!
//! Pure logic (text grid, parsers, allocators, memory-map processing) compiles on the host too,
//! so `cargo test -p kernel --lib` exercises it; hardware access lives under `arch` and only
//! builds for the bare-metal target.

#![cfg_attr(not(test), no_std)]
