//! x86-64 4-level page-table builder over an abstract physical memory.
//!
//! The loader builds the kernel's address space (kernel segments, HHDM, framebuffer) before it
//! jumps to the kernel. This module holds the decisions; the UEFI glue (`main.rs`) supplies a
//! [`PhysMemory`] over a pool of firmware pages (physical = identity-mapped address) and programs
//! CR3 with [`PageTableBuilder::pml4_phys`] and the PAT MSR with [`PAT_MSR_VALUE`]. Host tests
//! supply a simulated RAM.
//!
//! ```text
//!  virtual address (4-level, canonical: bits 63..47 all equal)
//!  63     48 47    39 38    30 29    21 20    12 11         0
//!  [ sign  ][ PML4  ][ PDPT  ][  PD   ][  PT   ][  offset   ]
//!                       |        |        '-- 4 KiB leaf (PT entry)
//!                       |        '----------- 2 MiB leaf (PD entry, PS=1)
//!                       '-------------------- 1 GiB leaf (PDPT entry, PS=1)
//! ```
//!
//! - [`PageTableBuilder::map`] maps exactly `[virt, virt + len)`, choosing for each step the
//!   largest page (1 GiB, 2 MiB, 4 KiB) to which both addresses are aligned and that still fits,
//!   so nothing outside the range is ever mapped.
//! - Mapping over an existing mapping is allowed only if it agrees (same physical target for every
//!   page and same flags); then it is a no-op. Anything else is [`PagingError::AlreadyMapped`],
//!   detected before any entry is written. Huge pages are never split.
//! - Leaves carry the permissions; intermediate entries are present + writable (+ user when a
//!   user leaf sits below) and never NX.
//! - Cache types are PAT indices under the loader's PAT layout ([`PAT_MSR_VALUE`]).
//! - [`translate`] walks tables for self-checks; [`table_pages_upper_bound`] sizes the page pool
//!   the glue must allocate before ExitBootServices.

use core::fmt;

/// Size of a 4 KiB page.
pub const PAGE_SIZE_4K: u64 = 1 << 12;
/// Size of a 2 MiB page.
pub const PAGE_SIZE_2M: u64 = 1 << 21;
/// Size of a 1 GiB page.
pub const PAGE_SIZE_1G: u64 = 1 << 30;

/// Physical addresses must stay below 2^52 (the architectural MAXPHYADDR limit).
pub const PHYS_LIMIT: u64 = 1 << 52;

/// The IA32_PAT MSR number.
pub const PAT_MSR: u32 = 0x277;

/// The PAT layout the loader programs: PAT0 WB, PAT1 WT, PAT2 UC-, PAT3 UC, PAT4 WP, PAT5 WC,
/// PAT6 and PAT7 UC. [`Cache`] encodings assume it.
pub const PAT_MSR_VALUE: u64 = 0x0000_0105_0007_0406;

/// Page-table entry bits.
mod bits {
    pub const PRESENT: u64 = 1 << 0;
    pub const WRITABLE: u64 = 1 << 1;
    pub const USER: u64 = 1 << 2;
    pub const PWT: u64 = 1 << 3;
    pub const PCD: u64 = 1 << 4;
    /// PS in PD/PDPT entries.
    pub const HUGE: u64 = 1 << 7;
    /// PAT in 4 KiB entries.
    pub const PAT_4K: u64 = 1 << 7;
    pub const GLOBAL: u64 = 1 << 8;
    /// PAT in 2 MiB / 1 GiB entries.
    pub const PAT_HUGE: u64 = 1 << 12;
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Physical address bits 12..=51.
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
}

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

/// A page size the builder can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PageSize {
    /// 4 KiB, a PT entry.
    Size4KiB,
    /// 2 MiB, a PD entry with PS.
    Size2MiB,
    /// 1 GiB, a PDPT entry with PS.
    Size1GiB,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4KiB => PAGE_SIZE_4K,
            PageSize::Size2MiB => PAGE_SIZE_2M,
            PageSize::Size1GiB => PAGE_SIZE_1G,
        }
    }

    /// Table level holding leaves of this size (1 = PT, 2 = PD, 3 = PDPT).
    const fn level(self) -> u8 {
        match self {
            PageSize::Size4KiB => 1,
            PageSize::Size2MiB => 2,
            PageSize::Size1GiB => 3,
        }
    }

    const fn from_level(level: u8) -> Option<PageSize> {
        match level {
            1 => Some(PageSize::Size4KiB),
            2 => Some(PageSize::Size2MiB),
            3 => Some(PageSize::Size1GiB),
            _ => None,
        }
    }

    /// Largest first, for the greedy choice.
    const DESCENDING: [PageSize; 3] = [PageSize::Size1GiB, PageSize::Size2MiB, PageSize::Size4KiB];
}

