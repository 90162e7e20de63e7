//! The kernel's memory on the running machine (bare-metal target only): the buddy allocator
//! over the HHDM, the kernel's own page tables (built by [`init`], entered by [`enter`]),
//! reclaim, windows, stacks, the mapping API and address spaces.
//!
//! One lock ([`STATE`], interrupt-disabling) guards the allocator and the tables; every edit of
//! the active tables is followed by its TLB flush before the lock is released. Nothing here
//! touches memory itself: entries and free-list headers go through `arch::paging::Ram`, and the
//! proofs (`Window`, `KernelStack`) are checked by `arch` against the tables.

use pagetables::x86_64::structures::paging::{PhysFrame, Size4KiB};
use pagetables::{Entry, Features, Flush, FrameSource, MapFlags, PageTables, PhysMemory};

use super::buddy::{BuddyAllocator, FrameAccess, FreeError, Stats};
use super::layout::{self, Area};
use super::{
    Cache, GUARD_BYTES, MapError, PageSize, SLOT_SIZE, Translation, page_cover, slot_base,
};
use crate::arch::cpu::rdtsc;
use crate::arch::paging::{self, CpuTlb, KernelStack, PAGE, Ram, SwitchError, Window};
use crate::boot::BootInfo;
use crate::boot::info::MemoryKind;
use crate::sync::IrqMutex;

/// A kernel stack: `[bottom, top)` mapped read-write, no-execute; the
/// [`GUARD_BYTES`](super::GUARD_BYTES) below `bottom` are never mapped, so running off the end
/// faults instead of corrupting memory.
pub type Stack = KernelStack;

/// The buddy allocator's view of frames: words through the HHDM.
#[derive(Debug)]
struct Words(Ram);

impl FrameAccess for Words {
    fn read(&self, frame: u64, word: usize) -> u64 {
        self.0.read_word(frame + word as u64 * 8)
    }
    fn write(&mut self, frame: u64, word: usize, value: u64) {
        self.0.write_word(frame + word as u64 * 8, value);
    }
}

type Buddy = BuddyAllocator<Words>;

/// Page-table edits: entries through the allocator's RAM handle, table frames from (and back
/// to) the allocator, counted.
struct Edit<'a> {
    buddy: &'a mut Buddy,
    table_frames: &'a mut u64,
}

impl PhysMemory for Edit<'_> {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        self.buddy.access().0.read_entry(table, index)
    }
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        self.buddy.access_mut().0.write_entry(table, index, value);
    }
    fn zero_table(&mut self, table: PhysFrame) {
        self.buddy.access_mut().0.zero_table(table);
    }
}

impl FrameSource for Edit<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let frame = self.buddy.allocate()?;
        *self.table_frames += 1;
        Some(paging::frame(frame))
    }
    fn deallocate_frame(&mut self, frame: PhysFrame) {
        let addr = frame.start_address().as_u64();
        match self.buddy.free(addr) {
            Ok(()) => *self.table_frames -= 1,
            // Only frames this module allocated reach here: a refusal is a kernel bug, and
            // leaking the frame is the safe way on.
            Err(e) => log::error!("page-table frame not returned: {e}"),
        }
    }
}

/// What building the kernel's tables cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildReport {
    /// TSC cycles for the whole build (HHDM, image, area slots).
    pub cycles: u64,
    /// TSC cycles for the HHDM alone.
    pub hhdm_cycles: u64,
    /// Table frames the HHDM needs (the PML4 included).
    pub hhdm_frames: u64,
    /// Table frames of the finished build.
    pub frames: u64,
    /// Physical bytes the HHDM maps.
    pub hhdm_bytes: u64,
    /// Whether 1 GiB pages were used.
    pub huge_1g: bool,
    /// What IA32_PAT held before the kernel programmed it (`None`: not programmed).
    pub loader_pat: Option<u64>,
}

/// What reclaiming bootloader memory did (see [`reclaim`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Bytes the allocator owns afterwards (free or handed out).
    pub managed: u64,
    /// Bytes free afterwards.
    pub free: u64,
    /// Usable plus bootloader-reclaimable bytes in the map.
    pub expected: u64,
    /// Bytes reclaimed now.
    pub reclaimed: u64,
    /// ACPI-reclaimable bytes kept for later table reads.
    pub acpi_kept: u64,
}

