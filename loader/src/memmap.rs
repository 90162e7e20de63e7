//! UEFI memory map to Limine memory map conversion.
//!
//! The UEFI glue (`firmware/`) takes the firmware map at ExitBootServices and converts each
//! descriptor into a plain [`UefiRegion`]; [`crate::boot`] calls [`build`] with the regions the
//! loader itself knows better than the firmware ([`Overlay`]: the kernel image, modules, the
//! framebuffer). [`build`] returns the sorted [`LimineEntry`] list the memory map response
//! points to, and [`validate`] re-checks the protocol's promises (run as a self-check before
//! entering the kernel). [`totals`] sums the result for a log line.
//!
//! # Type mapping ([`limine_type`])
//!
//! | UEFI type (raw value)                          | Limine type                            |
//! |------------------------------------------------|----------------------------------------|
//! | ConventionalMemory (7)                         | USABLE                                 |
//! | LoaderCode/Data (1, 2)                         | BOOTLOADER_RECLAIMABLE                 |
//! | BootServicesCode/Data (3, 4)                   | BOOTLOADER_RECLAIMABLE                 |
//! | RuntimeServicesCode/Data (5, 6)                | RESERVED; RESERVED_MAPPED from rev. 5  |
//! | ACPIReclaimMemory (9)                          | ACPI_RECLAIMABLE                       |
//! | ACPIMemoryNVS (10)                             | ACPI_NVS                               |
//! | UnusableMemory (8)                             | BAD_MEMORY                             |
//! | [`KERNEL_MEMORY_TYPE`]                         | EXECUTABLE_AND_MODULES                 |
//! | Reserved (0), MMIO (11), MMIO port space (12)  | RESERVED                               |
//! | PAL code (13), Persistent (14), Unaccepted (15)| RESERVED                               |
//! | any other value (OEM, OS, unknown)             | RESERVED                               |
//!
//! PersistentMemory is RESERVED because the newest spec maps "everything else" there and a kernel
//! must not treat NVDIMM contents as scratch RAM. Unaccepted memory would need the loader to
//! accept it first (we never do), so it is RESERVED too. From revision 5 the protocol also wants
//! SMBIOS tables and EFI system table data typed RESERVED_MAPPED; the firmware map does not tell
//! us where those are (they usually sit in runtime-services or ACPI memory), so only the runtime
//! services regions become RESERVED_MAPPED. The descriptor attribute is carried but not used.
//!
//! # Resolution rules
//!
//! 1. Overlays win over every firmware region in their range. They are first rounded **out** to
//!    whole 4 KiB pages, so a framebuffer sharing a page with a USABLE or RESERVED region trims
//!    that region. Two overlays must not overlap ([`MemmapError::OverlappingOverlays`]).
//! 2. Where firmware regions overlap each other (a hostile or buggy map), the most restrictive
//!    type wins, in this order (weakest first): USABLE < BOOTLOADER_RECLAIMABLE <
//!    EXECUTABLE_AND_MODULES < ACPI_RECLAIMABLE < ACPI_NVS < RESERVED_MAPPED < FRAMEBUFFER <
//!    RESERVED < BAD_MEMORY. Anything non-usable therefore beats usable and reclaimable memory.
//! 3. USABLE and BOOTLOADER_RECLAIMABLE pieces are rounded **in** to whole pages (base up, end
//!    down); what falls off is left out of the map. Other types keep their exact bounds.
//! 4. Under revision ≤ 2, page 0 (0..0x1000) is never USABLE (it is left out).
//! 5. Adjacent entries of the same type are merged; empty ones are dropped. The result is sorted
//!    by base and has no overlaps at all.
//!
//! A region whose end would pass 2^64 is cut at `u64::MAX` (exclusive).

use crate::protocol::{
    MEMMAP_ACPI_NVS, MEMMAP_ACPI_RECLAIMABLE, MEMMAP_BAD_MEMORY, MEMMAP_BOOTLOADER_RECLAIMABLE,
    MEMMAP_EXECUTABLE_AND_MODULES, MEMMAP_FRAMEBUFFER, MEMMAP_RESERVED, MEMMAP_RESERVED_MAPPED,
    MEMMAP_USABLE, MemmapEntry,
};
use alloc::vec::Vec;
use core::fmt;

