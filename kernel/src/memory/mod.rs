//! Memory: the buddy frame allocator, the kernel's own page tables, and the mapping API.
//!
//! Virtual address space (4-level paging, 48-bit), as the kernel builds it for itself:
//!
//! ```text
//! 0x0000_0000_0000_0000 ┬ lower half: nothing mapped at all (a null dereference faults);
//! 0x0000_7fff_ffff_ffff ┘ kept for user address spaces (AddressSpace::new shares the rest)
//! 0xffff_8000_0000_0000 ┬ HHDM at the loader's offset (randomised by real Limine, e.g.
//!                       │ 0xffff_9f6e_c000_0000): every RAM region of the map (usable,
//!                       │ bootloader-reclaimable, kernel and modules, ACPI tables and NVS),
//!                       │ read-write, no-execute, global; 1 GiB pages where the CPU has
//!                       │ them, else 2 MiB, 4 KiB only at unaligned edges. No MMIO.
//!          ...          ┼ three free 512 GiB slots (top-level entries), the highest ones the
//!                       │ HHDM leaves free, typically 0xffff_ff00_0000_0000 and below:
//!                       │   - physical windows (map_physical, map_mmio, map_framebuffer):
//!                       │     APIC registers and HPET uncached, the framebuffer write-combining,
//!                       │     ACPI tables read-only, the VGA text buffer
//!                       │   - kernel stacks, each above a 64 KiB unmapped guard area
//!                       │   - the mapping API's area (map, unmap, protect, split): its
//!                       │     lower 256 GiB for the API's users, its upper 256 GiB the
//!                       │     kernel heap (`heap`), RW+NX pages on buddy frames from the
//!                       │     half's base up to `heap_max=`, mapped as the heap grows
//! 0xffff_ffff_8000_0000 ┼ kernel image in the last slot (wherever KASLR put it), W^X: text
//! 0xffff_ffff_ffff_ffff ┘ RX, rodata R+NX, data and bss RW+NX
//! ```
//!
//! `init` builds these tables (while the loader's are still active) from the memory map, with
//! frames from the [`buddy`] allocator; `enter` switches CR3 and the stack in one step; after
//! that, `reclaim` gives bootloader-reclaimable memory (the loader's tables among it) to the
//! allocator. Every PML4 entry of the kernel half exists from the build on and never changes
//! (PDPTs are pinned), so address spaces sharing the kernel half stay in step. All table and
//! frame memory is reached through `arch::paging::Ram`; mappings the rest of the kernel relies
//! on come back as `arch` proofs: a `Window` onto a physical range, a `Stack` above its guard.
//! The plan itself (which ranges, which slots) is pure: [`layout`].

pub mod buddy;
mod guard;
pub mod layout;

pub use guard::{Guard, guard_containing, guard_page_owner};
pub use pagetables::{Cache, MapFlags, PageSize, Translation};

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

/// Why a mapping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No physical frame left for a page table or stack page.
    OutOfFrames,
    /// The virtual window for this kind of mapping is full.
    OutOfVirtualSpace,
    /// The range wraps around, is empty, or leaves the physical address space.
    BadRange,
    /// The memory module is not initialised yet (or, for windows, not running on its tables).
    NotReady,
    /// The range is already mapped (elsewhere, or with other rights).
    AlreadyMapped {
        /// First address in the way.
        virt: u64,
    },
    /// Part of the range is not mapped.
    NotMapped {
        /// First unmapped address.
        virt: u64,
    },
    /// A larger page maps the address where a page of the requested size was to go.
    HugePageInTheWay {
        /// The address.
        virt: u64,
        /// Size of the page in the way.
        size: PageSize,
    },
    /// An address or length is not a multiple of the page size it must be aligned to.
    Misaligned {
        /// The virtual address asked for.
        virt: u64,
        /// The alignment needed.
        align: u64,
    },
    /// The range lies outside the mapping API's area (the rest of the address space belongs
    /// to the kernel image, the HHDM, the windows and the stacks, which the API never edits).
    OutsideArea {
        /// The address asked for.
        virt: u64,
    },
    /// A window was mapped, but `arch` does not accept it as one.
    #[cfg(target_os = "none")]
    Window(crate::arch::paging::WindowError),
    /// A stack was mapped, but `arch` does not accept it as one.
    #[cfg(target_os = "none")]
    Stack(crate::arch::paging::PageMapError),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::OutOfFrames => f.write_str("out of physical memory for page tables or stacks"),
            Self::OutOfVirtualSpace => f.write_str("kernel virtual window exhausted"),
            Self::BadRange => f.write_str("empty, wrapping or out-of-range address range"),
            Self::NotReady => f.write_str("memory management is not initialised"),
            Self::AlreadyMapped { virt } => write!(f, "{virt:#x} is already mapped"),
            Self::NotMapped { virt } => write!(f, "{virt:#x} is not mapped"),
            Self::HugePageInTheWay { virt, size } => {
                write!(f, "{virt:#x} lies inside a {} page", size.name())
            }
            Self::Misaligned { virt, align } => {
                write!(
                    f,
                    "{virt:#x} (or the length) is not a multiple of {align:#x}"
                )
            }
            Self::OutsideArea { virt } => {
                write!(f, "{virt:#x} is outside the mapping API's area")
            }
            #[cfg(target_os = "none")]
            Self::Window(_) => f.write_str("the new window failed its check"),
            #[cfg(target_os = "none")]
            Self::Stack(_) => f.write_str("the new stack failed its check"),
        }
    }
}

