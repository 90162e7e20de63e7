//! The kernel's mapping services on the running machine (bare-metal target only).

use super::frame::EarlyFrames;
use super::{Cache, MapError, SLOT_SIZE, page_cover, pick_slots, slot_base};
use crate::arch::paging::{ActiveTables, PageFlags, PageMapError};
use crate::boot::BootInfo;
use crate::sync::IrqMutex;

struct State {
    frames: EarlyFrames<'static>,
    tables: ActiveTables,
    hhdm: u64,
    window_base: u64,
    next_window: u64,
    stack_base: u64,
    next_stack: u64,
}

static STATE: IrqMutex<Option<State>> = IrqMutex::new(None);

impl From<PageMapError> for MapError {
    fn from(e: PageMapError) -> Self {
        match e {
            PageMapError::OutOfFrames => Self::OutOfFrames,
            PageMapError::AlreadyMapped => Self::AlreadyMapped,
        }
    }
}

/// Takes over the page tables and usable memory described by `info`.
///
/// # Panics
/// If the loader left fewer than two free top-level slots in the higher half (no known loader
/// does: Limine's HHDM and kernel use a handful of the 256).
pub fn init(info: &'static BootInfo) {
    // SAFETY: called once during single-threaded boot; from here on only this module edits
    // the page tables, through the one `ActiveTables` it keeps.
    let tables = unsafe { ActiveTables::new(info.hhdm_offset) };
    let (windows, stacks) = pick_slots(|i| tables.top_level_used(i))
        .expect("two free top-level page-table slots in the higher half");
    let (window_base, stack_base) = (slot_base(windows), slot_base(stacks));
    log::debug!("memory: physical windows at {window_base:#x}, stacks at {stack_base:#x}");
    *STATE.lock() = Some(State {
        frames: EarlyFrames::new(&info.memory_map),
        tables,
        hhdm: info.hhdm_offset,
        window_base,
        next_window: window_base,
        stack_base,
        next_stack: stack_base,
    });
}

/// The kernel stack area `[base, base + size)`, once initialised.
pub fn stack_area() -> Option<(u64, u64)> {
    STATE.lock().as_ref().map(|s| (s.stack_base, SLOT_SIZE))
}

/// A frame from `frames`, zeroed through the HHDM at `hhdm`.
fn zeroed_frame(frames: &mut EarlyFrames<'static>, hhdm: u64) -> Option<u64> {
    let frame = frames.allocate()?;
    // SAFETY: the frame is usable RAM just taken from the allocator (unused), and the HHDM
    // maps usable RAM under every base revision.
    unsafe { core::ptr::write_bytes((frame + hhdm) as *mut u8, 0, 4096) };
    Some(frame)
}

impl State {
    fn zeroed_frame(&mut self) -> Option<u64> {
        zeroed_frame(&mut self.frames, self.hhdm)
    }

    fn map_page(&mut self, virt: u64, phys: u64, flags: PageFlags) -> Result<(), MapError> {
        let (frames, hhdm) = (&mut self.frames, self.hhdm);
        self.tables
            .map(virt, phys, flags, &mut || zeroed_frame(frames, hhdm))
            .map_err(MapError::from)
    }
}

/// Maps `[phys, phys + len)` into the kernel's window and returns the virtual address of
/// `phys`. Does not rely on the HHDM covering the range (under revision 3 it covers no MMIO and
/// no ACPI tables).
pub fn map_physical(phys: u64, len: u64, cache: Cache) -> Result<u64, MapError> {
    let (first, pages, offset) = page_cover(phys, len)?;
    let mut guard = STATE.lock();
    let state = guard.as_mut().ok_or(MapError::NotReady)?;
    let virt = state.next_window;
    let end = virt
        .checked_add(pages * 4096)
        .ok_or(MapError::OutOfVirtualSpace)?;
    if end > state.window_base + SLOT_SIZE {
        return Err(MapError::OutOfVirtualSpace);
    }
    let flags = PageFlags {
        writable: true,
        executable: false,
        uncached: cache == Cache::Uncached,
    };
    // Claim the virtual range first: if a page fails halfway, the pages already mapped stay
    // where they are (unused) and the next request starts after them.
    state.next_window = end;
    for i in 0..pages {
        state.map_page(virt + i * 4096, first + i * 4096, flags)?;
    }
    Ok(virt + offset)
}

/// Maps device registers uncached; see [`map_physical`].
pub fn map_mmio(phys: u64, len: u64) -> Result<u64, MapError> {
    map_physical(phys, len, Cache::Uncached)
}

