//! The loader's page-table builder: a thin adapter over the shared `pagetables` crate.
//!
//! The loader builds the kernel's address space (kernel segments, HHDM, framebuffer) before it
//! jumps to the kernel. The page-table logic and its tests live once, in `pagetables` (see
//! docs/architecture.md, "Crates"); this module keeps the loader's interface to it: the UEFI
//! glue supplies a [`PhysMemory`] over a pool of firmware pages (physical = identity-mapped
//! address), maps with [`PageTableBuilder::map`], programs CR3 with
//! [`PageTableBuilder::pml4_phys`] and the PAT MSR with [`PAT_MSR_VALUE`], and sizes the pool
//! with [`table_pages_upper_bound`]. Host tests supply a simulated RAM.
//!
//! [`PageTableBuilder::map`] maps exactly the range it is given, with the largest pages both
//! addresses allow; overlapping mappings must agree (checked before anything is written). The
//! loader never unmaps, so its pool never gets frames back.

use core::fmt;

use pagetables::x86_64::structures::paging::PhysFrame;
use pagetables::x86_64::{PhysAddr, VirtAddr};
use pagetables::{Features, MapError, PageTables};

pub use pagetables::{
    Cache, MapFlags, Mapping, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PAT_MSR, PAT_MSR_VALUE,
    PHYS_LIMIT, PageSize, is_canonical,
};

/// Physical memory the builder puts tables in.
///
/// The builder calls `read_u64`/`write_u64` only on 8-byte-aligned addresses inside pages this
/// same memory returned from `alloc_zeroed_page` (and, in [`translate`], on addresses those
/// tables point to). An implementation over raw memory should still check that an address lies in
/// its pool (ignoring writes and reading 0 otherwise), so it stays sound whatever it is handed.
pub trait PhysMemory {
    /// Returns the physical address of a fresh, zero-filled, 4 KiB-aligned page, or `None` when
    /// out of memory.
    fn alloc_zeroed_page(&mut self) -> Option<u64>;
    /// Reads the `u64` at physical address `phys`.
    fn read_u64(&self, phys: u64) -> u64;
    /// Writes `value` to physical address `phys`.
    fn write_u64(&mut self, phys: u64, value: u64);
}

impl<T: PhysMemory + ?Sized> PhysMemory for &mut T {
    fn alloc_zeroed_page(&mut self) -> Option<u64> {
        (**self).alloc_zeroed_page()
    }
    fn read_u64(&self, phys: u64) -> u64 {
        (**self).read_u64(phys)
    }
    fn write_u64(&mut self, phys: u64, value: u64) {
        (**self).write_u64(phys, value);
    }
}

/// What [`translate`] found for a virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the byte.
    pub phys: u64,
    /// Size of the leaf page mapping it.
    pub page_size: PageSize,
    /// The leaf's flags (intermediate entries never restrict: they are writable, non-NX, and user
    /// when needed).
    pub flags: MapFlags,
}

