//! Answers to the kernel's requests, and the page tables and hand-off arguments.
//!
//! [`Plan::prepare`] runs while boot services are alive: it allocates every response, string,
//! array, the stack, the GDT and the page-table pool in LOADER_DATA memory (reported to the
//! kernel as bootloader-reclaimable), fills what does not depend on the final memory map and
//! stores the responses' HHDM addresses into the requests. [`Plan::finish`] runs after
//! `ExitBootServices`: it converts the final memory map, fills the memory-map responses, builds
//! the page tables from that map and returns the hand-off arguments.

use ::alloc::vec::Vec;
use core::mem::size_of;

use uefi::boot::MemoryType;
use uefi::mem::memory_map::{MemoryMap, MemoryMapOwned};
use uefi::table::cfg::ConfigTableEntry;

use loader::boot::{FinishError, LoadError};
use loader::elf::LoadedInfo;
use loader::memmap::{self, Overlay};
use loader::paging::{Cache, MapFlags, Mapping, PageTableBuilder, PhysMemory};
use loader::protocol::{self as p, Feature, FoundRequest, Negotiated, Scan};
use loader::{acpi, clock};

use super::display::Display;
use super::files::PageFile;
use super::handoff::{self, HandoffArgs};
use super::{HHDM_OFFSET, LOADER_NAME, LOADER_VERSION};
use crate::say;

/// Physical memory as the firmware maps it: identity.
#[derive(Debug)]
pub struct IdentityMemory;

impl acpi::PhysRead for IdentityMemory {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if addr == 0 || addr.checked_add(len as u64)? > 1 << 46 {
            return None;
        }
        // SAFETY: while boot services run, the firmware identity-maps RAM and the ACPI tables;
        // the address comes from the RSDP chain and is only read.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// The RSDP's physical address from the firmware's configuration table (ACPI 2.0 preferred).
pub fn find_rsdp() -> Option<u64> {
    uefi::system::with_config_table(|tables| {
        let find = |guid| {
            tables
                .iter()
                .find(|t| t.guid == guid)
                .map(|t| t.address as u64)
        };
        find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID))
    })
}

fn smbios() -> (u64, u64) {
    uefi::system::with_config_table(|tables| {
        let find = |guid| {
            tables
                .iter()
                .find(|t| t.guid == guid)
                .map_or(0, |t| t.address as u64)
        };
        (
            find(ConfigTableEntry::SMBIOS_GUID),
            find(ConfigTableEntry::SMBIOS3_GUID),
        )
    })
}

/// Bump allocator over LOADER_DATA pages for response structures and strings.
#[derive(Debug)]
struct Arena {
    base: u64,
    size: u64,
    used: u64,
}

impl Arena {
    fn new(bytes: usize) -> Result<Self, LoadError> {
        let pages = bytes.div_ceil(4096);
        let base = super::alloc::zeroed_pages(MemoryType::LOADER_DATA, pages)
            .map_err(|_| LoadError::OutOfMemory("the responses"))?;
        Ok(Self {
            base: base.as_ptr() as u64,
            size: pages as u64 * 4096,
            used: 0,
        })
    }

    /// Reserves `len` zeroed bytes aligned to `align`; returns the physical address.
    fn bytes(&mut self, len: usize, align: usize) -> Result<u64, LoadError> {
        let start = (self.base + self.used).next_multiple_of(align as u64);
        let end = start + len as u64;
        if end > self.base + self.size {
            return Err(LoadError::OutOfMemory("the responses"));
        }
        self.used = end - self.base;
        Ok(start)
    }

    /// Stores `value` and returns its physical address.
    fn put<T: Copy>(&mut self, value: T) -> Result<u64, LoadError> {
        let at = self.bytes(size_of::<T>(), align_of::<T>().max(8))?;
        // SAFETY: `at` is inside the arena, aligned for `T`, and not handed out before.
        unsafe { core::ptr::write(at as *mut T, value) };
        Ok(at)
    }

