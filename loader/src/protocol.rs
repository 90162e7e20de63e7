//! Limine boot protocol: constants, the request scan, base-revision negotiation and the
//! `#[repr(C)]` layouts of every response the loader writes.
//!
//! Everything here follows `docs/limine-protocol.md` (the "digest"): §1 for markers, requests and
//! the base revision tag, §3 for feature IDs and response layouts.
//!
//! - [`scan`] walks the relocated, file-backed kernel image and returns a [`Scan`]: the base
//!   revision tag (if any) and every request between the last start marker and the first end
//!   marker.
//! - [`negotiate`] decides which base revision to boot with and what to write into the tag;
//!   [`write_tag`] writes it.
//! - [`hhdm_covers`], [`rsdp_pointer_physical`], [`smbios_pointers_physical`] and
//!   [`efi_system_table_pointer_physical`] answer the revision-dependent questions the UEFI glue
//!   (`main.rs`) and the page-table code ([`crate::paging`]) need.
//! - The response structs ([`HhdmResponse`], [`MemmapEntry`], [`Framebuffer`], ...) have their size
//!   and field offsets checked at compile time against the digest. Pointer fields are plain `u64`
//!   because they hold kernel-side (HHDM or physical) addresses, never loader pointers.
//!
//! [`read_u64`] and [`write_u64`] are bounds-checked little-endian accessors for byte images.

use alloc::vec::Vec;
use core::fmt;
use core::mem::{offset_of, size_of};

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
// Feature IDs (words 2 and 3)
// ---------------------------------------------------------------------------------------------

/// Words 2 and 3 of each feature's request ID (digest §3). Words 0 and 1 are [`COMMON_MAGIC`].
pub mod feature_id {
    /// Bootloader info.
    pub const BOOTLOADER_INFO: [u64; 2] = [0xf550_38d8_e2a1_202f, 0x2794_26fc_f5f5_9740];
    /// Executable command line (Limine 9.0+).
    pub const EXECUTABLE_CMDLINE: [u64; 2] = [0x4b16_1536_e598_651e, 0xb390_ad4a_2f1f_303a];
    /// Firmware type.
    pub const FIRMWARE_TYPE: [u64; 2] = [0x8c2f_75d9_0bef_28a8, 0x7045_a468_8eac_00c3];
    /// Stack size.
    pub const STACK_SIZE: [u64; 2] = [0x224e_f046_0a8e_8926, 0xe1cb_0fc2_5f46_ea3d];
    /// Higher-half direct map.
    pub const HHDM: [u64; 2] = [0x48dc_f1cb_8ad2_b852, 0x6398_4e95_9a98_244b];
    /// Framebuffer.
    pub const FRAMEBUFFER: [u64; 2] = [0x9d58_27dc_d881_dd75, 0xa314_8604_f6fa_b11b];
    /// Paging mode.
    pub const PAGING_MODE: [u64; 2] = [0x95c1_a0ed_ab09_44cb, 0xa4e5_cb38_42f7_488a];
    /// MP (formerly SMP).
    pub const MP: [u64; 2] = [0x95a6_7b81_9a1b_857e, 0xa0b6_1b72_3b6a_73e0];
    /// Memory map.
    pub const MEMMAP: [u64; 2] = [0x67cf_3d9d_378a_806f, 0xe304_acdf_c50c_3c62];
    /// Entry point.
    pub const ENTRY_POINT: [u64; 2] = [0x13d8_6c03_5a1c_d3e1, 0x2b0c_aa89_d8f3_026a];
    /// Executable (formerly kernel) file.
    pub const EXECUTABLE_FILE: [u64; 2] = [0xad97_e90e_83f1_ed67, 0x31eb_5d1c_5ff2_3b69];
    /// Modules.
    pub const MODULE: [u64; 2] = [0x3e7e_2797_02be_32af, 0xca1c_4f3b_d128_0cee];
    /// RSDP.
    pub const RSDP: [u64; 2] = [0xc5e7_7b6b_397e_7b43, 0x2763_7845_accd_cf3c];
    /// SMBIOS entry points.
    pub const SMBIOS: [u64; 2] = [0x9e90_46f1_1e09_5391, 0xaa4a_520f_efbd_e5ee];
    /// EFI system table.
    pub const EFI_SYSTEM_TABLE: [u64; 2] = [0x5ceb_a516_3eaa_f6d6, 0x0a69_8161_0cf6_5fcc];
    /// EFI memory map.
    pub const EFI_MEMMAP: [u64; 2] = [0x7df6_2a43_1d68_72d5, 0xa4fc_dfb3_e573_06c8];
    /// Date at boot (formerly boot time).
    pub const DATE_AT_BOOT: [u64; 2] = [0x5027_46e1_84c0_88aa, 0xfbc5_ec83_e632_7893];
    /// Executable (formerly kernel) address.
    pub const EXECUTABLE_ADDRESS: [u64; 2] = [0x71ba_7686_3cc5_5f63, 0xb264_4a48_c516_a487];
    /// Device tree blob.
    pub const DTB: [u64; 2] = [0xb40d_db48_fb54_bac7, 0x5450_8149_3f81_ffb7];
    /// Deprecated 5-level paging request.
    pub const FIVE_LEVEL_PAGING: [u64; 2] = [0x9446_9551_da9b_3192, 0xebe5_e86d_b738_2888];
    /// Deprecated terminal request.
    pub const TERMINAL: [u64; 2] = [0xc8ac_5931_0c2b_0844, 0xa68d_0c72_65d3_8878];
    /// Bootloader performance (newer than crate 0.5).
    pub const BOOTLOADER_PERFORMANCE: [u64; 2] = [0x6b50_ad9b_f36d_13ad, 0xdc4c_7e88_fc75_9e17];
    /// x86-64 keep IOMMU (newer than crate 0.5).
    pub const KEEP_IOMMU: [u64; 2] = [0x8eba_abe5_1f49_0179, 0x2aa8_6a59_ffb4_ab0f];
    /// TSC frequency (newer than crate 0.5).
    pub const TSC_FREQUENCY: [u64; 2] = [0x10f2_ee1d_87d1_95e4, 0xf747_a2b7_8f6d_db31];
    /// TPM event log (newer than crate 0.5).
    pub const TPM_EVENT_LOG: [u64; 2] = [0x98e0_94fc_7e76_e979, 0xee8d_8775_c54e_1d1f];
    /// Flanterm framebuffer parameters (newer than crate 0.5).
    pub const FLANTERM_FB_PARAMS: [u64; 2] = [0x3259_399f_e7c5_f126, 0xe01c_1c8c_5db9_d1a9];
    /// Entropy (newer than crate 0.5).
    pub const ENTROPY: [u64; 2] = [0x65ea_8025_5d56_82c5, 0x9117_2407_23f4_93eb];
}

