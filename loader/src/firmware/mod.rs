//! The UEFI side of the loader: everything that talks to firmware or hardware.
//!
//! [`boot`] runs the sequence the library decides (see `loader::boot`) and only returns on an
//! error that left the machine usable (boot services still active), so `main` can report it and
//! go back to the firmware:
//!
//! 1. `loader::boot::prepare` over [`Uefi`], this module's implementation of the library's
//!    `Firmware` trait: files on the boot volume, GOP, page allocation, configuration tables,
//!    the clock, the boot menu, messages;
//! 2. exit boot services, quiet the machine as the library says (PICs, IOAPICs, local APIC,
//!    PAT), hand the final memory map to `Prepared::finish`, and jump to the kernel with the
//!    arguments it returns.

pub mod alloc;
pub mod console;
mod display;
mod files;
pub mod handoff;

use ::alloc::vec::Vec;
use core::fmt;

use uefi::boot::MemoryType;
use uefi::mem::memory_map::MemoryMap;
use uefi::table::cfg::ConfigTableEntry;

use loader::acpi::PhysRead;
use loader::boot::{
    self, CpuFeatures, Display, DisplayMode, FileError, FinalMap, Firmware, FirmwareTables,
    LoadError, Memory, RawMemoryMap,
};
use loader::{clock, memmap};

use self::alloc::UefiPages;
use self::files::Volume;
use crate::say;

/// Heap for the allocations made after `ExitBootServices` (memory-map conversion, page tables).
const POST_EXIT_HEAP: usize = 4 << 20;

/// The firmware services, as the library's boot sequence uses them.
#[derive(Debug)]
struct Uefi {
    cpu: handoff::Cpu,
    volume: Option<Volume>,
}

impl Uefi {
    fn volume(&mut self) -> Result<&mut Volume, FileError> {
        let volume = match self.volume.take() {
            Some(v) => v,
            None => Volume::boot()?,
        };
        Ok(self.volume.insert(volume))
    }
}

impl PhysRead for Uefi {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if addr == 0 || addr.checked_add(len as u64)? > 1 << 46 {
            return None;
        }
        // SAFETY: while boot services run, the firmware identity-maps RAM and the ACPI tables;
        // the address comes from the RSDP chain and is only read.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

impl Firmware for Uefi {
    type Pages = UefiPages;

    fn say(&mut self, line: fmt::Arguments<'_>) {
        console::print(format_args!("{line}\n"));
    }

    fn cpu(&self) -> CpuFeatures {
        self.cpu.features
    }

    fn random_u64(&mut self) -> u64 {
        handoff::random_u64(self.cpu.rdrand)
    }

    fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FileError> {
        self.volume()?.read(path)
    }

    fn load_file(&mut self, path: &str) -> Result<UefiPages, FileError> {
        self.volume()?.read_pages(path, MemoryType::LOADER_DATA)
    }

    fn allocate(&mut self, memory: Memory, bytes: usize, align: usize) -> Option<UefiPages> {
        let ty = match memory {
            Memory::KernelImage => MemoryType::custom(memmap::KERNEL_MEMORY_TYPE),
            Memory::Reclaimable => MemoryType::LOADER_DATA,
        };
        alloc::pages(ty, bytes, align).ok()
    }

    fn menu(&mut self, names: &[&str], default: usize, timeout: Option<u64>) -> usize {
        let console::Choice::Boot(i) = console::menu(names, default, timeout);
        i
    }

    fn display_modes(&mut self) -> Vec<DisplayMode> {
        display::modes()
    }

    fn set_display_mode(&mut self, number: u32) -> Option<Display> {
        display::set_mode(number)
    }

    fn tables(&self) -> FirmwareTables {
        let (rsdp, smbios_32, smbios_64) = uefi::system::with_config_table(|tables| {
            let find = |guid| {
                tables
                    .iter()
                    .find(|t| t.guid == guid)
                    .map(|t| t.address as u64)
                    .filter(|&a| a != 0)
            };
            (
                find(ConfigTableEntry::ACPI2_GUID).or_else(|| find(ConfigTableEntry::ACPI_GUID)),
                find(ConfigTableEntry::SMBIOS_GUID),
                find(ConfigTableEntry::SMBIOS3_GUID),
            )
        });
        FirmwareTables {
            rsdp,
            smbios_32,
            smbios_64,
            system_table: uefi::table::system_table_raw().map(|st| st.as_ptr() as u64),
        }
    }

    fn time(&self) -> Option<clock::DateTime> {
        let t = uefi::runtime::get_time().ok()?;
        Some(clock::DateTime {
            year: t.year(),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            utc_offset_minutes: t.time_zone(),
        })
    }

    fn memory_map_extent(&self) -> (usize, u64) {
        uefi::boot::memory_map(MemoryType::LOADER_DATA)
            .map(|m| {
                let highest = m
                    .entries()
                    .map(|d| d.phys_start + d.page_count * 4096)
                    .max()
                    .unwrap_or(0);
                (m.entries().count(), highest)
            })
            .unwrap_or((256, 1 << 32))
    }

    fn handoff_code(&self) -> (u64, u64) {
        handoff::trampoline_span()
    }
}

/// Loads and starts the kernel; returns only on an error before boot services ended.
pub fn boot() -> Result<core::convert::Infallible, LoadError> {
    // Never let the firmware watchdog reset the machine while a menu waits.
    let _ = uefi::boot::set_watchdog_timer(0, 0x10000, None);
    let mut fw = Uefi {
        cpu: handoff::cpu(),
        volume: None,
    };
    let prepared = boot::prepare(&mut fw)?;
    // Close the volume while boot services can still do it.
    drop(fw);
    alloc::reserve_post_exit_arena(POST_EXIT_HEAP)
        .map_err(|_| LoadError::OutOfMemory("the post-exit heap"))?;

    // Point of no return: from here on errors can only be reported on COM1.
    alloc::boot_services_exited();
    // SAFETY: nothing of the firmware's boot services is used after this call (the allocator
    // switched to its arena, output goes straight to COM1, the volume and GOP are closed).
    let final_map = unsafe { uefi::boot::exit_boot_services(Some(MemoryType::LOADER_DATA)) };
    handoff::quiesce(&prepared.quiesce());
    let meta = final_map.meta();
    let map = FinalMap {
        typed: Vec::new(),
        regions: final_map
            .entries()
            .map(|d| memmap::UefiRegion {
                ty: d.ty.0,
                phys_start: d.phys_start,
                pages: d.page_count,
                attribute: d.att.bits(),
            })
            .collect(),
        raw: RawMemoryMap {
            phys: final_map.buffer().as_ptr() as u64,
            size: meta.map_size as u64,
            desc_size: meta.desc_size as u64,
            desc_version: meta.desc_version,
        },
    };
    // The EFI memory map response points at this buffer, and freeing it would need boot
    // services: it stays where it is.
    core::mem::forget(final_map);
    match prepared.finish(&map) {
        // SAFETY: `finish` built page tables mapping the trampoline identically and in the
        // HHDM, the GDT, the stack and every kernel segment, and answered the requests.
        Ok(args) => unsafe { handoff::enter_kernel(&args) },
        Err(e) => {
            say!("loader: fatal after leaving boot services: {e}");
            say!("loader: the machine is halted; reset it.");
            handoff::halt()
        }
    }
}