/// Memory type of a mapping, as a PAT index under [`PAT_MSR_VALUE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cache {
    /// PAT0, write-back: RAM, kernel segments, HHDM.
    #[default]
    WriteBack,
    /// PAT1, write-through.
    WriteThrough,
    /// PAT2, UC- (uncached, MTRR WC may override).
    UncachedMinus,
    /// PAT3, strong uncached: MMIO.
    Uncached,
    /// PAT4, write-protect.
    WriteProtect,
    /// PAT5, write-combining: framebuffers.
    WriteCombining,
}

impl Cache {
    /// The PAT entry index (bit 0 = PWT, bit 1 = PCD, bit 2 = PAT).
    pub const fn pat_index(self) -> u8 {
        match self {
            Cache::WriteBack => 0,
            Cache::WriteThrough => 1,
            Cache::UncachedMinus => 2,
            Cache::Uncached => 3,
            Cache::WriteProtect => 4,
            Cache::WriteCombining => 5,
        }
    }

    /// The memory type encoding the PAT MSR holds for this cache type (UC 0, WC 1, WT 4, WP 5,
    /// WB 6, UC- 7).
    pub const fn memory_type(self) -> u8 {
        match self {
            Cache::WriteBack => 6,
            Cache::WriteThrough => 4,
            Cache::UncachedMinus => 7,
            Cache::Uncached => 0,
            Cache::WriteProtect => 5,
            Cache::WriteCombining => 1,
        }
    }

    /// The cache type of a PAT index; 6 and 7 are UC under [`PAT_MSR_VALUE`].
    const fn from_pat_index(index: u8) -> Cache {
        match index & 7 {
            0 => Cache::WriteBack,
            1 => Cache::WriteThrough,
            2 => Cache::UncachedMinus,
            4 => Cache::WriteProtect,
            5 => Cache::WriteCombining,
            _ => Cache::Uncached,
        }
    }
}

/// Permissions and cache type of a mapping. Always present and readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MapFlags {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches forbidden (dropped when the CPU lacks NX; see
    /// [`PageTableBuilder::new`]).
    pub no_execute: bool,
    /// Ring 3 access allowed (never for this loader, supported for completeness).
    pub user: bool,
    /// Global (survives CR3 reloads when CR4.PGE is on).
    pub global: bool,
    /// Memory type.
    pub cache: Cache,
}

impl MapFlags {
    /// HHDM mappings: supervisor RWX (the HHDM has no NX), write-back.
    pub const HHDM: MapFlags = MapFlags {
        writable: true,
        no_execute: false,
        user: false,
        global: false,
        cache: Cache::WriteBack,
    };

    /// Framebuffer pages in the HHDM: like [`MapFlags::HHDM`] but write-combining.
    pub const FRAMEBUFFER: MapFlags = MapFlags {
        cache: Cache::WriteCombining,
        ..MapFlags::HHDM
    };

    /// A kernel segment: supervisor, write-back, writable only with `PF_W`, NX unless `PF_X`.
    pub const fn kernel_segment(writable: bool, executable: bool) -> MapFlags {
        MapFlags {
            writable,
            no_execute: !executable,
            user: false,
            global: false,
            cache: Cache::WriteBack,
        }
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
}

impl fmt::Display for PagingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PagingError::Unaligned { virt, phys, len } => write!(
                f,
                "cannot map {len:#x} bytes at virtual {virt:#x} to physical {phys:#x}: addresses \
                 and length must be multiples of 4 KiB"
            ),
            PagingError::NonCanonical { virt, len } => write!(
                f,
                "cannot map {len:#x} bytes at virtual {virt:#x}: the range is not canonical under \
                 4-level paging (it must lie below 0x0000800000000000 or at/above \
                 0xffff800000000000)"
            ),
            PagingError::PhysOutOfRange { phys, len } => write!(
                f,
                "cannot map {len:#x} bytes of physical memory at {phys:#x}: physical addresses \
                 must stay below 2^52"
            ),
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
            } => write!(
                f,
                "virtual {virt:#x} is already mapped to physical {existing_phys:#x} with a \
                 different target or flags (requested physical {requested_phys:#x}); \
                 overlapping mappings must agree"
            ),
        }
    }
}

impl core::error::Error for PagingError {}