struct State {
    buddy: Buddy,
    tables: PageTables,
    /// CR3 holds `tables` (after [`enter`]).
    active: bool,
    global: bool,
    windows: Area,
    stacks: Area,
    dynamic: Area,
    /// Frames holding the kernel's page tables now.
    table_frames: u64,
    /// The loader's PML4 (in bootloader-reclaimable memory).
    loader_root: u64,
    build: BuildReport,
    framebuffer_cache: Cache,
    framebuffer: Option<(u64, u64, u64)>,
    reclaim: Option<ReclaimReport>,
}

impl State {
    fn edit(&mut self) -> (Edit<'_>, &mut PageTables) {
        (
            Edit {
                buddy: &mut self.buddy,
                table_frames: &mut self.table_frames,
            },
            &mut self.tables,
        )
    }

    /// Invalidates what `flush` names if the tables are live (else no CPU caches them).
    fn flush(&self, flush: Flush) {
        if self.active {
            flush.flush(&mut CpuTlb);
        } else {
            flush.ignore();
        }
    }

    /// The kernel-half flags every mapping gets: never user, global when the CPU can.
    fn kernel(&self, flags: MapFlags) -> MapFlags {
        MapFlags {
            user: false,
            global: self.global,
            ..flags
        }
    }
}

static STATE: IrqMutex<Option<State>> = IrqMutex::new(None);

const _: () = assert!(super::buddy::LOW_LIMIT == paging::LOW_MEMORY_END);

/// Builds the kernel's own page tables from `info` (the loader's stay active until [`enter`]):
/// the buddy allocator over the usable memory of the map, the PAT programmed, the HHDM at the
/// loader's offset over every RAM region, the image W^X, and the PDPTs of three area slots.
///
/// # Panics
/// If memory was initialised already, the boot module did not declare the HHDM and RAM, or
/// there is not enough memory for the tables (nothing sensible can continue then).
pub fn init(info: &'static BootInfo) {
    assert!(
        !paging::five_level_active(),
        "the loader left 5-level paging on (CR4.LA57) although the kernel asked for 4-level"
    );
    let cpu = crate::arch::cpu::features();
    let features = Features {
        nx: crate::arch::cpu::enable_nx(),
        huge_1g: cpu.huge_1g,
    };
    let ram = Ram::take().expect("the memory module takes RAM once, after the boot declared it");
    let mut buddy = BuddyAllocator::new(Words(ram), cpu.phys_bits, crate::arch::cpu::random_seed());
    buddy.add_map(&info.memory_map);
    let clipped = buddy.stats().clipped;
    if clipped.any() {
        log::debug!("memory: clipped from the map: {clipped:?}");
    }
    let pat = crate::arch::pat::program();
    let framebuffer_cache = match pat {
        Ok(_) => Cache::WriteCombining,
        Err(e) => {
            log::warn!("memory: {e}; the framebuffer is mapped uncached");
            Cache::Uncached
        }
    };
    let loader_root = paging::active_root().start_address().as_u64();
    let global = cpu.pge;
    let mut table_frames = 0;
    let start = rdtsc();
    let mut edit = Edit {
        buddy: &mut buddy,
        table_frames: &mut table_frames,
    };
    let mut tables = PageTables::new(&mut edit, features).expect("a frame for the kernel's PML4");
    tables.pin_pdpts();
    let ranges = layout::hhdm_ranges(&info.memory_map, 1u64 << cpu.phys_bits.min(52));
    let hhdm_flags = MapFlags {
        global,
        ..MapFlags::DATA
    };
    match tables.map_hhdm(
        &mut edit,
        info.hhdm_offset,
        ranges.iter().copied(),
        hhdm_flags,
    ) {
        Ok(flush) => flush.ignore(),
        Err(e) => panic!("cannot build the HHDM: {e}"),
    }
    let hhdm_done = rdtsc();
    let hhdm_frames = *edit.table_frames;

    let image = paging::image_layout();
    let (virt_base, phys_base) = image_base(info, image.text.0);
    let parts = [image.text, image.rodata, image.data];
    for seg in layout::kernel_segments(parts, virt_base, phys_base, global)
        .into_iter()
        .flatten()
    {
        match tables.map(&mut edit, seg.virt, seg.phys, seg.len, seg.flags) {
            Ok(flush) => flush.ignore(),
            Err(e) => panic!("cannot map the kernel image at {:#x}: {e}", seg.virt),
        }
    }

    let root = tables.root();
    let slots = layout::pick_area_slots(|i| Entry(edit.read_entry(root, i)).is_present())
        .expect("three free top-level slots in the higher half");
    for slot in slots {
        // Map one page and unmap it: the slot's PDPT stays (PDPTs are pinned), so the PML4's
        // kernel half is complete from now on.
        let base = slot_base(slot);
        let touched = tables
            .map(
                &mut edit,
                base,
                root.start_address().as_u64(),
                PAGE,
                MapFlags::DATA,
            )
            .and_then(|f| {
                f.ignore();
                tables.unmap(&mut edit, base, PAGE)
            });
        match touched {
            Ok(flush) => flush.ignore(),
            Err(e) => panic!("cannot prepare the kernel area at {base:#x}: {e}"),
        }
    }
    let done = rdtsc();
    let frames = *edit.table_frames;
    let hhdm_bytes = ranges.iter().map(|r| r.1 - r.0).sum();
    let build = BuildReport {
        cycles: done.wrapping_sub(start),
        hhdm_cycles: hhdm_done.wrapping_sub(start),
        hhdm_frames,
        frames,
        hhdm_bytes,
        huge_1g: features.huge_1g,
        loader_pat: pat.ok(),
    };
    let [windows, stacks, dynamic] = slots.map(|s| Area::new(slot_base(s), SLOT_SIZE));
    log::debug!(
        "memory: windows at {:#x}, stacks at {:#x}, mapping area at {:#x}",
        windows.base(),
        stacks.base(),
        dynamic.base()
    );
    let mut guard = STATE.lock();
    assert!(guard.is_none(), "memory is initialised once");
    *guard = Some(State {
        buddy,
        tables,
        active: false,
        global,
        windows,
        stacks,
        dynamic,
        table_frames,
        loader_root,
        build,
        framebuffer_cache,
        framebuffer: None,
        reclaim: None,
    });
}