/// Every feature the digest lists, so the glue can dispatch on a found request.
///
/// The loader does not have to answer all of them; an unanswered request keeps a NULL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// See [`feature_id::BOOTLOADER_INFO`].
    BootloaderInfo,
    /// See [`feature_id::EXECUTABLE_CMDLINE`].
    ExecutableCmdline,
    /// See [`feature_id::FIRMWARE_TYPE`].
    FirmwareType,
    /// See [`feature_id::STACK_SIZE`].
    StackSize,
    /// See [`feature_id::HHDM`].
    Hhdm,
    /// See [`feature_id::FRAMEBUFFER`].
    Framebuffer,
    /// See [`feature_id::PAGING_MODE`].
    PagingMode,
    /// See [`feature_id::MP`].
    Mp,
    /// See [`feature_id::MEMMAP`].
    Memmap,
    /// See [`feature_id::ENTRY_POINT`].
    EntryPoint,
    /// See [`feature_id::EXECUTABLE_FILE`].
    ExecutableFile,
    /// See [`feature_id::MODULE`].
    Module,
    /// See [`feature_id::RSDP`].
    Rsdp,
    /// See [`feature_id::SMBIOS`].
    Smbios,
    /// See [`feature_id::EFI_SYSTEM_TABLE`].
    EfiSystemTable,
    /// See [`feature_id::EFI_MEMMAP`].
    EfiMemmap,
    /// See [`feature_id::DATE_AT_BOOT`].
    DateAtBoot,
    /// See [`feature_id::EXECUTABLE_ADDRESS`].
    ExecutableAddress,
    /// See [`feature_id::DTB`].
    Dtb,
    /// See [`feature_id::FIVE_LEVEL_PAGING`] (deprecated).
    FiveLevelPaging,
    /// See [`feature_id::TERMINAL`] (deprecated).
    Terminal,
    /// See [`feature_id::BOOTLOADER_PERFORMANCE`].
    BootloaderPerformance,
    /// See [`feature_id::KEEP_IOMMU`].
    KeepIommu,
    /// See [`feature_id::TSC_FREQUENCY`].
    TscFrequency,
    /// See [`feature_id::TPM_EVENT_LOG`].
    TpmEventLog,
    /// See [`feature_id::FLANTERM_FB_PARAMS`].
    FlantermFbParams,
    /// See [`feature_id::ENTROPY`].
    Entropy,
}

impl Feature {
    /// Every variant, in declaration order.
    pub const ALL: [Feature; 27] = [
        Feature::BootloaderInfo,
        Feature::ExecutableCmdline,
        Feature::FirmwareType,
        Feature::StackSize,
        Feature::Hhdm,
        Feature::Framebuffer,
        Feature::PagingMode,
        Feature::Mp,
        Feature::Memmap,
        Feature::EntryPoint,
        Feature::ExecutableFile,
        Feature::Module,
        Feature::Rsdp,
        Feature::Smbios,
        Feature::EfiSystemTable,
        Feature::EfiMemmap,
        Feature::DateAtBoot,
        Feature::ExecutableAddress,
        Feature::Dtb,
        Feature::FiveLevelPaging,
        Feature::Terminal,
        Feature::BootloaderPerformance,
        Feature::KeepIommu,
        Feature::TscFrequency,
        Feature::TpmEventLog,
        Feature::FlantermFbParams,
        Feature::Entropy,
    ];

    /// Words 2 and 3 of this feature's request ID.
    pub const fn id(self) -> [u64; 2] {
        use feature_id as f;
        match self {
            Feature::BootloaderInfo => f::BOOTLOADER_INFO,
            Feature::ExecutableCmdline => f::EXECUTABLE_CMDLINE,
            Feature::FirmwareType => f::FIRMWARE_TYPE,
            Feature::StackSize => f::STACK_SIZE,
            Feature::Hhdm => f::HHDM,
            Feature::Framebuffer => f::FRAMEBUFFER,
            Feature::PagingMode => f::PAGING_MODE,
            Feature::Mp => f::MP,
            Feature::Memmap => f::MEMMAP,
            Feature::EntryPoint => f::ENTRY_POINT,
            Feature::ExecutableFile => f::EXECUTABLE_FILE,
            Feature::Module => f::MODULE,
            Feature::Rsdp => f::RSDP,
            Feature::Smbios => f::SMBIOS,
            Feature::EfiSystemTable => f::EFI_SYSTEM_TABLE,
            Feature::EfiMemmap => f::EFI_MEMMAP,
            Feature::DateAtBoot => f::DATE_AT_BOOT,
            Feature::ExecutableAddress => f::EXECUTABLE_ADDRESS,
            Feature::Dtb => f::DTB,
            Feature::FiveLevelPaging => f::FIVE_LEVEL_PAGING,
            Feature::Terminal => f::TERMINAL,
            Feature::BootloaderPerformance => f::BOOTLOADER_PERFORMANCE,
            Feature::KeepIommu => f::KEEP_IOMMU,
            Feature::TscFrequency => f::TSC_FREQUENCY,
            Feature::TpmEventLog => f::TPM_EVENT_LOG,
            Feature::FlantermFbParams => f::FLANTERM_FB_PARAMS,
            Feature::Entropy => f::ENTROPY,
        }
    }

