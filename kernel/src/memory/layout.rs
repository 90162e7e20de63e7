//! The plan of the kernel's own page tables, from the memory map and the image layout (pure,
//! host-tested): which physical ranges the HHDM covers, how the image's parts are mapped, which
//! top-level slots the kernel's areas take, and what the reclaim log line counts.

use pagetables::{MapFlags, PAGE_SIZE_4K};

use crate::boot::info::{MemoryKind, MemoryRegion};

/// Most merged ranges the HHDM plan holds: as many as the kernel's copy of the memory map has
/// entries, so merging never drops one (a real map has a few dozen RAM entries).
pub const MAX_HHDM_RANGES: usize = crate::boot::info::MAX_MEMORY_REGIONS;

/// Whether the HHDM covers memory of `kind`: RAM of every sort (usable, bootloader-reclaimable,
/// the kernel image and modules, ACPI tables and ACPI NVS), never device memory, the
/// framebuffer or reserved ranges.
pub const fn in_hhdm(kind: MemoryKind) -> bool {
    matches!(
        kind,
        MemoryKind::Usable
            | MemoryKind::BootloaderReclaimable
            | MemoryKind::ExecutableAndModules
            | MemoryKind::AcpiReclaimable
            | MemoryKind::AcpiNvs
    )
}

/// The physical ranges `[start, end)` the HHDM maps: every [`in_hhdm`] region widened to whole
/// pages, clipped below `phys_limit` (2^MAXPHYADDR), sorted, with overlapping and touching
/// ranges merged (fewer, longer ranges take larger pages). Zero-length and wrapping entries are
/// skipped.
pub fn hhdm_ranges(
    map: &[MemoryRegion],
    phys_limit: u64,
) -> heapless::Vec<(u64, u64), MAX_HHDM_RANGES> {
    let mut out: heapless::Vec<(u64, u64), MAX_HHDM_RANGES> = heapless::Vec::new();
    for r in map.iter().filter(|r| in_hhdm(r.kind) && r.length > 0) {
        let Some(end) = r.base.checked_add(r.length) else {
            continue;
        };
        let start = r.base & !(PAGE_SIZE_4K - 1);
        let end = end
            .min(phys_limit)
            .checked_next_multiple_of(PAGE_SIZE_4K)
            .unwrap_or(phys_limit);
        if start >= end {
            continue;
        }
        // First range that ends at or after `start` (it may touch or overlap).
        let i = out.partition_point(|o| o.1 < start);
        if let Some(o) = out.get_mut(i)
            && o.0 <= end
        {
            o.0 = o.0.min(start);
            o.1 = o.1.max(end);
            while i + 1 < out.len() && out[i + 1].0 <= out[i].1 {
                out[i].1 = out[i].1.max(out[i + 1].1);
                out.remove(i + 1);
            }
        } else if out.insert(i, (start, end)).is_err() {
            break;
        }
    }
    out
}

/// Bytes of usable plus bootloader-reclaimable memory the map reports: what the frame
/// allocator should end up managing after reclaim (less what lies below 1 MiB or is clipped).
pub fn usable_and_reclaimable_bytes(map: &[MemoryRegion]) -> u64 {
    map.iter()
        .filter(|r| {
            matches!(
                r.kind,
                MemoryKind::Usable | MemoryKind::BootloaderReclaimable
            )
        })
        .fold(0u64, |sum, r| sum.saturating_add(r.length))
}

/// One part of the kernel image to map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Virtual start (page aligned).
    pub virt: u64,
    /// Physical start.
    pub phys: u64,
    /// Length in bytes (whole pages).
    pub len: u64,
    /// Rights: text RX, rodata R+NX, data RW+NX.
    pub flags: MapFlags,
}

/// The image's parts (`text`, `rodata`, `data` as virtual `[start, end)`, widened to pages)
/// mapped W^X at the physical addresses the executable-address response implies (`virt_base`
/// maps to `phys_base`, the image is contiguous). `global` marks them global. Empty parts or
/// parts below `virt_base` are left out (`None`).
pub fn kernel_segments(
    parts: [(u64, u64); 3],
    virt_base: u64,
    phys_base: u64,
    global: bool,
) -> [Option<Segment>; 3] {
    let rights = [(false, true), (false, false), (true, false)];
    core::array::from_fn(|i| {
        let (start, end) = parts[i];
        let start = start & !(PAGE_SIZE_4K - 1);
        let end = end.checked_next_multiple_of(PAGE_SIZE_4K)?;
        if end <= start {
            return None;
        }
        let phys = start.checked_sub(virt_base)?.checked_add(phys_base)?;
        let (writable, executable) = rights[i];
        Some(Segment {
            virt: start,
            phys,
            len: end - start,
            flags: MapFlags {
                global,
                ..MapFlags::kernel_segment(writable, executable)
            },
        })
    })
}