    /// Stores `s` NUL-terminated (non-ASCII bytes become `?`) and returns its physical address.
    fn string(&mut self, s: &str) -> Result<u64, LoadError> {
        let at = self.bytes(s.len() + 1, 1)?;
        for (i, b) in s.bytes().enumerate() {
            let b = if b.is_ascii() { b } else { b'?' };
            // SAFETY: inside the range just reserved.
            unsafe { core::ptr::write((at + i as u64) as *mut u8, b) };
        }
        Ok(at)
    }
}

const fn hhdm(phys: u64) -> u64 {
    phys + HHDM_OFFSET
}

/// Page-table pages reserved before `ExitBootServices`.
#[derive(Debug)]
struct Pool {
    next: u64,
    end: u64,
}

impl PhysMemory for Pool {
    fn alloc_zeroed_page(&mut self) -> Option<u64> {
        if self.next >= self.end {
            return None;
        }
        let page = self.next;
        self.next += 4096;
        Some(page)
    }

    fn read_u64(&self, phys: u64) -> u64 {
        // SAFETY: only called for page-table pages from this pool, identity mapped and 8-aligned.
        unsafe { core::ptr::read_volatile(phys as *const u64) }
    }

    fn write_u64(&mut self, phys: u64, value: u64) {
        // SAFETY: as for `read_u64`.
        unsafe { core::ptr::write_volatile(phys as *mut u64, value) }
    }
}

/// What the requests need from the rest of the loader.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The request scan.
    pub scan: &'a Scan,
    /// The base revision in use.
    pub negotiated: Negotiated,
    /// Physical address of the kernel block.
    pub block_phys: u64,
    /// Load result.
    pub loaded: &'a LoadedInfo,
    /// The kernel file as read.
    pub kernel_file: &'a PageFile,
    /// Its path on the volume.
    pub kernel_path: &'a str,
    /// The entry's command line.
    pub cmdline: &'a str,
    /// The framebuffer, if any.
    pub display: Option<&'a Display>,
    /// RSDP physical address, if any.
    pub rsdp: Option<u64>,
    /// CPU has NX.
    pub nx: bool,
    /// CPU has 1 GiB pages.
    pub huge_1g: bool,
    /// Print what is done.
    pub verbose: bool,
}

/// Everything prepared before `ExitBootServices`.
#[derive(Debug)]
pub struct Plan {
    revision: u64,
    block_phys: u64,
    image_start: u64,
    image_size: u64,
    segments: Vec<loader::elf::LoadedSegment>,
    entry: u64,
    nx: bool,
    huge_1g: bool,
    arena: Arena,
    memmap_request: Option<FoundRequest>,
    efi_memmap_request: Option<FoundRequest>,
    memmap_entries: u64,
    memmap_pointers: u64,
    stack_top: u64,
    gdtr: u64,
    framebuffer: Option<(u64, u64)>,
    pool: Option<Pool>,
    /// Pending writes of response pointers into the kernel image: (offset, response phys).
    answers: Vec<(usize, u64)>,
}

/// Largest number of memory-map entries the response can hold.
const MEMMAP_CAPACITY: usize = memmap::MAX_ENTRIES;