/// A kernel stack: `[bottom, top)` is mapped read-write, no-execute; the page below `bottom`
/// is never mapped, so running off the end faults instead of corrupting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stack {
    /// One past the highest byte (16-byte aligned): the initial stack pointer.
    pub top: u64,
    /// Lowest mapped byte.
    pub bottom: u64,
    /// Start of the unmapped guard page.
    pub guard: u64,
}

/// Allocates a stack of at least `bytes` with a guard page below it.
pub fn alloc_stack(bytes: u64) -> Result<Stack, MapError> {
    let pages = bytes.div_ceil(4096).max(1);
    let mut guard_lock = STATE.lock();
    let state = guard_lock.as_mut().ok_or(MapError::NotReady)?;
    let guard = state.next_stack;
    let bottom = guard + 4096;
    let top = bottom + pages * 4096;
    if top > state.stack_base + SLOT_SIZE {
        return Err(MapError::OutOfVirtualSpace);
    }
    let flags = PageFlags {
        writable: true,
        executable: false,
        uncached: false,
    };
    // Claim the range first (see `map_physical`), leaving an unmapped page between this
    // stack's top and the next stack's guard as well.
    state.next_stack = top + 4096;
    for i in 0..pages {
        let frame = state.zeroed_frame().ok_or(MapError::OutOfFrames)?;
        state.map_page(bottom + i * 4096, frame, flags)?;
    }
    Ok(Stack { top, bottom, guard })
}

/// The physical address `virt` maps to, if any.
pub fn translate(virt: u64) -> Option<u64> {
    STATE.lock().as_ref()?.tables.translate(virt)
}

/// Frames taken from usable memory so far.
pub fn frames_allocated() -> u64 {
    STATE.lock().as_ref().map_or(0, |s| s.frames.allocated())
}

#[cfg(feature = "ktest")]
mod ktests {
    use super::*;
    use crate::boot::boot_info;
    use crate::boot::info::{MemoryKind, region_containing};
    use crate::{kassert, kassert_eq, ktest};

    ktest! {
        fn physical_window_maps_the_requested_frame() -> TestResult {
            // Map a usable frame through the window and through the HHDM: same bytes.
            let before = frames_allocated();
            let stack = alloc_stack(4096);
            kassert!(stack.is_ok(), "alloc_stack failed: {stack:?}");
            let frame = translate(stack.map_or(0, |s| s.bottom));
            kassert!(frame.is_some(), "stack page not mapped");
            let frame = frame.unwrap_or(0);
            kassert!(region_containing(&boot_info().memory_map, frame, 4096, MemoryKind::Usable).is_some(),
                "stack frame {frame:#x} is not usable memory");
            let window = map_physical(frame + 8, 16, Cache::WriteBack);
            kassert!(window.is_ok(), "map_physical failed: {window:?}");
            let window = window.unwrap_or(0);
            kassert_eq!(window & 0xfff, 8);
            kassert_eq!(translate(window), Some(frame + 8));
            // SAFETY: `window` maps 16 bytes of the stack page allocated above, unused by anyone.
            unsafe { core::ptr::write_volatile(window as *mut u64, 0x5a5a_1234_dead_beef) };
            let via_hhdm = (frame + 8 + boot_info().hhdm_offset) as *const u64;
            // SAFETY: usable RAM is in the HHDM under every revision; this is the same frame.
            kassert_eq!(unsafe { core::ptr::read_volatile(via_hhdm) }, 0x5a5a_1234_dead_beef);
            kassert!(frames_allocated() > before);
            Ok(())
        }
    }

    ktest! {
        fn stacks_have_unmapped_guard_pages() -> TestResult {
            let a = alloc_stack(16 * 1024);
            let b = alloc_stack(16 * 1024);
            let (Ok(a), Ok(b)) = (a, b) else {
                kassert!(false, "alloc_stack failed");
                return Ok(());
            };
            kassert_eq!(a.top - a.bottom, 16 * 1024);
            kassert_eq!(a.top % 16, 0);
            kassert!(translate(a.guard).is_none(), "guard page {:#x} is mapped", a.guard);
            kassert!(translate(b.guard).is_none(), "guard page {:#x} is mapped", b.guard);
            kassert!(translate(a.top).is_none(), "page above the stack top is mapped");
            kassert!(translate(a.top - 8).is_some() && translate(a.bottom).is_some());
            kassert!(b.guard > a.top, "stacks overlap");
            Ok(())
        }
    }

    ktest! {
        fn running_on_the_kernel_stack() -> TestResult {
            let rsp: u64;
            // SAFETY: reads the stack pointer only.
            unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
            let (base, size) = stack_area().unwrap_or((0, 0));
            kassert!((base..base + size).contains(&rsp), "rsp {rsp:#x} is not in the kernel stack area");
            Ok(())
        }
    }
}
