//! The active page tables, edited through the HHDM with the `x86_64` crate's mapper, and the
//! physical-memory facts everything else here is checked against.
//!
//! Trust roots are the loader's responses (PROTOCOL.md, "HHDM (Higher Half Direct Map)
//! Feature", "Memory Map Feature" and "Memory Layout at Entry"): `boot::limine` declares the HHDM offset ([`declare_hhdm`]) and how to classify a
//! physical range by the memory map ([`declare_memory_map`]), once each. From them:
//!
//! - [`ActiveTables::take`] hands out the one editor of the live tables.
//! - [`Window`] proves that a virtual range was freshly mapped here onto a physical range. The
//!   device handles (`apic`, `vga`) and the ACPI table handler accept only windows over
//!   physical memory the kernel does not own ([`PhysKind::Other`]), so nothing they write or
//!   borrow can be Rust memory.
//! - [`KernelStack`] is a freshly mapped, zeroed stack above an unmapped guard page; the stack
//!   switches (`switch_stack`, `gdt::switch_ist_stacks`) take nothing else.
//!
//! Frames handed in for page tables and stacks must be unused usable RAM, each handed out once:
//! the memory module's frame allocator is their only source. This module checks that they are
//! usable RAM by the loader's map; that no one else uses them is the allocator's contract (see
//! docs/architecture.md, Unsafe).

use core::sync::atomic::{AtomicBool, Ordering};

use spin::Once;
use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::mapper::{MapToError, Translate};
use x86_64::structures::paging::{
    FrameAllocator, Mapper as _, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

/// Size of a page and of a frame.
pub const PAGE: u64 = 4096;

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
static TABLES_TAKEN: AtomicBool = AtomicBool::new(false);

/// Records the loader's HHDM offset. Only the first call has an effect.
///
/// # Safety
/// `offset` must be the HHDM offset the loader reported: every frame of usable and
/// bootloader-reclaimable memory (the page tables among them) is mapped, read-write, at
/// `phys + offset`, and stays so while the kernel runs on the loader's page tables.
pub unsafe fn declare_hhdm(offset: u64) {
    HHDM.call_once(|| offset);
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

/// The HHDM offset, once declared.
pub fn hhdm_offset() -> Option<u64> {
    HHDM.get().copied()
}

/// Rights and caching of a new 4 KiB mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFlags {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches allowed.
    pub executable: bool,
    /// Strong uncached (PCD|PWT, PAT index 3 under both the reset PAT and Limine's).
    pub uncached: bool,
}

/// Why a page could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageMapError {
    /// No frame for an intermediate table or a stack page.
    OutOfFrames,
    /// Already mapped, or a huge page is in the way.
    AlreadyMapped,
    /// A frame handed in is not usable RAM by the loader's map.
    NotUsableRam(u64),
}

impl core::fmt::Display for PageMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfFrames => f.write_str("no frame left for a page table"),
            Self::AlreadyMapped => {
                f.write_str("page already mapped (or a huge page is in the way)")
            }
            Self::NotUsableRam(frame) => write!(f, "frame {frame:#x} is not usable RAM"),
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
    /// The window maps another physical address than the device's.
    WrongAddress {
        /// Where the window points.
        phys: u64,
        /// Where the device is.
        expected: u64,
    },
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
            Self::WrongAddress { phys, expected } => {
                write!(f, "window maps {phys:#x}, the device is at {expected:#x}")
            }
        }
    }
}

impl core::error::Error for WindowError {}

/// `[virt, virt + len)` freshly mapped (by [`ActiveTables::map_window`]) onto
/// `[phys, phys + len)`, read-write, no-execute. Not `Clone`: the handle built on it owns it.
#[derive(Debug)]
pub struct Window {
    virt: u64,
    phys: u64,
    len: u64,
    uncached: bool,
}

impl Window {
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

    /// Whether the window is empty (never, for one made by `map_window`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the mapping is uncached.
    pub fn is_uncached(&self) -> bool {
        self.uncached
    }