impl Plan {
    /// Allocates and fills every response that does not depend on the final memory map.
    pub fn prepare(inp: Inputs<'_>) -> Result<Self, LoadError> {
        let rev = inp.negotiated.revision;
        let modes = inp.display.map_or(0, |d| d.modes.len());
        let mut arena = Arena::new(64 * 1024 + modes * 64 + MEMMAP_CAPACITY * 32)?;
        let mut answers = Vec::new();
        let mut entry = inp.loaded.entry;
        let mut stack_size: u64 = 64 * 1024;
        let field = |req: &FoundRequest, off: usize| -> u64 {
            let at = inp.block_phys + req.field_offset(off) as u64;
            // SAFETY: the scan found this request inside the loaded block, and its 48-byte
            // header plus the feature fields read here lie within the block's file-backed part.
            unsafe { core::ptr::read_unaligned(at as *const u64) }
        };
        let mut memmap_request = None;
        let mut efi_memmap_request = None;
        let mut framebuffer = None;

        for req in &inp.scan.requests {
            let Some(feature) = req.feature() else {
                if inp.verbose {
                    say!("loader: unknown request {:#x?} left unanswered", req.id);
                }
                continue;
            };
            let response = match feature {
                Feature::BootloaderInfo => {
                    let name = hhdm(arena.string(LOADER_NAME)?);
                    let version = hhdm(arena.string(LOADER_VERSION)?);
                    Some(arena.put(p::BootloaderInfoResponse {
                        revision: 0,
                        name,
                        version,
                    })?)
                }
                Feature::ExecutableCmdline => {
                    let cmdline = hhdm(arena.string(inp.cmdline)?);
                    Some(arena.put(p::ExecutableCmdlineResponse {
                        revision: 0,
                        cmdline,
                    })?)
                }
                Feature::FirmwareType => Some(arena.put(p::FirmwareTypeResponse {
                    revision: 0,
                    firmware_type: p::FIRMWARE_TYPE_UEFI64,
                })?),
                Feature::StackSize => {
                    stack_size = stack_size.max(field(req, 48));
                    Some(arena.put(p::StackSizeResponse { revision: 0 })?)
                }
                Feature::Hhdm => Some(arena.put(p::HhdmResponse {
                    revision: 0,
                    offset: HHDM_OFFSET,
                })?),
                Feature::Framebuffer => match inp.display {
                    Some(d) => {
                        framebuffer = Some((d.base, d.pitch * d.height));
                        Some(framebuffer_response(&mut arena, d)?)
                    }
                    None => None,
                },
                Feature::PagingMode => {
                    let min_mode = if req.revision >= 1 {
                        field(req, 64)
                    } else {
                        p::PAGING_MODE_X86_64_4LVL
                    };
                    if min_mode > p::PAGING_MODE_X86_64_4LVL {
                        return Err(LoadError::FiveLevelKernel { min_mode });
                    }
                    Some(arena.put(p::PagingModeResponse {
                        revision: 0,
                        mode: p::PAGING_MODE_X86_64_4LVL,
                    })?)
                }
                Feature::Memmap => {
                    memmap_request = Some(*req);
                    None
                }
                Feature::EfiMemmap => {
                    efi_memmap_request = Some(*req);
                    None
                }
                Feature::EntryPoint => {
                    let requested = field(req, 48);
                    let inside_code = inp.loaded.segments.iter().any(|s| {
                        s.flags.executable()
                            && requested >= s.vaddr
                            && requested < s.vaddr + s.memsz
                    });
                    if !inside_code {
                        return Err(LoadError::EntryPointOutsideCode { requested });
                    }
                    entry = requested;
                    Some(arena.put(p::EntryPointResponse { revision: 0 })?)
                }
                Feature::ExecutableFile => {
                    let path = hhdm(arena.string(inp.kernel_path)?);
                    let cmdline = hhdm(arena.string(inp.cmdline)?);
                    let file = arena.put(p::File {
                        revision: 0,
                        address: hhdm(inp.kernel_file.addr),
                        size: inp.kernel_file.size as u64,
                        path,
                        cmdline,
                        media_type: p::MEDIA_TYPE_GENERIC,
                        ..p::File::default()
                    })?;
                    Some(arena.put(p::ExecutableFileResponse {
                        revision: 0,
                        executable_file: hhdm(file),
                    })?)
                }
                Feature::Rsdp => match inp.rsdp {
                    Some(phys) => {
                        let address = if p::rsdp_pointer_physical(rev) {
                            phys
                        } else {
                            hhdm(phys)
                        };
                        Some(arena.put(p::RsdpResponse {
                            revision: 0,
                            address,
                        })?)
                    }
                    None => None,
                },
                Feature::Smbios => match smbios() {
                    (0, 0) => None,
                    (e32, e64) => {
                        let conv = |a: u64| {
                            if a == 0 || p::smbios_pointers_physical(rev) {
                                a
                            } else {
                                hhdm(a)
                            }
                        };
                        Some(arena.put(p::SmbiosResponse {
                            revision: 0,
                            entry_32: conv(e32),
                            entry_64: conv(e64),
                        })?)
                    }
                },
                Feature::EfiSystemTable => uefi::table::system_table_raw()
                    .map(|st| st.as_ptr() as u64)
                    .map(|phys| {
                        let address = if p::efi_system_table_pointer_physical(rev) {
                            phys
                        } else {
                            hhdm(phys)
                        };
                        arena.put(p::EfiSystemTableResponse {
                            revision: 0,
                            address,
                        })
                    })
                    .transpose()?,
                Feature::DateAtBoot => match uefi::runtime::get_time() {
                    Ok(t) => {
                        let dt = clock::DateTime {
                            year: t.year(),
                            month: t.month(),
                            day: t.day(),
                            hour: t.hour(),
                            minute: t.minute(),
                            second: t.second(),
                            utc_offset_minutes: t.time_zone(),
                        };
                        clock::unix_seconds(&dt)
                            .map(|timestamp| {
                                arena.put(p::DateAtBootResponse {
                                    revision: 0,
                                    timestamp,
                                })
                            })
                            .transpose()?
                    }
                    Err(_) => None,
                },
                Feature::ExecutableAddress => {
                    let l = inp.loaded;
                    let physical_base = inp.block_phys + (l.virtual_base - l.image_start);
                    Some(arena.put(p::ExecutableAddressResponse {
                        revision: 0,
                        physical_base,
                        virtual_base: l.virtual_base,
                    })?)
                }
                Feature::Mp => {
                    say!(
                        "loader: warning: the MP request is not supported by the bundled loader; other CPUs stay halted"
                    );
                    None
                }
                other => {
                    if inp.verbose {
                        say!("loader: request {other:?} is not supported; left unanswered");
                    }
                    None
                }
            };
            if let Some(phys) = response {
                answers.push((req.response_offset(), hhdm(phys)));
            }
        }

        // The memory-map response and its arrays, filled after ExitBootServices.
        let memmap_entries = arena.bytes(MEMMAP_CAPACITY * size_of::<p::MemmapEntry>(), 8)?;
        let memmap_pointers = arena.bytes(MEMMAP_CAPACITY * 8, 8)?;

        // Stack (64 KiB minimum, as Limine), 16-byte aligned top.
        let stack_pages = usize::try_from(stack_size.div_ceil(4096))
            .map_err(|_| LoadError::OutOfMemory("the kernel stack"))?;
        let stack = super::alloc::zeroed_pages(MemoryType::LOADER_DATA, stack_pages)
            .map_err(|_| LoadError::OutOfMemory("the kernel stack"))?;
        let stack_top = stack.as_ptr() as u64 + stack_pages as u64 * 4096;

        // The protocol GDT and a GDTR image pointing at its HHDM address.
        let gdt = arena.put(handoff::GDT)?;
        let gdtr = arena.bytes(10, 8)?;
        // SAFETY: 10 bytes just reserved in the arena.
        unsafe {
            core::ptr::write_unaligned(gdtr as *mut u16, (size_of::<[u64; 7]>() - 1) as u16);
            core::ptr::write_unaligned((gdtr + 2) as *mut u64, hhdm(gdt));
        }

        Ok(Self {
            revision: rev,
            block_phys: inp.block_phys,
            image_start: inp.loaded.image_start,
            image_size: inp.loaded.image_size,
            segments: inp.loaded.segments.clone(),
            entry,
            nx: inp.nx,
            huge_1g: inp.huge_1g,
            arena,
            memmap_request,
            efi_memmap_request,
            memmap_entries,
            memmap_pointers,
            stack_top,
            gdtr,
            framebuffer,
            pool: None,
            answers,
        })
    }

