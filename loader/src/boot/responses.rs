//! Answers to the kernel's requests (PROTOCOL.md, "Feature List"), made before
//! `ExitBootServices`.
//!
//! Every response, string and array goes into one [`Arena`] of bootloader-reclaimable pages;
//! the pointers the kernel follows are HHDM addresses. The memory-map responses are only
//! reserved here and filled by [`super::Prepared::finish`], as are the response pointers in the
//! requests themselves, so the kernel image only changes once every answer is complete.

use alloc::vec::Vec;
use core::mem::size_of;

use super::{
    CpuFeatures, Display, DisplayMode, Firmware, FirmwareTables, GDT, HHDM_OFFSET, LOADER_NAME,
    LOADER_VERSION, LoadError, MIN_STACK_SIZE, Memory, PAGE_SIZE, Pages, Prepared, hhdm,
};
use crate::acpi::IoApic;
use crate::elf::LoadedInfo;
use crate::paging::{self, Mapping};
use crate::protocol::{self as p, Encode, Feature, FoundRequest, Scan, request_field};
use crate::{clock, memmap};

/// Largest number of memory-map entries the response can hold.
pub(super) const MEMMAP_CAPACITY: usize = memmap::MAX_ENTRIES;

/// The arena ran out of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full;

/// Bump allocator over bootloader-reclaimable pages for response structures and strings.
#[derive(Debug)]
pub(super) struct Arena<P: Pages> {
    pages: P,
    used: usize,
}

impl<P: Pages> Arena<P> {
    /// Reserves `len` zeroed bytes aligned to `align`; returns their physical address.
    pub(super) fn bytes(&mut self, len: usize, align: usize) -> Result<u64, Full> {
        let start = self.used.checked_next_multiple_of(align).ok_or(Full)?;
        let end = start.checked_add(len).ok_or(Full)?;
        if end > self.pages.bytes().len() {
            return Err(Full);
        }
        self.used = end;
        Ok(self.pages.phys() + start as u64)
    }

    /// The bytes at physical address `at` onwards (inside the arena).
    fn at(&mut self, at: u64) -> &mut [u8] {
        let offset = usize::try_from(at.wrapping_sub(self.pages.phys())).unwrap_or(usize::MAX);
        self.pages.bytes_mut().get_mut(offset..).unwrap_or_default()
    }

    /// Stores `value` (8-byte aligned) and returns its physical address.
    pub(super) fn put<T: Encode>(&mut self, value: &T) -> Result<u64, Full> {
        let at = self.bytes(size_of::<T>(), align_of::<T>().max(8))?;
        value.encode(self.at(at));
        Ok(at)
    }

