//! ACPI through the `acpi` crate: the kernel maps every table itself (revision 3 does not put
//! ACPI tables in the HHDM; the crate's handler is `arch::acpi`) and extracts what the
//! interrupt code needs from the MADT and the FADT, what `power` needs (the PM1 control and
//! reset registers, `\_S5` from the DSDT or an SSDT), and the `acpi` command's listing.
//!
//! The crate is used at 5.2: every 6.x release needs a nightly compiler
//! (the unstable `allocator_api`). Without its `alloc` feature it still parses every table the
//! kernel needs; the MADT is walked entry by entry here.

use core::fmt::{self, Write};

use acpi::address::AddressSpace;
use acpi::fadt::Fadt;
use acpi::madt::{Madt, MadtEntry};
use acpi::{AcpiError, AcpiTable, AcpiTables, PhysicalMapping};

use super::tables::{
    Ascii, HEADER_LEN, Header, RSDP_V1_LEN, RSDP_V2_LEN, Register, RegisterError, Width, checksum,
    decode, parse_header, parse_rsdp, root_entries,
};
use crate::aml::{AmlError, SleepType, find_s5_in_table};
use crate::arch::acpi::{self as tables, TableBytesError, TableMapper};
use crate::arch::paging::Window;
use crate::interrupts::routing::{InterruptInfo, IoApicInfo, Override};
use crate::memory::{self, MapError};

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

/// The FADT, mapped.
///
/// # Errors
/// The crate's error for a bad RSDP or root table, `TableMissing` without a FADT.
pub fn fadt(rsdp: u64) -> Result<PhysicalMapping<TableMapper, Fadt>, AcpiError> {
    acpi_tables(rsdp)?.find_table::<Fadt>()
}

/// The reset register and the value that resets the machine through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    /// RESET_REG.
    pub register: Register,
    /// RESET_VALUE.
    pub value: u8,
}

/// The FADT's power registers, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerRegisters {
    /// PM1a_CNT (the spec requires it).
    pub pm1a: Result<Register, RegisterError>,
    /// PM1b_CNT, when the FADT has a PM1b block.
    pub pm1b: Option<Result<Register, RegisterError>>,
    /// RESET_REG and RESET_VALUE; [`RegisterError::NotSupported`] when the FADT is older than
    /// revision 2 or its RESET_REG_SUP flag is clear.
    pub reset: Result<Reset, RegisterError>,
}

/// Decodes the FADT's PM1 control and reset registers (extended `X_` fields when non-zero,
/// else the legacy 32-bit ones: the crate's choice, ACPI spec "FADT Format").
pub fn power_registers(fadt: &Fadt) -> PowerRegisters {
    let pm1a = fadt
        .pm1a_control_block()
        .map_err(|_| RegisterError::Invalid)
        .and_then(|g| decode(&g, Width::Word));
    let pm1b = match fadt.pm1b_control_block() {
        Ok(None) => None,
        Ok(Some(g)) => Some(decode(&g, Width::Word)),
        Err(_) => Some(Err(RegisterError::Invalid)),
    };
    // Copies: the FADT is packed, so its fields cannot be borrowed.
    let flags = { fadt.flags };
    let value = { fadt.reset_value };
    let reset = if fadt.header().revision < 2 || !flags.supports_system_reset_via_fadt() {
        Err(RegisterError::NotSupported)
    } else {
        fadt.reset_register()
            .map_err(|_| RegisterError::Invalid)
            .and_then(|g| decode(&g, Width::Byte))
            .map(|register| Reset { register, value })
    };
    PowerRegisters { pm1a, pm1b, reset }
}

/// Where `\_S5` was found, and its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S5 {
    /// SLP_TYPa and SLP_TYPb.
    pub sleep: SleepType,
    /// "DSDT" or "SSDT".
    pub signature: [u8; 4],
    /// Physical address of that table.
    pub phys: u64,
}

/// Why reading a firmware table's bytes failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// No window for it.
    Map(MapError),
    /// The window cannot be read as a table.
    Bytes(TableBytesError),
    /// A length the kernel will not map (over 16 MiB, or shorter than a header).
    Length(u32),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Map(e) => write!(f, "cannot map it: {e}"),
            Self::Bytes(e) => write!(f, "{e}"),
            Self::Length(l) => write!(f, "implausible length {l:#x}"),
        }
    }
}