    /// Reserves page-table pages for a machine whose memory map has about `regions` entries
    /// and ends at physical address `highest`.
    pub fn reserve_page_tables(&mut self, regions: usize, highest: u64) -> Result<(), LoadError> {
        // Each HHDM region may need a PDPT, a PD and a PT at both of its ends; without 1 GiB
        // pages every GiB of the HHDM needs its own PD; the kernel and the trampoline need a
        // handful more.
        let kernel = [Mapping {
            virt: self.image_start,
            phys: self.block_phys,
            len: self.image_size,
        }];
        let per_gib = if self.huge_1g {
            0
        } else {
            highest.div_ceil(1 << 30) + 1
        };
        let pages = (regions as u64 + 16) * 6
            + per_gib
            + loader::paging::table_pages_upper_bound(&kernel)
            + 16;
        let pages = usize::try_from(pages).map_err(|_| LoadError::OutOfMemory("page tables"))?;
        let base = super::alloc::zeroed_pages(MemoryType::LOADER_DATA, pages)
            .map_err(|_| LoadError::OutOfMemory("page tables"))?;
        let start = base.as_ptr() as u64;
        self.pool = Some(Pool {
            next: start,
            end: start + pages as u64 * 4096,
        });
        Ok(())
    }

    /// After `ExitBootServices`: memory map, page tables, hand-off arguments.
    pub fn finish(
        &mut self,
        regions: &[memmap::UefiRegion],
        final_map: &MemoryMapOwned,
        block: &mut [u8],
    ) -> Result<HandoffArgs, FinishError> {
        let rev = self.revision;
        let mut overlays = Vec::new();
        overlays.push(Overlay::executable(self.block_phys, self.image_size));
        if let Some((base, len)) = self.framebuffer {
            overlays.push(Overlay::framebuffer(base, len));
        }
        let entries = memmap::build(regions, &overlays, rev).map_err(FinishError::Memmap)?;
        memmap::validate(&entries, rev).map_err(FinishError::MemmapSelfCheck)?;
        if entries.len() > MEMMAP_CAPACITY {
            return Err(FinishError::MemmapTooLarge {
                entries: entries.len(),
                capacity: MEMMAP_CAPACITY,
            });
        }

        if let Some(req) = self.memmap_request {
            for (i, e) in entries.iter().enumerate() {
                let at = self.memmap_entries + (i * size_of::<p::MemmapEntry>()) as u64;
                // SAFETY: both arrays were reserved in the arena for MEMMAP_CAPACITY entries.
                unsafe {
                    core::ptr::write(
                        at as *mut p::MemmapEntry,
                        p::MemmapEntry {
                            base: e.base,
                            length: e.length,
                            ty: e.ty,
                        },
                    );
                    core::ptr::write((self.memmap_pointers + i as u64 * 8) as *mut u64, hhdm(at));
                }
            }
            let resp = self
                .arena
                .put(p::MemmapResponse {
                    revision: 0,
                    entry_count: entries.len() as u64,
                    entries: hhdm(self.memmap_pointers),
                })
                .map_err(|_| FinishError::ResponsesFull)?;
            self.answers.push((req.response_offset(), hhdm(resp)));
        }
        if let Some(req) = self.efi_memmap_request {
            let meta = final_map.meta();
            let resp = self
                .arena
                .put(p::EfiMemmapResponse {
                    revision: 0,
                    memmap: hhdm(final_map.buffer().as_ptr() as u64),
                    memmap_size: meta.map_size as u64,
                    desc_size: meta.desc_size as u64,
                    desc_version: u64::from(meta.desc_version),
                })
                .map_err(|_| FinishError::ResponsesFull)?;
            self.answers.push((req.response_offset(), hhdm(resp)));
        }

        // Every answer is in place: publish the response pointers.
        for (offset, value) in &self.answers {
            p::write_u64(block, *offset, *value).map_err(FinishError::ResponsePointer)?;
        }

        let pool = self.pool.take().unwrap_or(Pool { next: 0, end: 0 });
        let mut tables = PageTableBuilder::new(pool, self.nx)
            .map(|b| b.with_1g_pages(self.huge_1g))
            .map_err(FinishError::PageTables)?;
        for (start, end, cache) in hhdm_ranges(&entries, rev) {
            let flags = MapFlags {
                cache,
                ..MapFlags::HHDM
            };
            tables
                .map(hhdm(start), start, end - start, flags)
                .map_err(|error| FinishError::Hhdm { start, end, error })?;
        }
        for s in &self.segments {
            let phys = self.block_phys + (s.page_start - self.image_start);
            let flags = MapFlags::kernel_segment(s.flags.writable(), s.flags.executable());
            tables
                .map(s.page_start, phys, s.page_end - s.page_start, flags)
                .map_err(|error| FinishError::KernelSegment {
                    at: s.page_start,
                    error,
                })?;
        }
        let (tramp, tramp_len) = handoff::trampoline_span();
        tables
            .map(
                tramp,
                tramp,
                tramp_len,
                MapFlags {
                    cache: Cache::WriteBack,
                    ..MapFlags::HHDM
                },
            )
            .map_err(FinishError::Trampoline)?;
        let pml4 = tables.pml4_phys();
        let efer = (1 << 8) | (1 << 10) | if self.nx { 1 << 11 } else { 0 };
        Ok(HandoffArgs {
            cr3: pml4,
            hhdm: HHDM_OFFSET,
            gdtr: hhdm(self.gdtr),
            stack_top: hhdm(self.stack_top),
            entry: self.entry,
            pml4: hhdm(pml4),
            efer,
        })
    }
}