    /// Writes `value` at physical address `at`, inside space reserved before.
    pub(super) fn write_u64(&mut self, at: u64, value: u64) {
        if let Some(dst) = self.at(at).get_mut(..8) {
            dst.copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Writes `value` at physical address `at`, inside space reserved before.
    pub(super) fn write<T: Encode>(&mut self, at: u64, value: &T) {
        value.encode(self.at(at));
    }

    /// Stores `s` NUL-terminated (non-ASCII bytes become `?`) and returns its physical address.
    fn string(&mut self, s: &str) -> Result<u64, Full> {
        let at = self.bytes(s.len() + 1, 1)?;
        for (dst, b) in self.at(at).iter_mut().zip(s.bytes()) {
            *dst = if b.is_ascii() { b } else { b'?' };
        }
        Ok(at)
    }
}

impl From<Full> for LoadError {
    fn from(_: Full) -> Self {
        Self::OutOfMemory("the responses")
    }
}

/// What the requests need from the rest of the boot sequence.
pub(super) struct Inputs<'a, P: Pages> {
    pub(super) scan: &'a Scan,
    pub(super) revision: u64,
    pub(super) kernel: P,
    pub(super) loaded: &'a LoadedInfo,
    pub(super) file: P,
    pub(super) kernel_path: &'a str,
    pub(super) cmdline: &'a str,
    pub(super) display: Option<(Display, Vec<DisplayMode>)>,
    pub(super) tables: FirmwareTables,
    pub(super) cpu: CpuFeatures,
    pub(super) io_apics: Vec<IoApic>,
    pub(super) verbose: bool,
}

/// Answers every request that does not depend on the final memory map, allocates the stack,
/// the GDT and the page-table pool, and returns the [`Prepared`] boot.
pub(super) fn answer<F: Firmware>(
    fw: &mut F,
    inp: Inputs<'_, F::Pages>,
) -> Result<Prepared<F::Pages>, LoadError> {
    let rev = inp.revision;
    let modes = inp.display.as_ref().map_or(0, |(_, m)| m.len());
    let arena_size = 64 * 1024 + modes * 64 + MEMMAP_CAPACITY * 32;
    let pages = fw
        .allocate(Memory::Reclaimable, arena_size, PAGE_SIZE)
        .ok_or(LoadError::OutOfMemory("the responses"))?;
    let mut arena = Arena { pages, used: 0 };
    let mut answers = Vec::new();
    let mut entry = inp.loaded.entry;
    let mut stack_size = MIN_STACK_SIZE;
    let kernel_bytes = inp.kernel.bytes();
    let field = |req: &FoundRequest, at: usize| -> Result<u64, LoadError> {
        let offset = req.field_offset(at);
        p::read_u64(kernel_bytes, offset).ok_or(LoadError::RequestOutsideImage { offset })
    };
    let mut memmap_request = None;
    let mut efi_memmap_request = None;
    let mut framebuffer = None;

    for req in &inp.scan.requests {
        let Some(feature) = req.feature() else {
            if inp.verbose {
                fw.say(format_args!(
                    "loader: unknown request {:#x?} left unanswered",
                    req.id
                ));
            }
            continue;
        };
        let response = match feature {
            Feature::BootloaderInfo => {
                let name = hhdm(arena.string(LOADER_NAME)?);
                let version = hhdm(arena.string(LOADER_VERSION)?);
                Some(arena.put(&p::BootloaderInfoResponse {
                    revision: 0,
                    name,
                    version,
                })?)
            }
            Feature::ExecutableCmdline => {
                let cmdline = hhdm(arena.string(inp.cmdline)?);
                Some(arena.put(&p::ExecutableCmdlineResponse {
                    revision: 0,
                    cmdline,
                })?)
            }
            Feature::FirmwareType => Some(arena.put(&p::FirmwareTypeResponse {
                revision: 0,
                firmware_type: fw.kind().response_value(),
            })?),
            Feature::StackSize => {
                stack_size = stack_size.max(field(req, request_field::STACK_SIZE)?);
                Some(arena.put(&p::StackSizeResponse { revision: 0 })?)
            }
            Feature::Hhdm => Some(arena.put(&p::HhdmResponse {
                revision: 0,
                offset: HHDM_OFFSET,
            })?),
            Feature::Framebuffer => match &inp.display {
                Some((d, modes)) => {
                    framebuffer = Some((d.base, d.pitch * d.height));
                    Some(framebuffer_response(&mut arena, d, modes)?)
                }
                None => None,
            },
            Feature::PagingMode => {
                let min_mode = if req.revision >= 1 {
                    field(req, request_field::PAGING_MODE_MIN_MODE)?
                } else {
                    p::PAGING_MODE_X86_64_4LVL
                };
                if min_mode > p::PAGING_MODE_X86_64_4LVL {
                    return Err(LoadError::FiveLevelKernel { min_mode });
                }
                Some(arena.put(&p::PagingModeResponse {
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
                let requested = field(req, request_field::ENTRY_POINT_ENTRY)?;
                let inside_code = inp.loaded.segments.iter().any(|s| {
                    s.flags.executable() && requested >= s.vaddr && requested - s.vaddr < s.memsz
                });
                if !inside_code {
                    return Err(LoadError::EntryPointOutsideCode { requested });
                }
                entry = requested;
                Some(arena.put(&p::EntryPointResponse { revision: 0 })?)
            }
            Feature::ExecutableFile => {
                let path = hhdm(arena.string(inp.kernel_path)?);
                let cmdline = hhdm(arena.string(inp.cmdline)?);
                let file = arena.put(&p::File {
                    revision: 0,
                    address: hhdm(inp.file.phys()),
                    size: inp.file.bytes().len() as u64,
                    path,
                    cmdline,
                    media_type: p::MEDIA_TYPE_GENERIC,
                    ..p::File::default()
                })?;
                Some(arena.put(&p::ExecutableFileResponse {
                    revision: 0,
                    executable_file: hhdm(file),
                })?)
            }
            Feature::Rsdp => match inp.tables.rsdp {
                Some(phys) => {
                    let address = if p::rsdp_pointer_physical(rev) {
                        phys
                    } else {
                        hhdm(phys)
                    };
                    Some(arena.put(&p::RsdpResponse {
                        revision: 0,
                        address,
                    })?)
                }
                None => None,
            },
            Feature::Smbios => match (inp.tables.smbios_32, inp.tables.smbios_64) {
                (None, None) => None,
                (e32, e64) => {
                    let conv = |a: Option<u64>| match a {
                        None => 0,
                        Some(a) if p::smbios_pointers_physical(rev) => a,
                        Some(a) => hhdm(a),
                    };
                    Some(arena.put(&p::SmbiosResponse {
                        revision: 0,
                        entry_32: conv(e32),
                        entry_64: conv(e64),
                    })?)
                }
            },
            Feature::EfiSystemTable => match inp.tables.system_table {
                Some(phys) => {
                    let address = if p::efi_system_table_pointer_physical(rev) {
                        phys
                    } else {
                        hhdm(phys)
                    };
                    Some(arena.put(&p::EfiSystemTableResponse {
                        revision: 0,
                        address,
                    })?)
                }
                None => None,
            },
            Feature::DateAtBoot => match fw.time().and_then(|t| clock::unix_seconds(&t)) {
                Some(timestamp) => Some(arena.put(&p::DateAtBootResponse {
                    revision: 0,
                    timestamp,
                })?),
                None => None,
            },
            Feature::ExecutableAddress => {
                let l = inp.loaded;
                let physical_base = inp.kernel.phys() + (l.virtual_base - l.image_start);
                Some(arena.put(&p::ExecutableAddressResponse {
                    revision: 0,
                    physical_base,
                    virtual_base: l.virtual_base,
                })?)
            }
            Feature::Mp => {
                fw.say(format_args!(
                    "loader: warning: the MP request is not supported by the bundled loader; \
                     other CPUs stay halted"
                ));
                None
            }
            other => {
                if inp.verbose {
                    fw.say(format_args!(
                        "loader: request {other:?} is not supported; left unanswered"
                    ));
                }
                None
            }
        };
        if let Some(phys) = response {
            answers.push((req.response_offset(), hhdm(phys)));
        }
    }

    // The memory-map response's arrays, filled after ExitBootServices.
    let memmap_entries = arena.bytes(MEMMAP_CAPACITY * size_of::<p::MemmapEntry>(), 8)?;
    let memmap_pointers = arena.bytes(MEMMAP_CAPACITY * 8, 8)?;

    // The stack: its top is page aligned, so 16-byte aligned as the protocol asks.
    let oom_stack = LoadError::OutOfMemory("the kernel stack");
    let stack_bytes = usize::try_from(stack_size.next_multiple_of(PAGE_SIZE as u64))
        .map_err(|_| oom_stack.clone())?;
    let stack = fw
        .allocate(Memory::Reclaimable, stack_bytes, PAGE_SIZE)
        .ok_or(oom_stack)?;

    // The protocol GDT and a GDTR image (limit, HHDM base) pointing at it.
    let gdt = arena.bytes(size_of::<[u64; 7]>(), 8)?;
    for (i, descriptor) in GDT.iter().enumerate() {
        arena.write_u64(gdt + i as u64 * 8, *descriptor);
    }
    let gdtr = arena.bytes(16, 8)?;
    let limit = (size_of::<[u64; 7]>() - 1) as u64;
    // Bytes 0-1: the limit, bytes 2-9: the base; written as two little-endian words.
    arena.write_u64(gdtr, limit | (hhdm(gdt) << 16));
    arena.write_u64(gdtr + 8, hhdm(gdt) >> 48);

    let pool = reserve_page_tables(fw, &inp)?;
    let segments = inp.loaded.segments.clone();
    Ok(Prepared {
        revision: rev,
        io_apics: inp.io_apics,
        pat: inp.cpu.pat,
        nx: inp.cpu.nx,
        huge_1g: inp.cpu.huge_1g,
        kernel: inp.kernel,
        image_start: inp.loaded.image_start,
        image_size: inp.loaded.image_size,
        segments,
        entry,
        arena,
        memmap_request,
        efi_memmap_request,
        memmap_entries,
        memmap_pointers,
        stack,
        gdtr,
        framebuffer,
        pool,
        handoff_code: fw.handoff_code(),
        answers,
        _file: inp.file,
    })
}

/// Reserves the page-table pool for the machine's memory map as the firmware describes it now
/// (the final map after `ExitBootServices` has about as many regions).
fn reserve_page_tables<F: Firmware>(
    fw: &mut F,
    inp: &Inputs<'_, F::Pages>,
) -> Result<F::Pages, LoadError> {
    let (regions, highest) = fw.memory_map_extent();
    // Each HHDM region may need a PDPT, a PD and a PT at both of its ends; without 1 GiB pages
    // every GiB of the HHDM needs its own PD; the kernel and the trampoline need a handful more.
    let kernel = [Mapping {
        virt: inp.loaded.image_start,
        phys: inp.kernel.phys(),
        len: inp.loaded.image_size,
    }];
    let per_gib = if inp.cpu.huge_1g {
        0
    } else {
        highest.div_ceil(1 << 30) + 1
    };
    let pages = (regions as u64 + 16) * 6 + per_gib + paging::table_pages_upper_bound(&kernel) + 16;
    let oom = LoadError::OutOfMemory("page tables");
    let bytes = usize::try_from(pages)
        .ok()
        .and_then(|p| p.checked_mul(PAGE_SIZE))
        .ok_or(oom.clone())?;
    fw.allocate(Memory::Reclaimable, bytes, PAGE_SIZE)
        .ok_or(oom)
}

/// The Framebuffer response (revision 1: one framebuffer with its mode list).
fn framebuffer_response<P: Pages>(
    arena: &mut Arena<P>,
    d: &Display,
    modes: &[DisplayMode],
) -> Result<u64, Full> {
    let mut mode_ptrs = Vec::with_capacity(modes.len());
    for m in modes {
        let Some(f) = m.mode.format else { continue };
        let mode = arena.put(&p::VideoMode {
            pitch: m.pitch,
            width: u64::from(m.mode.width),
            height: u64::from(m.mode.height),
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
    let list = arena.bytes(mode_ptrs.len().max(1) * 8, 8)?;
    for (i, ptr) in mode_ptrs.iter().enumerate() {
        arena.write_u64(list + i as u64 * 8, *ptr);
    }
    let fb = arena.put(&p::Framebuffer {
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
        modes: hhdm(list),
    })?;
    let framebuffers = arena.bytes(8, 8)?;
    arena.write_u64(framebuffers, hhdm(fb));
    arena.put(&p::FramebufferResponse {
        revision: 1,
        framebuffer_count: 1,
        framebuffers: hhdm(framebuffers),
    })
}