/// A Limine memory map entry (`limine_memmap_entry`, 24 bytes, `#[repr(C)]`).
pub type LimineEntry = MemmapEntry;

/// Page granularity of the memory map.
pub const PAGE_SIZE: u64 = 0x1000;

/// Most entries the memory map may have (as in the reference loader).
pub const MAX_ENTRIES: usize = 1024;

/// UEFI memory type the loader uses for `AllocatePages` of the kernel image and modules, in the
/// range UEFI reserves for OS loaders (0x8000_0000..=0xffff_ffff). It maps to
/// EXECUTABLE_AND_MODULES, so the image is typed right even without an [`Overlay`].
pub const KERNEL_MEMORY_TYPE: u32 = 0x8000_0001;

/// Raw `EFI_MEMORY_TYPE` values (UEFI 2.10, table 7.10).
pub mod efi_type {
    /// EfiReservedMemoryType.
    pub const RESERVED: u32 = 0;
    /// EfiLoaderCode.
    pub const LOADER_CODE: u32 = 1;
    /// EfiLoaderData.
    pub const LOADER_DATA: u32 = 2;
    /// EfiBootServicesCode.
    pub const BOOT_SERVICES_CODE: u32 = 3;
    /// EfiBootServicesData.
    pub const BOOT_SERVICES_DATA: u32 = 4;
    /// EfiRuntimeServicesCode.
    pub const RUNTIME_SERVICES_CODE: u32 = 5;
    /// EfiRuntimeServicesData.
    pub const RUNTIME_SERVICES_DATA: u32 = 6;
    /// EfiConventionalMemory.
    pub const CONVENTIONAL: u32 = 7;
    /// EfiUnusableMemory.
    pub const UNUSABLE: u32 = 8;
    /// EfiACPIReclaimMemory.
    pub const ACPI_RECLAIM: u32 = 9;
    /// EfiACPIMemoryNVS.
    pub const ACPI_NVS: u32 = 10;
    /// EfiMemoryMappedIO.
    pub const MMIO: u32 = 11;
    /// EfiMemoryMappedIOPortSpace.
    pub const MMIO_PORT_SPACE: u32 = 12;
    /// EfiPalCode.
    pub const PAL_CODE: u32 = 13;
    /// EfiPersistentMemory.
    pub const PERSISTENT: u32 = 14;
    /// EfiUnacceptedMemoryType.
    pub const UNACCEPTED: u32 = 15;
}

/// One firmware memory descriptor, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UefiRegion {
    /// Raw `EFI_MEMORY_TYPE`.
    pub ty: u32,
    /// Physical start (4 KiB aligned in a well-formed map; not assumed).
    pub phys_start: u64,
    /// Number of 4 KiB pages.
    pub pages: u64,
    /// `EFI_MEMORY_*` attribute bits (carried, not used).
    pub attribute: u64,
}

impl UefiRegion {
    /// Exclusive end, cut at `u64::MAX` if `phys_start + pages * 4096` would overflow.
    pub const fn end(&self) -> u64 {
        let len = self.pages.saturating_mul(PAGE_SIZE);
        self.phys_start.saturating_add(len)
    }
}

/// A firmware region already in Limine's types with byte-exact bounds: what a BIOS memory map
/// (E820, through Multiboot) converts to (see [`crate::bios::limine_regions`]), and the ranges
/// the BIOS entry itself allocated. [`build_with`] resolves them with the same rules as
/// [`UefiRegion`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypedRegion {
    /// Physical start (any alignment).
    pub base: u64,
    /// Length in bytes (the end is cut at `u64::MAX`).
    pub length: u64,
    /// Limine type (`MEMMAP_*`); a value above 8 counts as RESERVED.
    pub ty: u64,
}

impl TypedRegion {
    /// Exclusive end, cut at `u64::MAX`.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }
}

