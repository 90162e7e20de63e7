//! `BootInfo`: everything the kernel needs from the bootloader, copied into kernel-owned memory.
//!
//! Limine's responses live in bootloader-reclaimable memory, which the kernel wants back. So the
//! boot module copies them here first and nothing after it names a `limine::` type. The type is
//! plain data (fixed capacity, no heap), and its consistency checks are pure functions that the
//! host tests and the in-kernel tests both run.

use core::fmt;

use heapless::{String, Vec};

/// Capacity of the copied memory map; Limine never reports more than 1024 entries.
pub const MAX_MEMORY_REGIONS: usize = 1024;
/// Capacity of the copied command line; longer ones are truncated with a warning.
pub const MAX_CMDLINE: usize = 1024;
/// Size of a page frame.
pub const PAGE_SIZE: u64 = 4096;

/// The base revision of the Limine protocol the kernel asks for.
pub const REQUESTED_REVISION: u64 = 6;
/// The oldest base revision the kernel knows how to run under.
pub const MIN_REVISION: u64 = 2;

/// Kind of a memory-map entry (Limine's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM.
    Usable,
    /// Not to be touched.
    Reserved,
    /// ACPI tables; free once parsed.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Defective RAM.
    BadMemory,
    /// Bootloader data (responses, its page tables, our initial stack); free once unused.
    BootloaderReclaimable,
    /// The kernel image and modules.
    ExecutableAndModules,
    /// The framebuffer.
    Framebuffer,
    /// Reserved, but mapped in the HHDM by the loader (revision 4 and later).
    ReservedMapped,
    /// A type this kernel does not know; treated as reserved.
    Unknown(u64),
}

impl MemoryKind {
    /// Maps Limine's numeric type.
    pub const fn from_raw(raw: u64) -> Self {
        match raw {
            0 => Self::Usable,
            1 => Self::Reserved,
            2 => Self::AcpiReclaimable,
            3 => Self::AcpiNvs,
            4 => Self::BadMemory,
            5 => Self::BootloaderReclaimable,
            6 => Self::ExecutableAndModules,
            7 => Self::Framebuffer,
            8 => Self::ReservedMapped,
            other => Self::Unknown(other),
        }
    }

    /// Whether the protocol promises page alignment and no overlap for this kind
    /// (PROTOCOL.md, "Memory Map Feature").
    pub const fn is_allocatable(self) -> bool {
        matches!(self, Self::Usable | Self::BootloaderReclaimable)
    }

    /// Short name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Usable => "usable",
            Self::Reserved => "reserved",
            Self::AcpiReclaimable => "ACPI reclaimable",
            Self::AcpiNvs => "ACPI NVS",
            Self::BadMemory => "bad memory",
            Self::BootloaderReclaimable => "bootloader reclaimable",
            Self::ExecutableAndModules => "executable and modules",
            Self::Framebuffer => "framebuffer",
            Self::ReservedMapped => "reserved (mapped)",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// One memory-map entry: physical `[base, base + length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Physical start address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// What the region holds.
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// End address (exclusive), saturating at the top of the address space.
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.length)
    }

    /// Whether `[addr, addr + len)` lies inside this region.
    pub const fn contains_range(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.base && end <= self.end(),
            None => false,
        }
    }
}

/// A problem found in a memory map by [`check_memory_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryMapError {
    /// The map has no entries.
    Empty,
    /// Entry `index` starts before entry `index - 1`.
    NotSorted {
        /// Offending entry.
        index: usize,
    },
    /// A usable or reclaimable entry is not 4 KiB aligned.
    Unaligned {
        /// Offending entry.
        index: usize,
    },
    /// A usable or reclaimable entry overlaps its neighbour.
    Overlap {
        /// Offending entry (overlaps the previous one).
        index: usize,
    },
    /// An entry wraps around the end of the address space.
    Wraps {
        /// Offending entry.
        index: usize,
    },
    /// There is no usable memory at all.
    NoUsableMemory,
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "memory map is empty"),
            Self::NotSorted { index } => write!(f, "memory map entry {index} is out of order"),
            Self::Unaligned { index } => {
                write!(
                    f,
                    "usable/reclaimable memory map entry {index} is not page aligned"
                )
            }
            Self::Overlap { index } => {
                write!(
                    f,
                    "memory map entry {index} overlaps a usable/reclaimable neighbour"
                )
            }
            Self::Wraps { index } => write!(f, "memory map entry {index} wraps the address space"),
            Self::NoUsableMemory => write!(f, "memory map has no usable memory"),
        }
    }
}

impl core::error::Error for MemoryMapError {}

