//! Little-endian readers over the file bytes (`None` when out of bounds) and address rounding.

pub(super) fn bytes<const N: usize>(data: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    data.get(offset..end)?.try_into().ok()
}

pub(super) fn u8_at(data: &[u8], offset: usize) -> Option<u8> {
    data.get(offset).copied()
}

pub(super) fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    bytes(data, offset).map(u16::from_le_bytes)
}

pub(super) fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    bytes(data, offset).map(u32::from_le_bytes)
}

pub(super) fn u64_at(data: &[u8], offset: usize) -> Option<u64> {
    bytes(data, offset).map(u64::from_le_bytes)
}

pub(super) const fn align_down(value: u64, align: u64) -> u64 {
    // `align` is a power of two at every call site.
    value & !(align.wrapping_sub(1))
}

pub(super) fn align_up(value: u64, align: u64) -> Option<u64> {
    value
        .checked_add(align.checked_sub(1)?)
        .map(|v| align_down(v, align))
}

pub(super) fn to_usize(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}