    /// The full 4-word request ID ([`COMMON_MAGIC`] followed by [`Feature::id`]).
    pub const fn full_id(self) -> [u64; 4] {
        let id = self.id();
        [COMMON_MAGIC[0], COMMON_MAGIC[1], id[0], id[1]]
    }

    /// The feature with these ID words 2 and 3, if it is one the digest lists.
    pub fn from_id(id: [u64; 2]) -> Option<Feature> {
        Feature::ALL.iter().copied().find(|f| f.id() == id)
    }

    /// Human-readable name, used in log lines and error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::BootloaderInfo => "bootloader info",
            Feature::ExecutableCmdline => "executable cmdline",
            Feature::FirmwareType => "firmware type",
            Feature::StackSize => "stack size",
            Feature::Hhdm => "HHDM",
            Feature::Framebuffer => "framebuffer",
            Feature::PagingMode => "paging mode",
            Feature::Mp => "MP",
            Feature::Memmap => "memory map",
            Feature::EntryPoint => "entry point",
            Feature::ExecutableFile => "executable file",
            Feature::Module => "module",
            Feature::Rsdp => "RSDP",
            Feature::Smbios => "SMBIOS",
            Feature::EfiSystemTable => "EFI system table",
            Feature::EfiMemmap => "EFI memory map",
            Feature::DateAtBoot => "date at boot",
            Feature::ExecutableAddress => "executable address",
            Feature::Dtb => "device tree blob",
            Feature::FiveLevelPaging => "5-level paging (deprecated)",
            Feature::Terminal => "terminal (deprecated)",
            Feature::BootloaderPerformance => "bootloader performance",
            Feature::KeepIommu => "keep IOMMU",
            Feature::TscFrequency => "TSC frequency",
            Feature::TpmEventLog => "TPM event log",
            Feature::FlantermFbParams => "flanterm framebuffer parameters",
            Feature::Entropy => "entropy",
        }
    }
}

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

// ---------------------------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------------------------

/// An access to a byte image fell (partly) outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    /// Offset of the attempted access.
    pub offset: usize,
    /// Size of the attempted access in bytes.
    pub size: usize,
    /// Length of the image.
    pub len: usize,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "access of {} bytes at offset {:#x} lies outside the {:#x}-byte kernel image \
             (loader bug or truncated image)",
            self.size, self.offset, self.len
        )
    }
}

impl core::error::Error for OutOfBounds {}

/// Reads a little-endian `u64` at `offset`; `None` if the 8 bytes are not all inside `bytes`.
/// The offset need not be aligned.
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(8)?;
    let raw: [u8; 8] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

/// Writes `value` little-endian at `offset`.
///
/// # Errors
///
/// [`OutOfBounds`] if the 8 bytes are not all inside `bytes`; nothing is written then.
pub fn write_u64(bytes: &mut [u8], offset: usize, value: u64) -> Result<(), OutOfBounds> {
    let len = bytes.len();
    let err = OutOfBounds {
        offset,
        size: 8,
        len,
    };
    let end = offset.checked_add(8).ok_or(err)?;
    let dst = bytes.get_mut(offset..end).ok_or(err)?;
    dst.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// True if the words at `offset` equal `words` (all of them inside `bytes`).
fn words_match(bytes: &[u8], offset: usize, words: &[u64]) -> bool {
    words.iter().enumerate().all(|(i, &w)| {
        i.checked_mul(8)
            .and_then(|d| offset.checked_add(d))
            .and_then(|o| read_u64(bytes, o))
            == Some(w)
    })
}

// ---------------------------------------------------------------------------------------------
// The scan
// ---------------------------------------------------------------------------------------------

/// A request found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundRequest {
    /// Byte offset of the request in the scanned image (8-byte aligned).
    pub offset: usize,
    /// ID words 2 and 3.
    pub id: [u64; 2],
    /// The request's `revision` field (+32).
    pub revision: u64,
}

impl FoundRequest {
    /// The feature this request asks for, if the digest lists its ID.
    pub fn feature(&self) -> Option<Feature> {
        Feature::from_id(self.id)
    }

    /// Byte offset of the request's `response` pointer in the image.
    pub const fn response_offset(&self) -> usize {
        self.offset.saturating_add(REQUEST_RESPONSE_OFFSET)
    }

    /// Byte offset in the image of a feature field at `field` bytes into the request (see
    /// [`request_field`]). Saturates instead of overflowing; [`read_u64`] then reports `None`.
    pub const fn field_offset(&self, field: usize) -> usize {
        self.offset.saturating_add(field)
    }
}

/// The base revision tag found by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// Byte offset of the tag (word 0) in the scanned image.
    pub offset: usize,
    /// Word 2 as the kernel left it: the requested base revision.
    pub requested_revision: u64,
}

/// Result of [`scan`]: what lies between the last start marker and the first end marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// The base revision tag, if present. `None` means the kernel asks for revision 0.
    pub tag: Option<TagInfo>,
    /// Requests in image order (at most [`MAX_REQUESTS`], IDs unique).
    pub requests: Vec<FoundRequest>,
}

impl Scan {
    /// The request for `feature`, if the kernel made one.
    pub fn find(&self, feature: Feature) -> Option<&FoundRequest> {
        let id = feature.id();
        self.requests.iter().find(|r| r.id == id)
    }
}

