//! Limine requests and the copy of their responses into [`BootInfo`].
//!
//! The statics sit in `.requests`, between the start and end markers, which `linker.ld` keeps
//! (`KEEP`) at the start of the writable, file-backed segment, so any loader's scan finds them.
//! The kernel asks for base revision 6 and runs under any revision from 2 up: [`collect`]
//! records the revision actually used and interprets the revision-dependent pointers with it.
//!
//! The `limine` crate in use is 0.5 (its 0.6 releases need a nightly compiler); it speaks every
//! revision, only its `BaseRevision::new()` default is older, hence the explicit revision.

use core::ffi::CStr;

use limine::BaseRevision;
use limine::firmware_type::FirmwareType;
use limine::memory_map::EntryType;
use limine::paging::Mode;
use limine::request::{
    BootloaderInfoRequest, DateAtBootRequest, ExecutableAddressRequest, ExecutableCmdlineRequest,
    ExecutableFileRequest, FirmwareTypeRequest, FramebufferRequest, HhdmRequest, MemoryMapRequest,
    PagingModeRequest, RequestsEndMarker, RequestsStartMarker, RsdpRequest, StackSizeRequest,
};

use super::info::{
    self, BootInfo, CmdlineSource, Firmware, FramebufferInfo, MemoryKind, MemoryRegion,
    REQUESTED_REVISION, RangeOwner, Revision,
};
use crate::arch::paging::PhysKind;

// Every RAM entry of the map fits in arch's declared ranges, so none is dropped when merging.
const _: () = assert!(crate::arch::paging::MAX_RAM_RANGES >= super::info::MAX_MEMORY_REGIONS);

/// Stack size asked of the loader for the boot CPU (the protocol's default is 64 KiB:
/// PROTOCOL.md, "Machine State at Entry").
pub const BOOT_STACK_SIZE: u64 = 1024 * 1024;

#[used]
#[unsafe(link_section = ".requests_start_marker")]
static REQUESTS_START: RequestsStartMarker = RequestsStartMarker::new();

#[used]
#[unsafe(link_section = ".requests")]
static BASE_REVISION: BaseRevision = BaseRevision::with_revision(REQUESTED_REVISION);

#[used]
#[unsafe(link_section = ".requests")]
static BOOTLOADER_INFO: BootloaderInfoRequest = BootloaderInfoRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static FIRMWARE_TYPE: FirmwareTypeRequest = FirmwareTypeRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static STACK_SIZE: StackSizeRequest = StackSizeRequest::new().with_size(BOOT_STACK_SIZE);

#[used]
#[unsafe(link_section = ".requests")]
static HHDM: HhdmRequest = HhdmRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static MEMORY_MAP: MemoryMapRequest = MemoryMapRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static FRAMEBUFFER: FramebufferRequest = FramebufferRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static RSDP: RsdpRequest = RsdpRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static EXECUTABLE_ADDRESS: ExecutableAddressRequest = ExecutableAddressRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static EXECUTABLE_FILE: ExecutableFileRequest = ExecutableFileRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static EXECUTABLE_CMDLINE: ExecutableCmdlineRequest = ExecutableCmdlineRequest::new();

#[used]
#[unsafe(link_section = ".requests")]
static DATE_AT_BOOT: DateAtBootRequest = DateAtBootRequest::new();

/// 4-level paging only: the kernel's page-table code does not speak 5-level.
#[used]
#[unsafe(link_section = ".requests")]
static PAGING_MODE: PagingModeRequest = PagingModeRequest::new()
    .with_mode(Mode::FOUR_LEVEL)
    .with_max_mode(Mode::FOUR_LEVEL)
    .with_min_mode(Mode::FOUR_LEVEL);

#[used]
#[unsafe(link_section = ".requests_end_marker")]
static REQUESTS_END: RequestsEndMarker = RequestsEndMarker::new();

/// Why the kernel cannot continue with what the loader provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootError {
    /// No HHDM response: physical memory is unreachable.
    NoHhdm,
    /// No memory map response.
    NoMemoryMap,
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoHhdm => f.write_str("the bootloader did not answer the HHDM request"),
            Self::NoMemoryMap => {
                f.write_str("the bootloader did not answer the memory map request")
            }
        }
    }
}