/// The kernel image's (virtual, physical) base: the executable-address response, or, without
/// one, the loader's own translation of the image's first page.
fn image_base(info: &BootInfo, text_start: u64) -> (u64, u64) {
    match (info.kernel_virt_base, info.kernel_phys_base) {
        (Some(v), Some(p)) => (v, p),
        _ => {
            let phys = paging::translate_active(text_start)
                .expect("the loader maps the kernel image")
                .phys
                .as_u64();
            (text_start, phys)
        }
    }
}

/// Switches to the kernel's own tables and to `stack` (checked in them) in one step and runs
/// `f` there. The loader's tables and stack are never used again.
///
/// # Panics
/// Before [`init`], after a first call, or when `arch` refuses the switch (the new tables do
/// not map the kernel image as the loader's do: a kernel bug).
pub fn enter(stack: Stack, f: extern "sysv64" fn() -> !) -> ! {
    let root = {
        let mut guard = STATE.lock();
        let state = guard
            .as_mut()
            .expect("memory is initialised before entering its tables");
        assert!(!state.active, "the kernel's tables are entered once");
        state.active = true;
        state.tables.root()
    };
    match paging::enter(root, stack, f) {
        Ok(never) => match never {},
        Err(e) => panic!("cannot switch to the kernel's page tables: {e}"),
    }
}

/// Gives bootloader-reclaimable memory to the frame allocator (ACPI-reclaimable memory stays:
/// the tables are read again after boot, e.g. for power-off); the report's `Display` is the
/// boot log's line. Call once, on the kernel's own tables, GDT and stack, after `BootInfo` holds
/// copies of every response.
///
/// # Panics
/// Before [`enter`] (the loader's tables and stack are still in that memory).
pub fn reclaim(info: &BootInfo) -> ReclaimReport {
    let mut guard = STATE.lock();
    let state = guard
        .as_mut()
        .expect("memory is initialised before reclaim");
    assert!(
        state.active && paging::active_root() == state.tables.root(),
        "reclaim runs on the kernel's own tables"
    );
    if let Some(done) = state.reclaim {
        return done;
    }
    let mut reclaimed = 0;
    let mut acpi_kept = 0;
    for r in info.memory_map.iter() {
        match r.kind {
            MemoryKind::BootloaderReclaimable => {
                reclaimed += state.buddy.add_region(r.base, r.length);
            }
            MemoryKind::AcpiReclaimable => acpi_kept += r.length,
            _ => {}
        }
    }
    let stats = state.buddy.stats();
    let report = ReclaimReport {
        managed: stats.total_frames * PAGE,
        free: stats.free_frames * PAGE,
        expected: layout::usable_and_reclaimable_bytes(&info.memory_map),
        reclaimed,
        acpi_kept,
    };
    state.reclaim = Some(report);
    report
}

