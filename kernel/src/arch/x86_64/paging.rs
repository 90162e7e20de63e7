//! Page tables on the running CPU: HHDM access for the shared `pagetables` crate, TLB
//! invalidation, CR3 switches, and the proofs the rest of `arch` accepts.
//!
//! Trust roots are the loader's responses (PROTOCOL.md, "HHDM (Higher Half Direct Map)
//! Feature", "Memory Map Feature" and "Memory Layout at Entry"): `boot::limine` declares the
//! HHDM offset ([`declare_hhdm`]), the RAM the kernel may reach through it ([`declare_ram`]:
//! usable and bootloader-reclaimable memory, which the loader's HHDM and the kernel's own both
//! cover) and how to classify any physical range ([`declare_memory_map`]), once each. From
//! them:
//!
//! - [`Ram`] (taken once, by the memory module) reads and writes words of RAM frames through
//!   the HHDM: the buddy allocator's free-list headers and the page-table entries. It is the
//!   [`PhysMemory`] the `pagetables` crate edits the kernel's tables through; [`CpuTlb`] is its
//!   [`Tlb`]. Every access is checked to lie in declared RAM (anything else reads 0 and
//!   ignores writes); which frames are free or hold page tables is the memory module's
//!   contract (see docs/architecture.md, Unsafe): its allocator hands each frame out once.
//! - [`enter`] switches to the kernel's own tables and stack in one step, after checking that
//!   they map the kernel image exactly as the active tables do; [`activate`] switches between
//!   address spaces that share the kernel half.
//! - [`Window`] proves that a virtual range of the active tables maps a physical range (with
//!   its cache type and rights). The device handles (`apic`, `vga`, `framebuffer`) and the
//!   ACPI table handler accept only windows over physical memory the kernel does not own
//!   ([`PhysKind::Other`]), so nothing they write or borrow can be Rust memory.
//! - [`KernelStack`] proves a stack is mapped read-write onto RAM in given tables with an
//!   unmapped guard area below it; the stack switches ([`switch_stack`], [`enter`],
//!   `gdt::switch_ist_stacks`) take nothing else.

use core::convert::Infallible;
use core::sync::atomic::{AtomicBool, Ordering};

use ::x86_64::registers::control::{Cr3, Cr3Flags, Cr4, Cr4Flags};
use ::x86_64::structures::paging::PhysFrame;
use ::x86_64::{PhysAddr, VirtAddr};
use pagetables::{Cache, Features, PageTables, PhysMemory, Tlb, Translation};
use spin::Once;

/// Size of a page and of a frame.
pub const PAGE: u64 = 4096;

/// Most RAM ranges [`declare_ram`] keeps: as many as the kernel's copy of the memory map has
/// entries (`boot::info::MAX_MEMORY_REGIONS`, checked there), so merging never drops one.
pub const MAX_RAM_RANGES: usize = 1024;

/// End of the low memory no Rust object and no allocated frame ever lives in: the frame
/// allocator hands out nothing below 1 MiB (`memory::buddy::LOW_LIMIT`, checked there), and
/// the loader's data there was copied before. Firmware tables found there (the EBDA, which some
/// BIOS memory maps call usable) may be mapped read-only.
pub const LOW_MEMORY_END: u64 = 0x10_0000;

/// How the loader's memory map classifies a physical range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhysKind {
    /// Entirely inside usable RAM.
    Usable,
    /// Overlaps memory the kernel owns or may own: usable, bootloader-reclaimable, the kernel
    /// image and modules (also the answer before the map is declared).
    Kernel,
    /// None of the above: firmware tables, device memory, holes.
    Other,
}

static HHDM: Once<u64> = Once::new();
static CLASSIFY: Once<fn(u64, u64) -> PhysKind> = Once::new();
static RAM: Once<heapless::Vec<(u64, u64), MAX_RAM_RANGES>> = Once::new();
static RAM_TAKEN: AtomicBool = AtomicBool::new(false);