/// Three free higher-half top-level slots for the kernel's own areas (physical windows, stacks,
/// the mapping API's area), the highest ones below the image's slot (511) that `used` does not
/// claim. `None` when fewer than three are free.
pub fn pick_area_slots(used: impl Fn(usize) -> bool) -> Option<[usize; 3]> {
    let mut free = (256..511).rev().filter(|&i| !used(i));
    Some([free.next()?, free.next()?, free.next()?])
}

/// A bump allocator of virtual addresses in `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    base: u64,
    size: u64,
    next: u64,
}

impl Area {
    /// An empty area.
    pub const fn new(base: u64, size: u64) -> Area {
        Area {
            base,
            size,
            next: base,
        }
    }

    /// Start of the area.
    pub const fn base(&self) -> u64 {
        self.base
    }

    /// Size of the area.
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// Whether `addr` lies in the area.
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr - self.base < self.size
    }

    /// Claims `len` bytes whose start is `phase` past a multiple of `align` (a power of two):
    /// the virtual start, or `None` when the area is full.
    pub fn claim(&mut self, len: u64, align: u64, phase: u64) -> Option<u64> {
        let mask = align.checked_sub(1)?;
        let mut start = (self.next & !mask) | (phase & mask);
        if start < self.next {
            start = start.checked_add(align)?;
        }
        let end = start.checked_add(len)?;
        if end > self.base.checked_add(self.size)? {
            return None;
        }
        self.next = end;
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(base: u64, length: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion { base, length, kind }
    }

    #[test]
    fn hhdm_covers_ram_kinds_merged_and_page_rounded() {
        let map = [
            r(0, 0x9f000, MemoryKind::Usable),
            r(0x9f000, 0x1000, MemoryKind::Reserved),
            r(0x100000, 0x700000, MemoryKind::Usable),
            r(0x800000, 0x8000, MemoryKind::AcpiNvs),
            r(0x808000, 0x3000, MemoryKind::Usable),
            r(0x80b000, 0x1000, MemoryKind::AcpiNvs),
            r(0x80c000, 0x4000, MemoryKind::Usable),
            r(0x810000, 0xf0000, MemoryKind::AcpiNvs),
            r(0x900000, 0x1000_0000, MemoryKind::BootloaderReclaimable),
            r(0x1090_0000, 0x20_0000, MemoryKind::ExecutableAndModules),
            r(0x1f77_e123, 0x10, MemoryKind::AcpiReclaimable),
            r(0x8000_0000, 0x1000_0000, MemoryKind::Framebuffer),
            r(0xfee0_0000, 0x1000, MemoryKind::Reserved),
            r(0x1_0000_0000, 0x4000_0000, MemoryKind::Usable),
            r(0x5, 0, MemoryKind::Usable),
            r(u64::MAX - 0xfff, 0x2000, MemoryKind::Usable),
        ];
        let ranges = hhdm_ranges(&map, 1 << 40);
        assert_eq!(
            ranges.as_slice(),
            &[
                (0, 0x9f000),
                (0x100000, 0x1090_0000 + 0x20_0000),
                (0x1f77_e000, 0x1f77_f000),
                (0x1_0000_0000, 0x1_4000_0000),
            ]
        );
        // Clipped at MAXPHYADDR.
        let ranges = hhdm_ranges(&map, 0x1_2000_0000);
        assert_eq!(ranges.last(), Some(&(0x1_0000_0000, 0x1_2000_0000)));
    }

    #[test]
    fn hhdm_merges_unsorted_and_overlapping_input() {
        let map = [
            r(0x300000, 0x100000, MemoryKind::Usable),
            r(0x100000, 0x100000, MemoryKind::Usable),
            r(0x180000, 0x200000, MemoryKind::AcpiReclaimable),
            r(0x600000, 0x1000, MemoryKind::Usable),
            r(0x400000, 0x200000, MemoryKind::Usable),
        ];
        assert_eq!(
            hhdm_ranges(&map, 1 << 52).as_slice(),
            &[(0x100000, 0x601000)]
        );
    }

    #[test]
    fn expected_bytes_count_usable_and_reclaimable() {
        let map = [
            r(0x1000, 0x9e000, MemoryKind::Usable),
            r(0x100000, 0x100000, MemoryKind::BootloaderReclaimable),
            r(0x200000, 0x100000, MemoryKind::AcpiReclaimable),
            r(0x300000, 0x100000, MemoryKind::ExecutableAndModules),
        ];
        assert_eq!(usable_and_reclaimable_bytes(&map), 0x9e000 + 0x100000);
    }

    #[test]
    fn segments_are_w_xor_x_at_the_slid_physical_address() {
        let base = 0xffff_ffff_9000_0000;
        let parts = [
            (base, base + 0x2b000),
            (base + 0x2c000, base + 0xd9f48),
            (base + 0xda000, base + 0x10f000),
        ];
        let segs = kernel_segments(parts, base, 0x1e03_5000, true);
        let [Some(text), Some(rodata), Some(data)] = segs else {
            panic!("{segs:?}");
        };
        assert_eq!(
            (text.virt, text.phys, text.len),
            (base, 0x1e03_5000, 0x2b000)
        );
        assert!(!text.flags.writable && !text.flags.no_execute && text.flags.global);
        assert_eq!(rodata.phys, 0x1e03_5000 + 0x2c000);
        assert_eq!(rodata.len, 0xae000, "widened to whole pages");
        assert!(!rodata.flags.writable && rodata.flags.no_execute);
        assert!(data.flags.writable && data.flags.no_execute);
        for s in [text, rodata, data] {
            assert!(!s.flags.writable || s.flags.no_execute, "W^X");
        }
        let none = kernel_segments(
            [(base, base), (0, 0x1000), (base, base + 1)],
            base,
            0,
            false,
        );
        assert_eq!(none[0], None);
        assert_eq!(none[1], None, "below the base");
        assert_eq!(none[2].map(|s| s.len), Some(0x1000));
    }

    #[test]
    fn area_slots_and_claims() {
        assert_eq!(pick_area_slots(|i| i <= 257), Some([510, 509, 508]));
        assert_eq!(pick_area_slots(|i| i == 510), Some([509, 508, 507]));
        assert_eq!(pick_area_slots(|i| i < 509), None);

        let mut a = Area::new(0x1000_0000, 0x10_0000);
        assert_eq!(a.claim(0x3000, 0x1000, 0), Some(0x1000_0000));
        assert_eq!(a.claim(0x1000, 0x1000, 0), Some(0x1000_3000));
        // 2 MiB-congruent claim: start = phase mod align, after what was claimed.
        let mut b = Area::new(0x4000_0000, 0x100_0000);
        b.claim(0x1000, 0x1000, 0);
        assert_eq!(b.claim(0x40_0000, 0x20_0000, 0x12_3000), Some(0x4012_3000));
        assert!(a.contains(0x1000_0000) && !a.contains(0x1010_0000));
        assert_eq!(a.claim(0x10_0000, 0x1000, 0), None, "full");
        assert_eq!(a.claim(0xfc000, 0x1000, 0), Some(0x1000_4000));
        assert_eq!(a.claim(0x1000, 0x1000, 0), None);
    }

    fn kind() -> impl Strategy<Value = MemoryKind> {
        (0u64..9).prop_map(MemoryKind::from_raw)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the map: sorted, disjoint, never touching, page-aligned ranges below the
        /// limit that cover a page exactly when an HHDM kind overlaps it.
        #[test]
        fn hhdm_ranges_cover_exactly_the_ram_pages(
            map in proptest::collection::vec(
                (0u64..1 << 24, 0u64..1 << 22, kind()).prop_map(|(b, l, k)| r(b, l, k)),
                0..24,
            ),
            limit_pages in 1u64..(1 << 12),
        ) {
            let limit = limit_pages * PAGE_SIZE_4K;
            let ranges = hhdm_ranges(&map, limit);
            for w in ranges.windows(2) {
                prop_assert!(w[0].1 < w[1].0, "{:x?}", ranges);
            }
            for &(s, e) in &ranges {
                prop_assert!(s < e && s % PAGE_SIZE_4K == 0 && e % PAGE_SIZE_4K == 0 && e <= limit);
            }
            for page in (0..(1 << 24) + (1 << 22)).step_by(PAGE_SIZE_4K as usize) {
                let ram = page < limit && map.iter().any(|m| {
                    in_hhdm(m.kind) && m.length > 0 && m.base < page + PAGE_SIZE_4K && page < m.end()
                });
                let covered = ranges.iter().any(|&(s, e)| s <= page && page < e);
                prop_assert_eq!(ram, covered, "page {:#x}", page);
            }
        }
    }
}
