//! Page sizes, cache types, mapping flags and the raw entry format.
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
//! Leaves carry the permissions; intermediate entries are present + writable (+ user when a
//! user leaf sits below) and never NX, so they never restrict. Cache types are PAT indices
//! under [`PAT_MSR_VALUE`].

use x86_64::PhysAddr;
use x86_64::structures::paging::page_table::PageTableLevel;
use x86_64::structures::paging::{PageTableFlags, PhysFrame};

/// Size of a 4 KiB page.
pub const PAGE_SIZE_4K: u64 = 1 << 12;
/// Size of a 2 MiB page.
pub const PAGE_SIZE_2M: u64 = 1 << 21;
/// Size of a 1 GiB page.
pub const PAGE_SIZE_1G: u64 = 1 << 30;
/// Entries in one table.
pub const ENTRIES: usize = 512;

/// Physical addresses must stay below 2^52 (the architectural MAXPHYADDR limit).
pub const PHYS_LIMIT: u64 = 1 << 52;

/// The IA32_PAT MSR number.
pub const PAT_MSR: u32 = 0x277;

/// The PAT layout [`Cache`] assumes: PAT0 WB, PAT1 WT, PAT2 UC-, PAT3 UC, PAT4 WP, PAT5 WC,
/// PAT6 and PAT7 UC. PAT0..PAT3 equal the power-on layout, so WB/WT/UC-/UC mean the same
/// before the MSR is programmed.
pub const PAT_MSR_VALUE: u64 = 0x0000_0105_0007_0406;

/// Raw entry bits not named by [`PageTableFlags`].
pub(crate) mod bits {
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

/// A page size.
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
    /// Largest first, for greedy choices.
    pub const DESCENDING: [PageSize; 3] =
        [PageSize::Size1GiB, PageSize::Size2MiB, PageSize::Size4KiB];

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4KiB => PAGE_SIZE_4K,
            PageSize::Size2MiB => PAGE_SIZE_2M,
            PageSize::Size1GiB => PAGE_SIZE_1G,
        }
    }

    /// The size of an `x86_64` crate page-size type.
    pub const fn of<S: x86_64::structures::paging::PageSize>() -> PageSize {
        match S::SIZE {
            PAGE_SIZE_1G => PageSize::Size1GiB,
            PAGE_SIZE_2M => PageSize::Size2MiB,
            _ => PageSize::Size4KiB,
        }
    }

    /// Table level holding leaves of this size (1 = PT, 2 = PD, 3 = PDPT).
    pub(crate) const fn level(self) -> u8 {
        match self {
            PageSize::Size4KiB => 1,
            PageSize::Size2MiB => 2,
            PageSize::Size1GiB => 3,
        }
    }

    /// The leaf size of a table level, if that level can hold leaves.
    pub(crate) const fn from_level(level: u8) -> Option<PageSize> {
        match level {
            1 => Some(PageSize::Size4KiB),
            2 => Some(PageSize::Size2MiB),
            3 => Some(PageSize::Size1GiB),
            _ => None,
        }
    }

    /// Short name for reports ("4 KiB", "2 MiB", "1 GiB").
    pub const fn name(self) -> &'static str {
        match self {
            PageSize::Size4KiB => "4 KiB",
            PageSize::Size2MiB => "2 MiB",
            PageSize::Size1GiB => "1 GiB",
        }
    }
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
    pub const fn from_pat_index(index: u8) -> Cache {
        match index & 7 {
            0 => Cache::WriteBack,
            1 => Cache::WriteThrough,
            2 => Cache::UncachedMinus,
            4 => Cache::WriteProtect,
            5 => Cache::WriteCombining,
            _ => Cache::Uncached,
        }
    }

    /// Short name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            Cache::WriteBack => "write-back",
            Cache::WriteThrough => "write-through",
            Cache::UncachedMinus => "UC-",
            Cache::Uncached => "uncached",
            Cache::WriteProtect => "write-protect",
            Cache::WriteCombining => "write-combining",
        }
    }
}

/// Permissions and cache type of a mapping. Always present and readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MapFlags {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches forbidden (dropped when the CPU lacks NX; see
    /// [`Features::nx`](crate::Features::nx)).
    pub no_execute: bool,
    /// Ring 3 access allowed.
    pub user: bool,
    /// Global (survives CR3 reloads when CR4.PGE is on).
    pub global: bool,
    /// Memory type.
    pub cache: Cache,
}