impl core::error::Error for MapError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(target_os = "none")]
            Self::Window(e) => Some(e),
            #[cfg(target_os = "none")]
            Self::Stack(e) => Some(e),
            _ => None,
        }
    }
}

impl From<pagetables::MapError> for MapError {
    fn from(e: pagetables::MapError) -> Self {
        use pagetables::MapError as E;
        match e {
            E::Misaligned { virt, align, .. } => Self::Misaligned { virt, align },
            E::NonCanonical { .. } | E::PhysOutOfRange { .. } => Self::BadRange,
            E::AlreadyMapped { virt, .. } => Self::AlreadyMapped { virt },
            E::NotMapped { virt } => Self::NotMapped { virt },
            E::OutOfFrames => Self::OutOfFrames,
            E::HugePageInTheWay { virt, size } => Self::HugePageInTheWay { virt, size },
        }
    }
}

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
    }

    #[test]
    fn covers() {
        assert_eq!(page_cover(0xfee0_0000, 0x400), Ok((0xfee0_0000, 1, 0)));
        assert_eq!(page_cover(0x1fff, 2), Ok((0x1000, 2, 0xfff)));
        assert_eq!(page_cover(0xb8000, 4000), Ok((0xb8000, 1, 0)));
        assert_eq!(page_cover(5, 0), Err(MapError::BadRange));
        assert_eq!(page_cover(u64::MAX - 1, 4), Err(MapError::BadRange));
    }

    #[test]
    fn table_errors_become_typed_map_errors() {
        use pagetables::MapError as E;
        let cases = [
            (
                E::AlreadyMapped {
                    virt: 0x1000,
                    existing_phys: 0,
                    requested_phys: 1,
                },
                MapError::AlreadyMapped { virt: 0x1000 },
            ),
            (
                E::NotMapped { virt: 0x2000 },
                MapError::NotMapped { virt: 0x2000 },
            ),
            (E::OutOfFrames, MapError::OutOfFrames),
            (
                E::HugePageInTheWay {
                    virt: 0x3000,
                    size: PageSize::Size2MiB,
                },
                MapError::HugePageInTheWay {
                    virt: 0x3000,
                    size: PageSize::Size2MiB,
                },
            ),
            (
                E::Misaligned {
                    virt: 0x10,
                    phys: 0,
                    len: 0x1000,
                    align: 0x1000,
                },
                MapError::Misaligned {
                    virt: 0x10,
                    align: 0x1000,
                },
            ),
            (
                E::NonCanonical {
                    virt: 1 << 47,
                    len: 1,
                },
                MapError::BadRange,
            ),
        ];
        for (from, to) in cases {
            assert_eq!(MapError::from(from), to);
            let mut text = String::new();
            core::fmt::write(&mut text, format_args!("{to}")).unwrap();
            assert!(!text.is_empty());
        }
        assert_eq!(
            MapError::OutOfFrames.to_string(),
            "out of physical memory for page tables or stacks"
        );
    }
}
