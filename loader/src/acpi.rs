//! Just enough ACPI for the loader: find the MADT through the RSDP and list the IOAPICs, so
//! their redirection entries can be masked before the kernel runs (the protocol's entry state).
//!
//! Physical memory is read through a caller-supplied function, so the walk is host-testable
//! over a byte array. Every table is length- and checksum-checked; a broken table yields an
//! error and the loader carries on without masking (it cannot do better).

use alloc::vec::Vec;
use core::fmt;

/// An IOAPIC from the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApic {
    /// APIC ID.
    pub id: u8,
    /// Physical address of its register window.
    pub address: u32,
    /// First global system interrupt it handles.
    pub gsi_base: u32,
}

/// Why the ACPI walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// The RSDP signature or checksum is wrong.
    BadRsdp,
    /// A table's header, length or checksum is wrong (signature given).
    BadTable([u8; 4]),
    /// Physical memory could not be read at this address.
    Unreadable(u64),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRsdp => f.write_str("ACPI RSDP has a bad signature or checksum"),
            Self::BadTable(sig) => {
                write!(
                    f,
                    "ACPI table {} is malformed",
                    core::str::from_utf8(sig).unwrap_or("????")
                )
            }
            Self::Unreadable(addr) => write!(f, "cannot read ACPI data at {addr:#x}"),
        }
    }
}

impl core::error::Error for AcpiError {}

/// Reads `len` bytes of physical memory at `addr`, or `None` if out of range.
pub trait PhysRead {
    /// The bytes at `[addr, addr + len)`.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;
}

fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Reads a whole SDT (header + body) at `addr`, checking length and checksum.
fn table(mem: &impl PhysRead, addr: u64) -> Result<&[u8], AcpiError> {
    let header = mem.read(addr, 36).ok_or(AcpiError::Unreadable(addr))?;
    let sig: [u8; 4] = header[..4]
        .try_into()
        .map_err(|_| AcpiError::Unreadable(addr))?;
    let len = u32_at(header, 4).ok_or(AcpiError::BadTable(sig))? as usize;
    if !(36..=16 << 20).contains(&len) {
        return Err(AcpiError::BadTable(sig));
    }
    let bytes = mem.read(addr, len).ok_or(AcpiError::Unreadable(addr))?;
    if !checksum_ok(bytes) {
        return Err(AcpiError::BadTable(sig));
    }
    Ok(bytes)
}

/// Finds the table with `signature` through the RSDP at `rsdp` (XSDT when present, else RSDT).
pub fn find_table<'a>(
    mem: &'a impl PhysRead,
    rsdp: u64,
    signature: &[u8; 4],
) -> Result<Option<&'a [u8]>, AcpiError> {
    let v1 = mem.read(rsdp, 20).ok_or(AcpiError::Unreadable(rsdp))?;
    if &v1[..8] != b"RSD PTR " || !checksum_ok(v1) {
        return Err(AcpiError::BadRsdp);
    }
    let revision = v1[15];
    let (root, entry_size) = if revision >= 2 {
        let v2 = mem.read(rsdp, 36).ok_or(AcpiError::Unreadable(rsdp))?;
        if !checksum_ok(v2) {
            return Err(AcpiError::BadRsdp);
        }
        match u64_at(v2, 24) {
            Some(xsdt) if xsdt != 0 => (xsdt, 8),
            _ => (u64::from(u32_at(v1, 16).ok_or(AcpiError::BadRsdp)?), 4),
        }
    } else {
        (u64::from(u32_at(v1, 16).ok_or(AcpiError::BadRsdp)?), 4)
    };
    let root_table = table(mem, root)?;
    for entry in root_table[36..].chunks_exact(entry_size) {
        let addr = if entry_size == 8 {
            u64_at(entry, 0)
        } else {
            u32_at(entry, 0).map(u64::from)
        };
        let Some(addr) = addr.filter(|a| *a != 0) else {
            continue;
        };
        let Some(header) = mem.read(addr, 4) else {
            continue;
        };
        if header == signature {
            return table(mem, addr).map(Some);
        }
    }
    Ok(None)
}

