//! ACPI through the `acpi` crate: the kernel maps every table itself (revision 3 does not put
//! ACPI tables in the HHDM; the crate's handler is `arch::acpi`) and extracts what the
//! interrupt code needs from the MADT and the FADT.
//!
//! The crate is used at 5.2: every 6.x release needs a nightly compiler
//! (the unstable `allocator_api`). Without its `alloc` feature it still parses every table the
//! kernel needs; the MADT is walked entry by entry here.

use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiError, AcpiTables};

use crate::arch::acpi::{self as tables, TableMapper};
use crate::arch::paging::Window;
use crate::interrupts::routing::{InterruptInfo, IoApicInfo, Override};
use crate::memory;

/// Maps an ACPI table write-back and read-only into the kernel's physical window (the
/// `arch::acpi` handler checks the result).
///
/// # Panics
/// Without frames for the mapping: the crate's handler cannot report failure, and during boot
/// there is nothing sensible to continue with.
fn map_table(phys: u64, len: u64) -> Window {
    match memory::map_readonly(phys, len) {
        Ok(window) => window,
        Err(e) => panic!("cannot map ACPI memory at {phys:#x}+{len:#x}: {e}"),
    }
}

fn acpi_tables(rsdp: u64) -> Result<AcpiTables<TableMapper>, AcpiError> {
    tables::tables(rsdp, map_table)
}

/// Reads the MADT through the RSDP at physical address `rsdp`.
///
/// # Errors
/// The crate's error when the RSDP or a table is invalid, or `TableNotFound` without a MADT.
pub fn interrupt_info(rsdp: u64) -> Result<InterruptInfo, AcpiError> {
    let tables = acpi_tables(rsdp)?;
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
    let tables = acpi_tables(rsdp).ok()?;
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
