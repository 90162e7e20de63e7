//! Pure decoding of ACPI firmware bytes: the RSDP, table headers, the root table's entries, and
//! Generic Address Structures as registers the kernel can drive.
//!
//! The `acpi` crate parses the tables the kernel uses (FADT, MADT), but its `AcpiTables` does
//! not say where each table lies, which the `acpi` shell command lists; so the RSDP and the
//! root table are read here from their bytes (ACPI spec, "Root System Description Pointer",
//! "System Description Table Header", "Extended System Description Table"). Every read is
//! bounds-checked; nothing here panics on any input.

use acpi::address::{AccessSize, AddressSpace, GenericAddress};

/// Size of the common table header.
pub const HEADER_LEN: usize = 36;
/// Size of the ACPI 1.0 RSDP (checksum over these bytes).
pub const RSDP_V1_LEN: usize = 20;
/// Size of the ACPI 2.0+ RSDP.
pub const RSDP_V2_LEN: usize = 36;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut v = [0u8; 8];
    v.copy_from_slice(b);
    Some(u64::from_le_bytes(v))
}

/// The byte sum of `bytes` (a valid table sums to zero).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// The RSDP's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 for ACPI 2.0 and later.
    pub revision: u8,
    /// The OEM ID (six bytes, space-padded).
    pub oem_id: [u8; 6],
    /// Physical address of the RSDT (32-bit; 0 when absent).
    pub rsdt: u32,
    /// Physical address of the XSDT (revision 2 and later, when non-zero).
    pub xsdt: Option<u64>,
}

impl Rsdp {
    /// The root table to use: (physical address, whether it is the XSDT). The XSDT when the
    /// RSDP has one, else the RSDT; `None` when neither is set.
    pub fn root(&self) -> Option<(u64, bool)> {
        match (self.xsdt, self.rsdt) {
            (Some(x), _) => Some((x, true)),
            (None, 0) => None,
            (None, r) => Some((u64::from(r), false)),
        }
    }
}

/// Why RSDP bytes were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsdpError {
    /// Fewer bytes than the revision needs.
    Short,
    /// No "RSD PTR " signature.
    Signature,
    /// The ACPI 1.0 checksum (first 20 bytes) does not sum to zero.
    Checksum,
    /// The extended checksum (the whole structure) does not sum to zero.
    ExtendedChecksum,
}

impl core::fmt::Display for RsdpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Short => "RSDP truncated",
            Self::Signature => "no RSDP signature",
            Self::Checksum => "RSDP checksum mismatch",
            Self::ExtendedChecksum => "RSDP extended checksum mismatch",
        })
    }
}

impl core::error::Error for RsdpError {}

/// Decodes an RSDP (at least [`RSDP_V2_LEN`] bytes for revision 2 and later), checksums
/// included.
///
/// # Errors
/// [`RsdpError`] for a short, unsigned or badly summed structure.
pub fn parse_rsdp(bytes: &[u8]) -> Result<Rsdp, RsdpError> {
    let v1 = bytes.get(..RSDP_V1_LEN).ok_or(RsdpError::Short)?;
    if &v1[..8] != b"RSD PTR " {
        return Err(RsdpError::Signature);
    }
    if checksum(v1) != 0 {
        return Err(RsdpError::Checksum);
    }
    let revision = v1[15];
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&v1[9..15]);
    let rsdt = u32_at(v1, 16).ok_or(RsdpError::Short)?;
    let xsdt = if revision >= 2 {
        let v2 = bytes.get(..RSDP_V2_LEN).ok_or(RsdpError::Short)?;
        if checksum(v2) != 0 {
            return Err(RsdpError::ExtendedChecksum);
        }
        u64_at(v2, 24).filter(|&x| x != 0)
    } else {
        None
    };
    Ok(Rsdp {
        revision,
        oem_id,
        rsdt,
        xsdt,
    })
}

/// A table header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Four ASCII letters ("FACP", "APIC", ...).
    pub signature: [u8; 4],
    /// Length of the whole table, header included.
    pub length: u32,
    /// The table's revision.
    pub revision: u8,
    /// The OEM ID (six bytes, space-padded).
    pub oem_id: [u8; 6],
}

/// Decodes a table header; `None` for fewer than [`HEADER_LEN`] bytes or a length field that
/// is shorter than the header.
pub fn parse_header(bytes: &[u8]) -> Option<Header> {
    let h = bytes.get(..HEADER_LEN)?;
    let length = u32_at(h, 4)?;
    if (length as usize) < HEADER_LEN {
        return None;
    }
    let mut signature = [0u8; 4];
    signature.copy_from_slice(&h[..4]);
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&h[10..16]);
    Some(Header {
        signature,
        length,
        revision: h[8],
        oem_id,
    })
}

/// The physical addresses an XSDT (8-byte entries) or RSDT (4-byte entries) lists, from the
/// whole table's bytes; `None` for another signature or a bad header. Entries stop at the
/// header's length (or the bytes given, if fewer); a partial last entry is ignored.
pub fn root_entries(table: &[u8]) -> Option<impl Iterator<Item = u64> + '_> {
    let header = parse_header(table)?;
    let size = match &header.signature {
        b"XSDT" => 8,
        b"RSDT" => 4,
        _ => return None,
    };
    let end = (header.length as usize).min(table.len());
    let body = table.get(HEADER_LEN..end)?;
    Some(body.chunks_exact(size).map(move |c| {
        if size == 8 {
            u64_at(c, 0).unwrap_or(0)
        } else {
            u32_at(c, 0).map_or(0, u64::from)
        }
    }))
}