impl core::fmt::Display for ReclaimReport {
    /// The boot log's line (the boot matrix parses it).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "memory: {} KiB managed, {} KiB free; map usable+reclaimable {} KiB; reclaimed {} KiB",
            self.managed / 1024,
            self.free / 1024,
            self.expected / 1024,
            self.reclaimed / 1024
        )
    }
}

/// How long the tables took and how many frames they use.
pub fn build_report() -> Option<BuildReport> {
    STATE.lock().as_ref().map(|s| s.build)
}

/// What [`reclaim`] did, once it ran.
pub fn reclaim_report() -> Option<ReclaimReport> {
    STATE.lock().as_ref().and_then(|s| s.reclaim)
}

/// The kernel stack area `[base, base + size)`, once initialised.
pub fn stack_area() -> Option<(u64, u64)> {
    STATE
        .lock()
        .as_ref()
        .map(|s| (s.stacks.base(), s.stacks.size()))
}

/// The mapping API's area `[base, base + size)`, once initialised.
pub fn mapping_area() -> Option<(u64, u64)> {
    STATE
        .lock()
        .as_ref()
        .map(|s| (s.dynamic.base(), s.dynamic.size()))
}

/// The loader's PML4 frame (free memory after [`reclaim`]).
pub fn loader_root() -> Option<u64> {
    STATE.lock().as_ref().map(|s| s.loader_root)
}

/// The kernel's PML4 frame.
pub fn kernel_root() -> Option<u64> {
    STATE
        .lock()
        .as_ref()
        .map(|s| s.tables.root().start_address().as_u64())
}

/// Maps `[phys, phys + len)` into the kernel's window area, no-execute, with `cache` and
/// `writable`, and returns the [`Window`] (its `virt` is the virtual address of `phys`). Ranges
/// of 2 MiB or more are placed so that 2 MiB pages fit. Does not rely on the HHDM covering the
/// range (it covers no MMIO, nor the framebuffer).
///
/// # Errors
/// [`MapError::NotReady`] before the kernel runs on its own tables; [`MapError`] when frames
/// or window space run out or the range is bad.
pub fn map_physical(phys: u64, len: u64, cache: Cache, writable: bool) -> Result<Window, MapError> {
    let (first, pages, offset) = page_cover(phys, len)?;
    let bytes = pages * PAGE;
    let mut guard = STATE.lock();
    let state = guard.as_mut().ok_or(MapError::NotReady)?;
    if !state.active {
        return Err(MapError::NotReady);
    }
    let align = if bytes >= 2 * 1024 * 1024 {
        PageSize::Size2MiB.bytes()
    } else {
        PAGE
    };
    // Claim the virtual range first: if mapping fails, it stays unused and the next request
    // starts after it.
    let virt = state
        .windows
        .claim(bytes, align, first)
        .ok_or(MapError::OutOfVirtualSpace)?;
    let flags = state.kernel(MapFlags {
        writable,
        no_execute: true,
        cache,
        ..MapFlags::DATA
    });
    let (mut edit, tables) = state.edit();
    let result = tables.map(&mut edit, virt, first, bytes, flags);
    let flush = result?;
    state.flush(flush);
    drop(guard);
    Window::verify(virt + offset, phys, len).map_err(MapError::Window)
}

/// Maps device registers uncached and writable; see [`map_physical`].
pub fn map_mmio(phys: u64, len: u64) -> Result<Window, MapError> {
    map_physical(phys, len, Cache::Uncached, true)
}

/// Maps firmware tables (ACPI) write-back and read-only; see [`map_physical`].
pub fn map_readonly(phys: u64, len: u64) -> Result<Window, MapError> {
    map_physical(phys, len, Cache::WriteBack, false)
}

/// Maps the framebuffer write-combining (uncached without a PAT), writable; see
/// [`map_physical`].
pub fn map_framebuffer(phys: u64, len: u64) -> Result<Window, MapError> {
    let cache = STATE
        .lock()
        .as_ref()
        .map_or(Cache::Uncached, |s| s.framebuffer_cache);
    let window = map_physical(phys, len, cache, true)?;
    if let Some(state) = STATE.lock().as_mut() {
        state.framebuffer = Some((window.virt(), phys, len));
    }
    Ok(window)
}