/// Whether `virt` is canonical under 4-level paging (bits 63..=47 all equal).
pub const fn is_canonical(virt: u64) -> bool {
    let top = virt >> 47;
    top == 0 || top == 0x1_ffff
}

/// Index of `virt` in a table at `level` (4 = PML4 ... 1 = PT).
const fn table_index(virt: u64, level: u8) -> u64 {
    (virt >> (12 + 9 * (level as u32 - 1))) & 0x1ff
}

/// Whether a present entry at `level` is a leaf.
const fn is_leaf(entry: u64, level: u8) -> bool {
    match level {
        1 => true,
        2 | 3 => entry & bits::HUGE != 0,
        _ => false,
    }
}

/// PWT/PCD/PAT bits for `cache` in a leaf of `size`.
const fn cache_bits(cache: Cache, size: PageSize) -> u64 {
    let index = cache.pat_index();
    let mut v = 0;
    if index & 1 != 0 {
        v |= bits::PWT;
    }
    if index & 2 != 0 {
        v |= bits::PCD;
    }
    if index & 4 != 0 {
        v |= match size {
            PageSize::Size4KiB => bits::PAT_4K,
            _ => bits::PAT_HUGE,
        };
    }
    v
}

/// The leaf entry mapping a page of `size` at `phys` with `flags` (NX already filtered).
const fn encode_leaf(phys: u64, flags: MapFlags, size: PageSize) -> u64 {
    let mut e = phys | bits::PRESENT | cache_bits(flags.cache, size);
    if flags.writable {
        e |= bits::WRITABLE;
    }
    if flags.user {
        e |= bits::USER;
    }
    if flags.global {
        e |= bits::GLOBAL;
    }
    if flags.no_execute {
        e |= bits::NO_EXECUTE;
    }
    if !matches!(size, PageSize::Size4KiB) {
        e |= bits::HUGE;
    }
    e
}

/// Physical base and flags of a leaf entry of `size`.
const fn decode_leaf(entry: u64, size: PageSize) -> (u64, MapFlags) {
    let phys = entry & bits::ADDR_MASK & !(size.bytes() - 1);
    let pat = match size {
        PageSize::Size4KiB => entry & bits::PAT_4K != 0,
        _ => entry & bits::PAT_HUGE != 0,
    };
    let index = (entry & bits::PWT != 0) as u8
        | (((entry & bits::PCD != 0) as u8) << 1)
        | ((pat as u8) << 2);
    let flags = MapFlags {
        writable: entry & bits::WRITABLE != 0,
        no_execute: entry & bits::NO_EXECUTE != 0,
        user: entry & bits::USER != 0,
        global: entry & bits::GLOBAL != 0,
        cache: Cache::from_pat_index(index),
    };
    (phys, flags)
}

/// Walks the tables rooted at `pml4` and translates `virt`; `None` if it is not mapped or not
/// canonical.
pub fn translate<M: PhysMemory + ?Sized>(mem: &M, pml4: u64, virt: u64) -> Option<Translation> {
    if !is_canonical(virt) {
        return None;
    }
    let mut table = pml4;
    for level in (1..=4u8).rev() {
        let entry = mem.read_u64(table.wrapping_add(table_index(virt, level) * 8));
        if entry & bits::PRESENT == 0 {
            return None;
        }
        if is_leaf(entry, level) {
            let page_size = PageSize::from_level(level)?;
            let (base, flags) = decode_leaf(entry, page_size);
            return Some(Translation {
                phys: base | (virt & (page_size.bytes() - 1)),
                page_size,
                flags,
            });
        }
        table = entry & bits::ADDR_MASK;
    }
    None
}

/// One step of a mapping: a page of `size` at `virt` → `phys`.
#[derive(Debug, Clone, Copy)]
struct Step {
    virt: u64,
    phys: u64,
    size: PageSize,
}

/// The greedy split of a validated range into the largest fitting pages.
#[derive(Debug, Clone)]
struct Steps {
    virt: u64,
    phys: u64,
    remaining: u64,
    /// Whether 1 GiB pages may be used (CPUID.80000001h:EDX[26]).
    allow_1g: bool,
}

impl Iterator for Steps {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.remaining == 0 {
            return None;
        }
        let allow_1g = self.allow_1g;
        let size = PageSize::DESCENDING
            .into_iter()
            .filter(|s| allow_1g || *s != PageSize::Size1GiB)
            .find(|s| {
                let b = s.bytes();
                self.virt.is_multiple_of(b) && self.phys.is_multiple_of(b) && self.remaining >= b
            })?;
        let step = Step {
            virt: self.virt,
            phys: self.phys,
            size,
        };
        let b = size.bytes();
        // The range was validated: virt + remaining <= 2^64 (wrapping only at the very end) and
        // phys + remaining < 2^52.
        self.virt = self.virt.wrapping_add(b);
        self.phys = self.phys.wrapping_add(b);
        self.remaining -= b;
        Some(step)
    }
}