/// Records the loader's HHDM offset. Only the first call has an effect.
///
/// # Safety
/// `offset` must be the HHDM offset the loader reported: every frame of usable and
/// bootloader-reclaimable memory (the page tables among them) is mapped, read-write, at
/// `phys + offset` in the loader's tables, and the kernel keeps it so in its own.
pub unsafe fn declare_hhdm(offset: u64) {
    HHDM.call_once(|| offset);
}

/// Records the RAM the kernel may reach through the HHDM: `ranges` of `[start, end)`, in any
/// order, rounded inward to whole pages, sorted and merged here (at most as many ranges as the
/// map has entries: [`MAX_RAM_RANGES`]). Only the first call has an effect.
///
/// # Safety
/// Every range must be usable or bootloader-reclaimable RAM by the loader's memory map, inside
/// the HHDM declared with [`declare_hhdm`], holding nothing the kernel image refers to except
/// through the memory module (which owns it from now on).
pub unsafe fn declare_ram(ranges: impl Iterator<Item = (u64, u64)>) {
    RAM.call_once(|| {
        let mut v: heapless::Vec<(u64, u64), MAX_RAM_RANGES> = heapless::Vec::new();
        for (start, end) in ranges {
            let (Some(start), end) = (start.checked_next_multiple_of(PAGE), end & !(PAGE - 1))
            else {
                continue;
            };
            if start >= end {
                continue;
            }
            let i = v.partition_point(|r| r.1 < start);
            if let Some(r) = v.get_mut(i)
                && r.0 <= end
            {
                // Overlaps or touches `v[i]`: widen it, then swallow what it now reaches.
                r.0 = r.0.min(start);
                r.1 = r.1.max(end);
                while i + 1 < v.len() && v[i + 1].0 <= v[i].1 {
                    v[i].1 = v[i].1.max(v[i + 1].1);
                    v.remove(i + 1);
                }
            } else if v.insert(i, (start, end)).is_err() {
                break;
            }
        }
        v
    });
}

/// The declared RAM ranges.
pub fn ram_ranges() -> &'static [(u64, u64)] {
    RAM.get().map_or(&[], |v| v.as_slice())
}

/// Records how to classify physical ranges by the loader's memory map. Only the first call has
/// an effect.
///
/// # Safety
/// `classify(base, len)` must answer truthfully for the memory map the loader reported: a
/// range it calls [`PhysKind::Other`] holds no memory the kernel owns or may allocate, and one
/// it calls [`PhysKind::Usable`] is usable RAM.
pub unsafe fn declare_memory_map(classify: fn(u64, u64) -> PhysKind) {
    CLASSIFY.call_once(|| classify);
}

/// What the loader's memory map says `[base, base + len)` is ([`PhysKind::Kernel`] until the
/// map is declared).
pub fn classify(base: u64, len: u64) -> PhysKind {
    CLASSIFY.get().map_or(PhysKind::Kernel, |f| f(base, len))
}

/// Whether the CPU runs with 5-level paging (CR4.LA57). The kernel's tables are 4-level, so
/// the boot must refuse to continue then (it asks for 4-level paging; PROTOCOL.md, Paging Mode
/// Feature).
pub fn five_level_active() -> bool {
    Cr4::read().contains(Cr4Flags::L5_PAGING)
}

/// The HHDM offset, once declared.
pub fn hhdm_offset() -> Option<u64> {
    HHDM.get().copied()
}

/// Whether `[phys, phys + len)` lies inside one declared RAM range.
fn in_ram(phys: u64, len: u64) -> bool {
    let Some(ranges) = RAM.get() else {
        return false;
    };
    let Some(end) = phys.checked_add(len) else {
        return false;
    };
    let i = ranges.partition_point(|r| r.1 <= phys);
    ranges.get(i).is_some_and(|r| r.0 <= phys && end <= r.1)
}

/// HHDM access to declared RAM: words of frames (the buddy allocator's free-list headers) and
/// page-table entries. Taken once, by the memory module.
#[derive(Debug)]
pub struct Ram {
    offset: u64,
    /// The declared range found last (accesses cluster: one table, one free block).
    hint: core::cell::Cell<(u64, u64)>,
}