/// Lists the IOAPICs described by the MADT, if there is one.
pub fn io_apics(mem: &impl PhysRead, rsdp: u64) -> Result<Vec<IoApic>, AcpiError> {
    let Some(madt) = find_table(mem, rsdp, b"APIC")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    // Header (36) + local APIC address (4) + flags (4), then variable-length entries.
    let mut off = 44;
    while off + 2 <= madt.len() {
        let (ty, len) = (madt[off], madt[off + 1] as usize);
        if len < 2 || off + len > madt.len() {
            return Err(AcpiError::BadTable(*b"APIC"));
        }
        if ty == 1 && len >= 12 {
            let e = &madt[off..off + len];
            out.push(IoApic {
                id: e[2],
                address: u32_at(e, 4).ok_or(AcpiError::BadTable(*b"APIC"))?,
                gsi_base: u32_at(e, 8).ok_or(AcpiError::BadTable(*b"APIC"))?,
            });
        }
        off += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulated physical memory: a byte array starting at address 0.
    struct Mem(Vec<u8>);

    impl PhysRead for Mem {
        fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
            let start = usize::try_from(addr).ok()?;
            self.0.get(start..start.checked_add(len)?)
        }
    }

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(sig);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.extend_from_slice(&[1, 0]);
        t.extend_from_slice(b"OEMID OEMTABLE");
        t.resize(36, 0);
        t.extend_from_slice(body);
        fix_checksum(&mut t, 9);
        t
    }

    /// RSDP v2 at 0x100, XSDT at 0x200, MADT at 0x400 with two IOAPICs and a LAPIC entry.
    fn machine(xsdt: bool) -> Mem {
        let mut mem = vec![0u8; 0x1000];
        let mut madt_body = vec![0u8; 8];
        madt_body.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]); // processor LAPIC
        madt_body.extend_from_slice(&[1, 12, 4, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0]);
        madt_body.extend_from_slice(&[1, 12, 5, 0, 0x00, 0x10, 0xc0, 0xfe, 24, 0, 0, 0]);
        let madt = sdt(b"APIC", &madt_body);
        mem[0x400..0x400 + madt.len()].copy_from_slice(&madt);
        let facp = sdt(b"FACP", &[0; 8]);
        mem[0x300..0x300 + facp.len()].copy_from_slice(&facp);
        let root = if xsdt {
            sdt(
                b"XSDT",
                &[0x300u64.to_le_bytes(), 0x400u64.to_le_bytes()].concat(),
            )
        } else {
            sdt(
                b"RSDT",
                &[0x300u32.to_le_bytes(), 0x400u32.to_le_bytes()].concat(),
            )
        };
        mem[0x200..0x200 + root.len()].copy_from_slice(&root);
        let mut rsdp = vec![0u8; 36];
        rsdp[..8].copy_from_slice(b"RSD PTR ");
        rsdp[15] = if xsdt { 2 } else { 0 };
        rsdp[16..20].copy_from_slice(&0x200u32.to_le_bytes());
        rsdp[20..24].copy_from_slice(&36u32.to_le_bytes());
        rsdp[24..32].copy_from_slice(&(if xsdt { 0x200u64 } else { 0 }).to_le_bytes());
        fix_checksum(&mut rsdp[..20], 8);
        fix_checksum(&mut rsdp, 32);
        mem[0x100..0x100 + 36].copy_from_slice(&rsdp);
        Mem(mem)
    }

    #[test]
    fn finds_io_apics_via_xsdt_and_rsdt() {
        for xsdt in [true, false] {
            let apics = io_apics(&machine(xsdt), 0x100).expect("valid tables");
            assert_eq!(
                apics,
                vec![
                    IoApic {
                        id: 4,
                        address: 0xfec0_0000,
                        gsi_base: 0
                    },
                    IoApic {
                        id: 5,
                        address: 0xfec0_1000,
                        gsi_base: 24
                    }
                ]
            );
        }
    }

    #[test]
    fn rejects_broken_tables() {
        let mut m = machine(true);
        m.0[0x100] = b'X';
        assert_eq!(io_apics(&m, 0x100), Err(AcpiError::BadRsdp));
        let mut m = machine(true);
        m.0[0x410] ^= 0xff; // MADT checksum now wrong
        assert_eq!(io_apics(&m, 0x100), Err(AcpiError::BadTable(*b"APIC")));
        let mut m = machine(true);
        m.0[0x404] = 0xff; // MADT length runs off the end of memory
        assert!(io_apics(&m, 0x100).is_err());
        assert_eq!(
            io_apics(&machine(true), 0x2000),
            Err(AcpiError::Unreadable(0x2000))
        );
    }

    #[test]
    fn random_memory_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..2000 {
            let mut m = machine(seed & 1 == 0);
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = 0x100 + (seed % 0x400) as usize;
                m.0[at] = (seed >> 32) as u8;
            }
            let _ = io_apics(&m, 0x100);
        }
    }
}