/// Where [`map_framebuffer`] put the framebuffer: (virtual, physical, length).
pub fn framebuffer_mapping() -> Option<(u64, u64, u64)> {
    STATE.lock().as_ref().and_then(|s| s.framebuffer)
}

/// Allocates a stack of at least `bytes` called `name` (for fault reports, see
/// [`guard_page_owner`](super::guard_page_owner)) with [`GUARD_BYTES`] of unmapped guard area
/// below it, onto zeroed frames. Works before [`enter`] too (in the kernel's tables, which the
/// stack is checked in).
///
/// # Errors
/// [`MapError`] when frames or stack space run out.
pub fn alloc_stack(name: &'static str, bytes: u64) -> Result<Stack, MapError> {
    let pages = bytes.div_ceil(PAGE).max(1);
    let mut guard = STATE.lock();
    let state = guard.as_mut().ok_or(MapError::NotReady)?;
    let guard_start = state
        .stacks
        .claim(GUARD_BYTES + pages * PAGE, PAGE, 0)
        .ok_or(MapError::OutOfVirtualSpace)?;
    let bottom = guard_start + GUARD_BYTES;
    let top = bottom + pages * PAGE;
    let flags = state.kernel(MapFlags::DATA);
    for i in 0..pages {
        let virt = bottom + i * PAGE;
        let mapped = match state.buddy.allocate() {
            Some(frame) => {
                state.buddy.access_mut().0.zero_frame(frame);
                let (mut edit, tables) = state.edit();
                let result = tables.map(&mut edit, virt, frame, PAGE, flags);
                if result.is_err() {
                    let _ = state.buddy.free(frame);
                }
                result.map_err(MapError::from)
            }
            None => Err(MapError::OutOfFrames),
        };
        match mapped {
            Ok(flush) => state.flush(flush),
            Err(e) => {
                // Give back what this stack took so far; the virtual range stays unused.
                if i > 0 {
                    unmap_and_free(state, bottom, i * PAGE);
                }
                return Err(e);
            }
        }
    }
    let root = state.tables.root();
    drop(guard);
    let stack = KernelStack::verify(root, guard_start, bottom, top).map_err(MapError::Stack)?;
    super::guard::register(guard_start, bottom, name);
    Ok(stack)
}

/// Unmaps `[virt, virt + len)` (4 KiB pages onto frames of the allocator) and frees the frames.
fn unmap_and_free(state: &mut State, virt: u64, len: u64) {
    for page in (virt..virt + len).step_by(PAGE as usize) {
        let frame = state
            .tables
            .translate_addr(&state.buddy.access().0, page)
            .map(|t| t.phys.as_u64());
        let (mut edit, tables) = state.edit();
        if let Ok(flush) = tables.unmap(&mut edit, page, PAGE) {
            state.flush(flush);
            if let Some(frame) = frame {
                let _ = state.buddy.free(frame);
            }
        }
    }
}

/// The physical address `virt` maps to in the kernel's tables, if any.
pub fn translate(virt: u64) -> Option<u64> {
    lookup(virt).map(|t| t.phys.as_u64())
}

/// The translation of `virt` in the kernel's tables (physical address, page size, flags).
pub fn lookup(virt: u64) -> Option<Translation> {
    let guard = STATE.lock();
    let state = guard.as_ref()?;
    state.tables.translate_addr(&state.buddy.access().0, virt)
}

/// The walk of `virt` through the kernel's tables, entry by entry (for the shell's `vm`);
/// `None` for a non-canonical address or before [`init`]. Read under the lock, so no edit
/// runs meanwhile.
pub fn walk(virt: u64) -> Option<pagetables::Walk> {
    let virt = pagetables::x86_64::VirtAddr::try_new(virt).ok()?;
    let guard = STATE.lock();
    let state = guard.as_ref()?;
    Some(state.tables.walk(&state.buddy.access().0, virt))
}

/// Checks that `[virt, virt + len)` lies in the mapping API's area.
fn in_area(state: &State, virt: u64, len: u64) -> Result<(), MapError> {
    let last = virt.checked_add(len.max(1) - 1).ok_or(MapError::BadRange)?;
    if state.dynamic.contains(virt) && state.dynamic.contains(last) {
        Ok(())
    } else {
        Err(MapError::OutsideArea { virt })
    }
}