impl core::error::Error for BootError {}

/// Reads the base revision tag as the loader left it.
pub fn revision() -> Revision {
    Revision::resolve(
        REQUESTED_REVISION,
        BASE_REVISION.is_supported(),
        BASE_REVISION.loaded_revision(),
    )
}

fn entry_kind(entry_type: EntryType) -> MemoryKind {
    // SAFETY: `EntryType` is `#[repr(transparent)]` over the protocol's `u64` type field.
    let raw: u64 = unsafe { core::mem::transmute::<EntryType, u64>(entry_type) };
    MemoryKind::from_raw(raw)
}

fn firmware(ty: FirmwareType) -> Firmware {
    // SAFETY: `FirmwareType` is `#[repr(transparent)]` over the protocol's `u64` value.
    let raw: u64 = unsafe { core::mem::transmute::<FirmwareType, u64>(ty) };
    Firmware::from_raw(raw)
}

/// Reads the bootloader name and version pointers of the response without the crate's
/// `to_str().unwrap()`, so a loader sending non-UTF-8 cannot panic the kernel.
fn bootloader_strings(info: &mut BootInfo) {
    let Some(resp) = BOOTLOADER_INFO.get_response() else {
        return;
    };
    // SAFETY: the response is `#[repr(C)] { revision: u64, name: *const c_char,
    // version: *const c_char }` as fixed by the protocol (PROTOCOL.md, "Bootloader Info
    // Feature"), and lives in bootloader-reclaimable memory that nothing has reused yet.
    let words = unsafe { &*core::ptr::from_ref(resp).cast::<[usize; 3]>() };
    for (ptr, out) in [
        (words[1], &mut info.loader_name),
        (words[2], &mut info.loader_version),
    ] {
        if ptr == 0 {
            continue;
        }
        // SAFETY: the protocol makes both pointers NUL-terminated strings in reclaimable memory
        // (PROTOCOL.md, "Bootloader Info Feature").
        let s = unsafe { CStr::from_ptr(ptr as *const core::ffi::c_char) };
        info::copy_ascii(s.to_bytes(), out);
    }
}

/// Copies every response the kernel uses into a [`BootInfo`].
///
/// # Errors
/// [`BootError`] when a response the kernel cannot run without (HHDM, memory map) is missing.
pub fn collect(info: &mut BootInfo) -> Result<(), BootError> {
    info.revision = revision();
    bootloader_strings(info);
    info.firmware = FIRMWARE_TYPE
        .get_response()
        .map(|r| firmware(r.firmware_type()));
    info.stack_size_granted = STACK_SIZE.get_response().is_some();
    info.hhdm_offset = HHDM.get_response().ok_or(BootError::NoHhdm)?.offset();

    let memmap = MEMORY_MAP.get_response().ok_or(BootError::NoMemoryMap)?;
    info.memory_map.clear();
    info.memory_map_dropped = 0;
    for entry in memmap.entries() {
        let region = MemoryRegion {
            base: entry.base,
            length: entry.length,
            kind: entry_kind(entry.entry_type),
        };
        if info.memory_map.push(region).is_err() {
            info.memory_map_dropped += 1;
        }
    }

    if let Some(resp) = FRAMEBUFFER.get_response() {
        info.framebuffer_count = resp.framebuffers().count();
        info.framebuffer = resp.framebuffers().next().map(|fb| {
            let virt = fb.addr() as u64;
            FramebufferInfo {
                virt,
                phys: virt.wrapping_sub(info.hhdm_offset),
                width: fb.width(),
                height: fb.height(),
                pitch: fb.pitch(),
                bpp: fb.bpp(),
                // SAFETY: `MemoryModel` is `#[repr(transparent)]` over the protocol's `u8`.
                memory_model: unsafe {
                    core::mem::transmute::<limine::framebuffer::MemoryModel, u8>(fb.memory_model())
                },
                red_size: fb.red_mask_size(),
                red_shift: fb.red_mask_shift(),
                green_size: fb.green_mask_size(),
                green_shift: fb.green_mask_shift(),
                blue_size: fb.blue_mask_size(),
                blue_shift: fb.blue_mask_shift(),
            }
        });
    }

    info.rsdp_phys = RSDP.get_response().map(|r| {
        let addr = r.address() as u64;
        // Physical under revision 3, an HHDM address otherwise; when the revision is uncertain
        // (2 or 3), the address decides: physical addresses lie below the HHDM. A loader that
        // contradicts its revision is trusted by its address as well, with a warning.
        let looks_physical = addr < info.hhdm_offset;
        match info.revision.rsdp_is_physical() {
            Some(physical) if physical != looks_physical => {
                log::warn!(
                    "RSDP pointer {addr:#x} contradicts base revision {}",
                    info.revision.used
                );
            }
            _ => {}
        }
        if looks_physical {
            addr
        } else {
            addr - info.hhdm_offset
        }
    });

    if let Some(resp) = EXECUTABLE_ADDRESS.get_response() {
        info.kernel_phys_base = Some(resp.physical_base());
        info.kernel_virt_base = Some(resp.virtual_base());
    }

    let file = EXECUTABLE_FILE.get_response().map(|r| r.file());
    info.kernel_file_size = file.map(|f| f.size());
    // Limine 9.0+ answers the Executable Command Line request; 8.x only has the file's string.
    let (text, source) = match (EXECUTABLE_CMDLINE.get_response(), file) {
        (Some(resp), _) => (resp.cmdline().to_bytes(), CmdlineSource::ExecutableCmdline),
        (None, Some(f)) => (f.string().to_bytes(), CmdlineSource::ExecutableFile),
        (None, None) => (&b""[..], CmdlineSource::None),
    };
    info.cmdline_truncated = info::copy_ascii(text, &mut info.cmdline);
    info.cmdline_source = source;

    info.boot_time = DATE_AT_BOOT.get_response().map(|r| r.timestamp().as_secs());
    info.paging_mode = PAGING_MODE
        .get_response()
        .map(|r| if r.mode() == Mode::FOUR_LEVEL { 0 } else { 1 });
    declare_to_arch(info);
    Ok(())
}