impl core::error::Error for ReadError {}

/// Largest table the listing and the `\_S5` search map.
const MAX_TABLE: u32 = 16 << 20;

/// Maps `len` bytes at `phys` read-only and hands them to `f`.
fn read_bytes<R>(phys: u64, len: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, ReadError> {
    let window = memory::map_readonly(phys, len).map_err(ReadError::Map)?;
    let bytes = tables::table_bytes(&window).map_err(ReadError::Bytes)?;
    Ok(f(bytes))
}

/// A whole table at `phys`: its header first, then all its bytes, handed to `f`.
fn read_table<R>(phys: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R, ReadError> {
    let header = read_bytes(phys, HEADER_LEN as u64, parse_header)?;
    let length = header.map_or(0, |h| h.length);
    if !(HEADER_LEN as u32..=MAX_TABLE).contains(&length) {
        return Err(ReadError::Length(length));
    }
    read_bytes(phys, u64::from(length), f)
}

/// Why no `\_S5` came out.
#[derive(Debug)]
pub enum S5Error {
    /// The tables (or the FADT's DSDT pointer) are unreadable.
    Acpi(AcpiError),
    /// A DSDT or SSDT could not be read.
    Read(u64, ReadError),
    /// No table has a usable `\_S5` (the most telling reason: a decoding error over "not
    /// found").
    Aml(AmlError),
}

impl fmt::Display for S5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Acpi(AcpiError::TableMissing(_)) => f.write_str("no FADT"),
            Self::Acpi(e) => write!(f, "ACPI tables unreadable ({e:?})"),
            Self::Read(phys, e) => write!(f, "AML table at {phys:#x}: {e}"),
            Self::Aml(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for S5Error {}

/// Finds `\_S5` in the DSDT (through the FADT's pointer), else in the SSDTs.
///
/// # Errors
/// [`S5Error`] when the tables are unreadable or none holds a usable `\_S5`.
pub fn find_s5(rsdp: u64) -> Result<S5, S5Error> {
    let tables = acpi_tables(rsdp).map_err(S5Error::Acpi)?;
    let dsdt = tables.dsdt().map_err(S5Error::Acpi)?;
    let ssdts = tables.ssdts().map(|t| t.address);
    let mut last = AmlError::NotFound;
    // `AmlTable::address` is past the header.
    for (i, aml) in core::iter::once(dsdt.address).chain(ssdts).enumerate() {
        let phys = (aml - HEADER_LEN) as u64;
        let found = read_table(phys, find_s5_in_table);
        match found {
            Ok(Ok(sleep)) => {
                return Ok(S5 {
                    sleep,
                    signature: if i == 0 { *b"DSDT" } else { *b"SSDT" },
                    phys,
                });
            }
            Ok(Err(AmlError::NotFound)) => {}
            Ok(Err(e)) => last = e,
            // An unreadable DSDT is an error; an unreadable SSDT is skipped.
            Err(e) if i == 0 => return Err(S5Error::Read(phys, e)),
            Err(e) => log::warn!("SSDT at {phys:#x}: {e}"),
        }
    }
    Err(S5Error::Aml(last))
}

/// Writes one table line: signature, revision, OEM ID, address, length (and a checksum
/// warning); returns the header.
fn write_table(out: &mut dyn Write, phys: u64, note: &str) -> Result<Option<Header>, fmt::Error> {
    match read_table(phys, |b| (parse_header(b), checksum(b))) {
        Ok((Some(h), sum)) => {
            write!(
                out,
                "{:<9} rev {:>3}  OEM {:<6}  at {phys:#012x}  len {:>7}{}{note}\r\n",
                Ascii(&h.signature),
                h.revision,
                Ascii(&h.oem_id),
                h.length,
                if sum == 0 { "" } else { "  (bad checksum)" },
            )?;
            Ok(Some(h))
        }
        Ok((None, _)) => {
            write!(out, "?         at {phys:#012x}: no table header{note}\r\n")?;
            Ok(None)
        }
        Err(e) => {
            write!(out, "?         at {phys:#012x}: {e}{note}\r\n")?;
            Ok(None)
        }
    }
}

fn write_register(
    out: &mut dyn Write,
    name: &str,
    reg: Option<Result<Register, RegisterError>>,
) -> fmt::Result {
    match reg {
        None => write!(out, "{name:<9} none\r\n"),
        Some(Ok(r)) => write!(out, "{name:<9} {r}\r\n"),
        Some(Err(e)) => write!(out, "{name:<9} unusable: {e}\r\n"),
    }
}

/// The `acpi` command's listing: the RSDP (revision, OEM), the root table, one line per table
/// it lists (signature, revision, OEM ID, physical address, length), the DSDT the FADT points
/// to, then the FADT's PM1a/PM1b control and reset registers and the `\_S5` values (or why
/// not). Lines end in "\r\n". Without an RSDP from the loader: one line saying so.
///
/// # Errors
/// Only `out`'s.
pub fn write_tables(out: &mut dyn Write) -> fmt::Result {
    let Some(rsdp_phys) = crate::boot::boot_info().rsdp_phys else {
        return out.write_str("acpi: the loader reported no RSDP\r\n");
    };
    // An ACPI 1.0 RSDP is 20 bytes: if a 36-byte window fails, try those.
    let parsed = read_bytes(rsdp_phys, RSDP_V2_LEN as u64, parse_rsdp)
        .or_else(|_| read_bytes(rsdp_phys, RSDP_V1_LEN as u64, parse_rsdp));
    let rsdp = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return write!(out, "RSDP      at {rsdp_phys:#012x}: {e}\r\n"),
        Err(e) => return write!(out, "RSDP      at {rsdp_phys:#012x}: {e}\r\n"),
    };
    write!(
        out,
        "RSDP      rev {:>3}  OEM {:<6}  at {rsdp_phys:#012x}  ({})\r\n",
        rsdp.revision,
        Ascii(&rsdp.oem_id),
        if rsdp.revision >= 2 {
            "ACPI 2.0+"
        } else {
            "ACPI 1.0"
        },
    )?;
    let Some((root, _)) = rsdp.root() else {
        return out.write_str("acpi: the RSDP names no root table\r\n");
    };
    write_table(out, root, "")?;
    let entries = read_table(root, |bytes| {
        let mut list = heapless::Vec::<u64, 64>::new();
        let mut dropped = 0usize;
        for e in root_entries(bytes).into_iter().flatten() {
            if list.push(e).is_err() {
                dropped += 1;
            }
        }
        (list, dropped)
    });
    let (list, dropped) = match entries {
        Ok(v) => v,
        Err(e) => return write!(out, "acpi: root table unreadable: {e}\r\n"),
    };
    for &phys in &list {
        write_table(out, phys, "")?;
    }
    if dropped > 0 {
        write!(out, "acpi: {dropped} more tables not listed\r\n")?;
    }
    let fadt = match fadt(rsdp_phys) {
        Ok(f) => f,
        Err(e) => return write!(out, "FACP      unusable: {e:?}\r\n"),
    };
    match fadt.dsdt_address() {
        Ok(dsdt) => {
            write_table(out, dsdt as u64, "  (from FACP)")?;
        }
        Err(e) => write!(out, "DSDT      unusable: {e:?}\r\n")?,
    }
    let regs = power_registers(&fadt);
    write_register(out, "PM1a_CNT", Some(regs.pm1a))?;
    write_register(out, "PM1b_CNT", regs.pm1b)?;
    match regs.reset {
        Ok(r) => write!(out, "RESET_REG {}, value {:#04x}\r\n", r.register, r.value)?,
        Err(e) => write!(out, "RESET_REG {e}\r\n")?,
    }
    match find_s5(rsdp_phys) {
        Ok(s5) => write!(
            out,
            "\\_S5      SLP_TYPa {}, SLP_TYPb {}  (in the {} at {:#x})\r\n",
            s5.sleep.a,
            s5.sleep.b,
            Ascii(&s5.signature),
            s5.phys
        ),
        Err(e) => write!(out, "\\_S5      not usable: {e}\r\n"),
    }
}
