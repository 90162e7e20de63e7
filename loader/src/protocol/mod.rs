//! Limine boot protocol: constants, the request scan, base-revision negotiation and the
//! `#[repr(C)]` layouts of every response the loader writes.
//!
//! Everything here follows the upstream Limine specification, `PROTOCOL.md`: its sections
//! "Requests Delimiters", "Features" and "Base Revisions" for markers, requests and the base
//! revision tag, "Base Revision Changes Summary" for what each revision changes, and
//! "Feature List" for feature IDs and response layouts.
//!
//! - [`scan`] walks the relocated, file-backed kernel image and returns a [`Scan`]: the base
//!   revision tag (if any) and every request between the last start marker and the first end
//!   marker.
//! - [`negotiate`] decides which base revision to boot with and what to write into the tag;
//!   [`write_tag`] writes it.
//! - [`hhdm_covers`], [`rsdp_pointer_physical`], [`smbios_pointers_physical`] and
//!   [`efi_system_table_pointer_physical`] answer the revision-dependent questions the boot
//!   sequence ([`crate::boot`]) needs for the responses and the HHDM.
//! - The response structs ([`HhdmResponse`], [`MemmapEntry`], [`Framebuffer`], ...) have their size
//!   and field offsets checked at compile time against the specification's C structures, and
//!   [`Encode`] writes them field by field. Pointer fields are plain `u64` because they hold
//!   kernel-side (HHDM or physical) addresses, never loader pointers.
//!
//! [`read_u64`] and [`write_u64`] are bounds-checked little-endian accessors for byte images.
use core::mem::{offset_of, size_of};

mod bytes;
mod features;
mod responses;
mod revision;
mod scan;
#[cfg(test)]
mod tests;

pub use bytes::{OutOfBounds, read_u64, write_u64};
pub use features::{Feature, feature_id};
pub use responses::*;
pub use revision::{
    Negotiated, RevisionError, clamp_cap, efi_system_table_pointer_physical, hhdm_covers,
    negotiate, rsdp_pointer_physical, smbios_pointers_physical, write_tag,
};
pub use scan::{FoundRequest, Scan, ScanError, TagInfo, scan};

// ---------------------------------------------------------------------------------------------
// Magic words
// ---------------------------------------------------------------------------------------------

/// Words 0 and 1 of every request ID.
pub const COMMON_MAGIC: [u64; 2] = [0xc7b1_dd30_df4c_8b88, 0x0a82_e883_a194_f07b];

/// The requests start marker (4 words, 8-byte aligned).
pub const REQUESTS_START_MARKER: [u64; 4] = [
    0xf6b8_f4b3_9de7_d1ae,
    0xfab9_1a69_40fc_b9cf,
    0x785c_6ed0_15d3_e316,
    0x181e_920a_7852_b9d9,
];

/// The requests end marker (2 words, 8-byte aligned).
pub const REQUESTS_END_MARKER: [u64; 2] = [0xadc0_e053_1bb1_0d03, 0x9572_709f_3176_4c62];

/// Words 0 and 1 of the base revision tag as the kernel emits it. Word 2 is the requested
/// revision. The loader overwrites word 1 with the revision it used (see [`negotiate`]).
pub const BASE_REVISION_MAGIC: [u64; 2] = [0xf956_2b2d_5c95_a6c8, 0x6a7b_3849_4453_6bdc];

/// Size in bytes of the base revision tag.
pub const BASE_REVISION_TAG_SIZE: usize = 24;

// ---------------------------------------------------------------------------------------------
// Revisions and limits
// ---------------------------------------------------------------------------------------------

/// Highest base revision this loader implements.
pub const LOADER_MAX_REVISION: u64 = 6;

/// Lowest base revision this loader implements; revisions 0–2 are dropped and refused.
pub const LOADER_MIN_REVISION: u64 = 3;

/// HHDM offset used with 4-level paging (no `randomise_hhdm_base`).
pub const HHDM_DEFAULT_BASE: u64 = 0xffff_8000_0000_0000;

/// Most requests the loader accepts in one image (as in the reference loader).
pub const MAX_REQUESTS: usize = 128;

// ---------------------------------------------------------------------------------------------
// Other protocol values
// ---------------------------------------------------------------------------------------------

