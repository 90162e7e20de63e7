//! The bundled Limine-protocol loader's pure logic, host-testable with `cargo test -p loader`.
//!
//! Nothing here touches firmware or hardware, and the compiler holds it to that
//! (`forbid(unsafe_code)`): the binary's UEFI glue (`firmware/`) reads files, allocates memory
//! and switches to the kernel, and calls into these modules for every decision (see
//! docs/architecture.md, "Unsafe").
//!
//! - [`config`]: `limine.conf` parser.
//! - [`elf`]: ELF64 validation, load planning, segment copying, relocation, KASLR slide.
//! - [`memmap`]: UEFI memory map to Limine memory map conversion.
//! - [`paging`]: 4-level page-table builder over an abstract physical memory.
//! - [`protocol`]: request IDs, base revision tag, request scan, response layouts.
//! - [`boot`]: the boot sequence and its errors.
//! - [`acpi`]: RSDP/XSDT/MADT walk to find the IOAPICs to mask at hand-off.
//! - [`clock`]: firmware calendar time to UNIX time.
//! - [`video`]: display mode choice and pixel layouts.
//! - [`multiboot`]: Multiboot 1 and 2 boot information (the BIOS entry).
//! - [`bios`]: the BIOS entry's decisions: E820 types, RSDP and SMBIOS scans, page allocator.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod bios;
pub mod boot;
pub mod clock;
pub mod config;
pub mod elf;
pub mod memmap;
pub mod multiboot;
pub mod paging;
pub mod protocol;
pub mod video;