/// Why [`scan`] refused the kernel image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// Two requests with the same ID (the protocol forbids it).
    DuplicateRequest {
        /// ID words 2 and 3.
        id: [u64; 2],
        /// Offset of the first occurrence.
        first: usize,
        /// Offset of the second occurrence.
        second: usize,
    },
    /// More than [`MAX_REQUESTS`] requests.
    TooManyRequests,
    /// Two base revision tags.
    DuplicateTag {
        /// Offset of the first tag.
        first: usize,
        /// Offset of the second tag.
        second: usize,
    },
    /// A request's ID sits so close to the end of the file-backed image that its 48-byte header
    /// does not fit.
    TruncatedRequest {
        /// Offset of the request.
        offset: usize,
        /// Bytes available from the offset to the end of the file-backed image.
        available: usize,
    },
    /// A base revision tag's magic sits so close to the end of the file-backed image that its
    /// revision word does not fit.
    TruncatedTag {
        /// Offset of the tag.
        offset: usize,
        /// Bytes available from the offset to the end of the file-backed image.
        available: usize,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ScanError::DuplicateRequest { id, first, second } => {
                let name = Feature::from_id(id).map_or("unknown feature", Feature::name);
                write!(
                    f,
                    "kernel has two requests with ID {:#018x} {:#018x} ({name}) at image offsets \
                     {first:#x} and {second:#x}; each request may appear only once, remove the \
                     duplicate static",
                    id[0], id[1]
                )
            }
            ScanError::TooManyRequests => write!(
                f,
                "kernel has more than {MAX_REQUESTS} requests between its markers; the loader \
                 accepts at most {MAX_REQUESTS}"
            ),
            ScanError::DuplicateTag { first, second } => write!(
                f,
                "kernel has two base revision tags (image offsets {first:#x} and {second:#x}); \
                 keep exactly one"
            ),
            ScanError::TruncatedRequest { offset, available } => write!(
                f,
                "request at image offset {offset:#x} is cut off by the end of the file-backed \
                 image (needs {REQUEST_HEADER_SIZE} bytes, {available} present); place requests \
                 in a file-backed section between the markers"
            ),
            ScanError::TruncatedTag { offset, available } => write!(
                f,
                "base revision tag at image offset {offset:#x} is cut off by the end of the \
                 file-backed image (needs {BASE_REVISION_TAG_SIZE} bytes, {available} present); \
                 place it in a file-backed section"
            ),
        }
    }
}

impl core::error::Error for ScanError {}

/// What the scan collected since the last start marker.
#[derive(Default)]
struct Window {
    scan: Scan,
    /// First protocol violation in this window. Reported only if no later start marker discards
    /// the window, because only what follows the last start marker counts.
    error: Option<ScanError>,
    /// Requests seen in this window, including those beyond the limit that were not stored.
    seen: usize,
}

impl Window {
    fn fail(&mut self, e: ScanError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn add_request(&mut self, req: FoundRequest) {
        self.seen = self.seen.saturating_add(1);
        if let Some(prev) = self.scan.requests.iter().find(|r| r.id == req.id) {
            let e = ScanError::DuplicateRequest {
                id: req.id,
                first: prev.offset,
                second: req.offset,
            };
            self.fail(e);
            return;
        }
        if self.scan.requests.len() >= MAX_REQUESTS {
            self.fail(ScanError::TooManyRequests);
            return;
        }
        self.scan.requests.push(req);
    }

    fn add_tag(&mut self, tag: TagInfo) {
        match self.scan.tag {
            Some(prev) => self.fail(ScanError::DuplicateTag {
                first: prev.offset,
                second: tag.offset,
            }),
            None => self.scan.tag = Some(tag),
        }
    }
}

/// Scans a kernel image for the base revision tag and the requests.
///
/// `image` is the relocated, file-backed part of the loaded image, starting at its lowest virtual
/// address (so offsets here are `virt - virtual_base`). The scan looks at every 8-byte-aligned
/// offset from 0, without skipping over what it recognises:
///
/// - a start marker discards everything collected so far (requests, tag, and any error among
///   them), so only what follows the **last** start marker counts;
/// - the **first** end marker stops the scan; with no markers at all the whole image counts;
/// - [`COMMON_MAGIC`] in words 0–1 is a request, [`BASE_REVISION_MAGIC`] in words 0–1 a tag.
///
/// # Errors
///
/// [`ScanError`] for a duplicate request ID, more than [`MAX_REQUESTS`] requests, a second tag,
/// or a request/tag whose fields run past the end of `image`, counted only after the last start
/// marker. Never panics, whatever the bytes.
pub fn scan(image: &[u8]) -> Result<Scan, ScanError> {
    let mut window = Window::default();
    let mut offset = 0usize;
    while let Some(w0) = read_u64(image, offset) {
        let available = image.len().saturating_sub(offset);
        if w0 == REQUESTS_START_MARKER[0] && words_match(image, offset, &REQUESTS_START_MARKER) {
            window = Window::default();
        } else if w0 == REQUESTS_END_MARKER[0] && words_match(image, offset, &REQUESTS_END_MARKER) {
            break;
        } else if w0 == COMMON_MAGIC[0] && words_match(image, offset, &COMMON_MAGIC) {
            let field = |at: usize| offset.checked_add(at).and_then(|o| read_u64(image, o));
            match (field(16), field(24), field(REQUEST_REVISION_OFFSET)) {
                (Some(id2), Some(id3), Some(revision)) if available >= REQUEST_HEADER_SIZE => {
                    window.add_request(FoundRequest {
                        offset,
                        id: [id2, id3],
                        revision,
                    });
                }
                _ => window.fail(ScanError::TruncatedRequest { offset, available }),
            }
        } else if w0 == BASE_REVISION_MAGIC[0] && words_match(image, offset, &BASE_REVISION_MAGIC) {
            match offset.checked_add(16).and_then(|o| read_u64(image, o)) {
                Some(requested_revision) => window.add_tag(TagInfo {
                    offset,
                    requested_revision,
                }),
                None => window.fail(ScanError::TruncatedTag { offset, available }),
            }
        }
        match offset.checked_add(8) {
            Some(next) => offset = next,
            None => break,
        }
    }
    match window.error {
        Some(e) => Err(e),
        None => Ok(window.scan),
    }
}

// ---------------------------------------------------------------------------------------------
// Base revision negotiation
// ---------------------------------------------------------------------------------------------

/// Clamps a configured maximum revision (a test knob emulating older loaders) to
/// [`LOADER_MIN_REVISION`]`..=`[`LOADER_MAX_REVISION`].
pub const fn clamp_cap(cap: u64) -> u64 {
    if cap < LOADER_MIN_REVISION {
        LOADER_MIN_REVISION
    } else if cap > LOADER_MAX_REVISION {
        LOADER_MAX_REVISION
    } else {
        cap
    }
}

/// The outcome of [`negotiate`]: the revision to boot with and what to write into the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// Base revision the loader boots with (decides HHDM coverage, pointer kinds, memmap types).
    pub revision: u64,
    /// Revision the kernel asked for (tag word 2 as found).
    pub requested: u64,
    /// Whether the requested revision is served as asked. If not, the kernel's request was
    /// higher than the cap and the loader boots with the cap.
    pub supported: bool,
}