/// A range the loader knows better than the firmware map; it replaces whatever the map says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlay {
    /// Physical base (rounded down to a page by [`build`]).
    pub base: u64,
    /// Length in bytes (the end is rounded up to a page by [`build`]).
    pub length: u64,
    /// Limine type (`MEMMAP_*`, 0..=8).
    pub ty: u64,
}

impl Overlay {
    /// The kernel image block or a module: EXECUTABLE_AND_MODULES.
    pub const fn executable(base: u64, length: u64) -> Overlay {
        Overlay {
            base,
            length,
            ty: MEMMAP_EXECUTABLE_AND_MODULES,
        }
    }

    /// A framebuffer (`pitch * height` bytes from its physical base): FRAMEBUFFER.
    pub const fn framebuffer(base: u64, length: u64) -> Overlay {
        Overlay {
            base,
            length,
            ty: MEMMAP_FRAMEBUFFER,
        }
    }
}

/// Why a memory map could not be built, or which invariant [`validate`] found broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemmapError {
    /// More than [`MAX_ENTRIES`] entries.
    TooManyEntries {
        /// Entries the map would have.
        count: usize,
    },
    /// Two overlays share (after rounding out to pages) the range starting at `at`.
    OverlappingOverlays {
        /// Physical address where the overlap starts.
        at: u64,
    },
    /// An overlay with a type outside 0..=8.
    InvalidOverlayType {
        /// Overlay base.
        base: u64,
        /// The bad type.
        ty: u64,
    },
    /// Entry `index` starts below entry `index - 1`.
    NotSorted {
        /// Entry index.
        index: usize,
    },
    /// Entry `index` has length 0.
    ZeroLength {
        /// Entry index.
        index: usize,
    },
    /// Entry `index` ends beyond 2^64.
    EndOverflow {
        /// Entry index.
        index: usize,
    },
    /// USABLE or BOOTLOADER_RECLAIMABLE entry `index` is not 4 KiB aligned.
    Misaligned {
        /// Entry index.
        index: usize,
    },
    /// USABLE or BOOTLOADER_RECLAIMABLE entry `index` overlaps entry `other`.
    Overlap {
        /// The usable or reclaimable entry.
        index: usize,
        /// The entry it overlaps.
        other: usize,
    },
    /// Entry `index` has a type that base `revision` does not define.
    UnknownType {
        /// Entry index.
        index: usize,
        /// The type.
        ty: u64,
        /// The base revision checked against.
        revision: u64,
    },
    /// Under revision ≤ 2, a USABLE entry covers part of page 0.
    PageZeroUsable {
        /// Entry index.
        index: usize,
    },
}

impl fmt::Display for MemmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemmapError::TooManyEntries { count } => write!(
                f,
                "memory map would have {count} entries, more than the protocol's {MAX_ENTRIES}; \
                 the firmware map is too fragmented for this loader"
            ),
            MemmapError::OverlappingOverlays { at } => write!(
                f,
                "loader-owned ranges (kernel image, modules, framebuffer) overlap at physical \
                 {at:#x} after rounding to pages; this is a loader bug"
            ),
            MemmapError::InvalidOverlayType { base, ty } => write!(
                f,
                "loader-owned range at physical {base:#x} has memory map type {ty}, which is not \
                 a Limine type (0..=8); this is a loader bug"
            ),
            MemmapError::NotSorted { index } => write!(
                f,
                "memory map entry {index} starts below entry {}; entries must be sorted by base",
                index.saturating_sub(1)
            ),
            MemmapError::ZeroLength { index } => {
                write!(f, "memory map entry {index} has length 0")
            }
            MemmapError::EndOverflow { index } => {
                write!(
                    f,
                    "memory map entry {index} ends beyond the 64-bit address space"
                )
            }
            MemmapError::Misaligned { index } => write!(
                f,
                "memory map entry {index} is usable or bootloader-reclaimable but not 4 KiB \
                 aligned in base and length"
            ),
            MemmapError::Overlap { index, other } => write!(
                f,
                "memory map entry {index} is usable or bootloader-reclaimable and overlaps entry \
                 {other}"
            ),
            MemmapError::UnknownType {
                index,
                ty,
                revision,
            } => write!(
                f,
                "memory map entry {index} has type {ty}, which base revision {revision} does not \
                 define"
            ),
            MemmapError::PageZeroUsable { index } => write!(
                f,
                "memory map entry {index} makes page 0 usable, which base revisions 0-2 forbid"
            ),
        }
    }
}

