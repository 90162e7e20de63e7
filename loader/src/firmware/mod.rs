//! The UEFI side of the loader: everything that talks to firmware or hardware.
//!
//! [`boot`] runs the whole sequence and only returns on an error that left the machine usable
//! (boot services still active), so `main` can report it and go back to the firmware:
//!
//! 1. read `limine.conf` from the loader's own volume and pick the entry (menu if asked);
//! 2. read the kernel file, check and load the ELF into one contiguous block, relocate it
//!    (with a KASLR slide when `kaslr: yes`), scan its requests, negotiate the base revision;
//! 3. gather what the requests need (GOP framebuffer, ACPI/SMBIOS/system table, time, stack)
//!    and allocate every response, buffer and page-table page while allocation is possible;
//! 4. exit boot services, mask the PICs and IOAPICs, program the PAT, convert the final memory
//!    map, build the page tables from it, and hand off.

pub mod alloc;
pub mod console;
mod display;
mod files;
pub mod handoff;
mod responses;

use ::alloc::string::String;
use ::alloc::vec::Vec;

use uefi::boot::MemoryType;
use uefi::mem::memory_map::MemoryMap;

use loader::boot::{FileError, LoadError};
use loader::config::{self, Builtins, Timeout};
use loader::protocol::{self, Feature};
use loader::{acpi, elf, memmap};

use self::files::Volume;
use crate::say;

/// The loader's name in the Bootloader Info response (its own, not "Limine").
pub const LOADER_NAME: &str = "bundled-loader";
/// Its version.
pub const LOADER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The HHDM offset (fixed, like Limine's default without `randomise_hhdm_base`).
pub const HHDM_OFFSET: u64 = protocol::HHDM_DEFAULT_BASE;

fn read_config(volume: &mut Volume) -> Result<(String, config::Config), LoadError> {
    for path in config::CONFIG_SEARCH_PATHS {
        match volume.read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| LoadError::ConfigNotText(path))?;
                let cfg =
                    config::parse_with(&text, &Builtins::UEFI_X86_64).map_err(LoadError::Config)?;
                return Ok(((*path).into(), cfg));
            }
            Err(FileError::NotFound(_)) => continue,
            Err(e) => return Err(LoadError::File(e)),
        }
    }
    Err(LoadError::NoConfig)
}