impl Negotiated {
    /// Value for tag word 1: always the revision used.
    pub const fn word1(&self) -> u64 {
        self.revision
    }

    /// Value for tag word 2: `Some(0)` when the request is supported, `None` (leave the kernel's
    /// value unchanged so it can decide whether to stop) otherwise.
    pub const fn word2(&self) -> Option<u64> {
        if self.supported { Some(0) } else { None }
    }
}

/// Why [`negotiate`] refuses to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionError {
    /// No base revision tag: the kernel implicitly asks for revision 0.
    NoTag,
    /// The kernel asks for a revision this loader has dropped.
    Dropped {
        /// Requested revision.
        requested: u64,
    },
}

impl fmt::Display for RevisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevisionError::NoTag => write!(
                f,
                "kernel has no base revision tag, which means base revision 0; this loader serves \
                 base revisions {LOADER_MIN_REVISION}..={LOADER_MAX_REVISION} only. Add a base \
                 revision tag asking for {LOADER_MIN_REVISION} or later inside the request markers"
            ),
            RevisionError::Dropped { requested } => write!(
                f,
                "kernel asks for base revision {requested}, which this loader no longer supports; \
                 it serves base revisions {LOADER_MIN_REVISION}..={LOADER_MAX_REVISION}. Rebuild \
                 the kernel asking for revision {LOADER_MIN_REVISION} or later"
            ),
        }
    }
}

impl core::error::Error for RevisionError {}

/// Decides the base revision from the tag's word 2 (`None` when there is no tag) and the
/// loader's maximum `cap` (normally [`LOADER_MAX_REVISION`]; clamped with [`clamp_cap`]).
///
/// | requested            | result                                              |
/// |----------------------|-----------------------------------------------------|
/// | no tag (revision 0)  | refuse ([`RevisionError::NoTag`])                   |
/// | `< 3`                | refuse ([`RevisionError::Dropped`])                 |
/// | `3..=cap`            | boot with it; word 1 := it, word 2 := 0             |
/// | `> cap`              | boot with `cap`; word 1 := cap, word 2 unchanged    |
///
/// For a request above the cap the newest spec recommends refusing; we follow the older rule
/// (boot and let the kernel decide), which is what kernels that check word 2 expect.
///
/// # Errors
///
/// [`RevisionError`] when the loader must refuse to boot.
pub fn negotiate(requested: Option<u64>, cap: u64) -> Result<Negotiated, RevisionError> {
    let cap = clamp_cap(cap);
    let requested = requested.ok_or(RevisionError::NoTag)?;
    if requested < LOADER_MIN_REVISION {
        return Err(RevisionError::Dropped { requested });
    }
    Ok(if requested <= cap {
        Negotiated {
            revision: requested,
            requested,
            supported: true,
        }
    } else {
        Negotiated {
            revision: cap,
            requested,
            supported: false,
        }
    })
}

/// Writes the negotiation result into the tag found at `tag.offset` in `image`: word 1 always,
/// word 2 only when [`Negotiated::word2`] says so.
///
/// # Errors
///
/// [`OutOfBounds`] if the tag does not lie inside `image` (then nothing is written).
pub fn write_tag(image: &mut [u8], tag: &TagInfo, result: &Negotiated) -> Result<(), OutOfBounds> {
    let len = image.len();
    let err = OutOfBounds {
        offset: tag.offset,
        size: BASE_REVISION_TAG_SIZE,
        len,
    };
    let end = tag.offset.checked_add(BASE_REVISION_TAG_SIZE).ok_or(err)?;
    if end > len {
        return Err(err);
    }
    write_u64(image, tag.offset + 8, result.word1())?;
    if let Some(w2) = result.word2() {
        write_u64(image, tag.offset + 16, w2)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Revision-dependent rules
// ---------------------------------------------------------------------------------------------

/// Whether the HHDM maps memory map entries of type `memmap_type` under base `revision`.
///
/// - 3: USABLE, BOOTLOADER_RECLAIMABLE, EXECUTABLE_AND_MODULES, FRAMEBUFFER.
/// - 4 and later (5 and 6 equal 4 on x86): also ACPI_RECLAIMABLE, ACPI_NVS, RESERVED_MAPPED.
///   (From 5 the EFI runtime regions are typed RESERVED_MAPPED; that is a memory map concern.)
/// - 1 and 2: every known type except RESERVED and BAD_MEMORY; 0: every known type. These
///   revisions also map all of 0–4 GiB, which a per-type answer cannot express; the loader does
///   not serve them.
///
/// Unknown types are never covered.
pub const fn hhdm_covers(memmap_type: u64, revision: u64) -> bool {
    let rev3 = matches!(
        memmap_type,
        MEMMAP_USABLE
            | MEMMAP_BOOTLOADER_RECLAIMABLE
            | MEMMAP_EXECUTABLE_AND_MODULES
            | MEMMAP_FRAMEBUFFER
    );
    match revision {
        0 => memmap_type <= MEMMAP_FRAMEBUFFER,
        1 | 2 => {
            memmap_type <= MEMMAP_FRAMEBUFFER
                && memmap_type != MEMMAP_RESERVED
                && memmap_type != MEMMAP_BAD_MEMORY
        }
        3 => rev3,
        _ => {
            rev3 || matches!(
                memmap_type,
                MEMMAP_ACPI_RECLAIMABLE | MEMMAP_ACPI_NVS | MEMMAP_RESERVED_MAPPED
            )
        }
    }
}

/// Whether the RSDP response holds a physical address (revision 3 only; HHDM otherwise).
pub const fn rsdp_pointer_physical(revision: u64) -> bool {
    revision == 3
}

/// Whether the SMBIOS response's entry points are physical (revisions 3 and 4; HHDM otherwise).
pub const fn smbios_pointers_physical(revision: u64) -> bool {
    revision == 3 || revision == 4
}

/// Whether the EFI system table response holds a physical address (revisions 3 and 4; HHDM
/// otherwise).
pub const fn efi_system_table_pointer_physical(revision: u64) -> bool {
    revision == 3 || revision == 4
}

// ---------------------------------------------------------------------------------------------
// Response layouts
// ---------------------------------------------------------------------------------------------

/// The field every response starts with.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// Response revision the loader implements.
    pub revision: u64,
}

/// Bootloader info response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BootloaderInfoResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of a NUL-terminated ASCII name.
    pub name: u64,
    /// HHDM address of a NUL-terminated ASCII version.
    pub version: u64,
}