impl core::error::Error for MemmapError {}

/// The Limine type of a firmware region with raw UEFI type `efi_type`, under base `revision`.
/// See the module docs for the table.
pub const fn limine_type(efi_type: u32, revision: u64) -> u64 {
    match efi_type {
        efi_type::CONVENTIONAL => MEMMAP_USABLE,
        efi_type::LOADER_CODE
        | efi_type::LOADER_DATA
        | efi_type::BOOT_SERVICES_CODE
        | efi_type::BOOT_SERVICES_DATA => MEMMAP_BOOTLOADER_RECLAIMABLE,
        efi_type::RUNTIME_SERVICES_CODE | efi_type::RUNTIME_SERVICES_DATA => {
            if revision >= 5 {
                MEMMAP_RESERVED_MAPPED
            } else {
                MEMMAP_RESERVED
            }
        }
        efi_type::ACPI_RECLAIM => MEMMAP_ACPI_RECLAIMABLE,
        efi_type::ACPI_NVS => MEMMAP_ACPI_NVS,
        efi_type::UNUSABLE => MEMMAP_BAD_MEMORY,
        KERNEL_MEMORY_TYPE => MEMMAP_EXECUTABLE_AND_MODULES,
        _ => MEMMAP_RESERVED,
    }
}

/// Number of Limine types (0..=8).
const TYPE_COUNT: usize = 9;

/// Precedence of a Limine type where firmware regions overlap; higher wins.
const fn rank(ty: u64) -> u8 {
    match ty {
        MEMMAP_USABLE => 0,
        MEMMAP_BOOTLOADER_RECLAIMABLE => 1,
        MEMMAP_EXECUTABLE_AND_MODULES => 2,
        MEMMAP_ACPI_RECLAIMABLE => 3,
        MEMMAP_ACPI_NVS => 4,
        MEMMAP_RESERVED_MAPPED => 5,
        MEMMAP_FRAMEBUFFER => 6,
        MEMMAP_RESERVED => 7,
        _ => 8, // MEMMAP_BAD_MEMORY
    }
}

/// Types whose entries must be page aligned and must not overlap anything.
const fn is_free_type(ty: u64) -> bool {
    ty == MEMMAP_USABLE || ty == MEMMAP_BOOTLOADER_RECLAIMABLE
}

const fn align_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Rounds up to a page; `None` on overflow.
const fn align_up(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(align_down(v)),
        None => None,
    }
}

/// A sweep event: a firmware region or overlay of type `ty` starts or stops covering `pos`.
#[derive(Debug, Clone, Copy)]
struct Event {
    pos: u64,
    overlay: bool,
    ty: u64,
    start: bool,
}

/// Appends `[start, end)` of type `ty`, merging with the last entry when contiguous and equal.
fn push_merged(out: &mut Vec<LimineEntry>, base: u64, end: u64, ty: u64) {
    if end <= base {
        return;
    }
    if let Some(last) = out.last_mut()
        && last.ty == ty
        && last.end() == Some(base)
    {
        last.length = end - last.base;
        return;
    }
    out.push(LimineEntry {
        base,
        length: end - base,
        ty,
    });
}

/// Builds the Limine memory map from the firmware `regions` and the loader's `overlays` for base
/// `revision`. See the module docs for the rules.
///
/// # Errors
///
/// - [`MemmapError::InvalidOverlayType`] for an overlay type above 8.
/// - [`MemmapError::OverlappingOverlays`] if two overlays share a page.
/// - [`MemmapError::TooManyEntries`] beyond [`MAX_ENTRIES`] entries.
pub fn build(
    regions: &[UefiRegion],
    overlays: &[Overlay],
    revision: u64,
) -> Result<Vec<LimineEntry>, MemmapError> {
    build_with(regions, &[], overlays, revision)
}