/// Builds a set of 4-level page tables in a [`PhysMemory`].
#[derive(Debug)]
pub struct PageTableBuilder<M: PhysMemory> {
    mem: M,
    pml4: u64,
    nx_supported: bool,
    huge_1g: bool,
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
    pub fn new(mut mem: M, nx_supported: bool) -> Result<Self, PagingError> {
        let pml4 = alloc_table(&mut mem)?;
        Ok(PageTableBuilder {
            mem,
            pml4,
            nx_supported,
            huge_1g: true,
        })
    }

    /// Whether 1 GiB pages may be used (default: yes). Pass the CPU's
    /// CPUID.80000001h:EDX[26] (pdpe1gb): without it, a PDPT entry with PS set has a reserved
    /// bit set and faults when used.
    pub fn with_1g_pages(mut self, supported: bool) -> Self {
        self.huge_1g = supported;
        self
    }

    /// Physical address of the PML4 (the CR3 value, with PCID 0 and no flags).
    pub fn pml4_phys(&self) -> u64 {
        self.pml4
    }

    /// Whether NX bits are being set.
    pub fn nx_supported(&self) -> bool {
        self.nx_supported
    }

    /// The underlying memory.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Gives the memory back (the tables stay in it).
    pub fn into_memory(self) -> M {
        self.mem
    }