/// The HHDM ranges for `entries` under `revision`: page-rounded, merged, the framebuffer's
/// range write-combining and everything else write-back. Ranges never overlap.
fn hhdm_ranges(entries: &[p::MemmapEntry], revision: u64) -> Vec<(u64, u64, Cache)> {
    let mut ranges: Vec<(u64, u64, Cache)> = entries
        .iter()
        .filter(|e| p::hhdm_covers(e.ty, revision) && e.length > 0)
        .map(|e| {
            let start = e.base & !0xfff;
            let end = e.base.saturating_add(e.length).next_multiple_of(4096);
            let cache = if e.ty == p::MEMMAP_FRAMEBUFFER {
                Cache::WriteCombining
            } else {
                Cache::WriteBack
            };
            (start, end, cache)
        })
        .collect();
    ranges.sort_by_key(|r| r.0);
    let mut out: Vec<(u64, u64, Cache)> = Vec::with_capacity(ranges.len());
    for (start, end, cache) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 && cache == last.2 => last.1 = last.1.max(end),
            Some(last) if start < last.1 => {
                // Different cache types meeting inside a page: the framebuffer keeps its pages.
                if cache == Cache::WriteCombining {
                    last.1 = start;
                    out.push((start, end, cache));
                } else if end > last.1 {
                    let s = last.1;
                    out.push((s, end, cache));
                }
            }
            _ => out.push((start, end, cache)),
        }
    }
    out.retain(|r| r.1 > r.0);
    out
}