impl Ram {
    /// The one handle; `None` before the HHDM and the RAM are declared, and after the first call.
    pub fn take() -> Option<Ram> {
        let offset = *HHDM.get()?;
        RAM.get()?;
        if RAM_TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Ram {
            offset,
            hint: core::cell::Cell::new((0, 0)),
        })
    }

    /// Whether `[phys, phys + len)` lies in declared RAM, trying the last range found first.
    #[inline]
    fn covers(&self, phys: u64, len: u64) -> bool {
        let (start, end) = self.hint.get();
        if phys >= start && phys.checked_add(len).is_some_and(|e| e <= end) {
            return true;
        }
        let Some(ranges) = RAM.get() else {
            return false;
        };
        let i = ranges.partition_point(|r| r.1 <= phys);
        match ranges.get(i) {
            Some(&r) if r.0 <= phys && phys.checked_add(len).is_some_and(|e| e <= r.1) => {
                self.hint.set(r);
                true
            }
            _ => false,
        }
    }

    /// Reads the word at physical `phys` (8-byte aligned, in declared RAM; 0 otherwise).
    #[inline]
    pub fn read_word(&self, phys: u64) -> u64 {
        if !phys.is_multiple_of(8) || !self.covers(phys, 8) {
            return 0;
        }
        // SAFETY: `phys` is an aligned word of declared RAM, mapped at `phys + offset` in the
        // HHDM of every table the kernel runs on (`declare_hhdm`, `declare_ram`); a volatile
        // read of plain memory has no side effect.
        unsafe { core::ptr::read_volatile((phys + self.offset) as *const u64) }
    }

    /// Writes the word at physical `phys` (ignored unless 8-byte aligned and in declared RAM).
    #[inline]
    pub fn write_word(&mut self, phys: u64, value: u64) {
        if !phys.is_multiple_of(8) || !self.covers(phys, 8) {
            return;
        }
        // SAFETY: as in `read_word`; by the memory module's contract (module documentation)
        // the word belongs to a free frame or a page table it owns, which no Rust reference
        // covers.
        unsafe { core::ptr::write_volatile((phys + self.offset) as *mut u64, value) }
    }

    /// Zeroes the frame at physical `frame` (ignored unless page aligned and in declared RAM).
    pub fn zero_frame(&mut self, frame: u64) {
        if !frame.is_multiple_of(PAGE) || !self.covers(frame, PAGE) {
            return;
        }
        // SAFETY: as in `write_word`, for a whole frame the memory module owns.
        unsafe { core::ptr::write_bytes((frame + self.offset) as *mut u8, 0, PAGE as usize) }
    }
}

impl PhysMemory for Ram {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        self.read_word(table.start_address().as_u64() + (index as u64 % 512) * 8)
    }
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        self.write_word(
            table.start_address().as_u64() + (index as u64 % 512) * 8,
            value,
        );
    }
    fn zero_table(&mut self, table: PhysFrame) {
        self.zero_frame(table.start_address().as_u64());
    }
}

/// Read-only access to page tables in declared RAM, for the checks here.
struct Reader;

impl PhysMemory for Reader {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        let phys = table.start_address().as_u64() + (index as u64 % 512) * 8;
        match HHDM.get() {
            Some(offset) if in_ram(phys, 8) => {
                // SAFETY: as in `Ram::read_word`.
                unsafe { core::ptr::read_volatile((phys + offset) as *const u64) }
            }
            _ => 0,
        }
    }
    fn write_entry(&mut self, _: PhysFrame, _: usize, _: u64) {}
}

/// The CPU's TLB: INVLPG for a page, a CR4.PGE toggle (or a CR3 reload without global pages)
/// for everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuTlb;

impl Tlb for CpuTlb {
    fn invalidate_page(&mut self, addr: VirtAddr) {
        ::x86_64::instructions::tlb::flush(addr);
    }

    fn invalidate_all(&mut self) {
        flush_everything();
    }
}