/// Loads and starts the kernel; returns only on an error before boot services ended.
pub fn boot() -> Result<core::convert::Infallible, LoadError> {
    // Never let the firmware watchdog reset the machine while a menu waits.
    let _ = uefi::boot::set_watchdog_timer(0, 0x10000, None);
    let cpu = handoff::cpu_features();
    if cpu.la57_active {
        // Switching from 5- to 4-level paging needs a detour through 32-bit mode (paging off),
        // which this loader does not implement; refuse while the firmware can still report it.
        return Err(LoadError::FiveLevelFirmware);
    }
    let mut volume = Volume::boot().map_err(LoadError::File)?;
    let (config_path, cfg) = read_config(&mut volume)?;
    let verbose = cfg
        .options
        .iter()
        .any(|s| s.key == "verbose" && s.value.eq_ignore_ascii_case("yes"));
    if verbose {
        say!("loader: {LOADER_NAME} {LOADER_VERSION}, config {config_path}");
    }

    let entry = choose_entry(&cfg)?;
    entry.check_bootable().map_err(LoadError::Entry)?;
    for s in &entry.options {
        if verbose {
            say!(
                "loader: note: option `{}` (line {}) is not used by the bundled loader",
                s.key,
                s.line
            );
        }
    }
    // `check_bootable` refused entries without a kernel path on `boot()`, compressed or hashed.
    let path = entry
        .kernel_path
        .as_ref()
        .map(|k| k.path.clone())
        .unwrap_or_default();
    let file = volume
        .read_pages(&path, MemoryType::LOADER_DATA)
        .map_err(LoadError::KernelFile)?;
    let elf_error = |error| LoadError::Elf {
        path: path.clone(),
        error,
    };
    let image = elf::parse(file.bytes()).map_err(elf_error)?;
    let kaslr = entry.kaslr.unwrap_or(false);
    let slide = elf::choose_slide(&image, handoff::random_u64(cpu), kaslr);
    let block_size = usize::try_from(image.image_size())
        .map_err(|_| LoadError::OutOfMemory("the kernel image"))?;
    let align = usize::try_from(image.alignment()).unwrap_or(4096).max(4096);
    let block = alloc::aligned_pages(
        MemoryType::custom(memmap::KERNEL_MEMORY_TYPE),
        block_size,
        align,
    )
    .map_err(|_| LoadError::OutOfMemory("the kernel image"))?;
    // SAFETY: `block` is a fresh allocation of `block_size` bytes (rounded up to pages) that
    // nothing else references.
    let block_bytes = unsafe { core::slice::from_raw_parts_mut(block.as_ptr(), block_size) };
    let loaded = elf::load(&image, slide, block_bytes).map_err(elf_error)?;
    let scan_len = usize::try_from(loaded.scan_len)
        .unwrap_or(block_size)
        .min(block_size);
    let scan = protocol::scan(&block_bytes[..scan_len]).map_err(LoadError::Scan)?;
    let cap = cfg
        .options
        .iter()
        .find(|s| s.key == "bundled_max_base_revision")
        .and_then(|s| s.value.parse::<u64>().ok())
        .unwrap_or(protocol::LOADER_MAX_REVISION);
    let negotiated = protocol::negotiate(scan.tag.map(|t| t.requested_revision), cap)
        .map_err(LoadError::Revision)?;
    if let Some(tag) = &scan.tag {
        protocol::write_tag(block_bytes, tag, &negotiated).map_err(LoadError::TagOutsideImage)?;
    }
    if verbose {
        say!(
            "loader: kernel {path}: {} bytes, slide {:#x}, {} relocations, {} requests, base revision {} (asked {})",
            file.size,
            loaded.slide,
            loaded.relocations,
            scan.requests.len(),
            negotiated.revision,
            negotiated.requested
        );
    }

    let display = if scan.find(Feature::Framebuffer).is_some() {
        display::setup(entry.resolution.map(|r| (r.width, r.height)))
    } else {
        None
    };
    let rsdp = responses::find_rsdp();
    let io_apics = match rsdp {
        Some(addr) => acpi::io_apics(&responses::IdentityMemory, addr).unwrap_or_else(|e| {
            say!("loader: warning: {e}; IOAPIC entries stay as the firmware left them");
            Vec::new()
        }),
        None => Vec::new(),
    };

    let mut plan = responses::Plan::prepare(responses::Inputs {
        scan: &scan,
        negotiated,
        block_phys: block.as_ptr() as u64,
        loaded: &loaded,
        kernel_file: &file,
        kernel_path: &path,
        cmdline: &entry.cmdline,
        display: display.as_ref(),
        rsdp,
        nx: cpu.nx,
        huge_1g: cpu.huge_1g,
        verbose,
    })?;
    let (regions, highest) = uefi::boot::memory_map(MemoryType::LOADER_DATA)
        .map(|m| {
            let highest = m
                .entries()
                .map(|d| d.phys_start + d.page_count * 4096)
                .max()
                .unwrap_or(0);
            (m.entries().count(), highest)
        })
        .unwrap_or((256, 1 << 32));
    plan.reserve_page_tables(regions, highest)?;
    alloc::reserve_post_exit_arena(4 << 20)
        .map_err(|_| LoadError::OutOfMemory("the post-exit heap"))?;

    // Point of no return: from here on errors can only be reported on COM1.
    alloc::boot_services_exited();
    // SAFETY: nothing of the firmware's boot services is used after this call (the allocator
    // switched to its arena, output goes straight to COM1).
    let final_map = unsafe { uefi::boot::exit_boot_services(Some(MemoryType::LOADER_DATA)) };
    handoff::mask_pics();
    handoff::mask_io_apics(&io_apics, negotiated.revision);
    if negotiated.revision >= 5 {
        handoff::reset_local_apic();
    }
    if cpu.pat {
        handoff::program_pat(loader::paging::PAT_MSR_VALUE);
    }
    let regions: Vec<memmap::UefiRegion> = final_map
        .entries()
        .map(|d| memmap::UefiRegion {
            ty: d.ty.0,
            phys_start: d.phys_start,
            pages: d.page_count,
            attribute: d.att.bits(),
        })
        .collect();
    match plan.finish(&regions, &final_map, block_bytes) {
        Ok(args) => {
            core::mem::forget(final_map);
            // SAFETY: `finish` built page tables mapping the trampoline identically and in the
            // HHDM, the GDT, the stack and every kernel segment, and answered the requests.
            unsafe { handoff::enter_kernel(&args) }
        }
        Err(e) => {
            say!("loader: fatal after leaving boot services: {e}");
            say!("loader: the machine is halted; reset it.");
            handoff::halt()
        }
    }
}

fn choose_entry(cfg: &config::Config) -> Result<&config::Entry, LoadError> {
    let default = cfg.boot_entry().map_err(LoadError::Entry)?;
    let timeout = match cfg.timeout {
        Timeout::Seconds(0) => return Ok(default),
        Timeout::Seconds(s) => Some(s),
        Timeout::Never => None,
    };
    let entries: Vec<&config::Entry> = cfg
        .visible_entries()
        .into_iter()
        .filter(|e| !e.has_children)
        .collect();
    if entries.len() <= 1 && timeout.is_some() {
        return Ok(default);
    }
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let default_index = entries
        .iter()
        .position(|e| core::ptr::eq(*e, default))
        .unwrap_or(0);
    let console::Choice::Boot(i) = console::menu(&names, default_index, timeout);
    Ok(entries.get(i).copied().unwrap_or(default))
}