/// Checks the protocol's promises (PROTOCOL.md, "Memory Map Feature"): sorted by base; usable and bootloader-reclaimable entries
/// page aligned and overlapping nothing; no wrap-around; some usable memory.
///
/// # Errors
/// The first violation found.
pub fn check_memory_map(regions: &[MemoryRegion]) -> Result<(), MemoryMapError> {
    if regions.is_empty() {
        return Err(MemoryMapError::Empty);
    }
    for (index, r) in regions.iter().enumerate() {
        if r.base.checked_add(r.length).is_none() {
            return Err(MemoryMapError::Wraps { index });
        }
        if r.kind.is_allocatable() && (r.base % PAGE_SIZE != 0 || r.length % PAGE_SIZE != 0) {
            return Err(MemoryMapError::Unaligned { index });
        }
    }
    for (index, pair) in regions.windows(2).enumerate() {
        let (prev, next) = (&pair[0], &pair[1]);
        if next.base < prev.base {
            return Err(MemoryMapError::NotSorted { index: index + 1 });
        }
    }
    // Allocatable entries must not overlap any entry. Sorted input lets each one be compared
    // with every earlier entry that could still reach it; track the furthest end seen so far.
    let mut furthest_end = 0u64;
    let mut furthest_allocatable = false;
    for (index, r) in regions.iter().enumerate() {
        if index > 0 && r.base < furthest_end && (r.kind.is_allocatable() || furthest_allocatable) {
            return Err(MemoryMapError::Overlap { index });
        }
        if r.end() >= furthest_end {
            furthest_end = r.end();
            furthest_allocatable = r.kind.is_allocatable();
        }
    }
    if usable_bytes(regions) == 0 {
        return Err(MemoryMapError::NoUsableMemory);
    }
    Ok(())
}

/// Total bytes of [`MemoryKind::Usable`] memory.
pub fn usable_bytes(regions: &[MemoryRegion]) -> u64 {
    regions
        .iter()
        .filter(|r| r.kind == MemoryKind::Usable)
        .map(|r| r.length)
        .sum()
}

/// Total bytes of RAM-like memory (everything but reserved, bad and framebuffer entries).
pub fn ram_bytes(regions: &[MemoryRegion]) -> u64 {
    regions
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                MemoryKind::Usable
                    | MemoryKind::BootloaderReclaimable
                    | MemoryKind::ExecutableAndModules
                    | MemoryKind::AcpiReclaimable
                    | MemoryKind::AcpiNvs
            )
        })
        .map(|r| r.length)
        .sum()
}

/// The first region of `kind` that fully contains `[addr, addr + len)`.
pub fn region_containing(
    regions: &[MemoryRegion],
    addr: u64,
    len: u64,
    kind: MemoryKind,
) -> Option<&MemoryRegion> {
    regions
        .iter()
        .find(|r| r.kind == kind && r.contains_range(addr, len))
}

/// Who may own a physical range, by the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOwner {
    /// Entirely inside one usable entry.
    Usable,
    /// Overlaps memory the kernel owns or may own: usable, bootloader-reclaimable, or the
    /// kernel image and modules.
    Kernel,
    /// None of that: firmware tables, device memory, holes in the map.
    Other,
}

/// Who may own `[base, base + len)` (a zero `len` counts as one byte). `complete` says the map
/// holds every entry the loader sent; without that, nothing is [`RangeOwner::Other`], as the
/// missing entries might be RAM. A range that wraps around is [`RangeOwner::Kernel`].
pub fn range_owner(regions: &[MemoryRegion], complete: bool, base: u64, len: u64) -> RangeOwner {
    let Some(end) = base.checked_add(len.max(1)) else {
        return RangeOwner::Kernel;
    };
    if region_containing(regions, base, len.max(1), MemoryKind::Usable).is_some() {
        return RangeOwner::Usable;
    }
    let kernel = |kind| {
        matches!(
            kind,
            MemoryKind::Usable
                | MemoryKind::BootloaderReclaimable
                | MemoryKind::ExecutableAndModules
        )
    };
    let overlaps = regions
        .iter()
        .any(|r| kernel(r.kind) && r.base < end && base < r.end());
    if overlaps || !complete {
        RangeOwner::Kernel
    } else {
        RangeOwner::Other
    }
}

/// Firmware that booted the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// Legacy PC BIOS.
    Bios,
    /// 32-bit UEFI.
    Uefi32,
    /// 64-bit UEFI.
    Uefi64,
    /// RISC-V SBI (never on x86, listed for completeness).
    Sbi,
    /// A value this kernel does not know.
    Unknown(u64),
}