/// As [`build`], with firmware regions from both a UEFI map (`regions`) and a byte-exact
/// map already in Limine types (`typed`, the BIOS path); either may be empty. Both kinds are
/// firmware regions: overlapping ones resolve by the precedence in the module docs.
///
/// # Errors
///
/// As for [`build`].
pub fn build_with(
    regions: &[UefiRegion],
    typed: &[TypedRegion],
    overlays: &[Overlay],
    revision: u64,
) -> Result<Vec<LimineEntry>, MemmapError> {
    let mut events = Vec::with_capacity(
        regions
            .len()
            .saturating_add(typed.len())
            .saturating_add(overlays.len())
            .saturating_mul(2),
    );
    let firmware_ranges = regions
        .iter()
        .map(|r| (r.phys_start, r.end(), limine_type(r.ty, revision)))
        .chain(typed.iter().map(|t| {
            let ty = if t.ty < TYPE_COUNT as u64 {
                t.ty
            } else {
                MEMMAP_RESERVED
            };
            (t.base, t.end(), ty)
        }));
    for (start, end, ty) in firmware_ranges {
        if end > start {
            events.push(Event {
                pos: start,
                overlay: false,
                ty,
                start: true,
            });
            events.push(Event {
                pos: end,
                overlay: false,
                ty,
                start: false,
            });
        }
    }
    for o in overlays {
        if o.ty >= TYPE_COUNT as u64 {
            return Err(MemmapError::InvalidOverlayType {
                base: o.base,
                ty: o.ty,
            });
        }
        if o.length == 0 {
            continue;
        }
        let base = align_down(o.base);
        let raw_end = o.base.saturating_add(o.length);
        let end = align_up(raw_end).unwrap_or(u64::MAX);
        events.push(Event {
            pos: base,
            overlay: true,
            ty: o.ty,
            start: true,
        });
        events.push(Event {
            pos: end,
            overlay: true,
            ty: o.ty,
            start: false,
        });
    }
    events.sort_unstable_by_key(|e| e.pos);

    // Sweep: between consecutive event positions the set of covering layers is constant.
    let mut firmware = [0usize; TYPE_COUNT];
    let mut overlay = [0usize; TYPE_COUNT];
    let mut pieces: Vec<LimineEntry> = Vec::new();
    let mut i = 0;
    while let Some(first) = events.get(i) {
        let pos = first.pos;
        while let Some(e) = events.get(i).filter(|e| e.pos == pos) {
            // Types are < TYPE_COUNT: firmware types come from `limine_type`, overlay types
            // were checked above.
            let counts = if e.overlay {
                &mut overlay
            } else {
                &mut firmware
            };
            if let Some(c) = counts.get_mut(e.ty as usize) {
                *c = if e.start {
                    c.saturating_add(1)
                } else {
                    c.saturating_sub(1)
                };
            }
            i += 1;
        }
        let Some(next) = events.get(i).map(|e| e.pos) else {
            break;
        };
        let active_overlays: usize = overlay.iter().sum();
        if active_overlays > 1 {
            return Err(MemmapError::OverlappingOverlays { at: pos });
        }
        let winner = if active_overlays == 1 {
            overlay.iter().position(|&c| c > 0).map(|t| t as u64)
        } else {
            (0..TYPE_COUNT as u64)
                .filter(|&t| firmware.get(t as usize).is_some_and(|&c| c > 0))
                .max_by_key(|&t| rank(t))
        };
        if let Some(ty) = winner {
            push_merged(&mut pieces, pos, next, ty);
        }
    }

    // Round free memory inward; keep page 0 out of USABLE for old revisions.
    let mut out: Vec<LimineEntry> = Vec::with_capacity(pieces.len());
    for p in pieces {
        let Some(end) = p.end() else { continue };
        let (mut base, mut end) = (p.base, end);
        if is_free_type(p.ty) {
            match align_up(base) {
                Some(b) => base = b,
                None => continue,
            }
            end = align_down(end);
            if revision <= 2 && p.ty == MEMMAP_USABLE {
                base = base.max(PAGE_SIZE);
            }
        }
        push_merged(&mut out, base, end, p.ty);
    }

    if out.len() > MAX_ENTRIES {
        return Err(MemmapError::TooManyEntries { count: out.len() });
    }
    Ok(out)
}

