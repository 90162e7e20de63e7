//! Firmware tables through the `acpi` crate: the crate's physical-memory handler.
//!
//! The crate reads tables through references into mappings its handler makes. The handler
//! here gets each mapping from the kernel's memory module (a function the caller passes, which
//! returns a [`Window`]) and checks it: the window covers the table and maps no memory the
//! kernel owns, so no reference the crate forms can alias a Rust object.

use core::ptr::NonNull;

use acpi::{AcpiError, AcpiHandler, AcpiTables, PhysicalMapping};
use pagetables::Cache;

use super::paging::{PAGE, Window, WindowError};

/// Maps `len` bytes at physical `phys` write-back and returns the window; panics when it
/// cannot (the crate's handler trait has no way to fail).
pub type MapTable = fn(phys: u64, len: u64) -> Window;

/// The [`AcpiHandler`]: checked windows from a [`MapTable`] function. Window space is not
/// reclaimed on unmap: the kernel maps a few dozen tables, once, at boot.
#[derive(Debug, Clone, Copy)]
pub struct TableMapper {
    map: MapTable,
}

impl AcpiHandler for TableMapper {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let phys = physical_address as u64;
        let window = (self.map)(phys, size.max(1) as u64);
        assert_eq!(window.phys(), phys, "ACPI window maps the wrong address");
        let virt = match window.check(size as u64, false) {
            Ok(virt) => virt,
            Err(e) => panic!("ACPI table at {phys:#x}+{size:#x}: {e}"),
        };
        let mapped = (size as u64 + (phys & (PAGE - 1))).next_multiple_of(PAGE) as usize;
        let ptr = NonNull::new(virt as *mut T).expect("the physical window is never at address 0");
        // SAFETY: `ptr` maps the `size` bytes at `physical_address` (checked just above), in
        // memory no Rust object lives in, and the crate's caller guarantees they hold a `T`.
        unsafe { PhysicalMapping::new(physical_address, ptr, size, mapped, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// The ACPI tables reached from the RSDP at physical address `rsdp`, each mapped with `map`.
///
/// # Errors
/// The crate's [`AcpiError`] when the RSDP or a table is invalid.
pub fn tables(rsdp: u64, map: MapTable) -> Result<AcpiTables<TableMapper>, AcpiError> {
    // SAFETY: the crate validates the RSDP's signature and checksum before trusting it, and
    // every byte it reads goes through `TableMapper`, which maps only memory the kernel does
    // not own (a wrong `rsdp` yields an error or a panic, not a read of Rust memory).
    unsafe { AcpiTables::from_rsdp(TableMapper { map }, rsdp as usize) }
}

/// Why [`table_bytes`] refused a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableBytesError {
    /// The window is writable or not write-back (device registers, not a firmware table).
    NotReadOnly,
    /// The window fails its check (it maps memory the kernel owns).
    Window(WindowError),
}

impl core::fmt::Display for TableBytesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotReadOnly => f.write_str("table window is not read-only write-back"),
            Self::Window(e) => write!(f, "table window: {e}"),
        }
    }
}

impl core::error::Error for TableBytesError {}

/// The bytes a read-only, write-back window maps: a firmware table whole (the DSDT's AML, a
/// root table's entries), for code that reads it as bytes rather than through the crate.
///
/// # Errors
/// [`TableBytesError`] for a writable or uncached window, or one onto memory the kernel owns.
pub fn table_bytes(window: &Window) -> Result<&[u8], TableBytesError> {
    if window.is_writable() || window.cache() != Cache::WriteBack {
        return Err(TableBytesError::NotReadOnly);
    }
    let virt = window
        .check(window.len(), false)
        .map_err(TableBytesError::Window)?;
    let len = usize::try_from(window.len())
        .map_err(|_| TableBytesError::Window(WindowError::BadRange))?;
    // SAFETY: `check` proved that `[virt, virt + len)` is mapped onto the window's physical
    // range, which holds no memory the kernel owns (so no Rust object aliases it); the mapping
    // is read-only and write-back, the kernel never writes there, and it is never unmapped
    // (windows are not reclaimed), so the bytes stay valid and unchanged for the borrow.
    Ok(unsafe { core::slice::from_raw_parts(virt as *const u8, len) })
}
