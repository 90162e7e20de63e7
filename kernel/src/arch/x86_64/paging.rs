//! The active page tables, edited through the HHDM with the `x86_64` crate's mapper.

use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::mapper::{MapToError, Translate};
use x86_64::structures::paging::{
    FrameAllocator, Mapper as _, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
    Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

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
    /// No frame for an intermediate table.
    OutOfFrames,
    /// Already mapped, or a huge page is in the way.
    AlreadyMapped,
}

impl core::fmt::Display for PageMapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::OutOfFrames => "no frame left for a page table",
            Self::AlreadyMapped => "page already mapped (or a huge page is in the way)",
        })
    }
}

impl core::error::Error for PageMapError {}

/// The page tables the CPU uses now.
#[derive(Debug)]
pub struct ActiveTables {
    table: OffsetPageTable<'static>,
    nx: bool,
}

struct Frames<'f> {
    next: &'f mut dyn FnMut() -> Option<u64>,
}

// SAFETY: the closure hands out frames of usable RAM that nothing else uses and never repeats
// one (it is the early bump allocator).
unsafe impl FrameAllocator<Size4KiB> for Frames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        (self.next)().map(|p| PhysFrame::containing_address(PhysAddr::new(p)))
    }
}

impl ActiveTables {
    /// Wraps the tables in CR3.
    ///
    /// # Safety
    /// `hhdm` must be the HHDM offset and the HHDM must map the page tables (they are in
    /// bootloader-reclaimable memory, which every revision maps); only one `ActiveTables` may
    /// exist, and nothing else may edit the tables while it does.
    pub unsafe fn new(hhdm: u64) -> Self {
        let (frame, _) = Cr3::read();
        let pml4 = (frame.start_address().as_u64() + hhdm) as *mut PageTable;
        // SAFETY: per the caller, `pml4` is the HHDM view of the live PML4 and this is the only
        // reference to it.
        let table = unsafe { OffsetPageTable::new(&mut *pml4, VirtAddr::new(hhdm)) };
        let nx = Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE);
        Self { table, nx }
    }

    /// Maps the page at `virt` to the frame at `phys` (both 4 KiB aligned).
    pub fn map(
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
        let mut frames = Frames { next: next_frame };
        let parents = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        // SAFETY: the callers map fresh frames or device/firmware memory into virtual windows
        // that nothing else uses, so no existing reference changes meaning.
        let result = unsafe {
            self.table
                .map_to_with_table_flags(page, frame, f, parents, &mut frames)
        };
        match result {
            Ok(flush) => {
                flush.flush();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(PageMapError::OutOfFrames),
            Err(MapToError::ParentEntryHugePage | MapToError::PageAlreadyMapped(_)) => {
                Err(PageMapError::AlreadyMapped)
            }
        }
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

/// Runs `f` on the stack whose top is `top` (16-byte aligned); never returns.
///
/// # Safety
/// `top` must be the top of a mapped, writable stack that nothing else uses.
pub unsafe fn switch_stack(top: u64, f: extern "sysv64" fn() -> !) -> ! {
    // SAFETY: per the caller the new stack is valid; `f` never returns, so nothing of the old
    // stack is needed again. A zero return address ends backtraces.
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