/// Drops every translation, global ones included.
pub fn flush_everything() {
    let were_enabled = super::cpu::disable_interrupts_save();
    let cr4 = Cr4::read();
    if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
        // SAFETY: clearing and restoring PGE changes no translation, it only empties the TLB
        // (SDM Vol. 3A, 4.10.4.1).
        unsafe {
            Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(cr4);
        }
    } else {
        ::x86_64::instructions::tlb::flush_all();
    }
    super::cpu::restore_interrupts(were_enabled);
}

/// The PML4 frame in CR3.
pub fn active_root() -> PhysFrame {
    Cr3::read().0
}

/// What `virt` translates to in the active tables.
pub fn translate_active(virt: u64) -> Option<Translation> {
    tables_at(active_root()).translate_addr(&Reader, virt)
}

/// The tables rooted at `root`, as the checks here read them (features do not matter for a
/// translation of valid tables).
fn tables_at(root: PhysFrame) -> PageTables {
    PageTables::from_root(
        root,
        Features {
            nx: true,
            huge_1g: true,
        },
    )
}

/// Why a page-table proof could not be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMapError {
    /// No frame for an intermediate table or a stack page.
    OutOfFrames,
    /// Already mapped (a guard page, for a stack), or a huge page is in the way.
    AlreadyMapped,
    /// A frame is not usable RAM by the loader's map.
    NotUsableRam(u64),
    /// A page that should be mapped is not, or maps the wrong frame or with the wrong rights.
    NotMapped(u64),
}

impl core::fmt::Display for PageMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfFrames => f.write_str("no frame left for a page table"),
            Self::AlreadyMapped => {
                f.write_str("page already mapped (or a huge page is in the way)")
            }
            Self::NotUsableRam(frame) => write!(f, "frame {frame:#x} is not usable RAM"),
            Self::NotMapped(virt) => {
                write!(f, "page {virt:#x} is not mapped as the proof requires")
            }
        }
    }
}

impl core::error::Error for PageMapError {}

/// Why a [`Window`] does not suit a device handle or table mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// The physical range overlaps memory the kernel owns.
    KernelMemory {
        /// Start of the range.
        phys: u64,
    },
    /// The window is smaller than the registers or table it must hold.
    TooSmall {
        /// Bytes mapped.
        len: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// Device registers need an uncached mapping.
    Cached,
    /// Device registers need a writable mapping.
    ReadOnly,
    /// The window maps another physical address than the device's.
    WrongAddress {
        /// Where the window points.
        phys: u64,
        /// Where the device is.
        expected: u64,
    },
    /// The active tables do not map the range as claimed.
    NotMapped {
        /// First page that is not.
        virt: u64,
    },
    /// An empty or wrapping range.
    BadRange,
}

impl core::fmt::Display for WindowError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::KernelMemory { phys } => {
                write!(f, "physical range at {phys:#x} is memory the kernel owns")
            }
            Self::TooSmall { len, needed } => {
                write!(f, "window of {len:#x} bytes, {needed:#x} needed")
            }
            Self::Cached => f.write_str("device registers mapped cacheable"),
            Self::ReadOnly => f.write_str("device registers mapped read-only"),
            Self::WrongAddress { phys, expected } => {
                write!(f, "window maps {phys:#x}, the device is at {expected:#x}")
            }
            Self::NotMapped { virt } => write!(
                f,
                "page {virt:#x} is not mapped onto the window's physical range"
            ),
            Self::BadRange => f.write_str("empty or wrapping window"),
        }
    }
}

impl core::error::Error for WindowError {}

/// `[virt, virt + len)` mapped in the active tables onto `[phys, phys + len)`, never
/// executable, with one cache type. Not `Clone`: the handle built on it owns it.
#[derive(Debug)]
pub struct Window {
    virt: u64,
    phys: u64,
    len: u64,
    cache: Cache,
    writable: bool,
}