/// Checks the protocol's promises about a memory map for base `revision`:
/// sorted by base, no empty entries, no entry past 2^64, only types `revision` defines (8 needs
/// revision ≥ 4), USABLE and BOOTLOADER_RECLAIMABLE entries page aligned and overlapping nothing,
/// page 0 not USABLE under revision ≤ 2, at most [`MAX_ENTRIES`] entries.
///
/// Other types may overlap each other; [`build`] never produces that, but the protocol allows it.
///
/// # Errors
///
/// The first broken invariant, as a [`MemmapError`].
pub fn validate(entries: &[LimineEntry], revision: u64) -> Result<(), MemmapError> {
    if entries.len() > MAX_ENTRIES {
        return Err(MemmapError::TooManyEntries {
            count: entries.len(),
        });
    }
    let max_type = if revision >= 4 {
        MEMMAP_RESERVED_MAPPED
    } else {
        MEMMAP_FRAMEBUFFER
    };
    let mut prev_base = 0;
    for (index, e) in entries.iter().enumerate() {
        if e.ty > max_type {
            return Err(MemmapError::UnknownType {
                index,
                ty: e.ty,
                revision,
            });
        }
        if index > 0 && e.base < prev_base {
            return Err(MemmapError::NotSorted { index });
        }
        prev_base = e.base;
        if e.length == 0 {
            return Err(MemmapError::ZeroLength { index });
        }
        if e.end().is_none() {
            return Err(MemmapError::EndOverflow { index });
        }
        if is_free_type(e.ty)
            && (!e.base.is_multiple_of(PAGE_SIZE) || !e.length.is_multiple_of(PAGE_SIZE))
        {
            return Err(MemmapError::Misaligned { index });
        }
        if revision <= 2 && e.ty == MEMMAP_USABLE && e.base < PAGE_SIZE {
            return Err(MemmapError::PageZeroUsable { index });
        }
    }
    // Every end is known to fit now.
    for (index, e) in entries.iter().enumerate() {
        if !is_free_type(e.ty) {
            continue;
        }
        let e_end = e.base + e.length;
        for (other, o) in entries.iter().enumerate() {
            if other == index {
                continue;
            }
            let o_end = o.base + o.length;
            if o.base < e_end && e.base < o_end {
                return Err(MemmapError::Overlap { index, other });
            }
        }
    }
    Ok(())
}

/// Byte counts of a memory map, for the loader's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bytes in USABLE entries.
    pub usable: u64,
    /// Bytes in BOOTLOADER_RECLAIMABLE entries.
    pub bootloader_reclaimable: u64,
    /// Bytes in all entries (overlaps counted twice; saturating).
    pub total: u64,
}

/// Sums the entries of a memory map.
pub fn totals(entries: &[LimineEntry]) -> Totals {
    let mut t = Totals::default();
    for e in entries {
        t.total = t.total.saturating_add(e.length);
        match e.ty {
            MEMMAP_USABLE => t.usable = t.usable.saturating_add(e.length),
            MEMMAP_BOOTLOADER_RECLAIMABLE => {
                t.bootloader_reclaimable = t.bootloader_reclaimable.saturating_add(e.length);
            }
            _ => {}
        }
    }
    t
}

/// Human-readable name of a Limine memory map type, for logs.
pub const fn type_name(ty: u64) -> &'static str {
    match ty {
        MEMMAP_USABLE => "usable",
        MEMMAP_RESERVED => "reserved",
        MEMMAP_ACPI_RECLAIMABLE => "ACPI reclaimable",
        MEMMAP_ACPI_NVS => "ACPI NVS",
        MEMMAP_BAD_MEMORY => "bad memory",
        MEMMAP_BOOTLOADER_RECLAIMABLE => "bootloader reclaimable",
        MEMMAP_EXECUTABLE_AND_MODULES => "executable and modules",
        MEMMAP_FRAMEBUFFER => "framebuffer",
        MEMMAP_RESERVED_MAPPED => "reserved (mapped)",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests;