impl Firmware {
    /// Maps Limine's numeric firmware type.
    pub const fn from_raw(raw: u64) -> Self {
        match raw {
            0 => Self::Bios,
            1 => Self::Uefi32,
            2 => Self::Uefi64,
            3 => Self::Sbi,
            other => Self::Unknown(other),
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bios => f.write_str("BIOS"),
            Self::Uefi32 => f.write_str("UEFI (32-bit)"),
            Self::Uefi64 => f.write_str("UEFI (64-bit)"),
            Self::Sbi => f.write_str("SBI"),
            Self::Unknown(v) => write!(f, "unknown ({v})"),
        }
    }
}

/// How the base revision in use was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// What the kernel asked for.
    pub requested: u64,
    /// The revision the loader actually used.
    pub used: u64,
    /// Whether the loader marked the request as supported (tag word 2 == 0).
    pub supported: bool,
    /// Whether `used` was reported by the loader (tag word 1) or inferred.
    pub reported: bool,
}

impl Revision {
    /// Derives the revision in use from the tag: the loader-reported value when present
    /// (Limine 8.3.2 and later); else the requested one if supported; else 2, which is what
    /// Limine 8.0-8.2 boot with. (8.3.0 and 8.3.1 boot revision 3 without reporting it; the
    /// two differ only in whether the RSDP pointer is physical, which the boot module then
    /// decides from the address itself.)
    pub const fn resolve(requested: u64, supported: bool, reported: Option<u64>) -> Self {
        match reported {
            Some(used) => Self {
                requested,
                used,
                supported,
                reported: true,
            },
            None if supported => Self {
                requested,
                used: requested,
                supported,
                reported: false,
            },
            None => Self {
                requested,
                used: MIN_REVISION,
                supported,
                reported: false,
            },
        }
    }

    /// Whether the RSDP address in the response is physical (revision 3 only); otherwise it is
    /// an HHDM address. `None` when the revision is not known for sure (not reported, not
    /// supported: revision 2 or 3), so the address itself must decide.
    pub const fn rsdp_is_physical(&self) -> Option<bool> {
        if self.reported || self.supported {
            Some(self.used == 3)
        } else {
            None
        }
    }
}

/// The framebuffer as described by the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramebufferInfo {
    /// Virtual (HHDM) address given by the loader.
    pub virt: u64,
    /// Physical address (virtual minus the HHDM offset).
    pub phys: u64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    /// Bits per pixel.
    pub bpp: u16,
    /// Memory model (1 = RGB).
    pub memory_model: u8,
    /// Red mask size in bits.
    pub red_size: u8,
    /// Red mask shift.
    pub red_shift: u8,
    /// Green mask size in bits.
    pub green_size: u8,
    /// Green mask shift.
    pub green_shift: u8,
    /// Blue mask size in bits.
    pub blue_size: u8,
    /// Blue mask shift.
    pub blue_shift: u8,
}

impl FramebufferInfo {
    /// Size in bytes of the visible area (`pitch * height`).
    pub const fn size_bytes(&self) -> u64 {
        self.pitch.saturating_mul(self.height)
    }

    /// Whether rows are long enough for `width` pixels of `bpp` bits.
    pub const fn pitch_is_sane(&self) -> bool {
        self.pitch >= self.width.saturating_mul(self.bpp as u64).div_ceil(8)
    }
}

/// Where the command line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineSource {
    /// The Executable Command Line response (Limine 9.0 and later).
    ExecutableCmdline,
    /// The `cmdline`/`string` field of the Executable File response (every Limine).
    ExecutableFile,
    /// No response carried one.
    None,
}

/// Everything the kernel keeps from the bootloader.
#[derive(Debug)]
pub struct BootInfo {
    /// Bootloader name (ASCII, truncated to 64 bytes).
    pub loader_name: String<64>,
    /// Bootloader version.
    pub loader_version: String<64>,
    /// Base revision in use.
    pub revision: Revision,
    /// Firmware type, if reported.
    pub firmware: Option<Firmware>,
    /// Offset of the higher-half direct map.
    pub hhdm_offset: u64,
    /// The memory map, sorted as the loader gave it.
    pub memory_map: Vec<MemoryRegion, MAX_MEMORY_REGIONS>,
    /// Entries that did not fit into `memory_map` (0 on any sane machine).
    pub memory_map_dropped: usize,
    /// The first framebuffer, if any.
    pub framebuffer: Option<FramebufferInfo>,
    /// Number of framebuffers reported.
    pub framebuffer_count: usize,
    /// Physical address of the ACPI RSDP, if any.
    pub rsdp_phys: Option<u64>,
    /// Physical address where the kernel image starts.
    pub kernel_phys_base: Option<u64>,
    /// Virtual address where the kernel image starts.
    pub kernel_virt_base: Option<u64>,
    /// Size of the kernel file as loaded from disk.
    pub kernel_file_size: Option<u64>,
    /// The kernel command line.
    pub cmdline: String<MAX_CMDLINE>,
    /// Where `cmdline` came from.
    pub cmdline_source: CmdlineSource,
    /// Whether the command line was longer than [`MAX_CMDLINE`].
    pub cmdline_truncated: bool,
    /// UNIX time at boot (seconds), if reported.
    pub boot_time: Option<u64>,
    /// Paging mode in use (0 = 4-level, 1 = 5-level), if reported.
    pub paging_mode: Option<u64>,
    /// Whether the loader acknowledged the stack size request.
    pub stack_size_granted: bool,
}