impl Window {
    /// Checks that the active tables map `[virt, virt + len)` onto `[phys, phys + len)` (the
    /// same offset in the page), no-execute, all pages with one cache type, and returns the
    /// proof. The memory module calls this right after mapping a fresh virtual range.
    ///
    /// # Errors
    /// [`WindowError::NotMapped`] for the first page that is not so mapped,
    /// [`WindowError::BadRange`] for an empty or wrapping range.
    pub fn verify(virt: u64, phys: u64, len: u64) -> Result<Window, WindowError> {
        if len == 0 || virt & (PAGE - 1) != phys & (PAGE - 1) {
            return Err(WindowError::BadRange);
        }
        let first = virt & !(PAGE - 1);
        let last = virt
            .checked_add(len - 1)
            .filter(|_| phys.checked_add(len - 1).is_some())
            .ok_or(WindowError::BadRange)?
            & !(PAGE - 1);
        let tables = tables_at(active_root());
        let mut found: Option<(Cache, bool)> = None;
        let mut page = first;
        loop {
            let expected = (phys & !(PAGE - 1)) + (page - first);
            let t = tables.translate_addr(&Reader, page);
            let ok = t.is_some_and(|t| {
                t.phys.as_u64() == expected
                    && (t.flags.no_execute || !super::cpu::nx_enabled())
                    && found.is_none_or(|(c, w)| c == t.flags.cache && w == t.flags.writable)
            });
            let Some(t) = t.filter(|_| ok) else {
                return Err(WindowError::NotMapped { virt: page });
            };
            found = Some((t.flags.cache, t.flags.writable));
            if page == last {
                break;
            }
            page += PAGE;
        }
        let (cache, writable) = found.ok_or(WindowError::BadRange)?;
        Ok(Window {
            virt,
            phys,
            len,
            cache,
            writable,
        })
    }

    /// Virtual address of `phys`.
    pub fn virt(&self) -> u64 {
        self.virt
    }

    /// Physical address the window starts at.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Bytes mapped from `phys` on.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty (never, for a verified one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache type of every page.
    pub fn cache(&self) -> Cache {
        self.cache
    }

    /// Whether the mapping is strong uncached.
    pub fn is_uncached(&self) -> bool {
        self.cache == Cache::Uncached
    }

    /// Whether writes are allowed.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Checks that the window can host a device or firmware table of `needed` bytes: it covers
    /// them and maps no memory the kernel owns (and, for registers, is uncached and writable).
    /// Returns the virtual address.
    pub(crate) fn check(&self, needed: u64, registers: bool) -> Result<u64, WindowError> {
        if self.len < needed {
            return Err(WindowError::TooSmall {
                len: self.len,
                needed,
            });
        }
        if registers && !self.is_uncached() {
            return Err(WindowError::Cached);
        }
        if registers && !self.writable {
            return Err(WindowError::ReadOnly);
        }
        let low_read_only = !registers
            && !self.writable
            && self
                .phys
                .checked_add(self.len)
                .is_some_and(|end| end <= LOW_MEMORY_END);
        if !low_read_only && classify(self.phys, self.len) != PhysKind::Other {
            return Err(WindowError::KernelMemory { phys: self.phys });
        }
        Ok(self.virt)
    }
}

/// A kernel stack: `[bottom, top)` mapped read-write, no-execute onto declared RAM in the tables
/// rooted at `root`, with an unmapped guard area below `bottom`. Not `Clone`: switching to it
/// consumes it.
#[derive(Debug, PartialEq, Eq)]
pub struct KernelStack {
    bottom: u64,
    top: u64,
    guard_start: u64,
    root: u64,
}

