//! Bounds-checked little-endian accessors for byte images.

use core::fmt;

/// An access to a byte image fell (partly) outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    /// Offset of the attempted access.
    pub offset: usize,
    /// Size of the attempted access in bytes.
    pub size: usize,
    /// Length of the image.
    pub len: usize,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "access of {} bytes at offset {:#x} lies outside the {:#x}-byte kernel image \
             (loader bug or truncated image)",
            self.size, self.offset, self.len
        )
    }
}

impl core::error::Error for OutOfBounds {}

/// Reads a little-endian `u64` at `offset`; `None` if the 8 bytes are not all inside `bytes`.
/// The offset need not be aligned.
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(8)?;
    let raw: [u8; 8] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

/// Writes `value` little-endian at `offset`.
///
/// # Errors
///
/// [`OutOfBounds`] if the 8 bytes are not all inside `bytes`; nothing is written then.
pub fn write_u64(bytes: &mut [u8], offset: usize, value: u64) -> Result<(), OutOfBounds> {
    let len = bytes.len();
    let err = OutOfBounds {
        offset,
        size: 8,
        len,
    };
    let end = offset.checked_add(8).ok_or(err)?;
    let dst = bytes.get_mut(offset..end).ok_or(err)?;
    dst.copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// True if the words at `offset` equal `words` (all of them inside `bytes`).
pub(super) fn words_match(bytes: &[u8], offset: usize, words: &[u64]) -> bool {
    words.iter().enumerate().all(|(i, &w)| {
        i.checked_mul(8)
            .and_then(|d| offset.checked_add(d))
            .and_then(|o| read_u64(bytes, o))
            == Some(w)
    })
}