/// Runs a table edit of the mapping API's area in the active address space, flushing after.
fn edit_area(
    virt: u64,
    len: u64,
    f: impl FnOnce(&mut PageTables, &mut Edit<'_>, MapFlags) -> Result<Flush, pagetables::MapError>,
    flags: MapFlags,
) -> Result<(), MapError> {
    let mut guard = STATE.lock();
    let state = guard.as_mut().ok_or(MapError::NotReady)?;
    if !state.active {
        return Err(MapError::NotReady);
    }
    in_area(state, virt, len)?;
    let flags = state.kernel(flags);
    let (mut edit, tables) = state.edit();
    let flush = f(tables, &mut edit, flags)?;
    state.flush(flush);
    Ok(())
}

/// Maps `[virt, virt + len)` to `[phys, phys + len)` with `flags` in the mapping API's area
/// ([`mapping_area`]), with the largest pages both addresses allow (1 GiB only where the CPU
/// has them). Mapping over an identical mapping changes nothing. The frames stay the caller's.
///
/// # Errors
/// [`MapError::OutsideArea`], [`MapError::Misaligned`], [`MapError::AlreadyMapped`] (nothing
/// changed), [`MapError::OutOfFrames`] (partly mapped, page by page as asked).
pub fn map(virt: u64, phys: u64, len: u64, flags: MapFlags) -> Result<(), MapError> {
    edit_area(virt, len, |t, e, f| t.map(e, virt, phys, len, f), flags)
}

/// Maps one page of `size` at `virt` to `phys`; refuses anything in the way.
///
/// # Errors
/// As for [`map`]; [`MapError::HugePageInTheWay`] when a larger page covers `virt`.
pub fn map_page(virt: u64, phys: u64, size: PageSize, flags: MapFlags) -> Result<(), MapError> {
    use pagetables::x86_64::structures::paging::{Page, Size1GiB, Size2MiB};
    use pagetables::x86_64::{PhysAddr, VirtAddr};
    let misaligned = MapError::Misaligned {
        virt,
        align: size.bytes(),
    };
    let v = VirtAddr::try_new(virt).map_err(|_| MapError::BadRange)?;
    let p = PhysAddr::try_new(phys).map_err(|_| MapError::BadRange)?;
    edit_area(
        virt,
        size.bytes(),
        |t, e, f| {
            let bad = pagetables::MapError::Misaligned {
                virt,
                phys,
                len: size.bytes(),
                align: size.bytes(),
            };
            match size {
                PageSize::Size4KiB => t.map_page(
                    e,
                    Page::<Size4KiB>::from_start_address(v).map_err(|_| bad)?,
                    PhysFrame::<Size4KiB>::from_start_address(p).map_err(|_| bad)?,
                    f,
                ),
                PageSize::Size2MiB => t.map_page(
                    e,
                    Page::<Size2MiB>::from_start_address(v).map_err(|_| bad)?,
                    PhysFrame::<Size2MiB>::from_start_address(p).map_err(|_| bad)?,
                    f,
                ),
                PageSize::Size1GiB => t.map_page(
                    e,
                    Page::<Size1GiB>::from_start_address(v).map_err(|_| bad)?,
                    PhysFrame::<Size1GiB>::from_start_address(p).map_err(|_| bad)?,
                    f,
                ),
            }
        },
        flags,
    )
    .map_err(|e| match e {
        MapError::Misaligned { .. } => misaligned,
        e => e,
    })
}

/// Unmaps `[virt, virt + len)` in the mapping API's area; a huge page the range cuts through
/// is split first, and page tables left empty go back to the frame allocator. The mapped
/// frames stay the caller's.
///
/// # Errors
/// [`MapError::OutsideArea`], [`MapError::Misaligned`], [`MapError::NotMapped`] (nothing
/// changed), [`MapError::OutOfFrames`] for a split (translations unchanged).
pub fn unmap(virt: u64, len: u64) -> Result<(), MapError> {
    edit_area(virt, len, |t, e, _| t.unmap(e, virt, len), MapFlags::DATA)
}

/// Gives every page of `[virt, virt + len)` in the mapping API's area the rights and cache
/// type `flags` (targets unchanged), splitting huge pages the range cuts through.
///
/// # Errors
/// As for [`unmap`].
pub fn protect(virt: u64, len: u64, flags: MapFlags) -> Result<(), MapError> {
    edit_area(virt, len, |t, e, f| t.protect(e, virt, len, f), flags)
}

/// One free frame (4 KiB), or `None`.
pub fn alloc_frame() -> Option<u64> {
    STATE.lock().as_mut()?.buddy.allocate()
}

/// `2^order` contiguous frames aligned to their size, or `None`.
pub fn alloc_frames(order: usize) -> Option<u64> {
    STATE.lock().as_mut()?.buddy.allocate_order(order)
}

/// Frees what [`alloc_frames`] (order 0: [`alloc_frame`]) returned.
///
/// # Errors
/// [`FreeError`] (nothing changes); also `NotManaged` before [`init`].
pub fn free_frames(addr: u64, order: usize) -> Result<(), FreeError> {
    STATE
        .lock()
        .as_mut()
        .ok_or(FreeError::NotManaged { addr })?
        .buddy
        .free_order(addr, order)
}

/// The frame allocator's statistics.
pub fn frame_stats() -> Option<Stats> {
    STATE.lock().as_ref().map(|s| s.buddy.stats())
}

/// Whether the frame containing `addr` is free in the allocator.
pub fn frame_is_free(addr: u64) -> bool {
    STATE
        .lock()
        .as_ref()
        .is_some_and(|s| s.buddy.frame_is_free(addr))
}

/// Whether the frame allocator manages the frame at `addr` (free or handed out).
pub fn frame_is_managed(addr: u64) -> bool {
    STATE.lock().as_ref().is_some_and(|s| {
        s.buddy
            .ranges()
            .iter()
            .any(|&(start, end)| start <= addr && addr < end)
    })
}

/// Frames holding the kernel's page tables (and those of other address spaces) now.
pub fn table_frames() -> u64 {
    STATE.lock().as_ref().map_or(0, |s| s.table_frames)
}

/// Frames handed out so far (managed minus free).
pub fn frames_allocated() -> u64 {
    frame_stats().map_or(0, |s| s.total_frames - s.free_frames)
}

/// An address space: its own lower half (user space, later), the kernel half shared with the
/// kernel's tables (the same PML4 entries, which never change).
#[derive(Debug)]
pub struct AddressSpace {
    tables: PageTables,
}

impl AddressSpace {
    /// A fresh PML4 with an empty lower half and the kernel's upper half.
    ///
    /// # Errors
    /// [`MapError::NotReady`] before [`init`], [`MapError::OutOfFrames`].
    pub fn new() -> Result<AddressSpace, MapError> {
        let mut guard = STATE.lock();
        let state = guard.as_mut().ok_or(MapError::NotReady)?;
        let features = state.tables.features();
        let kernel_root = state.tables.root();
        let (mut edit, _) = state.edit();
        let tables = PageTables::new(&mut edit, features)?;
        for i in 256..512 {
            let e = edit.read_entry(kernel_root, i);
            edit.write_entry(tables.root(), i, e);
        }
        Ok(AddressSpace { tables })
    }

    /// The PML4 frame.
    pub fn root(&self) -> u64 {
        self.tables.root().start_address().as_u64()
    }

    /// What `virt` translates to here.
    pub fn translate(&self, virt: u64) -> Option<Translation> {
        let guard = STATE.lock();
        let state = guard.as_ref()?;
        self.tables.translate_addr(&state.buddy.access().0, virt)
    }

    /// Makes this address space the active one.
    ///
    /// # Errors
    /// [`SwitchError`] when its kernel half differs from the active one (never, for one made by
    /// [`AddressSpace::new`]).
    pub fn activate(&self) -> Result<(), SwitchError> {
        paging::activate(self.tables.root())
    }

    /// Frees the PML4 (and any lower-half tables), switching back to the kernel's tables first
    /// if this one is active. The kernel half is not touched.
    pub fn destroy(self) {
        let mut guard = STATE.lock();
        let Some(state) = guard.as_mut() else {
            return;
        };
        if paging::active_root() == self.tables.root() {
            // Same kernel half by construction.
            let _ = paging::activate(state.tables.root());
        }
        let (mut edit, _) = state.edit();
        for i in 256..512 {
            edit.write_entry(self.tables.root(), i, 0);
        }
        self.tables.free_all(&mut edit);
    }
}

/// Switches back to the kernel's own address space (from one made by [`AddressSpace::new`]).
///
/// # Errors
/// [`SwitchError`] (never for the kernel's own tables, which share their kernel half with
/// every address space).
pub fn activate_kernel() -> Result<(), SwitchError> {
    let root = STATE
        .lock()
        .as_ref()
        .map(|s| s.tables.root())
        .ok_or(SwitchError::RootNotInRam(0))?;
    paging::activate(root)
}

/// Entry `index` (0-511) of the active PML4.
pub fn active_pml4_entry(index: usize) -> u64 {
    let guard = STATE.lock();
    guard.as_ref().map_or(0, |s| {
        s.buddy
            .access()
            .0
            .read_entry(paging::active_root(), index % 512)
    })
}

/// Builds the HHDM and the image mapping again into scratch tables, frees them, and returns
/// (TSC cycles for everything, cycles for the HHDM, table frames of the HHDM): the build's
/// cost with warm caches (the boot's first build also pays for translating its code, under
/// TCG). The lock is held, with interrupts off, for the whole run.
#[cfg(feature = "ktest")]
pub fn bench_table_build(info: &BootInfo) -> Option<(u64, u64, u64)> {
    let cpu = crate::arch::cpu::features();
    let mut guard = STATE.lock();
    let state = guard.as_mut()?;
    let features = state.tables.features();
    let global = state.global;
    let (mut edit, _) = state.edit();
    let before = *edit.table_frames;
    let start = rdtsc();
    let mut tables = PageTables::new(&mut edit, features).ok()?;
    let ranges = layout::hhdm_ranges(&info.memory_map, 1u64 << cpu.phys_bits.min(52));
    let flags = MapFlags {
        global,
        ..MapFlags::DATA
    };
    let mapped = tables.map_hhdm(&mut edit, info.hhdm_offset, ranges.iter().copied(), flags);
    let hhdm_done = rdtsc();
    let hhdm_frames = *edit.table_frames - before;
    let image = paging::image_layout();
    let (virt_base, phys_base) = image_base(info, image.text.0);
    let parts = [image.text, image.rodata, image.data];
    for seg in layout::kernel_segments(parts, virt_base, phys_base, global)
        .into_iter()
        .flatten()
    {
        if let Ok(flush) = tables.map(&mut edit, seg.virt, seg.phys, seg.len, seg.flags) {
            flush.ignore();
        }
    }
    let done = rdtsc();
    tables.free_all(&mut edit);
    mapped.ok()?.ignore();
    Some((
        done.wrapping_sub(start),
        hhdm_done.wrapping_sub(start),
        hhdm_frames,
    ))
}

/// Average TSC cycles of one allocate + free pair of `2^order` frames, over `pairs` pairs, on
/// the allocator directly (one lock for the whole run). With `neighbour`, one block of the
/// order stays allocated meanwhile, so each pair takes and returns its free buddy without
/// splitting or merging (the common case on a used machine); without, a pair may split a
/// larger free block and merge it back.
/// `full_checks` as in [`BuddyAllocator::set_full_checks`] (production kernels run without).
#[cfg(feature = "ktest")]
pub fn bench_frame_pairs(
    order: usize,
    pairs: u64,
    neighbour: bool,
    full_checks: bool,
) -> Option<u64> {
    let mut guard = STATE.lock();
    let buddy = &mut guard.as_mut()?.buddy;
    let checks = buddy.full_checks();
    buddy.set_full_checks(full_checks);
    let cycles = frame_pairs(buddy, order, pairs, neighbour);
    buddy.set_full_checks(checks);
    cycles
}

#[cfg(feature = "ktest")]
fn frame_pairs(buddy: &mut Buddy, order: usize, pairs: u64, neighbour: bool) -> Option<u64> {
    let held = if neighbour {
        Some(buddy.allocate_order(order)?)
    } else {
        None
    };
    let start = rdtsc();
    for _ in 0..pairs {
        let f = buddy.allocate_order(order)?;
        buddy.free_order(f, order).ok()?;
    }
    let cycles = rdtsc().wrapping_sub(start) / pairs.max(1);
    if let Some(held) = held {
        buddy.free_order(held, order).ok()?;
    }
    Some(cycles)
}

#[cfg(feature = "ktest")]
mod ktests;