impl KernelStack {
    /// Checks the stack `[bottom, top)` with the guard area `[guard_start, bottom)` in the
    /// tables rooted at `root` (page-aligned addresses): every stack page maps declared RAM
    /// read-write (and no-execute with NX), no guard page is mapped. The memory module calls
    /// this right after mapping fresh frames there; its allocator hands each frame out once.
    ///
    /// # Errors
    /// [`PageMapError::AlreadyMapped`] for a mapped guard page, [`PageMapError::NotMapped`] or
    /// [`PageMapError::NotUsableRam`] for a bad stack page.
    pub fn verify(
        root: PhysFrame,
        guard_start: u64,
        bottom: u64,
        top: u64,
    ) -> Result<KernelStack, PageMapError> {
        let aligned = [guard_start, bottom, top]
            .iter()
            .all(|a| a.is_multiple_of(PAGE));
        if !aligned || guard_start >= bottom || bottom >= top {
            return Err(PageMapError::NotMapped(bottom));
        }
        let tables = tables_at(root);
        for page in (guard_start..bottom).step_by(PAGE as usize) {
            if tables.translate_addr(&Reader, page).is_some() {
                return Err(PageMapError::AlreadyMapped);
            }
        }
        for page in (bottom..top).step_by(PAGE as usize) {
            let t = tables
                .translate_addr(&Reader, page)
                .ok_or(PageMapError::NotMapped(page))?;
            if !t.flags.writable || (super::cpu::nx_enabled() && !t.flags.no_execute) {
                return Err(PageMapError::NotMapped(page));
            }
            // Declared RAM is usable or (reclaimed) bootloader-reclaimable memory.
            let frame = t.phys.as_u64();
            if !in_ram(frame, PAGE) {
                return Err(PageMapError::NotUsableRam(frame));
            }
        }
        Ok(KernelStack {
            bottom,
            top,
            guard_start,
            root: root.start_address().as_u64(),
        })
    }

    /// One past the highest byte (16-byte aligned): the initial stack pointer.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Lowest mapped byte.
    pub fn bottom(&self) -> u64 {
        self.bottom
    }

    /// Start of the unmapped page right below the stack.
    pub fn guard(&self) -> u64 {
        self.bottom - PAGE
    }

    /// Start of the whole unmapped guard area.
    pub fn guard_start(&self) -> u64 {
        self.guard_start
    }

    /// Mapped bytes.
    pub fn size(&self) -> u64 {
        self.top - self.bottom
    }

    /// Whether the stack was checked in the tables CR3 holds now.
    pub fn in_active_tables(&self) -> bool {
        self.root == active_root().start_address().as_u64()
    }
}

/// Runs `f` on `stack` from its top; never returns.
///
/// # Panics
/// If `stack` was checked in other tables than the active ones (a kernel bug).
pub fn switch_stack(stack: KernelStack, f: extern "sysv64" fn() -> !) -> ! {
    assert!(
        stack.in_active_tables(),
        "switch to a stack of other page tables"
    );
    let top = stack.top;
    // SAFETY: `stack` is mapped, writable RAM in the active tables (checked when it was made,
    // and just now that they are active) and, consumed here, used by nothing else; `f` never
    // returns, so nothing of the old stack is needed again. A zero return address ends
    // backtraces.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "push 0",
            "jmp {f}",
            top = in(reg) top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}

/// The kernel image's parts, by the link script's symbols (`linker.ld`): virtual `[start, end)`
/// of each, page aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// Code: read and execute.
    pub text: (u64, u64),
    /// Constants, relocation results, the test registry: read only.
    pub rodata: (u64, u64),
    /// Requests, data, bss: read and write.
    pub data: (u64, u64),
}

impl ImageLayout {
    /// The whole image, `[text start, data end)`.
    pub fn span(&self) -> (u64, u64) {
        (self.text.0, self.data.1)
    }
}

// Symbols of the link script: only their addresses mean anything.
unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
}

/// Where the link script put the kernel's parts (after any KASLR slide: the addresses are
/// taken at run time).
pub fn image_layout() -> ImageLayout {
    // Only the addresses of the link script's symbols are taken, nothing is read.
    ImageLayout {
        text: (&raw const __text_start as u64, &raw const __text_end as u64),
        rodata: (
            &raw const __rodata_start as u64,
            &raw const __rodata_end as u64,
        ),
        data: (&raw const __data_start as u64, &raw const __data_end as u64),
    }
}

/// Why a switch of page tables was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchError {
    /// The new root is not a frame of declared RAM.
    RootNotInRam(u64),
    /// The stack was checked in other tables.
    StackElsewhere,
    /// A page of the kernel image translates differently (or not at all) in the new tables.
    ImageDiffers {
        /// The page.
        virt: u64,
    },
    /// A top-level entry of the kernel half differs from the active tables'.
    KernelHalfDiffers {
        /// The PML4 index.
        index: usize,
    },
}