    /// Checks that the window can host a device or firmware table of `needed` bytes: it covers
    /// them and maps no memory the kernel owns (and, for registers, is uncached). Returns the
    /// virtual address.
    pub(crate) fn check(&self, needed: u64, registers: bool) -> Result<u64, WindowError> {
        if self.len < needed {
            return Err(WindowError::TooSmall {
                len: self.len,
                needed,
            });
        }
        if registers && !self.uncached {
            return Err(WindowError::Cached);
        }
        if classify(self.phys, self.len) != PhysKind::Other {
            return Err(WindowError::KernelMemory { phys: self.phys });
        }
        Ok(self.virt)
    }
}

/// A kernel stack: `[bottom, top)` freshly mapped read-write, no-execute onto zeroed frames,
/// with the page below `bottom` unmapped. Not `Clone`: switching to it consumes it.
#[derive(Debug, PartialEq, Eq)]
pub struct KernelStack {
    bottom: u64,
    top: u64,
}

impl KernelStack {
    /// One past the highest byte (16-byte aligned): the initial stack pointer.
    pub fn top(&self) -> u64 {
        self.top
    }

    /// Lowest mapped byte.
    pub fn bottom(&self) -> u64 {
        self.bottom
    }

    /// Start of the unmapped guard page.
    pub fn guard(&self) -> u64 {
        self.bottom - PAGE
    }

    /// Mapped bytes.
    pub fn size(&self) -> u64 {
        self.top - self.bottom
    }
}

/// The page tables the CPU uses now.
#[derive(Debug)]
pub struct ActiveTables {
    table: OffsetPageTable<'static>,
    nx: bool,
}

/// Frames for new page tables, checked to be usable RAM (see the module documentation).
struct Frames<'f> {
    next: &'f mut dyn FnMut() -> Option<u64>,
    bad: Option<u64>,
}

// SAFETY: every frame handed on is usable RAM by the loader's map (checked) and, by the
// contract of the memory module's allocator (the only source), unused and never handed out
// twice.
unsafe impl FrameAllocator<Size4KiB> for Frames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let frame = (self.next)()?;
        if classify(frame, PAGE) != PhysKind::Usable {
            self.bad = Some(frame);
            return None;
        }
        Some(PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}

impl ActiveTables {
    /// The one editor of the tables in CR3; `None` before the HHDM is declared and after the
    /// first call.
    pub fn take() -> Option<Self> {
        let hhdm = *HHDM.get()?;
        if TABLES_TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `hhdm` is the loader's HHDM offset (declared by the boot module), which maps
        // the page tables; the flag makes this the only `ActiveTables`, and nothing else in
        // the kernel edits the tables.
        Some(unsafe { Self::new(hhdm) })
    }

    /// Wraps the tables in CR3.
    ///
    /// # Safety
    /// `hhdm` must be the HHDM offset and the HHDM must map the page tables (they are in
    /// bootloader-reclaimable memory, which every revision maps); only one `ActiveTables` may
    /// exist, and nothing else may edit the tables while it does.
    unsafe fn new(hhdm: u64) -> Self {
        let (frame, _) = Cr3::read();
        let pml4 = (frame.start_address().as_u64() + hhdm) as *mut PageTable;
        // SAFETY: per the caller, `pml4` is the HHDM view of the live PML4 and this is the only
        // reference to it.
        let table = unsafe { OffsetPageTable::new(&mut *pml4, VirtAddr::new(hhdm)) };
        let nx = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
        Self { table, nx }
    }