/// Shows firmware ASCII (a signature, an OEM ID): printable bytes as they are, others as `?`,
/// trailing spaces and NULs dropped.
#[derive(Debug, Clone, Copy)]
pub struct Ascii<'a>(pub &'a [u8]);

impl core::fmt::Display for Ascii<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let end = self
            .0
            .iter()
            .rposition(|&b| b != b' ' && b != 0)
            .map_or(0, |i| i + 1);
        // Collected first so that width and alignment apply (`{:<6}`); at most 64 shown.
        let mut text = heapless::String::<64>::new();
        for &b in self.0[..end].iter().take(64) {
            let c = if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            };
            let _ = text.push(c);
        }
        f.pad(&text)
    }
}

/// Where a register lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// An I/O port.
    Io(u16),
    /// A physical memory address.
    Memory(u64),
}

/// How wide an access to a register is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Word,
    /// 32 bits.
    Dword,
    /// 64 bits.
    Qword,
}

impl Width {
    /// Bytes per access.
    pub const fn bytes(self) -> u8 {
        match self {
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
            Self::Qword => 8,
        }
    }

    /// The values an access of this width can carry.
    pub const fn mask(self) -> u64 {
        match self {
            Self::Qword => u64::MAX,
            w => (1u64 << (8 * w.bytes() as u32)) - 1,
        }
    }
}

/// A register a Generic Address Structure describes, in a space and width the kernel drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Register {
    /// Where.
    pub space: Space,
    /// Access width.
    pub width: Width,
}

impl core::fmt::Display for Register {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bits = 8 * u32::from(self.width.bytes());
        match self.space {
            Space::Io(port) => write!(f, "I/O port {port:#x} ({bits}-bit)"),
            Space::Memory(addr) => write!(f, "memory {addr:#x} ({bits}-bit)"),
        }
    }
}

/// Why a Generic Address Structure gives no register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// Address zero: the firmware describes no register.
    Absent,
    /// The FADT says the feature is not supported (e.g. RESET_REG_SUP clear).
    NotSupported,
    /// The structure does not decode (reserved address-space ID or access size).
    Invalid,
    /// An address space the kernel does not drive (PCI configuration, embedded controller...).
    UnsupportedSpace(AddressSpace),
    /// An I/O address above 0xffff.
    PortOutOfRange(u64),
    /// The register starts at a bit offset (sub-register access is not supported).
    BitOffset(u8),
    /// A bit width that is no access width (and no access size given).
    BadWidth(u8),
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Absent => f.write_str("not present"),
            Self::NotSupported => f.write_str("not supported by the firmware"),
            Self::Invalid => f.write_str("malformed generic address"),
            Self::UnsupportedSpace(s) => write!(f, "address space {s:?} not supported"),
            Self::PortOutOfRange(a) => write!(f, "I/O address {a:#x} out of range"),
            Self::BitOffset(o) => write!(f, "bit offset {o} not supported"),
            Self::BadWidth(w) => write!(f, "bit width {w} not supported"),
        }
    }
}

impl core::error::Error for RegisterError {}

/// Decodes a Generic Address Structure into a register. The width is the access size when
/// the structure gives one, else the bit width, else `natural` (the register's width by the
/// spec: 16 bits for PM1x_CNT, 8 for the reset register).
///
/// # Errors
/// [`RegisterError`] for address zero, another space than system I/O or memory, an I/O
/// address above 0xffff, a bit offset, or a width that is no access width.
pub fn decode(gas: &GenericAddress, natural: Width) -> Result<Register, RegisterError> {
    if gas.address == 0 {
        return Err(RegisterError::Absent);
    }
    if gas.bit_offset != 0 {
        return Err(RegisterError::BitOffset(gas.bit_offset));
    }
    let width = match gas.access_size {
        AccessSize::ByteAccess => Width::Byte,
        AccessSize::WordAccess => Width::Word,
        AccessSize::DWordAccess => Width::Dword,
        AccessSize::QWordAccess => Width::Qword,
        AccessSize::Undefined => match gas.bit_width {
            0 => natural,
            8 => Width::Byte,
            16 => Width::Word,
            32 => Width::Dword,
            64 => Width::Qword,
            w => return Err(RegisterError::BadWidth(w)),
        },
    };
    let space = match gas.address_space {
        AddressSpace::SystemIo => Space::Io(
            u16::try_from(gas.address).map_err(|_| RegisterError::PortOutOfRange(gas.address))?,
        ),
        AddressSpace::SystemMemory => Space::Memory(gas.address),
        other => return Err(RegisterError::UnsupportedSpace(other)),
    };
    if matches!(space, Space::Io(_)) && width == Width::Qword {
        return Err(RegisterError::BadWidth(64));
    }
    Ok(Register { space, width })
}

#[cfg(test)]
mod tests;