impl BootInfo {
    /// An empty value, filled in field by field by the boot module.
    pub const fn empty() -> Self {
        Self {
            loader_name: String::new(),
            loader_version: String::new(),
            revision: Revision::resolve(REQUESTED_REVISION, false, None),
            firmware: None,
            hhdm_offset: 0,
            memory_map: Vec::new(),
            memory_map_dropped: 0,
            framebuffer: None,
            framebuffer_count: 0,
            rsdp_phys: None,
            kernel_phys_base: None,
            kernel_virt_base: None,
            kernel_file_size: None,
            cmdline: String::new(),
            cmdline_source: CmdlineSource::None,
            cmdline_truncated: false,
            boot_time: None,
            paging_mode: None,
            stack_size_granted: false,
        }
    }

    /// The parsed command line.
    pub fn cmdline(&self) -> crate::cmdline::Cmdline<'_> {
        crate::cmdline::Cmdline::new(&self.cmdline)
    }
}

/// Copies `bytes` into `out` as ASCII, replacing anything else with `?`; returns whether the
/// input had to be truncated.
pub fn copy_ascii<const N: usize>(bytes: &[u8], out: &mut String<N>) -> bool {
    out.clear();
    for &b in bytes {
        let c = if b.is_ascii() && (b.is_ascii_graphic() || b == b' ') {
            b as char
        } else {
            '?'
        };
        if out.push(c).is_err() {
            return true;
        }
    }
    false
}

