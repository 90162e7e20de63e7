//! The BIOS entry's decisions: the E820 memory map in Limine's types, where the ACPI RSDP and
//! the SMBIOS entry points are, the page allocator over usable memory, and which Multiboot
//! module a configuration path names.
//!
//! The glue (`src/bin/bios/`) reads the Multiboot information with [`crate::multiboot`], then
//! asks this module; the boot sequence itself is [`crate::boot`], as on UEFI.
//!
//! # E820 types ([`limine_type`])
//!
//! | E820 type (ACPI 6.5, table 15.4)            | Limine type            |
//! |---------------------------------------------|------------------------|
//! | 1 AddressRangeMemory                        | USABLE                 |
//! | 3 AddressRangeACPI                          | ACPI_RECLAIMABLE       |
//! | 4 AddressRangeNVS                           | ACPI_NVS               |
//! | 5 AddressRangeUnusable                      | BAD_MEMORY             |
//! | 2 Reserved, 6 Disabled, 7 Persistent, other | RESERVED               |
//!
//! Zero-length entries are dropped; an entry whose end would pass 2^64 is cut at `u64::MAX`;
//! overlaps and disorder are resolved by [`crate::memmap::build_with`].

use alloc::vec::Vec;

use crate::acpi::PhysRead;
use crate::memmap::{self, TypedRegion};
use crate::multiboot::{E820Entry, Module};
use crate::protocol::{
    MEMMAP_ACPI_NVS, MEMMAP_ACPI_RECLAIMABLE, MEMMAP_BAD_MEMORY, MEMMAP_BOOTLOADER_RECLAIMABLE,
    MEMMAP_RESERVED, MEMMAP_USABLE,
};

/// Page size of the allocator.
pub const PAGE: u64 = 4096;
/// The allocator never hands out memory below 1 MiB (BIOS data, EBDA, option ROMs).
pub const ALLOC_FLOOR: u64 = 0x10_0000;
/// Nor at or above 4 GiB: the entry stub identity-maps only the low 4 GiB.
pub const ALLOC_CEILING: u64 = 1 << 32;

/// The Limine type of E820 type `e820` (see the module docs).
pub const fn limine_type(e820: u32) -> u64 {
    match e820 {
        1 => MEMMAP_USABLE,
        3 => MEMMAP_ACPI_RECLAIMABLE,
        4 => MEMMAP_ACPI_NVS,
        5 => MEMMAP_BAD_MEMORY,
        _ => MEMMAP_RESERVED,
    }
}

/// The E820 map as Limine-typed firmware regions (zero lengths dropped, ends cut at 2^64).
pub fn limine_regions(map: &[E820Entry]) -> Vec<TypedRegion> {
    map.iter()
        .filter(|e| e.length > 0)
        .map(|e| TypedRegion {
            base: e.base,
            length: e.length.min(u64::MAX - e.base),
            ty: limine_type(e.ty),
        })
        .filter(|r| r.length > 0)
        .collect()
}

/// `[start, end)` ranges as page-rounded-out BOOTLOADER_RECLAIMABLE regions (what the loader
/// itself occupies: its image, the modules, the Multiboot information, its allocations).
pub fn reclaimable(ranges: &[(u64, u64)]) -> Vec<TypedRegion> {
    ranges
        .iter()
        .filter(|(s, e)| e > s)
        .map(|&(s, e)| {
            let base = s & !(PAGE - 1);
            let end = e.checked_next_multiple_of(PAGE).unwrap_or(!(PAGE - 1));
            TypedRegion {
                base,
                length: end.saturating_sub(base),
                ty: MEMMAP_BOOTLOADER_RECLAIMABLE,
            }
        })
        .collect()
}

/// The module a configuration path names: `boot():/boot/kernel` and `/boot/kernel` both name
/// the module whose [`Module::name`] is `/boot/kernel`; a name without the leading slash
/// matches too. The first match wins.
pub fn find_module<'m>(modules: &'m [Module], path: &str) -> Option<&'m Module> {
    let path = path.strip_prefix("boot():").unwrap_or(path);
    let bare = path.trim_start_matches('/');
    if bare.is_empty() {
        return None;
    }
    modules.iter().find(|m| m.name() == path).or_else(|| {
        modules
            .iter()
            .find(|m| m.name().trim_start_matches('/') == bare)
    })
}

