//! The kernel's mapping services on the running machine (bare-metal target only). Every page
//! table edit and every write to a fresh frame goes through `arch::paging`.

use super::frame::EarlyFrames;
use super::{Cache, MapError, SLOT_SIZE, page_cover, pick_slots, slot_base};
use crate::arch::paging::{ActiveTables, KernelStack, PAGE, PageMapError, Window};
use crate::boot::BootInfo;
use crate::sync::IrqMutex;

/// A kernel stack: `[bottom, top)` mapped read-write, no-execute; the page below `bottom` is
/// never mapped, so running off the end faults instead of corrupting memory.
pub type Stack = KernelStack;

struct State {
    frames: EarlyFrames<'static>,
    tables: ActiveTables,
    window_base: u64,
    next_window: u64,
    stack_base: u64,
    next_stack: u64,
}

static STATE: IrqMutex<Option<State>> = IrqMutex::new(None);

impl From<PageMapError> for MapError {
    fn from(e: PageMapError) -> Self {
        match e {
            PageMapError::OutOfFrames | PageMapError::NotUsableRam(_) => Self::OutOfFrames,
            PageMapError::AlreadyMapped => Self::AlreadyMapped,
        }
    }
}

/// Takes over the page tables and usable memory described by `info`.
///
/// # Panics
/// If the page tables were taken already or the loader's HHDM is unknown (kernel bugs), or if
/// the loader left fewer than two free top-level slots in the higher half (no known loader
/// does: Limine's HHDM and kernel use a handful of the 256).
pub fn init(info: &'static BootInfo) {
    let tables = ActiveTables::take()
        .expect("the memory module takes the page tables once, after the boot declared the HHDM");
    let (windows, stacks) = pick_slots(|i| tables.top_level_used(i))
        .expect("two free top-level page-table slots in the higher half");
    let (window_base, stack_base) = (slot_base(windows), slot_base(stacks));
    log::debug!("memory: physical windows at {window_base:#x}, stacks at {stack_base:#x}");
    *STATE.lock() = Some(State {
        frames: EarlyFrames::new(&info.memory_map),
        tables,
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

/// Maps `[phys, phys + len)` into the kernel's window and returns the [`Window`] (its `virt`
/// is the virtual address of `phys`). Does not rely on the HHDM covering the range (under
/// revision 3 it covers no MMIO and no ACPI tables).
pub fn map_physical(phys: u64, len: u64, cache: Cache) -> Result<Window, MapError> {
    let (_, pages, _) = page_cover(phys, len)?;
    let mut guard = STATE.lock();
    let state = guard.as_mut().ok_or(MapError::NotReady)?;
    let virt = state.next_window;
    let end = virt
        .checked_add(pages * PAGE)
        .ok_or(MapError::OutOfVirtualSpace)?;
    if end > state.window_base + SLOT_SIZE {
        return Err(MapError::OutOfVirtualSpace);
    }
    // Claim the virtual range first: if a page fails halfway, the pages already mapped stay
    // where they are (unused) and the next request starts after them.
    state.next_window = end;
    let State { frames, tables, .. } = state;
    let window = tables.map_window(virt, phys, len, cache == Cache::Uncached, &mut || {
        frames.allocate()
    })?;
    Ok(window)
}

/// Maps device registers uncached; see [`map_physical`].
pub fn map_mmio(phys: u64, len: u64) -> Result<Window, MapError> {
    map_physical(phys, len, Cache::Uncached)
}

/// Allocates a stack of at least `bytes` called `name` (for fault reports, see
/// [`guard_page_owner`](super::guard_page_owner)) with [`GUARD_BYTES`](super::GUARD_BYTES) of
/// unmapped guard area below it.
pub fn alloc_stack(name: &'static str, bytes: u64) -> Result<Stack, MapError> {
    let pages = bytes.div_ceil(PAGE).max(1);
    let mut guard_lock = STATE.lock();
    let state = guard_lock.as_mut().ok_or(MapError::NotReady)?;
    let guard_start = state.next_stack;
    let bottom = guard_start + super::GUARD_BYTES;
    let top = bottom + pages * PAGE;
    if top > state.stack_base + SLOT_SIZE {
        return Err(MapError::OutOfVirtualSpace);
    }
    // Claim the range first (see `map_physical`); the next stack's guard area starts right
    // above this stack's top, so an overrun upwards faults too.
    state.next_stack = top;
    let State { frames, tables, .. } = state;
    let stack = tables.map_stack(bottom - PAGE, pages, &mut || frames.allocate())?;
    super::guard::register(guard_start, bottom, name);
    Ok(stack)
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
            // Map a usable frame (a fresh stack page) through the window: the window's page
            // table entry points at that frame, at the right offset, and so does a second one.
            let before = frames_allocated();
            let stack = alloc_stack("test stack", 4096);
            kassert!(stack.is_ok(), "alloc_stack failed: {stack:?}");
            let frame = translate(stack.map_or(0, |s| s.bottom()));
            kassert!(frame.is_some(), "stack page not mapped");
            let frame = frame.unwrap_or(0);
            kassert!(region_containing(&boot_info().memory_map, frame, 4096, MemoryKind::Usable).is_some(),
                "stack frame {frame:#x} is not usable memory");
            let window = map_physical(frame + 8, 16, Cache::WriteBack);
            kassert!(window.is_ok(), "map_physical failed: {window:?}");
            let Ok(window) = window else { return Ok(()) };
            kassert_eq!(window.virt() & 0xfff, 8);
            kassert_eq!((window.phys(), window.len()), (frame + 8, 16));
            kassert_eq!(translate(window.virt()), Some(frame + 8));
            kassert_eq!(translate(window.virt() + 15), Some(frame + 8 + 15));
            let again = map_physical(frame + 0xff0, 0x20, Cache::Uncached);
            kassert!(again.is_ok(), "map_physical across a page boundary failed: {again:?}");
            let Ok(again) = again else { return Ok(()) };
            kassert!(again.virt() > window.virt() && again.is_uncached(), "{again:?}");
            kassert_eq!(translate(again.virt()), Some(frame + 0xff0));
            // A device handle refuses a window over kernel memory.
            kassert_eq!(
                window.check(16, false),
                Err(crate::arch::paging::WindowError::KernelMemory { phys: frame + 8 })
            );
            kassert!(frames_allocated() > before);
            Ok(())
        }
    }

    ktest! {
        fn stacks_have_unmapped_guard_pages() -> TestResult {
            let a = alloc_stack("test stack", 16 * 1024);
            let b = alloc_stack("test stack", 16 * 1024);
            let (Ok(a), Ok(b)) = (a, b) else {
                kassert!(false, "alloc_stack failed");
                return Ok(());
            };
            kassert_eq!(a.size(), 16 * 1024);
            kassert_eq!(a.top() % 16, 0);
            kassert!(translate(a.guard()).is_none(), "guard page {:#x} is mapped", a.guard());
            kassert!(translate(b.guard()).is_none(), "guard page {:#x} is mapped", b.guard());
            kassert!(translate(a.top()).is_none(), "page above the stack top is mapped");
            kassert!(translate(a.top() - 8).is_some() && translate(a.bottom()).is_some());
            kassert!(b.guard() > a.top(), "stacks overlap");
            kassert_eq!(crate::memory::guard_page_owner(a.guard()), Some("test stack"));
            kassert_eq!(crate::memory::guard_page_owner(a.bottom()), None);
            Ok(())
        }
    }

    ktest! {
        fn running_on_the_kernel_stack() -> TestResult {
            let rsp = crate::arch::cpu::stack_pointer();
            let (base, size) = stack_area().unwrap_or((0, 0));
            kassert!((base..base + size).contains(&rsp), "rsp {rsp:#x} is not in the kernel stack area");
            Ok(())
        }
    }
}