/// Executable command line response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableCmdlineResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of the NUL-terminated command line (`""` when unset, never NULL).
    pub cmdline: u64,
}

/// Firmware type response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirmwareTypeResponse {
    /// Response revision (0).
    pub revision: u64,
    /// One of the `FIRMWARE_TYPE_*` constants ([`FIRMWARE_TYPE_UEFI64`] for us).
    pub firmware_type: u64,
}

/// Stack size response (revision 0, no fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackSizeResponse {
    /// Response revision (0).
    pub revision: u64,
}

/// HHDM response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HhdmResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Virtual address of physical address 0.
    pub offset: u64,
}

/// Framebuffer response (revision 1 when every framebuffer has valid `mode_count`/`modes`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramebufferResponse {
    /// Response revision.
    pub revision: u64,
    /// Number of framebuffers.
    pub framebuffer_count: u64,
    /// HHDM address of an array of `framebuffer_count` HHDM pointers to [`Framebuffer`].
    pub framebuffers: u64,
}

/// `limine_framebuffer` (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framebuffer {
    /// HHDM address of the pixels (mapped write-combining).
    pub address: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    /// Bits per pixel.
    pub bpp: u16,
    /// [`FRAMEBUFFER_RGB`].
    pub memory_model: u8,
    /// Red mask width in bits.
    pub red_mask_size: u8,
    /// Red mask lowest bit.
    pub red_mask_shift: u8,
    /// Green mask width in bits.
    pub green_mask_size: u8,
    /// Green mask lowest bit.
    pub green_mask_shift: u8,
    /// Blue mask width in bits.
    pub blue_mask_size: u8,
    /// Blue mask lowest bit.
    pub blue_mask_shift: u8,
    /// Unused, zero.
    pub unused: [u8; 7],
    /// EDID size in bytes (0 if none).
    pub edid_size: u64,
    /// HHDM address of the EDID blob, NULL if none.
    pub edid: u64,
    /// Number of video modes (response revision ≥ 1).
    pub mode_count: u64,
    /// HHDM address of an array of HHDM pointers to [`VideoMode`] (response revision ≥ 1).
    pub modes: u64,
}

/// `limine_video_mode` (40 bytes; the last 7 are padding, zero).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VideoMode {
    /// Bytes per row.
    pub pitch: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bits per pixel.
    pub bpp: u16,
    /// [`FRAMEBUFFER_RGB`].
    pub memory_model: u8,
    /// Red mask width in bits.
    pub red_mask_size: u8,
    /// Red mask lowest bit.
    pub red_mask_shift: u8,
    /// Green mask width in bits.
    pub green_mask_size: u8,
    /// Green mask lowest bit.
    pub green_mask_shift: u8,
    /// Blue mask width in bits.
    pub blue_mask_size: u8,
    /// Blue mask lowest bit.
    pub blue_mask_shift: u8,
    /// Tail padding of the C struct, made explicit so every byte is initialised.
    pub padding: [u8; 7],
}

/// Paging mode response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PagingModeResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Mode enabled ([`PAGING_MODE_X86_64_4LVL`] for us).
    pub mode: u64,
}

/// MP response, x86-64 layout (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MpResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Bit 0 ([`MP_X2APIC`]): x2APIC enabled.
    pub flags: u32,
    /// LAPIC ID of the bootstrap processor.
    pub bsp_lapic_id: u32,
    /// Number of CPUs, BSP included.
    pub cpu_count: u64,
    /// HHDM address of an array of `cpu_count` HHDM pointers to [`MpInfo`].
    pub cpus: u64,
}

/// `limine_mp_info`, x86-64 layout (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MpInfo {
    /// ACPI processor UID from the MADT.
    pub processor_id: u32,
    /// LAPIC ID from the MADT.
    pub lapic_id: u32,
    /// Loader-private (AP stack top); the kernel must not modify it.
    pub reserved: u64,
    /// Where the AP jumps once written (NULL at entry).
    pub goto_address: u64,
    /// Free for the kernel.
    pub extra_argument: u64,
}

/// Memory map response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemmapResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Number of entries.
    pub entry_count: u64,
    /// HHDM address of an array of `entry_count` HHDM pointers to [`MemmapEntry`].
    pub entries: u64,
}

/// `limine_memmap_entry` (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MemmapEntry {
    /// Physical base.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// One of the `MEMMAP_*` constants.
    pub ty: u64,
}

