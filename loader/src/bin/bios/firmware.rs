//! The BIOS side of the loader: Multiboot modules as files, pages from the Multiboot memory
//! map, the tables found by scanning, and the hand-off.
//!
//! [`boot`] reads the Multiboot information (`loader::multiboot`), builds the page allocator
//! (`loader::bios::PageAllocator`) that keeps away from the loader image, the modules and the
//! information, runs `loader::boot::prepare` over [`Bios`], quiets the machine, builds the
//! final map (the E820 map in Limine types plus the loader's own ranges as
//! bootloader-reclaimable) for `Prepared::finish` and jumps to the kernel.

use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use loader::acpi::PhysRead;
use loader::bios::{self, PAGE, PageAllocator};
use loader::boot::{
    self, CpuFeatures, Display, DisplayMode, FileError, FinalMap, Firmware, FirmwareKind,
    FirmwareTables, LoadError, Memory, Pages, RawMemoryMap,
};
use loader::clock;
use loader::memmap::TypedRegion;
use loader::multiboot::{self, Info, MultibootError, Version};

use crate::handoff;

/// Heap taken from the page allocator once the map is known.
const HEAP_BYTES: u64 = 8 << 20;
/// Heap in .bss for the first allocations (parsing the map, building the allocator).
const BOOT_HEAP_BYTES: usize = 256 << 10;

unsafe extern "C" {
    /// Start of the loader image (bios.ld).
    static __image_start: u8;
    /// End of its zero-filled part (bios.ld).
    static __bss_end: u8;
}

/// The loader image's physical range.
fn image_range() -> (u64, u64) {
    let start = &raw const __image_start as u64;
    let end = &raw const __bss_end as u64;
    (start, end)
}

#[repr(C, align(4096))]
struct BootHeap([u8; BOOT_HEAP_BYTES]);

static mut BOOT_HEAP: BootHeap = BootHeap([0; BOOT_HEAP_BYTES]);

/// A bump heap: the .bss block first, then one block from the page allocator. Freeing gives
/// memory back only for the most recent allocation (enough for the loader's growing vectors).
#[derive(Debug)]
pub struct Heap;

static HEAP_NEXT: AtomicUsize = AtomicUsize::new(0);
static HEAP_END: AtomicUsize = AtomicUsize::new(0);
static HEAP_LAST: AtomicUsize = AtomicUsize::new(0);

impl Heap {
    /// Starts allocating from `[start, start + len)` (memory nothing else uses, ever).
    fn switch_to(start: usize, len: usize) {
        HEAP_NEXT.store(start, Ordering::Relaxed);
        HEAP_END.store(start + len, Ordering::Relaxed);
        HEAP_LAST.store(0, Ordering::Relaxed);
    }

    fn boot_heap() {
        let start = (&raw mut BOOT_HEAP) as usize;
        Self::switch_to(start, BOOT_HEAP_BYTES);
    }
}

// SAFETY: the loader runs on one CPU with interrupts off, so the atomics are never contended;
// blocks come from memory only the heap hands out (the .bss array, then a page-allocator
// block) and never overlap: `next` only moves back over the most recent block when it is
// freed or resized in place.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let next = HEAP_NEXT.load(Ordering::Relaxed);
        let end = HEAP_END.load(Ordering::Relaxed);
        let Some(start) = next.checked_next_multiple_of(layout.align()) else {
            return core::ptr::null_mut();
        };
        match start.checked_add(layout.size()) {
            Some(top) if top <= end && start != 0 => {
                HEAP_NEXT.store(top, Ordering::Relaxed);
                HEAP_LAST.store(start, Ordering::Relaxed);
                start as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let p = ptr as usize;
        if p == HEAP_LAST.load(Ordering::Relaxed)
            && p + layout.size() == HEAP_NEXT.load(Ordering::Relaxed)
        {
            HEAP_NEXT.store(p, Ordering::Relaxed);
            HEAP_LAST.store(0, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = ptr as usize;
        if p == HEAP_LAST.load(Ordering::Relaxed)
            && p + layout.size() == HEAP_NEXT.load(Ordering::Relaxed)
            && p.checked_add(new_size)
                .is_some_and(|top| top <= HEAP_END.load(Ordering::Relaxed))
        {
            HEAP_NEXT.store(p + new_size, Ordering::Relaxed);
            return ptr;
        }
        // SAFETY: `layout` with `new_size` is valid (the caller's contract); the old block is
        // `layout.size()` bytes and the new one at least `min` of both.
        unsafe {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return core::ptr::null_mut();
            };
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            }
            new
        }
    }
}