/// Where an RSDP scan looks: the first KiB of the EBDA (segment at 0x40E) and 0xE0000-0xFFFFF
/// (ACPI 6.5, 5.2.5.1 "Finding the RSDP on IA-PC Systems").
pub fn rsdp_scan_areas(mem: &impl PhysRead) -> Vec<(u64, u64)> {
    let mut areas = Vec::new();
    if let Some(b) = mem.read(0x40e, 2) {
        let ebda = u64::from(u16::from_le_bytes([b[0], b.get(1).copied().unwrap_or(0)])) << 4;
        // A plausible EBDA lies in conventional memory below the video area.
        if (0x500..0xa0000).contains(&ebda) {
            areas.push((ebda, (ebda + 1024).min(0xa0000)));
        }
    }
    areas.push((0xe0000, 0x10_0000));
    areas
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// Whether `bytes` start with a valid RSDP: "RSD PTR ", the ACPI 1.0 checksum over 20 bytes
/// and, for revision 2 and later, the extended checksum over its `length` (36..=4096 bytes).
pub fn rsdp_valid(bytes: &[u8]) -> bool {
    let Some(v1) = bytes.get(..20) else {
        return false;
    };
    if &v1[..8] != b"RSD PTR " || sum(v1) != 0 {
        return false;
    }
    if v1[15] < 2 {
        return true;
    }
    let Some(len) = bytes.get(20..24) else {
        return false;
    };
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    (36..=4096).contains(&len) && bytes.get(..len).is_some_and(|b| sum(b) == 0)
}

/// Length of the RSDP at the start of `bytes` (20 for ACPI 1.0, its `length` field else).
fn rsdp_len(bytes: &[u8]) -> usize {
    match (bytes.get(15), bytes.get(20..24)) {
        (Some(&rev), Some(l)) if rev >= 2 => u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
        _ => 20,
    }
}

/// Finds the RSDP on a PC: 16-byte aligned in the [`rsdp_scan_areas`], first valid one wins.
pub fn find_rsdp(mem: &impl PhysRead) -> Option<u64> {
    for (start, end) in rsdp_scan_areas(mem) {
        let mut at = start.next_multiple_of(16);
        while at + 20 <= end {
            let window = mem.read(at, 36).or_else(|| mem.read(at, 20));
            if let Some(w) = window
                && w.starts_with(b"RSD PTR ")
                && mem
                    .read(at, rsdp_len(w).clamp(20, 4096))
                    .is_some_and(rsdp_valid)
            {
                return Some(at);
            }
            at += 16;
        }
    }
    None
}

/// The RSDP to report: the firmware's own table when a scan finds one with the same bytes as
/// the Multiboot 2 loader's copy at `copy` (or any valid one without a copy); else the copy
/// itself if valid (it lives in the Multiboot information, bootloader-reclaimable memory).
pub fn choose_rsdp(mem: &impl PhysRead, copy: Option<u64>) -> Option<u64> {
    let scanned = find_rsdp(mem);
    let Some(copy) = copy else {
        return scanned;
    };
    let copy_bytes = mem
        .read(copy, 36)
        .or_else(|| mem.read(copy, 20))
        .filter(|b| rsdp_valid(b));
    let Some(copy_bytes) = copy_bytes else {
        return scanned;
    };
    let n = rsdp_len(copy_bytes).min(copy_bytes.len());
    match scanned {
        Some(at) if mem.read(at, n) == copy_bytes.get(..n) => Some(at),
        _ => Some(copy),
    }
}

/// The SMBIOS entry points (32-bit `_SM_`, 64-bit `_SM3_`), 16-byte aligned in
/// 0xF0000-0xFFFFF with valid checksums (SMBIOS 3.7, 5.2 "Table convention").
pub fn find_smbios(mem: &impl PhysRead) -> (Option<u64>, Option<u64>) {
    let (mut e32, mut e64) = (None, None);
    let mut at = 0xf0000u64;
    while at + 16 <= 0x10_0000 {
        if let Some(head) = mem.read(at, 8) {
            if e32.is_none() && head.starts_with(b"_SM_") {
                let len = usize::from(head[5]);
                if (0x1f..=0x20).contains(&len) && mem.read(at, len).is_some_and(|b| sum(b) == 0) {
                    e32 = Some(at);
                }
            } else if e64.is_none() && head.starts_with(b"_SM3_") {
                let len = usize::from(head[6]);
                if len >= 0x18 && mem.read(at, len).is_some_and(|b| sum(b) == 0) {
                    e64 = Some(at);
                }
            }
        }
        at += 16;
    }
    (e32, e64)
}

/// A bump page allocator over the usable memory of a map, avoiding given ranges.
///
/// Free memory is the USABLE part of the map as [`memmap::build_with`] resolves it (so a
/// hostile map cannot make reserved memory free), within [`ALLOC_FLOOR`]..[`ALLOC_CEILING`],
/// minus the `avoid` ranges rounded out to pages. Allocations go top-down; nothing is ever
/// freed. [`PageAllocator::used`] lists what was handed out, for the memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAllocator {
    free: Vec<(u64, u64)>,
    used: Vec<(u64, u64)>,
}