impl MemmapEntry {
    /// End of the entry (exclusive), `None` if it would exceed `u64::MAX`.
    pub const fn end(&self) -> Option<u64> {
        self.base.checked_add(self.length)
    }
}

/// Entry point response (revision 0, no fields).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryPointResponse {
    /// Response revision (0).
    pub revision: u64,
}

/// Executable file response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableFileResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of the [`File`] describing the kernel as read from disk.
    pub executable_file: u64,
}

/// Module response.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModuleResponse {
    /// Response revision.
    pub revision: u64,
    /// Number of modules.
    pub module_count: u64,
    /// HHDM address of an array of `module_count` HHDM pointers to [`File`].
    pub modules: u64,
}

/// `limine_internal_module` as the kernel provides it in a module request (24 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InternalModule {
    /// Virtual address of the path, relative to the executable's directory.
    pub path: u64,
    /// Virtual address of the command line (non-NULL, may be `""`).
    pub cmdline: u64,
    /// [`INTERNAL_MODULE_REQUIRED`], [`INTERNAL_MODULE_COMPRESSED`].
    pub flags: u64,
}

/// `limine_uuid` (16 bytes; all zero means unknown).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uuid {
    /// First group.
    pub a: u32,
    /// Second group.
    pub b: u16,
    /// Third group.
    pub c: u16,
    /// Remaining bytes.
    pub d: [u8; 8],
}

/// `limine_file` (112 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct File {
    /// Structure revision (0).
    pub revision: u64,
    /// HHDM address of the contents (4 KiB aligned).
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// HHDM address of the path within the volume (leading `/`).
    pub path: u64,
    /// HHDM address of the command line (`""` when unset, never NULL).
    pub cmdline: u64,
    /// One of the `MEDIA_TYPE_*` constants.
    pub media_type: u32,
    /// Unused, zero.
    pub unused: u32,
    /// TFTP server IPv4 address (0 if not TFTP).
    pub tftp_ip: u32,
    /// TFTP server port (0 if not TFTP).
    pub tftp_port: u32,
    /// 1-based partition index, 0 = none.
    pub partition_index: u32,
    /// MBR disk ID, 0 = none.
    pub mbr_disk_id: u32,
    /// GPT disk UUID.
    pub gpt_disk_uuid: Uuid,
    /// GPT partition UUID.
    pub gpt_part_uuid: Uuid,
    /// Filesystem UUID.
    pub part_uuid: Uuid,
}

/// RSDP response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RsdpResponse {
    /// Response revision (0).
    pub revision: u64,
    /// RSDP address: physical under revision 3, HHDM otherwise ([`rsdp_pointer_physical`]).
    pub address: u64,
}

/// SMBIOS response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmbiosResponse {
    /// Response revision (0).
    pub revision: u64,
    /// 32-bit (`_SM_`) entry point address, 0 if absent; physical under revisions 3–4.
    pub entry_32: u64,
    /// 64-bit (`_SM3_`) entry point address, 0 if absent; physical under revisions 3–4.
    pub entry_64: u64,
}

/// EFI system table response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EfiSystemTableResponse {
    /// Response revision (0).
    pub revision: u64,
    /// System table address; physical under revisions 3–4, HHDM otherwise.
    pub address: u64,
}

/// EFI memory map response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EfiMemmapResponse {
    /// Response revision (0).
    pub revision: u64,
    /// HHDM address of a bootloader-reclaimable copy of the firmware map.
    pub memmap: u64,
    /// Size of that copy in bytes.
    pub memmap_size: u64,
    /// Size of one descriptor.
    pub desc_size: u64,
    /// Descriptor version.
    pub desc_version: u64,
}

/// Date at boot response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateAtBootResponse {
    /// Response revision (0).
    pub revision: u64,
    /// UNIX time in seconds, from the RTC at boot.
    pub timestamp: i64,
}

/// Executable address response (revision 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExecutableAddressResponse {
    /// Response revision (0).
    pub revision: u64,
    /// Physical address of the image's lowest byte.
    pub physical_base: u64,
    /// Virtual address of the image's lowest byte (lowest `p_vaddr` plus slide).
    pub virtual_base: u64,
}

