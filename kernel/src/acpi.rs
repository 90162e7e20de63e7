//! ACPI through the `acpi` crate: the kernel maps every table itself (revision 3 does not put
//! ACPI tables in the HHDM) and extracts what the interrupt code needs from the MADT.
//!
//! The crate is used at 5.2: every 6.x release needs a nightly compiler
//! (the unstable `allocator_api`). Without its `alloc` feature it still parses every table the
//! kernel needs; the MADT is walked entry by entry here.

use core::ptr::NonNull;

use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiError, AcpiHandler, AcpiTables, PhysicalMapping};

use crate::interrupts::routing::{InterruptInfo, IoApicInfo, Override};
use crate::memory::{self, Cache};

/// The kernel's [`AcpiHandler`]: tables are mapped write-back into the kernel's physical
/// window. Window space is not reclaimed on unmap: the kernel maps a few dozen tables once at
/// boot, out of a 512 GiB window.
#[derive(Debug, Clone, Copy)]
pub struct KernelAcpi;

impl AcpiHandler for KernelAcpi {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let virt = match memory::map_physical(
            physical_address as u64,
            size.max(1) as u64,
            Cache::WriteBack,
        ) {
            Ok(virt) => virt,
            // The trait cannot report failure; without frames for a table mapping during boot
            // there is nothing sensible to continue with.
            Err(e) => panic!("cannot map ACPI memory at {physical_address:#x}+{size:#x}: {e}"),
        };
        let mapped = (size + (physical_address & 0xfff)).next_multiple_of(4096);
        let ptr = NonNull::new(virt as *mut T).expect("the physical window is never at address 0");
        // SAFETY: `ptr` maps `size` bytes at `physical_address` (just mapped above, readable
        // and writable), which the caller guarantees hold a `T`.
        unsafe { PhysicalMapping::new(physical_address, ptr, size, mapped, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Reads the MADT through the RSDP at physical address `rsdp`.
///
/// # Errors
/// The crate's error when the RSDP or a table is invalid, or `TableNotFound` without a MADT.
pub fn interrupt_info(rsdp: u64) -> Result<InterruptInfo, AcpiError> {
    // SAFETY: `rsdp` is the RSDP's physical address as the loader reported it (converted to
    // physical by the boot module); the handler maps everything the crate reads.
    let tables = unsafe { AcpiTables::from_rsdp(KernelAcpi, rsdp as usize)? };
    let madt = tables.find_table::<Madt>()?;
    let madt = madt.get();
    let mut info = InterruptInfo {
        local_apic_address: u64::from(madt.local_apic_address),
        has_8259: madt.supports_8259(),
        ..InterruptInfo::default()
    };
    for entry in madt.entries() {
        match entry {
            MadtEntry::IoApic(e) => {
                let io = IoApicInfo {
                    id: e.io_apic_id,
                    address: u64::from(e.io_apic_address),
                    gsi_base: e.global_system_interrupt_base,
                };
                if info.io_apics.push(io).is_err() {
                    log::warn!(
                        "acpi: more IOAPICs than the kernel tracks; ignoring {}",
                        io.id
                    );
                }
            }
            MadtEntry::InterruptSourceOverride(e) if e.bus == 0 => {
                let o = Override {
                    irq: e.irq,
                    gsi: e.global_system_interrupt,
                    flags: e.flags,
                };
                if info.overrides.push(o).is_err() {
                    log::warn!(
                        "acpi: too many interrupt source overrides; ignoring IRQ {}",
                        o.irq
                    );
                }
            }
            MadtEntry::LocalApicAddressOverride(e) => {
                info.local_apic_address = e.local_apic_address
            }
            _ => {}
        }
    }
    Ok(info)
}

/// The ACPI PM timer's I/O port and width (24 or 32 bits), if the FADT describes one in I/O
/// space.
pub fn pm_timer(rsdp: u64) -> Option<(u16, u32)> {
    // SAFETY: as in `interrupt_info`.
    let tables = unsafe { AcpiTables::from_rsdp(KernelAcpi, rsdp as usize) }.ok()?;
    let fadt = tables.find_table::<Fadt>().ok()?;
    let block = fadt.pm_timer_block().ok()??;
    if block.address_space != AddressSpace::SystemIo {
        return None;
    }
    let port = u16::try_from(block.address).ok()?;
    // A copy: the FADT is packed, so its fields cannot be borrowed.
    let flags = { fadt.flags };
    let bits = if flags.pm_timer_is_32_bit() { 32 } else { 24 };
    Some((port, bits))
}