/// Memory map entry type 0: free RAM.
pub const MEMMAP_USABLE: u64 = 0;
/// Memory map entry type 1: do not touch.
pub const MEMMAP_RESERVED: u64 = 1;
/// Memory map entry type 2: ACPI tables, reusable once parsed.
pub const MEMMAP_ACPI_RECLAIMABLE: u64 = 2;
/// Memory map entry type 3: ACPI non-volatile storage.
pub const MEMMAP_ACPI_NVS: u64 = 3;
/// Memory map entry type 4: defective RAM.
pub const MEMMAP_BAD_MEMORY: u64 = 4;
/// Memory map entry type 5: loader data (responses, page tables, stack), reusable later.
pub const MEMMAP_BOOTLOADER_RECLAIMABLE: u64 = 5;
/// Memory map entry type 6: the kernel image and modules (`KERNEL_AND_MODULES` in v8).
pub const MEMMAP_EXECUTABLE_AND_MODULES: u64 = 6;
/// Memory map entry type 7: framebuffer memory.
pub const MEMMAP_FRAMEBUFFER: u64 = 7;
/// Memory map entry type 8 (base revision 4 and later): reserved, but mapped in the HHDM.
pub const MEMMAP_RESERVED_MAPPED: u64 = 8;

/// Firmware type 0: x86 BIOS.
pub const FIRMWARE_TYPE_X86_BIOS: u64 = 0;
/// Firmware type 1: 32-bit UEFI.
pub const FIRMWARE_TYPE_UEFI32: u64 = 1;
/// Firmware type 2: 64-bit UEFI (what this loader reports).
pub const FIRMWARE_TYPE_UEFI64: u64 = 2;
/// Firmware type 3: RISC-V SBI.
pub const FIRMWARE_TYPE_SBI: u64 = 3;

/// Paging mode 0 on x86-64: 4-level paging (the default and minimum, and the only mode this
/// loader enables).
pub const PAGING_MODE_X86_64_4LVL: u64 = 0;
/// Paging mode 1 on x86-64: 5-level paging.
pub const PAGING_MODE_X86_64_5LVL: u64 = 1;

/// `limine_framebuffer.memory_model` value for RGB, the only one defined.
pub const FRAMEBUFFER_RGB: u8 = 1;

/// `limine_file.media_type`: generic disk.
pub const MEDIA_TYPE_GENERIC: u32 = 0;
/// `limine_file.media_type`: optical disc.
pub const MEDIA_TYPE_OPTICAL: u32 = 1;
/// `limine_file.media_type`: TFTP.
pub const MEDIA_TYPE_TFTP: u32 = 2;

/// MP request `flags` bit 0 / MP response `flags` bit 0: x2APIC requested / enabled.
pub const MP_X2APIC: u64 = 1;

/// `limine_internal_module.flags` bit 0: a missing file is fatal.
pub const INTERNAL_MODULE_REQUIRED: u64 = 1;
/// `limine_internal_module.flags` bit 1: gzip-compressed (deprecated).
pub const INTERNAL_MODULE_COMPRESSED: u64 = 2;

// ---------------------------------------------------------------------------------------------
// Request layout
// ---------------------------------------------------------------------------------------------

/// The 48-byte header every request starts with. The loader never holds one by reference (it
/// reads the image through [`read_u64`]); the struct documents the offsets below.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestHeader {
    /// [`COMMON_MAGIC`] followed by the feature's two ID words.
    pub id: [u64; 4],
    /// Request revision the kernel speaks.
    pub revision: u64,
    /// NULL in the image; the loader stores the HHDM address of the response here.
    pub response: u64,
}

/// Byte offset of `revision` in a request.
pub const REQUEST_REVISION_OFFSET: usize = offset_of!(RequestHeader, revision);
/// Byte offset of the `response` pointer in a request.
pub const REQUEST_RESPONSE_OFFSET: usize = offset_of!(RequestHeader, response);
/// Size of the common request header; feature-specific fields start here.
pub const REQUEST_HEADER_SIZE: usize = size_of::<RequestHeader>();

/// Byte offsets of feature-specific request fields, relative to the request start.
pub mod request_field {
    /// Stack size request: `stack_size` u64.
    pub const STACK_SIZE: usize = 48;
    /// Paging mode request: `mode` u64.
    pub const PAGING_MODE_MODE: usize = 48;
    /// Paging mode request (revision ≥ 1): `max_mode` u64.
    pub const PAGING_MODE_MAX_MODE: usize = 56;
    /// Paging mode request (revision ≥ 1): `min_mode` u64.
    pub const PAGING_MODE_MIN_MODE: usize = 64;
    /// MP request: `flags` u64.
    pub const MP_FLAGS: usize = 48;
    /// Entry point request: `entry` (virtual function pointer).
    pub const ENTRY_POINT_ENTRY: usize = 48;
    /// Module request (revision ≥ 1): `internal_module_count` u64.
    pub const MODULE_INTERNAL_MODULE_COUNT: usize = 48;
    /// Module request (revision ≥ 1): `internal_modules` (virtual pointer to an array of
    /// virtual pointers to [`super::InternalModule`]).
    pub const MODULE_INTERNAL_MODULES: usize = 56;
}