// Layout checks against digest §1 and §3.
const _: () = {
    assert!(size_of::<RequestHeader>() == 48);
    assert!(offset_of!(RequestHeader, revision) == 32);
    assert!(offset_of!(RequestHeader, response) == 40);

    assert!(size_of::<ResponseHeader>() == 8);

    assert!(size_of::<BootloaderInfoResponse>() == 24);
    assert!(offset_of!(BootloaderInfoResponse, name) == 8);
    assert!(offset_of!(BootloaderInfoResponse, version) == 16);

    assert!(size_of::<ExecutableCmdlineResponse>() == 16);
    assert!(offset_of!(ExecutableCmdlineResponse, cmdline) == 8);

    assert!(size_of::<FirmwareTypeResponse>() == 16);
    assert!(offset_of!(FirmwareTypeResponse, firmware_type) == 8);

    assert!(size_of::<StackSizeResponse>() == 8);

    assert!(size_of::<HhdmResponse>() == 16);
    assert!(offset_of!(HhdmResponse, offset) == 8);

    assert!(size_of::<FramebufferResponse>() == 24);
    assert!(offset_of!(FramebufferResponse, framebuffer_count) == 8);
    assert!(offset_of!(FramebufferResponse, framebuffers) == 16);

    assert!(size_of::<Framebuffer>() == 80);
    assert!(offset_of!(Framebuffer, address) == 0);
    assert!(offset_of!(Framebuffer, width) == 8);
    assert!(offset_of!(Framebuffer, height) == 16);
    assert!(offset_of!(Framebuffer, pitch) == 24);
    assert!(offset_of!(Framebuffer, bpp) == 32);
    assert!(offset_of!(Framebuffer, memory_model) == 34);
    assert!(offset_of!(Framebuffer, red_mask_size) == 35);
    assert!(offset_of!(Framebuffer, red_mask_shift) == 36);
    assert!(offset_of!(Framebuffer, green_mask_size) == 37);
    assert!(offset_of!(Framebuffer, green_mask_shift) == 38);
    assert!(offset_of!(Framebuffer, blue_mask_size) == 39);
    assert!(offset_of!(Framebuffer, blue_mask_shift) == 40);
    assert!(offset_of!(Framebuffer, unused) == 41);
    assert!(offset_of!(Framebuffer, edid_size) == 48);
    assert!(offset_of!(Framebuffer, edid) == 56);
    assert!(offset_of!(Framebuffer, mode_count) == 64);
    assert!(offset_of!(Framebuffer, modes) == 72);

    assert!(size_of::<VideoMode>() == 40);
    assert!(offset_of!(VideoMode, pitch) == 0);
    assert!(offset_of!(VideoMode, width) == 8);
    assert!(offset_of!(VideoMode, height) == 16);
    assert!(offset_of!(VideoMode, bpp) == 24);
    assert!(offset_of!(VideoMode, memory_model) == 26);
    assert!(offset_of!(VideoMode, red_mask_size) == 27);
    assert!(offset_of!(VideoMode, red_mask_shift) == 28);
    assert!(offset_of!(VideoMode, green_mask_size) == 29);
    assert!(offset_of!(VideoMode, green_mask_shift) == 30);
    assert!(offset_of!(VideoMode, blue_mask_size) == 31);
    assert!(offset_of!(VideoMode, blue_mask_shift) == 32);

    assert!(size_of::<PagingModeResponse>() == 16);
    assert!(offset_of!(PagingModeResponse, mode) == 8);

    assert!(size_of::<MpResponse>() == 32);
    assert!(offset_of!(MpResponse, flags) == 8);
    assert!(offset_of!(MpResponse, bsp_lapic_id) == 12);
    assert!(offset_of!(MpResponse, cpu_count) == 16);
    assert!(offset_of!(MpResponse, cpus) == 24);

    assert!(size_of::<MpInfo>() == 32);
    assert!(offset_of!(MpInfo, processor_id) == 0);
    assert!(offset_of!(MpInfo, lapic_id) == 4);
    assert!(offset_of!(MpInfo, reserved) == 8);
    assert!(offset_of!(MpInfo, goto_address) == 16);
    assert!(offset_of!(MpInfo, extra_argument) == 24);

    assert!(size_of::<MemmapResponse>() == 24);
    assert!(offset_of!(MemmapResponse, entry_count) == 8);
    assert!(offset_of!(MemmapResponse, entries) == 16);

    assert!(size_of::<MemmapEntry>() == 24);
    assert!(offset_of!(MemmapEntry, base) == 0);
    assert!(offset_of!(MemmapEntry, length) == 8);
    assert!(offset_of!(MemmapEntry, ty) == 16);

    assert!(size_of::<EntryPointResponse>() == 8);

    assert!(size_of::<ExecutableFileResponse>() == 16);
    assert!(offset_of!(ExecutableFileResponse, executable_file) == 8);

    assert!(size_of::<ModuleResponse>() == 24);
    assert!(offset_of!(ModuleResponse, module_count) == 8);
    assert!(offset_of!(ModuleResponse, modules) == 16);

    assert!(size_of::<InternalModule>() == 24);
    assert!(offset_of!(InternalModule, path) == 0);
    assert!(offset_of!(InternalModule, cmdline) == 8);
    assert!(offset_of!(InternalModule, flags) == 16);

    assert!(size_of::<Uuid>() == 16);
    assert!(offset_of!(Uuid, a) == 0);
    assert!(offset_of!(Uuid, b) == 4);
    assert!(offset_of!(Uuid, c) == 6);
    assert!(offset_of!(Uuid, d) == 8);

    assert!(size_of::<File>() == 112);
    assert!(offset_of!(File, revision) == 0);
    assert!(offset_of!(File, address) == 8);
    assert!(offset_of!(File, size) == 16);
    assert!(offset_of!(File, path) == 24);
    assert!(offset_of!(File, cmdline) == 32);
    assert!(offset_of!(File, media_type) == 40);
    assert!(offset_of!(File, unused) == 44);
    assert!(offset_of!(File, tftp_ip) == 48);
    assert!(offset_of!(File, tftp_port) == 52);
    assert!(offset_of!(File, partition_index) == 56);
    assert!(offset_of!(File, mbr_disk_id) == 60);
    assert!(offset_of!(File, gpt_disk_uuid) == 64);
    assert!(offset_of!(File, gpt_part_uuid) == 80);
    assert!(offset_of!(File, part_uuid) == 96);

    assert!(size_of::<RsdpResponse>() == 16);
    assert!(offset_of!(RsdpResponse, address) == 8);

    assert!(size_of::<SmbiosResponse>() == 24);
    assert!(offset_of!(SmbiosResponse, entry_32) == 8);
    assert!(offset_of!(SmbiosResponse, entry_64) == 16);

    assert!(size_of::<EfiSystemTableResponse>() == 16);
    assert!(offset_of!(EfiSystemTableResponse, address) == 8);

    assert!(size_of::<EfiMemmapResponse>() == 40);
    assert!(offset_of!(EfiMemmapResponse, memmap) == 8);
    assert!(offset_of!(EfiMemmapResponse, memmap_size) == 16);
    assert!(offset_of!(EfiMemmapResponse, desc_size) == 24);
    assert!(offset_of!(EfiMemmapResponse, desc_version) == 32);

    assert!(size_of::<DateAtBootResponse>() == 16);
    assert!(offset_of!(DateAtBootResponse, timestamp) == 8);

    assert!(size_of::<ExecutableAddressResponse>() == 24);
    assert!(offset_of!(ExecutableAddressResponse, physical_base) == 8);
    assert!(offset_of!(ExecutableAddressResponse, virtual_base) == 16);
};

#[cfg(test)]
mod tests;