    /// Maps the unmapped page at `virt` to the frame at `phys` (both 4 KiB aligned).
    fn map(
        &mut self,
        virt: u64,
        phys: u64,
        flags: PageFlags,
        next_frame: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<(), PageMapError> {
        let mut f = PageTableFlags::PRESENT;
        if flags.writable {
            f |= PageTableFlags::WRITABLE;
        }
        if !flags.executable && self.nx {
            f |= PageTableFlags::NO_EXECUTE;
        }
        if flags.uncached {
            f |= PageTableFlags::NO_CACHE | PageTableFlags::WRITE_THROUGH;
        }
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt));
        let frame = PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(phys));
        let mut frames = Frames {
            next: next_frame,
            bad: None,
        };
        let parents = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: the page is unmapped (the mapper refuses otherwise), so no existing reference
        // changes meaning; the new entry points at memory nothing in Rust refers to through
        // this address yet.
        let result = unsafe {
            self.table
                .map_to_with_table_flags(page, frame, f, parents, &mut frames)
        };
        match result {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(frames
                .bad
                .map_or(PageMapError::OutOfFrames, PageMapError::NotUsableRam)),
            Err(MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_)) => {
                Err(PageMapError::AlreadyMapped)
            }
        }
    }

    /// Maps `[phys, phys + len)` read-write, no-execute (uncached if asked) at the page-aligned,
    /// unmapped virtual range from `virt_page`, and returns the window (whose `virt` is
    /// `virt_page` plus `phys`'s offset in its page). On an error the pages mapped so far stay
    /// mapped, unused.
    ///
    /// # Errors
    /// [`PageMapError`] when a page is already mapped or a page table cannot be allocated.
    pub fn map_window(
        &mut self,
        virt_page: u64,
        phys: u64,
        len: u64,
        uncached: bool,
        next_frame: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<Window, PageMapError> {
        let first = phys & !(PAGE - 1);
        let pages = phys.saturating_add(len.max(1)).div_ceil(PAGE) - first / PAGE;
        let flags = PageFlags {
            writable: true,
            executable: false,
            uncached,
        };
        for i in 0..pages {
            self.map(virt_page + i * PAGE, first + i * PAGE, flags, next_frame)?;
        }
        Ok(Window {
            virt: virt_page + (phys - first),
            phys,
            len,
            uncached,
        })
    }

    /// Maps a stack of `pages` pages above the guard page at `guard` (page aligned; it must be
    /// and stays unmapped) onto frames from `next_frame`, zeroed. On an error the pages mapped
    /// so far stay mapped, unused.
    ///
    /// # Errors
    /// [`PageMapError`] when the guard page or a stack page is mapped already, frames run out
    /// or one is not usable RAM.
    pub fn map_stack(
        &mut self,
        guard: u64,
        pages: u64,
        next_frame: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<KernelStack, PageMapError> {
        if self.translate(guard).is_some() {
            return Err(PageMapError::AlreadyMapped);
        }
        let bottom = guard + PAGE;
        let flags = PageFlags {
            writable: true,
            executable: false,
            uncached: false,
        };
        for i in 0..pages {
            let frame = next_frame().ok_or(PageMapError::OutOfFrames)?;
            if classify(frame, PAGE) != PhysKind::Usable {
                return Err(PageMapError::NotUsableRam(frame));
            }
            let virt = bottom + i * PAGE;
            self.map(virt, frame, flags, next_frame)?;
            // SAFETY: `virt` was unmapped until just now (`map` refuses mapped pages), so no
            // Rust reference covers it, and it maps a writable, unused frame of RAM.
            unsafe { core::ptr::write_bytes(virt as *mut u8, 0, PAGE as usize) };
        }
        Ok(KernelStack {
            bottom,
            top: bottom + pages * PAGE,
        })
    }

    /// Whether top-level (PML4) entry `index` is in use.
    pub fn top_level_used(&self, index: usize) -> bool {
        self.table
            .level_4_table()
            .iter()
            .nth(index)
            .is_some_and(|e| !e.is_unused())
    }

    /// The physical address `virt` maps to, if any.
    pub fn translate(&self, virt: u64) -> Option<u64> {
        self.table
            .translate_addr(VirtAddr::try_new(virt).ok()?)
            .map(|p| p.as_u64())
    }
}

/// Runs `f` on `stack` from its top; never returns.
pub fn switch_stack(stack: KernelStack, f: extern "sysv64" fn() -> !) -> ! {
    let top = stack.top;
    // SAFETY: `stack` is mapped, writable and, consumed here, used by nothing else; `f` never
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