impl MapFlags {
    /// The HHDM as the bundled loader builds it for the Limine protocol: supervisor RWX,
    /// write-back.
    pub const HHDM: MapFlags = MapFlags {
        writable: true,
        no_execute: false,
        user: false,
        global: false,
        cache: Cache::WriteBack,
    };

    /// Framebuffer pages: like [`MapFlags::HHDM`] but write-combining.
    pub const FRAMEBUFFER: MapFlags = MapFlags {
        cache: Cache::WriteCombining,
        ..MapFlags::HHDM
    };

    /// Kernel data: supervisor read/write, never executable, write-back (the kernel's own
    /// HHDM, stacks, data and bss).
    pub const DATA: MapFlags = MapFlags {
        writable: true,
        no_execute: true,
        user: false,
        global: false,
        cache: Cache::WriteBack,
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

/// One raw page-table entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Entry(pub u64);

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Entry({:#018x})", self.0)
    }
}

impl Entry {
    /// The empty entry.
    pub const EMPTY: Entry = Entry(0);

    /// The flag bits, as the `x86_64` crate names them (bit 12, the PAT bit of huge leaves,
    /// has no name there and is kept as an unnamed bit).
    pub const fn flags(self) -> PageTableFlags {
        PageTableFlags::from_bits_retain(self.0 & !bits::ADDR_MASK)
    }

    /// Whether the present bit is set.
    pub const fn is_present(self) -> bool {
        self.0 & bits::PRESENT != 0
    }

    /// Whether this present entry, found at `level`, maps a page rather than a table.
    pub(crate) const fn is_leaf_at(self, level: u8) -> bool {
        match level {
            1 => true,
            2 | 3 => self.0 & bits::HUGE != 0,
            _ => false,
        }
    }

    /// The address field (bits 12..=51): the next table, or a leaf's base plus, for huge
    /// leaves, the PAT bit.
    pub const fn addr_field(self) -> u64 {
        self.0 & bits::ADDR_MASK
    }

    /// The next-level table of a non-leaf entry.
    pub(crate) fn table(self) -> PhysFrame {
        PhysFrame::containing_address(PhysAddr::new_truncate(self.addr_field()))
    }

    /// An intermediate entry pointing at `table`.
    pub(crate) const fn new_table(table: u64, user: bool) -> Entry {
        let mut e = table | bits::PRESENT | bits::WRITABLE;
        if user {
            e |= bits::USER;
        }
        Entry(e)
    }

    /// The leaf entry mapping a page of `size` at `phys` with `flags` (NX already filtered).
    pub const fn leaf(phys: u64, flags: MapFlags, size: PageSize) -> Entry {
        let mut e = (phys & bits::ADDR_MASK) | bits::PRESENT | cache_bits(flags.cache, size);
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
        Entry(e)
    }

    /// Physical base and flags of a leaf entry of `size`.
    pub const fn decode_leaf(self, size: PageSize) -> (u64, MapFlags) {
        let entry = self.0;
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

/// Whether `virt` is canonical under 4-level paging (bits 63..=47 all equal).
pub const fn is_canonical(virt: u64) -> bool {
    let top = virt >> 47;
    top == 0 || top == 0x1_ffff
}

/// Index of `virt` in a table at `level` (4 = PML4 ... 1 = PT).
pub(crate) const fn table_index(virt: u64, level: u8) -> usize {
    ((virt >> (12 + 9 * (level as u32 - 1))) & 0x1ff) as usize
}

/// Bytes one entry at `level` covers.
pub(crate) const fn entry_span(level: u8) -> u64 {
    1 << (12 + 9 * (level as u32 - 1))
}

/// The `x86_64` crate's name for a level.
pub(crate) const fn level_of(level: u8) -> PageTableLevel {
    match level {
        1 => PageTableLevel::One,
        2 => PageTableLevel::Two,
        3 => PageTableLevel::Three,
        _ => PageTableLevel::Four,
    }
}

/// Table name of a level (PML4, PDPT, PD, PT).
pub const fn level_name(level: PageTableLevel) -> &'static str {
    match level {
        PageTableLevel::Four => "PML4",
        PageTableLevel::Three => "PDPT",
        PageTableLevel::Two => "PD",
        PageTableLevel::One => "PT",
    }
}