/// Hands the loader's memory facts to `arch`, where the page tables, device windows and the
/// framebuffer are checked against them (see `arch::paging`).
fn declare_to_arch(info: &BootInfo) {
    let ram = info
        .memory_map
        .iter()
        .filter(|r| r.kind.is_allocatable())
        .map(|r| (r.base, r.end()));
    // SAFETY: 1. the offset is the loader's HHDM response (PROTOCOL.md, "HHDM (Higher Half
    // Direct Map) Feature"); usable and bootloader-reclaimable memory, the page tables among
    // it, are in the HHDM under every base revision the kernel accepts (PROTOCOL.md, "Memory
    // Layout at Entry"), and the memory module's own tables keep that HHDM; 2. the RAM ranges
    // are exactly the usable and bootloader-reclaimable entries of the map, which from now on
    // only the memory module uses (everything the kernel needs from them is copied into
    // `BootInfo` by now); 3. `classify` answers from the published copy of the loader's memory
    // map (PROTOCOL.md, "Memory Map Feature"), and conservatively before it is published or
    // when entries were dropped.
    unsafe {
        crate::arch::paging::declare_hhdm(info.hhdm_offset);
        crate::arch::paging::declare_ram(ram);
        crate::arch::paging::declare_memory_map(classify);
    }
    if let Some(fb) = &info.framebuffer {
        // SAFETY: the response describes the first framebuffer, `pitch * height` bytes at the
        // physical address its HHDM pointer stands for (PROTOCOL.md, "Framebuffer Feature");
        // it holds no Rust object, and from here on only the console, through
        // `framebuffer::take`, touches it.
        unsafe { crate::arch::framebuffer::declare(fb.phys, fb.size_bytes()) };
    }
}

/// What the loader's memory map says `[base, base + len)` is, for `arch::paging`.
fn classify(base: u64, len: u64) -> PhysKind {
    let Some(boot) = super::try_boot_info() else {
        return PhysKind::Kernel;
    };
    match info::range_owner(&boot.memory_map, boot.memory_map_dropped == 0, base, len) {
        RangeOwner::Usable => PhysKind::Usable,
        RangeOwner::Kernel => PhysKind::Kernel,
        RangeOwner::Other => PhysKind::Other,
    }
}