fn framebuffer_response(arena: &mut Arena, d: &Display) -> Result<u64, LoadError> {
    let mut mode_ptrs = Vec::with_capacity(d.modes.len());
    for (m, pitch) in &d.modes {
        let Some(f) = m.format else { continue };
        let mode = arena.put(p::VideoMode {
            pitch: *pitch,
            width: u64::from(m.width),
            height: u64::from(m.height),
            bpp: f.bpp,
            memory_model: p::FRAMEBUFFER_RGB,
            red_mask_size: f.red.0,
            red_mask_shift: f.red.1,
            green_mask_size: f.green.0,
            green_mask_shift: f.green.1,
            blue_mask_size: f.blue.0,
            blue_mask_shift: f.blue.1,
            padding: [0; 7],
        })?;
        mode_ptrs.push(hhdm(mode));
    }
    let modes = arena.bytes(mode_ptrs.len().max(1) * 8, 8)?;
    for (i, ptr) in mode_ptrs.iter().enumerate() {
        // SAFETY: `modes` has room for every pointer.
        unsafe { core::ptr::write((modes + i as u64 * 8) as *mut u64, *ptr) };
    }
    let fb = arena.put(p::Framebuffer {
        address: hhdm(d.base),
        width: d.width,
        height: d.height,
        pitch: d.pitch,
        bpp: d.format.bpp,
        memory_model: p::FRAMEBUFFER_RGB,
        red_mask_size: d.format.red.0,
        red_mask_shift: d.format.red.1,
        green_mask_size: d.format.green.0,
        green_mask_shift: d.format.green.1,
        blue_mask_size: d.format.blue.0,
        blue_mask_shift: d.format.blue.1,
        unused: [0; 7],
        edid_size: 0,
        edid: 0,
        mode_count: mode_ptrs.len() as u64,
        modes: hhdm(modes),
    })?;
    let list = arena.put(hhdm(fb))?;
    arena.put(p::FramebufferResponse {
        revision: 1,
        framebuffer_count: 1,
        framebuffers: hhdm(list),
    })
}