impl core::fmt::Display for SwitchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::RootNotInRam(root) => write!(f, "PML4 at {root:#x} is not in kernel RAM"),
            Self::StackElsewhere => f.write_str("the stack belongs to other page tables"),
            Self::ImageDiffers { virt } => write!(
                f,
                "kernel image page {virt:#x} translates differently in the new tables"
            ),
            Self::KernelHalfDiffers { index } => {
                write!(f, "PML4 entry {index} of the kernel half differs")
            }
        }
    }
}

impl core::error::Error for SwitchError {}

/// Switches to the kernel's own tables rooted at `root` and to `stack` in one step (the old
/// stack may not be mapped there), then runs `f`, with a flush of every translation (global
/// ones included: CR4.PGE is cleared first and stays clear until `cpu::enable_protections`).
///
/// # Errors
/// [`SwitchError`] when the new tables do not map every page of the kernel image to the same
/// frame as the active ones, `stack` was not checked in them, or `root` is not RAM.
pub fn enter(
    root: PhysFrame,
    stack: KernelStack,
    f: extern "sysv64" fn() -> !,
) -> Result<Infallible, SwitchError> {
    let root_phys = root.start_address().as_u64();
    if !in_ram(root_phys, PAGE) {
        return Err(SwitchError::RootNotInRam(root_phys));
    }
    if stack.root != root_phys {
        return Err(SwitchError::StackElsewhere);
    }
    let (start, end) = image_layout().span();
    let (old, new) = (tables_at(active_root()), tables_at(root));
    for page in (start..end).step_by(PAGE as usize) {
        let phys = |t: &PageTables| t.translate_addr(&Reader, page).map(|t| t.phys);
        if phys(&new).is_none() || phys(&new) != phys(&old) {
            return Err(SwitchError::ImageDiffers { virt: page });
        }
    }
    super::cpu::disable_interrupts_save();
    let cr4 = Cr4::read() - Cr4Flags::PAGE_GLOBAL;
    let top = stack.top;
    // SAFETY: 1. clearing PGE only flushes the TLB; 2. the new tables map the whole kernel
    // image (code, GDT, IDT, TSS and every static) to the same frames as the active ones
    // (checked above), so execution continues seamlessly after `mov cr3`; 3. `stack` is
    // mapped read-write RAM in them (checked when it was made), consumed here; 4. `f` never
    // returns, so nothing of the old stack is needed again; interrupts are off.
    unsafe {
        Cr4::write(cr4);
        core::arch::asm!(
            "mov cr3, {root}",
            "mov rsp, {top}",
            "xor ebp, ebp",
            "push 0",
            "jmp {f}",
            root = in(reg) root_phys,
            top = in(reg) top,
            f = in(reg) f,
            options(noreturn)
        )
    }
}

/// Switches to the address space rooted at `root`, which must share the kernel half (PML4
/// entries 256-511) with the active one, so the kernel runs on unchanged.
///
/// # Errors
/// [`SwitchError::KernelHalfDiffers`] or [`SwitchError::RootNotInRam`]; nothing changes then.
pub fn activate(root: PhysFrame) -> Result<(), SwitchError> {
    let root_phys = root.start_address().as_u64();
    if !in_ram(root_phys, PAGE) {
        return Err(SwitchError::RootNotInRam(root_phys));
    }
    let active = active_root();
    for index in 256..512 {
        if Reader.read_entry(root, index) != Reader.read_entry(active, index) {
            return Err(SwitchError::KernelHalfDiffers { index });
        }
    }
    // SAFETY: the kernel half, where all kernel code, data and stacks live, is the same
    // entries (checked above), so every kernel address keeps its translation; the lower half
    // holds nothing the kernel refers to. Global translations survive, as they should.
    unsafe { Cr3::write(root, Cr3Flags::empty()) };
    Ok(())
}

/// The PML4 frame of a physical address (for the memory module, which names frames by
/// address).
pub fn frame(phys: u64) -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new_truncate(phys))
}
