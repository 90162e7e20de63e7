//! Why an edit of the tables failed.

use core::fmt;

use crate::entry::PageSize;

/// Why a mapping, unmapping or protection change failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// An address or length is not a multiple of the page size it must be aligned to.
    Misaligned {
        /// Requested virtual start.
        virt: u64,
        /// Requested physical start (0 when there is none).
        phys: u64,
        /// Requested length.
        len: u64,
        /// The alignment required.
        align: u64,
    },
    /// The virtual range is not canonical under 4-level paging, crosses the canonical hole, or
    /// runs past 2^64.
    NonCanonical {
        /// Requested virtual start.
        virt: u64,
        /// Requested length.
        len: u64,
    },
    /// The physical range reaches 2^52 or beyond.
    PhysOutOfRange {
        /// Requested physical start.
        phys: u64,
        /// Requested length.
        len: u64,
    },
    /// Part of the range is already mapped to a different target or with different flags.
    AlreadyMapped {
        /// First conflicting virtual address.
        virt: u64,
        /// Where the existing mapping sends it.
        existing_phys: u64,
        /// Where this request wanted it.
        requested_phys: u64,
    },
    /// Part of the range is not mapped.
    NotMapped {
        /// First unmapped virtual address.
        virt: u64,
    },
    /// The frame source is exhausted.
    OutOfFrames,
    /// A larger page maps the address where a page of the requested size was to go.
    HugePageInTheWay {
        /// The requested virtual address.
        virt: u64,
        /// Size of the page in the way.
        size: PageSize,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MapError::Misaligned {
                virt,
                phys,
                len,
                align,
            } => write!(
                f,
                "cannot map {len:#x} bytes at virtual {virt:#x} to physical {phys:#x}: addresses \
                 and length must be multiples of {align:#x}"
            ),
            MapError::NonCanonical { virt, len } => write!(
                f,
                "range of {len:#x} bytes at virtual {virt:#x} is not canonical under 4-level \
                 paging (it must lie below 0x0000800000000000 or at/above 0xffff800000000000)"
            ),
            MapError::PhysOutOfRange { phys, len } => write!(
                f,
                "cannot map {len:#x} bytes of physical memory at {phys:#x}: physical addresses \
                 must stay below 2^52"
            ),
            MapError::AlreadyMapped {
                virt,
                existing_phys,
                requested_phys,
            } => write!(
                f,
                "virtual {virt:#x} is already mapped to physical {existing_phys:#x} (requested \
                 physical {requested_phys:#x}, or other flags); overlapping mappings must agree"
            ),
            MapError::NotMapped { virt } => write!(f, "virtual {virt:#x} is not mapped"),
            MapError::OutOfFrames => write!(f, "out of physical frames for page tables"),
            MapError::HugePageInTheWay { virt, size } => write!(
                f,
                "virtual {virt:#x} lies inside a {} page; map over it or split it first",
                size.name()
            ),
        }
    }
}

impl core::error::Error for MapError {}
