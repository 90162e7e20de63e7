//! A fake firmware for the boot sequence: files in a map, memory in host vectors at made-up
//! physical addresses, scripted display modes, tables, clock and menu, and a record of every
//! message. Pages handed out return their bytes to [`Ram`] when dropped, so a test can follow
//! the kernel's pointers through responses and page tables after [`Prepared::finish`].

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use crate::acpi::PhysRead;
use crate::boot::{
    CpuFeatures, Display, DisplayMode, FileError, FinalMap, Firmware, FirmwareKind, FirmwareTables,
    Memory, PAGE_SIZE, Pages, RawMemoryMap,
};
use crate::clock::DateTime;
use crate::memmap::{KERNEL_MEMORY_TYPE, UefiRegion, efi_type};
use crate::paging::PhysMemory;

/// Where the fake's allocations start.
pub const ALLOC_BASE: u64 = 0x0100_0000;
/// Where its RAM ends (3 GiB: the second GiB is whole, for 1 GiB pages).
pub const RAM_END: u64 = 0xc000_0000;
/// The framebuffer of every display mode (above the RAM).
pub const FB_BASE: u64 = 0xe000_0000;
/// Where its ACPI tables live (an ACPI-reclaimable region).
pub const ACPI_BASE: u64 = 0x000e_0000;
/// The hand-off code's pages (inside loader code, below the allocations).
pub const HANDOFF_CODE: (u64, u64) = (0x0080_0000, 0x2000);

/// Memory the pages returned when they were dropped.
#[derive(Debug, Default)]
pub struct Ram {
    blocks: Vec<(u64, Vec<u8>)>,
}

impl Ram {
    /// `len` bytes at `phys`, if one block holds them all.
    pub fn bytes(&self, phys: u64, len: usize) -> Option<&[u8]> {
        self.blocks.iter().find_map(|(base, data)| {
            let off = usize::try_from(phys.checked_sub(*base)?).ok()?;
            data.get(off..off.checked_add(len)?)
        })
    }

    /// The `u64` at `phys`.
    pub fn u64(&self, phys: u64) -> Option<u64> {
        self.bytes(phys, 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    }

    /// The NUL-terminated string at `phys`.
    pub fn cstr(&self, phys: u64) -> Option<String> {
        let mut out = Vec::new();
        for i in 0..4096 {
            match self.bytes(phys + i, 1)?.first()? {
                0 => return String::from_utf8(out).ok(),
                b => out.push(*b),
            }
        }
        None
    }
}

impl PhysMemory for Ram {
    fn alloc_zeroed_page(&mut self) -> Option<u64> {
        None
    }

    fn read_u64(&self, phys: u64) -> u64 {
        self.u64(phys).unwrap_or(0)
    }

    fn write_u64(&mut self, _phys: u64, _value: u64) {}
}

/// Pages of the fake: host bytes at a made-up physical address.
#[derive(Debug)]
pub struct FakePages {
    phys: u64,
    data: Vec<u8>,
    ram: Rc<RefCell<Ram>>,
}

impl Pages for FakePages {
    fn phys(&self) -> u64 {
        self.phys
    }

    fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl Drop for FakePages {
    fn drop(&mut self) {
        let data = core::mem::take(&mut self.data);
        self.ram.borrow_mut().blocks.push((self.phys, data));
    }
}

/// One allocation the fake made: base, pages, UEFI type.
#[derive(Debug, Clone, Copy)]
struct Allocation {
    base: u64,
    pages: u64,
    ty: u32,
}

/// The fake firmware. Every field is a knob a test may turn.
#[derive(Debug)]
pub struct Fake {
    /// Files on the boot volume.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Files whose reading fails, and how.
    pub broken_files: BTreeMap<String, FileError>,
    /// What the CPU has.
    pub cpu: CpuFeatures,
    /// What `random_u64` returns.
    pub random: u64,
    /// Allocations of this kind fail.
    pub refuse: Option<Memory>,
    /// Allocations of this many bytes or more fail.
    pub refuse_from_bytes: usize,
    /// The index the menu returns.
    pub menu_answer: usize,
    /// Menus shown: (names, default, timeout).
    pub menus: Vec<(Vec<String>, usize, Option<u64>)>,
    /// Display modes offered.
    pub modes: Vec<DisplayMode>,
    /// The framebuffer base of every mode.
    pub framebuffer_base: u64,
    /// Modes switched to.
    pub mode_switches: Vec<u32>,
    /// How often the modes were listed.
    pub mode_listings: usize,
    /// Configuration tables.
    pub tables: FirmwareTables,
    /// The clock.
    pub time: Option<DateTime>,
    /// Extra regions the memory map estimate claims (to starve the page-table pool).
    pub extent: Option<(usize, u64)>,
    /// Physical memory the ACPI walk reads: (address, bytes).
    pub acpi: Vec<(u64, Vec<u8>)>,
    /// Which firmware it claims to be.
    pub kind: FirmwareKind,
    /// Every line said.
    pub said: Vec<String>,
    /// Memory given back by dropped pages.
    pub ram: Rc<RefCell<Ram>>,
    allocations: Vec<Allocation>,
    next: u64,
}

impl Fake {
    /// A machine with a 4-level-paging CPU with NX, PAT and 1 GiB pages, and no files.
    pub fn new() -> Self {
        Self {
            files: BTreeMap::new(),
            broken_files: BTreeMap::new(),
            cpu: CpuFeatures {
                nx: true,
                pat: true,
                huge_1g: true,
                la57_active: false,
            },
            random: 0x1234_5678_9abc_def0,
            refuse: None,
            refuse_from_bytes: usize::MAX,
            menu_answer: 0,
            menus: Vec::new(),
            modes: Vec::new(),
            framebuffer_base: FB_BASE,
            mode_switches: Vec::new(),
            mode_listings: 0,
            tables: FirmwareTables::default(),
            time: None,
            extent: None,
            acpi: Vec::new(),
            kind: FirmwareKind::Uefi64,
            said: Vec::new(),
            ram: Rc::default(),
            allocations: Vec::new(),
            next: ALLOC_BASE,
        }
    }