    /// Translates `virt` through the tables built so far (see [`translate`]).
    pub fn translate(&self, virt: u64) -> Option<Translation> {
        translate(&self.mem, self.pml4, virt)
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)` with `flags`.
    ///
    /// Uses the largest page size (1 GiB, 2 MiB, 4 KiB) to which both current addresses are
    /// aligned and which fits in what is left, so it maps exactly the range. `len == 0` does
    /// nothing. Where the range is already mapped, the existing mapping must send every page to
    /// the same physical address with the same (effective) flags, and is then left as it is; an
    /// existing huge page that agrees covers smaller steps, and an existing table below a huge
    /// step is filled in with smaller pages.
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
        if !virt.is_multiple_of(PAGE_SIZE_4K)
            || !phys.is_multiple_of(PAGE_SIZE_4K)
            || !len.is_multiple_of(PAGE_SIZE_4K)
        {
            return Err(PagingError::Unaligned { virt, phys, len });
        }
        if len == 0 {
            return Ok(());
        }
        let non_canonical = PagingError::NonCanonical { virt, len };
        let last_virt = virt.checked_add(len - 1).ok_or(non_canonical)?;
        let same_half = (virt >> 47) == (last_virt >> 47);
        if !is_canonical(virt) || !is_canonical(last_virt) || !same_half {
            return Err(non_canonical);
        }
        match phys.checked_add(len - 1) {
            Some(last) if last < PHYS_LIMIT => {}
            _ => return Err(PagingError::PhysOutOfRange { phys, len }),
        }
        let flags = MapFlags {
            no_execute: flags.no_execute && self.nx_supported,
            ..flags
        };
        let steps = Steps {
            virt,
            phys,
            remaining: len,
            allow_1g: self.huge_1g,
        };
        for apply in [false, true] {
            for step in steps.clone() {
                self.map_step(self.pml4, 4, step, flags, apply)?;
            }
        }
        Ok(())
    }

    /// Maps (or, with `apply == false`, only checks) one step in the table at `table`, which
    /// sits at `level`.
    fn map_step(
        &mut self,
        table: u64,
        level: u8,
        step: Step,
        flags: MapFlags,
        apply: bool,
    ) -> Result<(), PagingError> {
        let slot = table + table_index(step.virt, level) * 8;
        let entry = self.mem.read_u64(slot);
        let present = entry & bits::PRESENT != 0;

        if level == step.size.level() {
            if !present {
                if apply {
                    self.mem
                        .write_u64(slot, encode_leaf(step.phys, flags, step.size));
                }
                return Ok(());
            }
            if is_leaf(entry, level) {
                return check_agrees(entry, level, step, flags);
            }
            // A table from an earlier, finer mapping hangs here: fill it at the next size down.
            let Some(sub) = PageSize::from_level(level - 1) else {
                return Ok(()); // unreachable: level-1 entries are always leaves
            };
            self.mark_user(slot, entry, flags, apply);
            let child = entry & bits::ADDR_MASK;
            let n = step.size.bytes() / sub.bytes();
            for i in 0..n {
                let off = i * sub.bytes();
                let sub_step = Step {
                    virt: step.virt.wrapping_add(off),
                    phys: step.phys + off,
                    size: sub,
                };
                self.map_step(child, level - 1, sub_step, flags, apply)?;
            }
            return Ok(());
        }

        // Above the step's level.
        if !present {
            if !apply {
                return Ok(()); // nothing mapped below, so nothing to conflict with
            }
            let child = alloc_table(&mut self.mem)?;
            let mut e = child | bits::PRESENT | bits::WRITABLE;
            if flags.user {
                e |= bits::USER;
            }
            self.mem.write_u64(slot, e);
            return self.map_step(child, level - 1, step, flags, apply);
        }
        if is_leaf(entry, level) {
            return check_agrees(entry, level, step, flags);
        }
        self.mark_user(slot, entry, flags, apply);
        self.map_step(entry & bits::ADDR_MASK, level - 1, step, flags, apply)
    }

    /// Sets the user bit on an intermediate entry when a user leaf goes below it.
    fn mark_user(&mut self, slot: u64, entry: u64, flags: MapFlags, apply: bool) {
        if apply && flags.user && entry & bits::USER == 0 {
            self.mem.write_u64(slot, entry | bits::USER);
        }
    }
}

/// Allocates and checks a table page.
fn alloc_table<M: PhysMemory + ?Sized>(mem: &mut M) -> Result<u64, PagingError> {
    let phys = mem.alloc_zeroed_page().ok_or(PagingError::OutOfMemory)?;
    if !phys.is_multiple_of(PAGE_SIZE_4K) || phys >= PHYS_LIMIT {
        return Err(PagingError::BadAllocation { phys });
    }
    Ok(phys)
}

/// Whether an existing leaf `entry` at `level` already maps `step` the same way.
fn check_agrees(entry: u64, level: u8, step: Step, flags: MapFlags) -> Result<(), PagingError> {
    let size = PageSize::from_level(level).unwrap_or(PageSize::Size4KiB);
    let (base, existing_flags) = decode_leaf(entry, size);
    let existing_phys = base | (step.virt & (size.bytes() - 1));
    if existing_phys == step.phys && existing_flags == flags {
        Ok(())
    } else {
        Err(PagingError::AlreadyMapped {
            virt: step.virt,
            existing_phys,
            requested_phys: step.phys,
        })
    }
}

/// A range to be mapped, for [`table_pages_upper_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Virtual start.
    pub virt: u64,
    /// Physical start.
    pub phys: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Number of `size`-aligned windows `[virt, virt + len)` touches.
fn windows(virt: u64, len: u64, size: u64) -> u64 {
    if len == 0 {
        return 0;
    }
    let last = virt.saturating_add(len - 1);
    last / size - virt / size + 1
}

/// An upper bound on the page-table pages (PML4 included) that [`PageTableBuilder::map`] needs
/// for `mappings`, so the glue can allocate the pool before ExitBootServices.
///
/// Per range it counts one PDPT per 512 GiB window, and PD and PT pages only where the greedy
/// split can put 2 MiB or 4 KiB leaves: everywhere if the virtual and physical addresses are
/// not congruent modulo the larger size, else only the unaligned head and tail (at most two).
/// Ranges sharing tables are counted twice, which only loosens the bound. Mapping over existing
/// tables never allocates.
pub fn table_pages_upper_bound(mappings: &[Mapping]) -> u64 {
    let mut pages: u64 = 1; // PML4
    for m in mappings {
        let diff = m.virt ^ m.phys;
        let huge_2m = diff.is_multiple_of(PAGE_SIZE_2M);
        let huge_1g = diff.is_multiple_of(PAGE_SIZE_1G);
        let pdpts = windows(m.virt, m.len, 1 << 39);
        let pd_windows = windows(m.virt, m.len, PAGE_SIZE_1G);
        let pt_windows = windows(m.virt, m.len, PAGE_SIZE_2M);
        let pds = if huge_1g {
            pd_windows.min(2)
        } else {
            pd_windows
        };
        let pts = if huge_2m {
            pt_windows.min(2)
        } else {
            pt_windows
        };
        pages = pages
            .saturating_add(pdpts)
            .saturating_add(pds)
            .saturating_add(pts);
    }
    pages
}

#[cfg(test)]
mod tests;
