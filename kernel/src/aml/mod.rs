//! A minimal AML reader: the `\_S5` (soft-off) sleep type from DSDT and SSDT bytes.
//!
//! Key items: [`find_s5`] (AML bytes to a [`SleepType`]), [`find_s5_in_table`] (a whole table,
//! header checked), [`pm1_control_value`] (what to write to PM1x_CNT to enter the state).
//!
//! Why not the `aml` crate (rust-osdev): its last release (0.16.4) needs the unstable
//! `decl_macro` feature and does not build on the stable toolchain this project pins; its successor lives inside `acpi` 6.x,
//! which needs nightly too (see docs/architecture.md, Ecosystem). Entering S5 needs one
//! object, so this module reads just that, as most small kernels do: it looks for the
//! encoding of `Name (_S5, Package (...) { a, b, ... })` (ACPI spec, "ACPI Machine Language
//! Specification": `DefName := NameOp NameString DataRefObject`, `DefPackage := PackageOp
//! PkgLength NumElements PackageElementList`) and decodes the first two elements.
//!
//! Encodings handled: NameOp (0x08) with the name `_S5_` optionally preceded by the root
//! prefix `\`; PackageOp (0x12); PkgLength in its 1- to 4-byte forms; elements ZeroOp (0x00),
//! OneOp (0x01), OnesOp (0xFF), BytePrefix (0x0A), WordPrefix (0x0B), DWordPrefix (0x0C) and
//! QWordPrefix (0x0E). A one-element package is read as packed (low byte SLP_TYPa, next byte
//! SLP_TYPb). Not handled: `_S5` as a method, or placed under another scope (the scan does
//! not track scopes; a `_S5_` elsewhere would be taken as well), which `find_s5` reports as
//! not found or as the first valid match.
//!
//! Hostile input: every read is bounds-checked, a package must end inside the bytes, a match
//! that does not decode does not stop the search for a later one, and the values must fit the
//! 3-bit SLP_TYP field. Nothing here panics on any input.

/// The sleep type values for PM1a_CNT.SLP_TYP and PM1b_CNT.SLP_TYP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepType {
    /// For PM1a_CNT.
    pub a: u8,
    /// For PM1b_CNT (ignored when the FADT has no PM1b block).
    pub b: u8,
}

/// Why no `\_S5` sleep type came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmlError {
    /// No `Name (_S5, Package ...)` in the bytes.
    NotFound,
    /// A `_S5_` name whose object runs past the end of the bytes.
    Truncated,
    /// `_S5_` is named, but its object is not a package.
    NotAPackage,
    /// A malformed PkgLength.
    BadLength,
    /// An element that is not an integer constant (its opcode).
    BadElement(u8),
    /// A package without elements.
    Empty,
    /// A value that does not fit SLP_TYP (3 bits).
    OutOfRange(u64),
    /// The table is too short, or not a DSDT or SSDT.
    BadTable,
}

impl core::fmt::Display for AmlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no \\_S5 package in the AML"),
            Self::Truncated => f.write_str("the \\_S5 package runs past the end of the table"),
            Self::NotAPackage => f.write_str("\\_S5 is not a package"),
            Self::BadLength => f.write_str("malformed package length in \\_S5"),
            Self::BadElement(op) => {
                write!(f, "\\_S5 element with opcode {op:#04x} is not a constant")
            }
            Self::Empty => f.write_str("the \\_S5 package is empty"),
            Self::OutOfRange(v) => write!(f, "\\_S5 value {v:#x} does not fit SLP_TYP"),
            Self::BadTable => f.write_str("not a DSDT or SSDT"),
        }
    }
}

impl core::error::Error for AmlError {}

const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const ROOT_CHAR: u8 = b'\\';
const S5: &[u8; 4] = b"_S5_";

/// Size of the common ACPI table header (signature, length, revision, checksum, OEM fields).
pub const HEADER_LEN: usize = 36;

/// Finds `\_S5` in a whole DSDT or SSDT (header included). The header's length field bounds
/// the AML (clamped to the bytes given).
///
/// # Errors
///
/// [`AmlError::BadTable`] for a short table or another signature; otherwise as [`find_s5`].
pub fn find_s5_in_table(table: &[u8]) -> Result<SleepType, AmlError> {
    let signature = table.get(..4).ok_or(AmlError::BadTable)?;
    if signature != b"DSDT" && signature != b"SSDT" {
        return Err(AmlError::BadTable);
    }
    let length = table
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(AmlError::BadTable)?;
    if length < HEADER_LEN || table.len() < HEADER_LEN {
        return Err(AmlError::BadTable);
    }
    find_s5(&table[HEADER_LEN..length.min(table.len())])
}