/// Physical memory, identity-mapped below 4 GiB by the entry stub.
#[derive(Debug, Clone, Copy)]
struct Phys;

impl PhysRead for Phys {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        if addr == 0 || end > bios::ALLOC_CEILING {
            return None;
        }
        // SAFETY: the entry stub identity-maps the whole low 4 GiB; the loader only reads
        // RAM and firmware tables (Multiboot information, modules, BIOS areas, ACPI tables)
        // this way, never memory a live `&mut` covers (allocations are disjoint from them).
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// Pages handed out by the page allocator: owned by this value alone, never freed.
#[derive(Debug)]
pub struct BiosPages {
    phys: u64,
    len: usize,
}

impl Pages for BiosPages {
    fn phys(&self) -> u64 {
        self.phys
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `[phys, phys + len)` came from the page allocator, which hands every byte
        // out once, below 4 GiB (identity-mapped); this value is its only owner.
        unsafe { core::slice::from_raw_parts(self.phys as *const u8, self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `bytes`; `&mut self` makes this the only live reference.
        unsafe { core::slice::from_raw_parts_mut(self.phys as *mut u8, self.len) }
    }
}

/// Why the BIOS entry stopped before the boot sequence could run.
#[derive(Debug)]
pub enum BiosError {
    /// The Multiboot information is unusable.
    Multiboot(MultibootError),
    /// The Multiboot loader passed no modules.
    NoModules,
    /// The page allocator has no room for this.
    OutOfMemory(&'static str),
    /// The boot sequence refused.
    Load(LoadError),
}

impl fmt::Display for BiosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Multiboot(e) => write!(f, "{e}"),
            Self::NoModules => f.write_str(
                "no Multiboot modules: pass limine.conf and the kernel as modules named by \
                 their paths (QEMU: -initrd \"limine.conf /boot/limine.conf,kernel \
                 /boot/kernel\"; GRUB: module2 /boot/kernel /boot/kernel)",
            ),
            Self::OutOfMemory(what) => write!(f, "out of memory for {what}"),
            Self::Load(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for BiosError {}

impl From<LoadError> for BiosError {
    fn from(e: LoadError) -> Self {
        Self::Load(e)
    }
}

/// The firmware services, as the library's boot sequence uses them.
struct Bios {
    info: Info,
    pages: PageAllocator,
    tables: FirmwareTables,
    cpu: handoff::Cpu,
    extent: (usize, u64),
}

impl Bios {
    fn module(&self, path: &str) -> Result<&[u8], FileError> {
        let m = bios::find_module(&self.info.modules, path)
            .ok_or_else(|| FileError::NotFound(String::from(path)))?;
        let len = usize::try_from(m.len()).map_err(|_| FileError::NotFound(path.into()))?;
        Phys.read(m.start, len)
            .ok_or_else(|| FileError::NotFound(path.into()))
    }
}

impl PhysRead for Bios {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        Phys.read(addr, len)
    }
}

impl Firmware for Bios {
    type Pages = BiosPages;

    fn kind(&self) -> FirmwareKind {
        FirmwareKind::Bios
    }

    fn say(&mut self, line: fmt::Arguments<'_>) {
        crate::console::print(format_args!("{line}\n"));
    }

    fn cpu(&self) -> CpuFeatures {
        self.cpu.features
    }

    fn random_u64(&mut self) -> u64 {
        handoff::random_u64(self.cpu.rdrand)
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FileError> {
        self.module(path).map(<[u8]>::to_vec)
    }

    fn load_file(&mut self, path: &str) -> Result<BiosPages, FileError> {
        let len = self.module(path)?.len();
        let mut pages = self
            .allocate(Memory::Reclaimable, len, PAGE as usize)
            .ok_or_else(|| FileError::NoMemory(path.into(), len))?;
        let bytes = self.module(path)?;
        pages.bytes_mut().copy_from_slice(bytes);
        Ok(pages)
    }

    fn allocate(&mut self, _memory: Memory, bytes: usize, align: usize) -> Option<BiosPages> {
        let phys = self.pages.allocate(bytes as u64, align as u64)?;
        let mut pages = BiosPages { phys, len: bytes };
        pages.bytes_mut().fill(0);
        Some(pages)
    }

    fn menu(&mut self, names: &[&str], default: usize, _timeout: Option<u64>) -> usize {
        self.say(format_args!(
            "loader: the BIOS entry has no boot menu; booting `{}`",
            names.get(default).copied().unwrap_or("?")
        ));
        default
    }

    fn display_modes(&mut self) -> Vec<DisplayMode> {
        Vec::new()
    }

    fn set_display_mode(&mut self, _number: u32) -> Option<Display> {
        None
    }

    fn tables(&self) -> FirmwareTables {
        self.tables
    }

    fn time(&self) -> Option<clock::DateTime> {
        None
    }

    fn memory_map_extent(&self) -> (usize, u64) {
        self.extent
    }

    fn handoff_code(&self) -> (u64, u64) {
        handoff::trampoline_span()
    }
}

/// Loads and starts the kernel; returns only on an error (the machine is then halted by the
/// caller with the message on screen).
pub fn boot(magic: u32, info_addr: u64) -> Result<core::convert::Infallible, BiosError> {
    Heap::boot_heap();
    let info = multiboot::parse(magic, info_addr, &Phys).map_err(BiosError::Multiboot)?;
    let e820 = info.memory_or_basic();
    let firmware_map = bios::limine_regions(&e820);
    let image = image_range();
    let mut mine: Vec<(u64, u64)> = alloc::vec![image];
    mine.extend(info.footprint.iter().copied());
    mine.extend(info.modules.iter().map(|m| (m.start, m.end)));
    let mut pages = PageAllocator::new(&firmware_map, &mine);
    let heap = pages
        .allocate(HEAP_BYTES, PAGE)
        .ok_or(BiosError::OutOfMemory("the loader heap"))?;
    Heap::switch_to(heap as usize, HEAP_BYTES as usize);

    say!(
        "loader: {} {} (BIOS entry, Multiboot {} from {}), {} modules",
        boot::LOADER_NAME,
        boot::LOADER_VERSION,
        match info.version {
            Version::One => 1,
            Version::Two => 2,
        },
        info.bootloader.as_deref().unwrap_or("an unnamed loader"),
        info.modules.len()
    );
    if info.modules.is_empty() {
        return Err(BiosError::NoModules);
    }
    let (smbios_32, smbios_64) = bios::find_smbios(&Phys);
    let tables = FirmwareTables {
        rsdp: bios::choose_rsdp(&Phys, info.rsdp_copy),
        smbios_32,
        smbios_64,
        system_table: None,
    };
    let highest = e820
        .iter()
        .map(|e| e.base.saturating_add(e.length))
        .max()
        .unwrap_or(0);
    let mut fw = Bios {
        extent: (e820.len(), highest),
        info,
        pages,
        tables,
        cpu: handoff::cpu(),
    };
    let prepared = boot::prepare(&mut fw)?;
    handoff::quiesce(&prepared.quiesce());
    mine.extend(fw.pages.used().iter().copied());
    let mut typed: Vec<TypedRegion> = firmware_map;
    typed.extend(bios::reclaimable(&mine));
    let map = FinalMap {
        regions: Vec::new(),
        typed,
        raw: RawMemoryMap::default(),
    };
    match prepared.finish(&map) {
        // SAFETY: `finish` built page tables mapping the trampoline identically and in the
        // HHDM, the GDT, the stack and every kernel segment, and answered the requests.
        Ok(args) => unsafe { handoff::enter_kernel(&args) },
        Err(e) => {
            say!("loader: fatal while handing off: {e}");
            say!("loader: the machine is halted; reset it.");
            handoff::halt()
        }
    }
}