/// Whether `addr` is canonical for 4-level paging (bits 63..47 all equal).
pub const fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1_ffff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: u64, length: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion { base, length, kind }
    }

    #[test]
    fn range_owners() {
        let map = [
            r(0x1000, 0x9e000, MemoryKind::Usable),
            r(0x100000, 0x100000, MemoryKind::Usable),
            r(0x200000, 0x10000, MemoryKind::BootloaderReclaimable),
            r(0x210000, 0x10000, MemoryKind::ExecutableAndModules),
            r(0x7fe0000, 0x20000, MemoryKind::AcpiReclaimable),
            r(0x8000_0000, 0x30_0000, MemoryKind::Framebuffer),
        ];
        let owner = |base, len| range_owner(&map, true, base, len);
        assert_eq!(owner(0x100000, 0x1000), RangeOwner::Usable);
        assert_eq!(owner(0x1ff000, 0x1000), RangeOwner::Usable);
        // Across two usable entries, or into reclaimable memory: not one usable entry.
        assert_eq!(owner(0x1ff000, 0x2000), RangeOwner::Kernel);
        assert_eq!(owner(0x200800, 0x10), RangeOwner::Kernel);
        assert_eq!(owner(0x21f000, 0x1000), RangeOwner::Kernel);
        // Firmware tables, the legacy VGA hole, device registers, the framebuffer.
        assert_eq!(owner(0x7fe0040, 0x24), RangeOwner::Other);
        assert_eq!(owner(0xb8000, 4000), RangeOwner::Other);
        assert_eq!(owner(0xfee0_0000, 0x1000), RangeOwner::Other);
        assert_eq!(owner(0x8000_0000, 0x1000), RangeOwner::Other);
        // A device window reaching into RAM is not a device window.
        assert_eq!(owner(0x9e000, 0x3000), RangeOwner::Kernel);
        assert_eq!(owner(0xb8000, 0), RangeOwner::Other);
        assert_eq!(owner(u64::MAX - 4, 16), RangeOwner::Kernel);
        // With entries missing, nothing is known to be free of RAM.
        assert_eq!(range_owner(&map, false, 0xb8000, 4000), RangeOwner::Kernel);
        assert_eq!(range_owner(&map, false, 0x100000, 8), RangeOwner::Usable);
    }

    #[test]
    fn good_map_passes() {
        let map = [
            r(0x1000, 0x9e000, MemoryKind::Usable),
            r(0x9fc00, 0x400, MemoryKind::Reserved),
            r(0xf0000, 0x10000, MemoryKind::Reserved),
            r(0x100000, 0x100000, MemoryKind::BootloaderReclaimable),
            r(0x200000, 0x7e00000, MemoryKind::Usable),
        ];
        assert_eq!(check_memory_map(&map), Ok(()));
        assert_eq!(usable_bytes(&map), 0x9e000 + 0x7e00000);
    }

    #[test]
    fn reserved_entries_may_overlap_each_other_and_be_unaligned() {
        let map = [
            r(0x1000, 0x1000, MemoryKind::Usable),
            r(0xe0000, 0x123, MemoryKind::Reserved),
            r(0xe0100, 0x500, MemoryKind::AcpiNvs),
        ];
        assert_eq!(check_memory_map(&map), Ok(()));
    }

    #[test]
    fn violations_are_reported() {
        assert_eq!(check_memory_map(&[]), Err(MemoryMapError::Empty));
        let unsorted = [
            r(0x2000, 0x1000, MemoryKind::Usable),
            r(0x1000, 0x1000, MemoryKind::Usable),
        ];
        assert_eq!(
            check_memory_map(&unsorted),
            Err(MemoryMapError::NotSorted { index: 1 })
        );
        let unaligned = [r(0x1800, 0x1000, MemoryKind::Usable)];
        assert_eq!(
            check_memory_map(&unaligned),
            Err(MemoryMapError::Unaligned { index: 0 })
        );
        let overlap = [
            r(0x1000, 0x3000, MemoryKind::Reserved),
            r(0x2000, 0x1000, MemoryKind::Usable),
        ];
        assert_eq!(
            check_memory_map(&overlap),
            Err(MemoryMapError::Overlap { index: 1 })
        );
        let overlap_after_usable = [
            r(0x1000, 0x3000, MemoryKind::Usable),
            r(0x3000, 0x10, MemoryKind::Reserved),
        ];
        assert_eq!(
            check_memory_map(&overlap_after_usable),
            Err(MemoryMapError::Overlap { index: 1 })
        );
        let wraps = [r(u64::MAX - 0xfff, 0x2000, MemoryKind::Reserved)];
        assert_eq!(
            check_memory_map(&wraps),
            Err(MemoryMapError::Wraps { index: 0 })
        );
        let none = [r(0, 0x1000, MemoryKind::Reserved)];
        assert_eq!(check_memory_map(&none), Err(MemoryMapError::NoUsableMemory));
    }

    #[test]
    fn revision_resolution() {
        // Loader reports what it used (8.3.2+ and our loader).
        assert_eq!(Revision::resolve(6, true, Some(6)).used, 6);
        assert_eq!(Revision::resolve(6, false, Some(3)).used, 3);
        // Limine 8.0-8.2: neither supported nor reported.
        let old = Revision::resolve(6, false, None);
        assert_eq!((old.used, old.reported), (2, false));
        assert_eq!(
            Revision::resolve(6, false, Some(3)).rsdp_is_physical(),
            Some(true)
        );
        assert_eq!(
            Revision::resolve(6, true, Some(6)).rsdp_is_physical(),
            Some(false)
        );
        assert_eq!(old.rsdp_is_physical(), None);
    }

    #[test]
    fn framebuffer_checks() {
        let mut fb = FramebufferInfo {
            virt: 0xffff_8000_8000_0000,
            phys: 0x8000_0000,
            width: 1280,
            height: 800,
            pitch: 5120,
            bpp: 32,
            memory_model: 1,
            red_size: 8,
            red_shift: 16,
            green_size: 8,
            green_shift: 8,
            blue_size: 8,
            blue_shift: 0,
        };
        assert!(fb.pitch_is_sane());
        assert_eq!(fb.size_bytes(), 5120 * 800);
        fb.pitch = 5116;
        assert!(!fb.pitch_is_sane());
    }

    #[test]
    fn ascii_copy_and_canonical() {
        let mut s: String<8> = String::new();
        assert!(!copy_ascii(b"Limine", &mut s));
        assert_eq!(s.as_str(), "Limine");
        assert!(copy_ascii(b"0123456789", &mut s));
        assert_eq!(s.as_str(), "01234567");
        copy_ascii(&[b'a', 0xff, b'\n'], &mut s);
        assert_eq!(s.as_str(), "a??");
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!is_canonical(0x0000_8000_0000_0000));
    }
}