impl From<pagetables::Translation> for Translation {
    fn from(t: pagetables::Translation) -> Self {
        Translation {
            phys: t.phys.as_u64(),
            page_size: t.page_size,
            flags: t.flags,
        }
    }
}

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingError {
    /// `virt`, `phys` or `len` is not a multiple of 4 KiB.
    Unaligned {
        /// Requested virtual start.
        virt: u64,
        /// Requested physical start.
        phys: u64,
        /// Requested length.
        len: u64,
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
    /// The page allocator is exhausted.
    OutOfMemory,
    /// The page allocator returned an unusable address (unaligned or above 2^52).
    BadAllocation {
        /// The address returned.
        phys: u64,
    },
    /// Part of the range is already mapped to a different target or with different flags.
    AlreadyMapped {
        /// First conflicting virtual address (start of the conflicting step).
        virt: u64,
        /// Where the existing mapping sends it.
        existing_phys: u64,
        /// Where this request wanted it.
        requested_phys: u64,
    },
    /// Any other refusal of the page-table crate (not produced by mapping alone).
    Tables(MapError),
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PagingError::Unaligned { virt, phys, len } => write!(
                f,
                "cannot map {len:#x} bytes at virtual {virt:#x} to physical {phys:#x}: addresses \
                 and length must be multiples of 4 KiB"
            ),
            PagingError::NonCanonical { virt, len } => MapError::NonCanonical { virt, len }.fmt(f),
            PagingError::PhysOutOfRange { phys, len } => {
                MapError::PhysOutOfRange { phys, len }.fmt(f)
            }
            PagingError::OutOfMemory => write!(
                f,
                "out of memory for page tables; the pre-allocated page-table pool is too small"
            ),
            PagingError::BadAllocation { phys } => write!(
                f,
                "page-table allocator returned {phys:#x}, which is not a 4 KiB-aligned address \
                 below 2^52 (loader bug)"
            ),
            PagingError::AlreadyMapped {
                virt,
                existing_phys,
                requested_phys,
            } => MapError::AlreadyMapped {
                virt,
                existing_phys,
                requested_phys,
            }
            .fmt(f),
            PagingError::Tables(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for PagingError {}

/// The loader's memory seen as the crate's entry access and frame source.
#[derive(Debug)]
struct Adapter<M> {
    mem: M,
    /// An unusable address the allocator returned (reported instead of "out of memory").
    bad: Option<u64>,
}

impl<M: PhysMemory> pagetables::PhysMemory for Adapter<M> {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        self.mem
            .read_u64(table.start_address().as_u64() + index as u64 * 8)
    }
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        self.mem
            .write_u64(table.start_address().as_u64() + index as u64 * 8, value);
    }
}

impl<M: PhysMemory> pagetables::FrameSource for Adapter<M> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let phys = self.mem.alloc_zeroed_page()?;
        match PhysAddr::try_new(phys)
            .ok()
            .and_then(|a| PhysFrame::from_start_address(a).ok())
        {
            Some(frame) => Some(frame),
            None => {
                self.bad = Some(phys);
                None
            }
        }
    }
    fn deallocate_frame(&mut self, _frame: PhysFrame) {
        // Only reached by unmapping, which the loader never does; its pool is handed to the
        // kernel as bootloader-reclaimable memory anyway.
    }
}

/// Read-only view of a loader memory for [`translate`].
struct Reader<'a, M: ?Sized>(&'a M);

impl<M: PhysMemory + ?Sized> pagetables::PhysMemory for Reader<'_, M> {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        self.0
            .read_u64(table.start_address().as_u64() + index as u64 * 8)
    }
    fn write_entry(&mut self, _table: PhysFrame, _index: usize, _value: u64) {
        // Never called: a walk only reads.
    }
}

impl<M> Adapter<M> {
    fn error(&mut self, e: MapError) -> PagingError {
        match e {
            MapError::Misaligned {
                virt, phys, len, ..
            } => PagingError::Unaligned { virt, phys, len },
            MapError::NonCanonical { virt, len } => PagingError::NonCanonical { virt, len },
            MapError::PhysOutOfRange { phys, len } => PagingError::PhysOutOfRange { phys, len },
            MapError::OutOfFrames => match self.bad.take() {
                Some(phys) => PagingError::BadAllocation { phys },
                None => PagingError::OutOfMemory,
            },
            MapError::AlreadyMapped {
                virt,
                existing_phys,
                requested_phys,
            } => PagingError::AlreadyMapped {
                virt,
                existing_phys,
                requested_phys,
            },
            other => PagingError::Tables(other),
        }
    }
}

/// Walks the tables rooted at `pml4` and translates `virt`; `None` if it is not mapped or not
/// canonical.
pub fn translate<M: PhysMemory + ?Sized>(mem: &M, pml4: u64, virt: u64) -> Option<Translation> {
    let root = PhysFrame::containing_address(PhysAddr::try_new(pml4).ok()?);
    let virt = VirtAddr::try_new(virt).ok()?;
    PageTables::from_root(root, Features::ALL)
        .translate(&Reader(mem), virt)
        .map(Translation::from)
}