impl PageAllocator {
    /// The allocator over `map`'s usable memory minus `avoid`.
    pub fn new(map: &[TypedRegion], avoid: &[(u64, u64)]) -> Self {
        let usable: Vec<(u64, u64)> = memmap::build_with(&[], map, &[], u64::MAX)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.ty == MEMMAP_USABLE)
            .filter_map(|e| {
                let start = e.base.max(ALLOC_FLOOR);
                let end = e.base.saturating_add(e.length).min(ALLOC_CEILING);
                (end > start).then_some((start, end))
            })
            .collect();
        let mut avoid: Vec<(u64, u64)> = avoid
            .iter()
            .filter(|(s, e)| e > s)
            .map(|&(s, e)| {
                (
                    s & !(PAGE - 1),
                    e.checked_next_multiple_of(PAGE).unwrap_or(u64::MAX),
                )
            })
            .collect();
        avoid.sort_unstable();
        let mut free = Vec::new();
        for (mut start, end) in usable {
            for &(a, b) in &avoid {
                if b <= start || a >= end {
                    continue;
                }
                if a > start {
                    free.push((start, a));
                }
                start = start.max(b);
            }
            if end > start {
                free.push((start, end));
            }
        }
        Self {
            free,
            used: Vec::new(),
        }
    }

    /// `bytes` (rounded up to pages, at least one) aligned to `align` (a power of two; less
    /// than a page means a page), from the top of the highest free range that holds them (as
    /// UEFI firmware allocates: the loader's memory stays out of the kernel's way at the
    /// bottom); `None` when no free range holds them.
    pub fn allocate(&mut self, bytes: u64, align: u64) -> Option<u64> {
        let align = align.max(PAGE);
        if !align.is_power_of_two() {
            return None;
        }
        let size = bytes.max(1).checked_next_multiple_of(PAGE)?;
        for i in (0..self.free.len()).rev() {
            let (start, end) = *self.free.get(i)?;
            let Some(base) = end.checked_sub(size).map(|b| b & !(align - 1)) else {
                continue;
            };
            if base < start {
                continue;
            }
            let top = base + size;
            // Keep the alignment gap above free; take [base, top).
            let mut replacement = Vec::with_capacity(2);
            if base > start {
                replacement.push((start, base));
            }
            if end > top {
                replacement.push((top, end));
            }
            self.free.splice(i..=i, replacement);
            let at = self.used.partition_point(|r| r.0 < base);
            self.used.insert(at, (base, top));
            // Merge with neighbours.
            if at + 1 < self.used.len() && self.used[at].1 == self.used[at + 1].0 {
                self.used[at].1 = self.used[at + 1].1;
                self.used.remove(at + 1);
            }
            if at > 0 && self.used[at - 1].1 == self.used[at].0 {
                self.used[at - 1].1 = self.used[at].1;
                self.used.remove(at);
            }
            return Some(base);
        }
        None
    }

    /// The ranges handed out so far, sorted, adjacent ones merged.
    pub fn used(&self) -> &[(u64, u64)] {
        &self.used
    }

    /// The free ranges left.
    pub fn free(&self) -> &[(u64, u64)] {
        &self.free
    }
}

#[cfg(test)]
mod tests;
