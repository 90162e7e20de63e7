//! Memory: the early frame allocator and mappings the kernel makes in its address space.
//!
//! Virtual address space (4-level paging, 48-bit):
//!
//! ```text
//! 0x0000_0000_0000_0000 ┬ lower half: unmapped (user space later)
//! 0x0000_7fff_ffff_ffff ┘
//! 0xffff_8000_0000_0000 ┬ HHDM: physical memory at the loader's offset (0xffff_8000_0000_0000
//!                       │ unless randomised); which regions it covers depends on the base
//!                       │ revision (never MMIO under 3)
//!          ...          ┼ two free 512 GiB slots (top-level entries), picked at boot from the
//!                       │ highest ones the loader left empty, typically 0xffff_ff00_0000_0000
//!                       │ and 0xffff_fe80_0000_0000:
//!                       │   - physical windows (map_physical, map_mmio): APIC registers, ACPI
//!                       │     tables, the VGA text buffer, ...
//!                       │   - kernel stacks, each with an unmapped guard page below it
//! 0xffff_ffff_8000_0000 ┼ kernel image (text RX, rodata R, data RW), in the last slot
//! 0xffff_ffff_ffff_ffff ┘
//! ```
//!
//! The kernel still runs on the loader's page tables (in bootloader-reclaimable memory); it adds
//! its mappings there, in slots nothing else uses, whatever HHDM offset the loader chose.
//! Page-table frames and stack frames come from [`frame::EarlyFrames`]; `arch::paging` edits the
//! tables (through the HHDM, which covers them under every revision) and zeroes new tables and
//! stack pages. Mappings come back as proofs: a `Window` onto a physical range, a `Stack` above
//! its guard page.

pub mod buddy;
pub mod frame;
mod guard;

pub use guard::{Guard, guard_containing, guard_page_owner};

/// Unmapped bytes below every kernel stack: a guard area larger than one page, so a function
/// whose frame skips over a single page still faults in it.
pub const GUARD_BYTES: u64 = 64 * 1024;

#[cfg(target_os = "none")]
mod live;

#[cfg(target_os = "none")]
pub use live::*;

/// Size of one top-level (PML4) slot, the size of each kernel area.
pub const SLOT_SIZE: u64 = 1 << 39;

/// Virtual address of the start of top-level slot `index` (256-511: the higher half).
pub const fn slot_base(index: usize) -> u64 {
    0xffff_0000_0000_0000 | ((index as u64) << 39)
}

/// The two slots for the kernel's areas: the highest free ones below the last (the kernel
/// image's), given which higher-half slots are in use. `None` when fewer than two are free.
pub fn pick_slots(used: impl Fn(usize) -> bool) -> Option<(usize, usize)> {
    let mut free = (256..511).rev().filter(|&i| !used(i));
    Some((free.next()?, free.next()?))
}

/// How a physical range is cached when mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Write-back: RAM, ACPI tables.
    WriteBack,
    /// Uncached: device registers.
    Uncached,
}

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No physical frame left for a page table or stack page.
    OutOfFrames,
    /// The virtual window for this kind of mapping is full.
    OutOfVirtualSpace,
    /// The range wraps around or is empty.
    BadRange,
    /// The memory module is not initialised yet.
    NotReady,
    /// The page tables already map that page (a kernel bug).
    AlreadyMapped,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::OutOfFrames => "out of physical memory for page tables or stacks",
            Self::OutOfVirtualSpace => "kernel virtual window exhausted",
            Self::BadRange => "empty or wrapping physical range",
            Self::NotReady => "memory management is not initialised",
            Self::AlreadyMapped => "page already mapped",
        })
    }
}

impl core::error::Error for MapError {}

/// Page-aligned cover of `[phys, phys + len)`: (first page, page count, offset of `phys` in it).
pub fn page_cover(phys: u64, len: u64) -> Result<(u64, u64, u64), MapError> {
    if len == 0 {
        return Err(MapError::BadRange);
    }
    let end = phys.checked_add(len).ok_or(MapError::BadRange)?;
    let first = phys & !0xfff;
    let last = end
        .checked_next_multiple_of(0x1000)
        .ok_or(MapError::BadRange)?;
    Ok((first, (last - first) / 0x1000, phys - first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots() {
        assert_eq!(slot_base(511), 0xffff_ff80_0000_0000);
        assert_eq!(slot_base(256), 0xffff_8000_0000_0000);
        // HHDM in 256-257, kernel in 511: windows at 510 and 509.
        assert_eq!(pick_slots(|i| i <= 257 || i == 511), Some((510, 509)));
        // Something already in 510: skip it.
        assert_eq!(pick_slots(|i| i <= 257 || i >= 510), Some((509, 508)));
        assert_eq!(pick_slots(|i| i != 300), None);
    }

    #[test]
    fn covers() {
        assert_eq!(page_cover(0xfee0_0000, 0x400), Ok((0xfee0_0000, 1, 0)));
        assert_eq!(page_cover(0x1fff, 2), Ok((0x1000, 2, 0xfff)));
        assert_eq!(page_cover(0xb8000, 4000), Ok((0xb8000, 1, 0)));
        assert_eq!(page_cover(5, 0), Err(MapError::BadRange));
        assert_eq!(page_cover(u64::MAX - 1, 4), Err(MapError::BadRange));
    }
}