/// Builds a set of 4-level page tables in a [`PhysMemory`].
#[derive(Debug)]
pub struct PageTableBuilder<M: PhysMemory> {
    mem: Adapter<M>,
    tables: PageTables,
}

impl<M: PhysMemory> PageTableBuilder<M> {
    /// Allocates an empty PML4 in `mem`.
    ///
    /// `nx_supported` says whether the CPU has NX (and the glue sets EFER.NXE). When false, the
    /// `no_execute` flag is dropped from every mapping, because bit 63 would then be a reserved
    /// bit and fault.
    ///
    /// # Errors
    ///
    /// [`PagingError::OutOfMemory`] or [`PagingError::BadAllocation`] from the allocator.
    pub fn new(mem: M, nx_supported: bool) -> Result<Self, PagingError> {
        let mut mem = Adapter { mem, bad: None };
        let features = Features {
            nx: nx_supported,
            huge_1g: true,
        };
        let tables = PageTables::new(&mut mem, features).map_err(|e| mem.error(e))?;
        Ok(PageTableBuilder { mem, tables })
    }

    /// Whether 1 GiB pages may be used (default: yes). Pass the CPU's
    /// CPUID.80000001h:EDX[26] (pdpe1gb): without it, a PDPT entry with PS set has a reserved
    /// bit set and faults when used.
    pub fn with_1g_pages(mut self, supported: bool) -> Self {
        let features = Features {
            huge_1g: supported,
            ..self.tables.features()
        };
        self.tables = PageTables::from_root(self.tables.root(), features);
        self
    }

    /// Physical address of the PML4 (the CR3 value, with PCID 0 and no flags).
    pub fn pml4_phys(&self) -> u64 {
        self.tables.root().start_address().as_u64()
    }

    /// Whether NX bits are being set.
    pub fn nx_supported(&self) -> bool {
        self.tables.features().nx
    }

    /// The underlying memory.
    pub fn memory(&self) -> &M {
        &self.mem.mem
    }

    /// Gives the memory back (the tables stay in it).
    pub fn into_memory(self) -> M {
        self.mem.mem
    }

    /// Translates `virt` through the tables built so far (see [`translate`]).
    pub fn translate(&self, virt: u64) -> Option<Translation> {
        self.tables
            .translate_addr(&self.mem, virt)
            .map(Translation::from)
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)` with `flags` (see
    /// `pagetables::PageTables::map`: largest fitting pages, exact coverage, agreeing overlaps
    /// are no-ops).
    ///
    /// # Errors
    ///
    /// - [`PagingError::Unaligned`], [`PagingError::NonCanonical`],
    ///   [`PagingError::PhysOutOfRange`] for bad input; nothing is written.
    /// - [`PagingError::AlreadyMapped`] for a disagreeing mapping; checked before anything is
    ///   written, so the tables are unchanged.
    /// - [`PagingError::OutOfMemory`] / [`PagingError::BadAllocation`] from the allocator; the
    ///   range may then be partly mapped, and the boot should be abandoned.
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        flags: MapFlags,
    ) -> Result<(), PagingError> {
        match self.tables.map(&mut self.mem, virt, phys, len, flags) {
            // The tables are not loaded until the hand-off: nothing to invalidate.
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(e) => Err(self.mem.error(e)),
        }
    }
}

/// An upper bound on the page-table pages (PML4 included) that [`PageTableBuilder::map`] needs
/// for `mappings` with 1 GiB pages allowed, so the glue can allocate the pool before
/// ExitBootServices (see `pagetables::table_frames_upper_bound`; without 1 GiB pages the glue
/// adds one PD per GiB itself).
pub fn table_pages_upper_bound(mappings: &[Mapping]) -> u64 {
    pagetables::table_frames_upper_bound(mappings, true)
}

#[cfg(test)]
mod tests;