/// Finds `\_S5` in AML bytes (a table's body).
///
/// # Errors
///
/// [`AmlError::NotFound`] when no candidate exists; otherwise, when no candidate decodes, the
/// reason the last one failed.
pub fn find_s5(aml: &[u8]) -> Result<SleepType, AmlError> {
    let mut last = AmlError::NotFound;
    let mut from = 0;
    while let Some(off) = aml.get(from..).and_then(|rest| find(rest, S5)) {
        let at = from + off;
        from = at + 1;
        let named = match at.checked_sub(1).and_then(|i| aml.get(i)) {
            Some(&NAME_OP) => true,
            Some(&ROOT_CHAR) => at.checked_sub(2).and_then(|i| aml.get(i)) == Some(&NAME_OP),
            _ => false,
        };
        if !named {
            continue;
        }
        match decode_package(aml, at + S5.len()) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a PkgLength at `at`: (the length it encodes, bytes it took).
pub fn pkg_length(aml: &[u8], at: usize) -> Result<(usize, usize), AmlError> {
    let lead = *aml.get(at).ok_or(AmlError::Truncated)?;
    let follow = usize::from(lead >> 6);
    if follow == 0 {
        return Ok((usize::from(lead & 0x3F), 1));
    }
    if lead & 0x30 != 0 {
        return Err(AmlError::BadLength);
    }
    let mut len = usize::from(lead & 0x0F);
    for i in 0..follow {
        let b = *aml.get(at + 1 + i).ok_or(AmlError::Truncated)?;
        len |= usize::from(b) << (4 + 8 * i);
    }
    Ok((len, 1 + follow))
}

fn decode_package(aml: &[u8], at: usize) -> Result<SleepType, AmlError> {
    match aml.get(at) {
        Some(&PACKAGE_OP) => {}
        Some(_) => return Err(AmlError::NotAPackage),
        None => return Err(AmlError::Truncated),
    }
    let start = at + 1;
    let (len, took) = pkg_length(aml, start)?;
    // The length counts its own bytes.
    if len < took + 1 {
        return Err(AmlError::BadLength);
    }
    let end = start.checked_add(len).ok_or(AmlError::BadLength)?;
    let body = aml.get(..end).ok_or(AmlError::Truncated)?;
    let count = *body.get(start + took).ok_or(AmlError::Truncated)?;
    if count == 0 {
        return Err(AmlError::Empty);
    }
    let mut pos = start + took + 1;
    let mut values = [0u64; 2];
    let wanted = usize::from(count).min(2);
    for v in values.iter_mut().take(wanted) {
        let (value, took) = integer(body, pos)?;
        *v = value;
        pos += took;
    }
    let (a, b) = if wanted == 1 {
        (values[0] & 0xFF, (values[0] >> 8) & 0xFF)
    } else {
        (values[0], values[1])
    };
    let fit = |v: u64| {
        u8::try_from(v)
            .ok()
            .filter(|&v| v <= 7)
            .ok_or(AmlError::OutOfRange(v))
    };
    Ok(SleepType {
        a: fit(a)?,
        b: fit(b)?,
    })
}

/// Decodes an integer constant at `at`: (value, bytes it took).
fn integer(aml: &[u8], at: usize) -> Result<(u64, usize), AmlError> {
    let op = *aml.get(at).ok_or(AmlError::Truncated)?;
    let size = match op {
        0x00 => return Ok((0, 1)),
        0x01 => return Ok((1, 1)),
        0xFF => return Ok((u64::MAX, 1)),
        0x0A => 1,
        0x0B => 2,
        0x0C => 4,
        0x0E => 8,
        _ => return Err(AmlError::BadElement(op)),
    };
    let bytes = aml.get(at + 1..at + 1 + size).ok_or(AmlError::Truncated)?;
    let value = bytes
        .iter()
        .rev()
        .fold(0u64, |v, &b| (v << 8) | u64::from(b));
    Ok((value, 1 + size))
}

/// PM1 control register bits (ACPI spec, "PM1 Control Registers").
pub const SLP_TYP_SHIFT: u16 = 10;
/// SLP_EN: writing 1 enters the sleep state in SLP_TYP.
pub const SLP_EN: u16 = 1 << 13;

/// The value to write to a PM1x_CNT register whose current value is `current` to enter the
/// sleep state `slp_typ` (other bits preserved).
pub const fn pm1_control_value(current: u16, slp_typ: u8) -> u16 {
    (current & !(0x7 << SLP_TYP_SHIFT)) | (((slp_typ & 0x7) as u16) << SLP_TYP_SHIFT) | SLP_EN
}

#[cfg(test)]
mod tests;