    /// Puts a file on the boot volume.
    pub fn file(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.files.insert(path.to_string(), bytes.into());
        self
    }

    /// The firmware's memory map after `ExitBootServices`: conventional memory around the
    /// ACPI tables and everything the fake allocated, with the allocations' types.
    pub fn final_map(&self) -> FinalMap {
        let region = |ty, start: u64, end: u64| UefiRegion {
            ty,
            phys_start: start,
            pages: (end - start) / 4096,
            attribute: 0,
        };
        let mut regions = alloc::vec![
            region(efi_type::CONVENTIONAL, 0x1000, ACPI_BASE),
            region(efi_type::ACPI_RECLAIM, ACPI_BASE, 0x0010_0000),
            region(efi_type::CONVENTIONAL, 0x0010_0000, HANDOFF_CODE.0),
            region(efi_type::LOADER_CODE, HANDOFF_CODE.0, ALLOC_BASE),
        ];
        let mut at = ALLOC_BASE;
        for a in &self.allocations {
            if a.base > at {
                regions.push(region(efi_type::CONVENTIONAL, at, a.base));
            }
            regions.push(region(a.ty, a.base, a.base + a.pages * 4096));
            at = a.base + a.pages * 4096;
        }
        regions.push(region(efi_type::CONVENTIONAL, at, RAM_END));
        FinalMap {
            typed: Vec::new(),
            raw: RawMemoryMap {
                phys: HANDOFF_CODE.0 + 0x4000,
                size: regions.len() as u64 * 48,
                desc_size: 48,
                desc_version: 1,
            },
            regions,
        }
    }

    /// The same map as a BIOS entry hands it over: byte-exact regions in Limine types, no raw
    /// UEFI map.
    pub fn bios_final_map(&self) -> FinalMap {
        let uefi = self.final_map();
        FinalMap {
            typed: uefi
                .regions
                .iter()
                .map(|r| crate::memmap::TypedRegion {
                    base: r.phys_start,
                    length: r.pages * 4096,
                    ty: crate::memmap::limine_type(r.ty, 6),
                })
                .collect(),
            regions: Vec::new(),
            raw: RawMemoryMap::default(),
        }
    }

    fn pages(&mut self, ty: u32, bytes: usize, align: usize) -> FakePages {
        let base = self.next.next_multiple_of(align as u64);
        let pages = bytes.max(1).div_ceil(PAGE_SIZE) as u64;
        self.next = base + pages * 4096;
        self.allocations.push(Allocation { base, pages, ty });
        FakePages {
            phys: base,
            data: alloc::vec![0; bytes],
            ram: Rc::clone(&self.ram),
        }
    }
}

impl PhysRead for Fake {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.acpi.iter().find_map(|(base, data)| {
            let off = usize::try_from(addr.checked_sub(*base)?).ok()?;
            data.get(off..off.checked_add(len)?)
        })
    }
}

impl Firmware for Fake {
    type Pages = FakePages;

    fn kind(&self) -> FirmwareKind {
        self.kind
    }

    fn say(&mut self, line: fmt::Arguments<'_>) {
        self.said.push(line.to_string());
    }

    fn cpu(&self) -> CpuFeatures {
        self.cpu
    }

    fn random_u64(&mut self) -> u64 {
        self.random
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FileError> {
        if let Some(e) = self.broken_files.get(path) {
            return Err(e.clone());
        }
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| FileError::NotFound(path.into()))
    }

    fn load_file(&mut self, path: &str) -> Result<FakePages, FileError> {
        let bytes = self.read_file(path)?;
        let mut pages = self.pages(efi_type::LOADER_DATA, bytes.len(), PAGE_SIZE);
        pages.data.copy_from_slice(&bytes);
        Ok(pages)
    }

    fn allocate(&mut self, memory: Memory, bytes: usize, align: usize) -> Option<FakePages> {
        if self.refuse == Some(memory) || bytes >= self.refuse_from_bytes {
            return None;
        }
        assert!(
            align.is_power_of_two() && align >= PAGE_SIZE,
            "align {align}"
        );
        let ty = match memory {
            Memory::KernelImage => KERNEL_MEMORY_TYPE,
            Memory::Reclaimable => efi_type::LOADER_DATA,
        };
        Some(self.pages(ty, bytes, align))
    }

    fn menu(&mut self, names: &[&str], default: usize, timeout: Option<u64>) -> usize {
        self.menus.push((
            names.iter().map(ToString::to_string).collect(),
            default,
            timeout,
        ));
        self.menu_answer
    }

    fn display_modes(&mut self) -> Vec<DisplayMode> {
        self.mode_listings += 1;
        self.modes.clone()
    }

    fn set_display_mode(&mut self, number: u32) -> Option<Display> {
        self.mode_switches.push(number);
        let m = self.modes.iter().find(|m| m.mode.number == number)?;
        Some(Display {
            base: self.framebuffer_base,
            width: u64::from(m.mode.width),
            height: u64::from(m.mode.height),
            pitch: m.pitch,
            format: m.mode.format?,
        })
    }

    fn tables(&self) -> FirmwareTables {
        self.tables
    }

    fn time(&self) -> Option<DateTime> {
        self.time
    }

    fn memory_map_extent(&self) -> (usize, u64) {
        self.extent.unwrap_or((16, RAM_END))
    }

    fn handoff_code(&self) -> (u64, u64) {
        HANDOFF_CODE
    }
}
