//! Unit tests: page-size choice, encodings, conflicts, single pages, unmap, protect, split,
//! freeing of empty tables, walks, flushes, the HHDM and the frame estimate.

use super::sim::SimRam;
use crate::*;
use x86_64::structures::paging::{Page, PhysFrame, Size1GiB, Size2MiB, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

pub const K4: u64 = PAGE_SIZE_4K;
pub const M2: u64 = PAGE_SIZE_2M;
pub const G1: u64 = PAGE_SIZE_1G;
pub const HHDM: u64 = 0xffff_8000_0000_0000;
pub const KERNEL: u64 = 0xffff_ffff_8000_0000;

pub fn tables() -> (SimRam, PageTables) {
    let mut ram = SimRam::new();
    let pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    (ram, pt)
}

pub fn tr(ram: &SimRam, pt: &PageTables, v: u64) -> Option<(u64, PageSize, MapFlags)> {
    pt.translate_addr(ram, v)
        .map(|t| (t.phys.as_u64(), t.page_size, t.flags))
}

fn phys(ram: &SimRam, pt: &PageTables, v: u64) -> Option<u64> {
    tr(ram, pt, v).map(|t| t.0)
}

fn size_at(ram: &SimRam, pt: &PageTables, v: u64) -> Option<PageSize> {
    tr(ram, pt, v).map(|t| t.1)
}

/// The raw leaf entry for `virt`.
fn leaf(ram: &SimRam, pt: &PageTables, v: u64) -> u64 {
    let w = pt.walk(ram, VirtAddr::new(v));
    assert!(w.translation().is_some(), "{w}");
    w.steps().last().unwrap().entry.0
}

/// Every intermediate entry on the way to `virt`.
fn intermediates(ram: &SimRam, pt: &PageTables, v: u64) -> Vec<u64> {
    let w = pt.walk(ram, VirtAddr::new(v));
    let steps: Vec<u64> = w.steps().map(|s| s.entry.0).collect();
    steps[..steps.len() - 1].to_vec()
}

fn page4(v: u64) -> Page<Size4KiB> {
    Page::from_start_address(VirtAddr::new(v)).unwrap()
}
fn frame4(p: u64) -> PhysFrame<Size4KiB> {
    PhysFrame::from_start_address(PhysAddr::new(p)).unwrap()
}

/// A TLB that records what it was asked.
#[derive(Debug, Default)]
struct RecordingTlb {
    pages: Vec<u64>,
    all: u32,
}
impl Tlb for RecordingTlb {
    fn invalidate_page(&mut self, addr: VirtAddr) {
        self.pages.push(addr.as_u64());
    }
    fn invalidate_all(&mut self) {
        self.all += 1;
    }
}

#[test]
fn new_allocates_one_zeroed_root() {
    let (ram, pt) = tables();
    assert_eq!(ram.live(), 1);
    for i in 0..512 {
        assert_eq!(ram.read_entry(pt.root(), i), 0);
    }
    assert_eq!(tr(&ram, &pt, 0), None);
    assert_eq!(tr(&ram, &pt, HHDM), None);
    assert_eq!(pt.table_frames(&ram), 1);
    let mut none = SimRam::with_limit(0);
    assert_eq!(
        PageTables::new(&mut none, Features::ALL).unwrap_err(),
        MapError::OutOfFrames
    );
}

#[test]
fn no_1g_pages_without_cpu_support() {
    let mut ram = SimRam::with_limit(64);
    let f = Features {
        nx: true,
        huge_1g: false,
    };
    let mut pt = PageTables::new(&mut ram, f).unwrap();
    pt.map(&mut ram, HHDM, 0, 2 * G1, MapFlags::HHDM)
        .unwrap()
        .ignore();
    assert_eq!(size_at(&ram, &pt, HHDM), Some(PageSize::Size2MiB));
    assert_eq!(size_at(&ram, &pt, HHDM + G1 + M2), Some(PageSize::Size2MiB));
    // PML4 + PDPT + one PD per GiB.
    assert_eq!(ram.live(), 4);
    assert_eq!(phys(&ram, &pt, HHDM + G1 + 0x1234), Some(G1 + 0x1234));
    // A single 1 GiB page is refused.
    let page = Page::<Size1GiB>::from_start_address(VirtAddr::new(KERNEL & !(G1 - 1))).unwrap();
    let frame = PhysFrame::<Size1GiB>::from_start_address(PhysAddr::new(G1)).unwrap();
    assert!(matches!(
        pt.map_page(&mut ram, page, frame, MapFlags::DATA),
        Err(MapError::Misaligned { align: M2, .. })
    ));
}

#[test]
fn page_size_follows_alignment() {
    type Case<'a> = (u64, u64, u64, &'a [(u64, Option<PageSize>)]);
    let cases: [Case; 6] = [
        (HHDM, 0, G1, &[(HHDM, Some(PageSize::Size1GiB))]),
        (HHDM + M2, M2, M2, &[(HHDM + M2, Some(PageSize::Size2MiB))]),
        (HHDM + K4, K4, K4, &[(HHDM + K4, Some(PageSize::Size4KiB))]),
        // virt 1 GiB aligned, phys only 2 MiB aligned: 2 MiB pages.
        (
            HHDM,
            M2,
            G1,
            &[
                (HHDM, Some(PageSize::Size2MiB)),
                (HHDM + G1 - 1, Some(PageSize::Size2MiB)),
            ],
        ),
        // Congruent modulo 2 MiB only through a 4 KiB offset: 4 KiB pages throughout.
        (
            KERNEL,
            0x20_1000,
            4 * M2,
            &[(KERNEL + 3 * M2, Some(PageSize::Size4KiB))],
        ),
        // Aligned but one page short of 1 GiB: 2 MiB pages, then 4 KiB at the end.
        (
            HHDM,
            0,
            G1 - K4,
            &[
                (HHDM, Some(PageSize::Size2MiB)),
                (HHDM + G1 - M2 - 1, Some(PageSize::Size2MiB)),
                (HHDM + G1 - M2, Some(PageSize::Size4KiB)),
                (HHDM + G1 - K4 - 1, Some(PageSize::Size4KiB)),
                (HHDM + G1 - K4, None),
            ],
        ),
    ];
    for (virt, p, len, expect) in cases {
        let (mut ram, mut pt) = tables();
        pt.map(&mut ram, virt, p, len, MapFlags::HHDM)
            .unwrap()
            .ignore();
        for &(v, size) in expect {
            assert_eq!(
                size_at(&ram, &pt, v),
                size,
                "{virt:#x} {p:#x} {len:#x} at {v:#x}"
            );
        }
    }
}

#[test]
fn mixed_range_climbs_and_descends_page_sizes() {
    // 0x1000..0x8020_1000 at HHDM: 4 KiB up to 2 MiB, 2 MiB up to 1 GiB, one 1 GiB page,
    // 2 MiB pages again, then a 4 KiB tail.
    let (start, end) = (0x1000u64, 0x8020_1000u64);
    let (mut ram, mut pt) = tables();
    pt.map(&mut ram, HHDM + start, start, end - start, MapFlags::HHDM)
        .unwrap()
        .ignore();
    let expect = [
        (0x1000, PageSize::Size4KiB),
        (0x1f_f000, PageSize::Size4KiB),
        (0x20_0000, PageSize::Size2MiB),
        (0x3fe0_0000, PageSize::Size2MiB),
        (0x4000_0000, PageSize::Size1GiB),
        (0x7fff_ffff, PageSize::Size1GiB),
        (0x8000_0000, PageSize::Size2MiB),
        (0x801f_ffff, PageSize::Size2MiB),
        (0x8020_0000, PageSize::Size4KiB),
        (0x8020_0fff, PageSize::Size4KiB),
    ];
    for (p, size) in expect {
        let t = tr(&ram, &pt, HHDM + p).unwrap();
        assert_eq!((t.0, t.1), (p, size), "at {p:#x}");
    }
    assert_eq!(tr(&ram, &pt, HHDM), None);
    assert_eq!(tr(&ram, &pt, HHDM + 0xfff), None);
    assert_eq!(tr(&ram, &pt, HHDM + end), None);
    // PML4 + PDPT + PDs for GiB 0 and 2 (GiB 1 is a single leaf) + 2 PTs.
    assert_eq!(ram.live(), 1 + 1 + 2 + 2);
    assert_eq!(pt.table_frames(&ram), 6);
    let bound = table_frames_upper_bound(
        &[Mapping {
            virt: HHDM + start,
            phys: start,
            len: end - start,
        }],
        true,
    );
    assert!(ram.live() as u64 <= bound);
}

#[test]
fn coverage_is_exact_at_the_edges() {
    let (mut ram, mut pt) = tables();
    let (virt, p, len) = (KERNEL + 0x3000, 0x7_0000, 0x5000);
    pt.map(
        &mut ram,
        virt,
        p,
        len,
        MapFlags::kernel_segment(false, true),
    )
    .unwrap()
    .ignore();
    assert_eq!(phys(&ram, &pt, virt - 1), None);
    assert_eq!(phys(&ram, &pt, virt), Some(p));
    assert_eq!(phys(&ram, &pt, virt + 0x1234), Some(p + 0x1234));
    assert_eq!(phys(&ram, &pt, virt + len - 1), Some(p + len - 1));
    assert_eq!(phys(&ram, &pt, virt + len), None);
}

const CACHES: [Cache; 6] = [
    Cache::WriteBack,
    Cache::WriteThrough,
    Cache::UncachedMinus,
    Cache::Uncached,
    Cache::WriteProtect,
    Cache::WriteCombining,
];

#[test]
fn cache_encodings_in_every_page_size() {
    for size in [PageSize::Size4KiB, PageSize::Size2MiB, PageSize::Size1GiB] {
        for cache in CACHES {
            let (mut ram, mut pt) = tables();
            let flags = MapFlags {
                cache,
                ..MapFlags::HHDM
            };
            let p = 3 * G1;
            pt.map(&mut ram, HHDM + p, p, size.bytes(), flags)
                .unwrap()
                .ignore();
            assert_eq!(tr(&ram, &pt, HHDM + p), Some((p, size, flags)));
            let e = leaf(&ram, &pt, HHDM + p);
            let pat_bit = match size {
                PageSize::Size4KiB => 1 << 7,
                _ => 1 << 12,
            };
            let got = (e & (1 << 3) != 0, e & (1 << 4) != 0, e & pat_bit != 0);
            let want = match cache {
                Cache::WriteBack => (false, false, false),
                Cache::WriteThrough => (true, false, false),
                Cache::UncachedMinus => (false, true, false),
                Cache::Uncached => (true, true, false),
                Cache::WriteProtect => (false, false, true),
                Cache::WriteCombining => (true, false, true),
            };
            assert_eq!(got, want, "{cache:?} {size:?}");
            // PS is set exactly for huge leaves, and the address field is clean.
            assert_eq!(e & (1 << 7) != 0, size != PageSize::Size4KiB || got.2);
            assert_eq!(e & 0x000f_ffff_ffff_f000 & !(size.bytes() - 1), p);
            // The x86_64 crate's view of the same bits.
            let flags = Entry(e).flags();
            use x86_64::structures::paging::PageTableFlags as F;
            assert!(flags.contains(F::PRESENT | F::WRITABLE));
            assert_eq!(flags.contains(F::HUGE_PAGE), e & (1 << 7) != 0);
        }
    }
}

#[test]
fn pat_value_matches_cache_indices() {
    for cache in CACHES {
        let byte = (PAT_MSR_VALUE >> (8 * cache.pat_index())) & 0xff;
        assert_eq!(byte, u64::from(cache.memory_type()), "{cache:?}");
        assert_eq!(Cache::from_pat_index(cache.pat_index()), cache);
        assert!(!cache.name().is_empty());
    }
    assert_eq!(Cache::WriteBack.pat_index(), 0);
    assert_eq!(Cache::WriteCombining.pat_index(), 5);
    assert_eq!(Cache::Uncached.pat_index(), 3);
    // PAT0..3 as at power-on (WB, WT, UC-, UC); PAT6 and PAT7 are UC.
    assert_eq!(PAT_MSR_VALUE & 0xffff_ffff, 0x0007_0406);
    assert_eq!((PAT_MSR_VALUE >> 48) & 0xffff, 0);
    assert_eq!(Cache::from_pat_index(6), Cache::Uncached);
    assert_eq!(Cache::from_pat_index(7), Cache::Uncached);
    assert_eq!(PAT_MSR, 0x277);
}

#[test]
fn permission_bits() {
    for size in [PageSize::Size4KiB, PageSize::Size2MiB, PageSize::Size1GiB] {
        let cases = [
            MapFlags::kernel_segment(false, true),
            MapFlags::kernel_segment(true, false),
            MapFlags::kernel_segment(false, false),
            MapFlags::HHDM,
            MapFlags::DATA,
            MapFlags {
                user: true,
                global: true,
                ..MapFlags::kernel_segment(true, false)
            },
        ];
        for flags in cases {
            let (mut ram, mut pt) = tables();
            pt.map(&mut ram, KERNEL, 0, size.bytes(), flags)
                .unwrap()
                .ignore();
            let e = leaf(&ram, &pt, KERNEL);
            assert_eq!(e & (1 << 1) != 0, flags.writable);
            assert_eq!(e & (1 << 2) != 0, flags.user);
            assert_eq!(e & (1 << 8) != 0, flags.global);
            assert_eq!(e & (1 << 63) != 0, flags.no_execute);
            assert_eq!(tr(&ram, &pt, KERNEL).unwrap().2, flags);
            let w = pt.walk(&ram, VirtAddr::new(KERNEL));
            assert_eq!(w.writable(), flags.writable);
            assert_eq!(w.executable(), !flags.no_execute);
            assert_eq!(w.user(), flags.user);
            for i in intermediates(&ram, &pt, KERNEL) {
                // Present, writable, never NX; user exactly when a user leaf is below.
                assert_eq!(i & 0b11, 0b11);
                assert_eq!(i & (1 << 63), 0);
                assert_eq!(i & (1 << 2) != 0, flags.user);
                assert_eq!(i & (1 << 7), 0);
            }
        }
    }
}

#[test]
fn user_leaf_marks_existing_intermediates() {
    let (mut ram, mut pt) = tables();
    let kernel = MapFlags::kernel_segment(true, false);
    let user = MapFlags {
        user: true,
        ..kernel
    };
    pt.map(&mut ram, 0x40_0000, 0x40_0000, K4, kernel)
        .unwrap()
        .ignore();
    pt.map(&mut ram, 0x40_1000, 0x40_1000, K4, user)
        .unwrap()
        .ignore();
    assert!(
        intermediates(&ram, &pt, 0x40_1000)
            .iter()
            .all(|e| e & 4 != 0)
    );
    assert!(!tr(&ram, &pt, 0x40_0000).unwrap().2.user);
    assert!(tr(&ram, &pt, 0x40_1000).unwrap().2.user);
    // And through map_page and protect.
    let v = 0x1000_0000_0000; // PML4 slot 32, nothing else there
    pt.map_page(&mut ram, page4(v), frame4(0x5000), kernel)
        .unwrap()
        .ignore();
    assert!(intermediates(&ram, &pt, v).iter().all(|e| e & 4 == 0));
    pt.protect(&mut ram, v, K4, user).unwrap().ignore();
    assert!(intermediates(&ram, &pt, v).iter().all(|e| e & 4 != 0));
    assert!(pt.walk(&ram, VirtAddr::new(v)).user());
}

#[test]
fn nx_is_dropped_without_cpu_support() {
    let mut ram = SimRam::new();
    let f = Features {
        nx: false,
        huge_1g: true,
    };
    let mut pt = PageTables::new(&mut ram, f).unwrap();
    let flags = MapFlags::kernel_segment(true, false);
    pt.map(&mut ram, KERNEL, 0, M2 + K4, flags)
        .unwrap()
        .ignore();
    for v in [KERNEL, KERNEL + M2] {
        assert_eq!(leaf(&ram, &pt, v) & (1 << 63), 0);
        assert!(!tr(&ram, &pt, v).unwrap().2.no_execute);
    }
    // Remapping with the same requested flags agrees with what was written.
    pt.map(&mut ram, KERNEL, 0, M2 + K4, flags)
        .unwrap()
        .ignore();
    // The walker calls NX a reserved bit on such a CPU.
    let mut forged = pt.clone();
    let w = forged.walk(&ram, VirtAddr::new(KERNEL));
    let last = w.steps().last().unwrap();
    ram.write_entry(last.table, last.index, last.entry.0 | (1 << 63));
    let w = forged.walk(&ram, VirtAddr::new(KERNEL));
    assert_eq!(w.end(), WalkEnd::Reserved { bits: 1 << 63 });
    assert!(w.to_string().contains("reserved"), "{w}");
    forged = PageTables::from_root(forged.root(), Features::ALL);
    assert!(
        forged
            .walk(&ram, VirtAddr::new(KERNEL))
            .translation()
            .is_some()
    );
}

#[test]
fn identical_remap_is_a_no_op() {
    let (mut ram, mut pt) = tables();
    let len = 2 * G1 + 3 * M2 + 5 * K4;
    pt.map(&mut ram, HHDM, 0, len, MapFlags::HHDM)
        .unwrap()
        .ignore();
    let before = ram.clone();
    pt.map(&mut ram, HHDM, 0, len, MapFlags::HHDM)
        .unwrap()
        .ignore();
    // A sub-range of a huge page that agrees.
    pt.map(
        &mut ram,
        HHDM + 0x1234_5000,
        0x1234_5000,
        K4,
        MapFlags::HHDM,
    )
    .unwrap()
    .ignore();
    pt.map(&mut ram, HHDM + G1 + M2, G1 + M2, M2, MapFlags::HHDM)
        .unwrap()
        .ignore();
    assert_eq!(ram, before);
}

#[test]
fn conflicts_are_detected_before_writing() {
    let (mut ram, mut pt) = tables();
    pt.map(&mut ram, HHDM, 0, M2, MapFlags::HHDM)
        .unwrap()
        .ignore();
    let before = ram.clone();
    // Different target for a 4 KiB step inside the 2 MiB page.
    assert_eq!(
        pt.map(&mut ram, HHDM + 0x5000, 0x9000, K4, MapFlags::HHDM),
        Err(MapError::AlreadyMapped {
            virt: HHDM + 0x5000,
            existing_phys: 0x5000,
            requested_phys: 0x9000
        })
    );
    // Same target, different flags.
    assert!(matches!(
        pt.map(&mut ram, HHDM + 0x5000, 0x5000, K4, MapFlags::FRAMEBUFFER),
        Err(MapError::AlreadyMapped { .. })
    ));
    assert_eq!(ram, before);

    // A range that starts unmapped (needing new tables) and runs into a conflict writes nothing.
    let (mut ram, mut pt) = tables();
    pt.map(&mut ram, KERNEL + M2, 0x40_0000, M2, MapFlags::HHDM)
        .unwrap()
        .ignore();
    let before = ram.clone();
    assert_eq!(
        pt.map(
            &mut ram,
            KERNEL - 3 * M2,
            0x100_0000,
            5 * M2,
            MapFlags::HHDM
        ),
        Err(MapError::AlreadyMapped {
            virt: KERNEL + M2,
            existing_phys: 0x40_0000,
            requested_phys: 0x180_0000
        })
    );
    assert_eq!(ram, before);

    // Huge step over existing 4 KiB pages: disagreeing → error, nothing written.
    let (mut ram, mut pt) = tables();
    pt.map(&mut ram, HHDM + 0x3000, 0x3000, K4, MapFlags::HHDM)
        .unwrap()
        .ignore();
    let before = ram.clone();
    assert!(matches!(
        pt.map(&mut ram, HHDM, 0x4000_0000, G1, MapFlags::HHDM),
        Err(MapError::AlreadyMapped { virt, .. }) if virt == HHDM + 0x3000
    ));
    assert_eq!(ram, before);
    // Agreeing → the existing table is filled in with 4 KiB pages, the rest uses 2 MiB pages.
    pt.map(&mut ram, HHDM, 0, G1, MapFlags::HHDM)
        .unwrap()
        .ignore();
    assert_eq!(size_at(&ram, &pt, HHDM), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&ram, &pt, HHDM + 0x3000), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&ram, &pt, HHDM + M2), Some(PageSize::Size2MiB));
    for v in [0, 0x3000, 0x1f_f000, M2, G1 - K4] {
        assert_eq!(phys(&ram, &pt, HHDM + v), Some(v));
    }
    assert_eq!(phys(&ram, &pt, HHDM + G1), None);
}

#[test]
fn bad_input_is_rejected() {
    let (mut ram, mut pt) = tables();
    let f = MapFlags::HHDM;
    assert_eq!(
        pt.map(&mut ram, HHDM + 1, 0, K4, f),
        Err(MapError::Misaligned {
            virt: HHDM + 1,
            phys: 0,
            len: K4,
            align: K4
        })
    );
    assert!(matches!(
        pt.map(&mut ram, HHDM, 8, K4, f),
        Err(MapError::Misaligned { .. })
    ));
    assert!(matches!(
        pt.map(&mut ram, HHDM, 0, 100, f),
        Err(MapError::Misaligned { .. })
    ));
    for (virt, len) in [
        (0x0000_8000_0000_0000, K4),
        (0xfff0_0000_0000_0000, K4),
        (0x0000_7fff_ffff_f000, 2 * K4),
        (0xffff_ffff_ffff_f000, 2 * K4),
    ] {
        assert_eq!(
            pt.map(&mut ram, virt, 0, len, f),
            Err(MapError::NonCanonical { virt, len })
        );
        assert_eq!(
            pt.unmap(&mut ram, virt, len),
            Err(MapError::NonCanonical { virt, len })
        );
        assert_eq!(
            pt.protect(&mut ram, virt, len, f),
            Err(MapError::NonCanonical { virt, len })
        );
    }
    assert!(matches!(
        pt.map(&mut ram, HHDM, PHYS_LIMIT, K4, f),
        Err(MapError::PhysOutOfRange { .. })
    ));
    assert!(matches!(
        pt.map(&mut ram, HHDM, PHYS_LIMIT - K4, 2 * K4, f),
        Err(MapError::PhysOutOfRange { .. })
    ));
    assert!(matches!(
        pt.map(&mut ram, HHDM, u64::MAX - 0xfff, K4, f),
        Err(MapError::PhysOutOfRange { .. })
    ));
    assert_eq!(ram.live(), 1);
    // Zero length is a no-op, even at a weird (aligned) address.
    assert!(
        pt.map(&mut ram, 0x0000_8000_0000_0000, 0, 0, f)
            .unwrap()
            .is_empty()
    );
    assert!(pt.unmap(&mut ram, HHDM, 0).unwrap().is_empty());
    assert_eq!(ram.live(), 1);
    // The very last page of the address space and the last lower-half page are fine, and so
    // is unmapping them (the range end wraps or is not canonical).
    pt.map(&mut ram, 0xffff_ffff_ffff_f000, PHYS_LIMIT - K4, K4, f)
        .unwrap()
        .ignore();
    pt.map(&mut ram, 0x0000_7fff_ffff_f000, 0, K4, f)
        .unwrap()
        .ignore();
    assert_eq!(phys(&ram, &pt, u64::MAX), Some(PHYS_LIMIT - 1));
    assert_eq!(phys(&ram, &pt, 0x0000_7fff_ffff_ffff), Some(0xfff));
    assert_eq!(phys(&ram, &pt, 0x0000_8000_0000_0000), None);
    pt.unmap(&mut ram, 0xffff_ffff_ffff_f000, K4)
        .unwrap()
        .ignore();
    pt.unmap(&mut ram, 0x0000_7fff_ffff_f000, K4)
        .unwrap()
        .ignore();
    assert_eq!(ram.live(), 1);
}

#[test]
fn frame_source_failures_are_reported() {
    // PML4 only: the first map needs a PDPT.
    let mut ram = SimRam::with_limit(1);
    let mut pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    assert_eq!(
        pt.map(&mut ram, KERNEL, 0, K4, MapFlags::HHDM),
        Err(MapError::OutOfFrames)
    );
    // Enough for one 4 KiB page (PDPT, PD, PT) but not a second PT.
    let mut ram = SimRam::with_limit(4);
    let mut pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    pt.map(&mut ram, KERNEL, 0, K4, MapFlags::HHDM)
        .unwrap()
        .ignore();
    assert_eq!(
        pt.map(&mut ram, KERNEL + M2, 0x1000, K4, MapFlags::HHDM),
        Err(MapError::OutOfFrames)
    );
    // map_page gives back the tables it made before running out.
    let mut ram = SimRam::with_limit(3);
    let mut pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    let before = ram.live();
    assert_eq!(
        pt.map_page(&mut ram, page4(KERNEL), frame4(0), MapFlags::DATA),
        Err(MapError::OutOfFrames)
    );
    assert_eq!(ram.live(), before);
    assert_eq!(pt.table_frames(&ram), 1);
    // A split that cannot get a frame changes no translation.
    let mut ram = SimRam::with_limit(3);
    let mut pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    pt.map(&mut ram, HHDM, 0, G1, MapFlags::DATA)
        .unwrap()
        .ignore();
    assert_eq!(
        pt.unmap(&mut ram, HHDM + K4, K4),
        Err(MapError::OutOfFrames)
    );
    assert_eq!(phys(&ram, &pt, HHDM + K4), Some(K4));
    assert_eq!(phys(&ram, &pt, HHDM + G1 - 1), Some(G1 - 1));
    // A range cutting into two huge pages with a frame for only one split: nothing unmapped.
    let mut ram = SimRam::with_limit(4);
    let mut pt = PageTables::new(&mut ram, Features::ALL).unwrap();
    pt.map(&mut ram, HHDM, 0, 2 * M2, MapFlags::DATA)
        .unwrap()
        .ignore();
    assert_eq!(
        pt.unmap(&mut ram, HHDM + M2 / 2, M2),
        Err(MapError::OutOfFrames)
    );
    assert_eq!(
        pt.protect(&mut ram, HHDM + M2 / 2, M2, MapFlags::HHDM),
        Err(MapError::OutOfFrames)
    );
    for v in (0..2 * M2).step_by(K4 as usize) {
        assert_eq!(
            tr(&ram, &pt, HHDM + v).map(|t| (t.0, t.2)),
            Some((v, MapFlags::DATA)),
            "{v:#x}"
        );
    }
    // Errors explain themselves.
    for e in [
        MapError::OutOfFrames,
        MapError::Misaligned {
            virt: 1,
            phys: 2,
            len: 3,
            align: 4096,
        },
        MapError::NonCanonical { virt: 1, len: 2 },
        MapError::PhysOutOfRange { phys: 1, len: 2 },
        MapError::AlreadyMapped {
            virt: 1,
            existing_phys: 2,
            requested_phys: 3,
        },
        MapError::NotMapped { virt: 0x1000 },
        MapError::HugePageInTheWay {
            virt: 1,
            size: PageSize::Size2MiB,
        },
    ] {
        assert!(e.to_string().len() > 20, "{e}");
        let _: &dyn core::error::Error = &e;
    }
}

#[test]
fn map_page_in_every_size() {
    let (mut ram, mut pt) = tables();
    let f = MapFlags::DATA;
    pt.map_page(&mut ram, page4(KERNEL), frame4(0x7000), f)
        .unwrap()
        .ignore();
    let p2 = Page::<Size2MiB>::from_start_address(VirtAddr::new(KERNEL + 4 * M2)).unwrap();
    let f2 = PhysFrame::<Size2MiB>::from_start_address(PhysAddr::new(8 * M2)).unwrap();
    let flush = pt.map_page(&mut ram, p2, f2, f).unwrap();
    assert_eq!((flush.start(), flush.len()), (KERNEL + 4 * M2, M2));
    flush.ignore();
    let p1 = Page::<Size1GiB>::from_start_address(VirtAddr::new(HHDM + 5 * G1)).unwrap();
    let f1 = PhysFrame::<Size1GiB>::from_start_address(PhysAddr::new(7 * G1)).unwrap();
    pt.map_page(&mut ram, p1, f1, f).unwrap().ignore();
    assert_eq!(
        tr(&ram, &pt, KERNEL + 5),
        Some((0x7005, PageSize::Size4KiB, f))
    );
    assert_eq!(
        tr(&ram, &pt, KERNEL + 4 * M2 + 0x1234),
        Some((8 * M2 + 0x1234, PageSize::Size2MiB, f))
    );
    assert_eq!(
        tr(&ram, &pt, HHDM + 5 * G1 + 0x12_3456),
        Some((7 * G1 + 0x12_3456, PageSize::Size1GiB, f))
    );
    // Occupied slot, huge page in the way, table in the way.
    assert_eq!(
        pt.map_page(&mut ram, page4(KERNEL), frame4(0x9000), f),
        Err(MapError::AlreadyMapped {
            virt: KERNEL,
            existing_phys: 0x7000,
            requested_phys: 0x9000
        })
    );
    assert_eq!(
        pt.map_page(&mut ram, page4(KERNEL + 4 * M2 + K4), frame4(0), f),
        Err(MapError::HugePageInTheWay {
            virt: KERNEL + 4 * M2 + K4,
            size: PageSize::Size2MiB
        })
    );
    assert_eq!(
        pt.map_page(&mut ram, page4(HHDM + 5 * G1 + M2), frame4(0), f),
        Err(MapError::HugePageInTheWay {
            virt: HHDM + 5 * G1 + M2,
            size: PageSize::Size1GiB
        })
    );
    let p2k = Page::<Size2MiB>::from_start_address(VirtAddr::new(KERNEL)).unwrap();
    assert_eq!(
        pt.map_page(&mut ram, p2k, f2, f),
        Err(MapError::AlreadyMapped {
            virt: KERNEL,
            existing_phys: 0x7000,
            requested_phys: 8 * M2
        })
    );
    // Once the 4 KiB page is gone (and its PT freed), the 2 MiB page fits.
    pt.unmap(&mut ram, KERNEL, K4).unwrap().ignore();
    pt.map_page(&mut ram, p2k, f2, f).unwrap().ignore();
    assert_eq!(size_at(&ram, &pt, KERNEL), Some(PageSize::Size2MiB));
}

#[test]
fn unmap_and_remap() {
    let (mut ram, mut pt) = tables();
    let f = MapFlags::DATA;
    pt.map(&mut ram, KERNEL, 0x10_0000, 16 * K4, f)
        .unwrap()
        .ignore();
    let tables_before = ram.live();
    let flush = pt.unmap(&mut ram, KERNEL + 4 * K4, 2 * K4).unwrap();
    assert_eq!((flush.start(), flush.len()), (KERNEL + 4 * K4, 2 * K4));
    let mut tlb = RecordingTlb::default();
    flush.flush(&mut tlb);
    assert_eq!(tlb.pages, vec![KERNEL + 4 * K4, KERNEL + 5 * K4]);
    for i in 0..16 {
        let want = (!(4..6).contains(&i)).then_some(0x10_0000 + i * K4);
        assert_eq!(phys(&ram, &pt, KERNEL + i * K4), want, "page {i}");
    }
    assert_eq!(ram.live(), tables_before);
    // Unmapping what is not mapped fails and changes nothing.
    let before = ram.clone();
    assert_eq!(
        pt.unmap(&mut ram, KERNEL + 3 * K4, 3 * K4),
        Err(MapError::NotMapped {
            virt: KERNEL + 4 * K4
        })
    );
    assert_eq!(
        pt.protect(&mut ram, KERNEL, 8 * K4, MapFlags::HHDM),
        Err(MapError::NotMapped {
            virt: KERNEL + 4 * K4
        })
    );
    assert_eq!(
        pt.unmap(&mut ram, HHDM, K4),
        Err(MapError::NotMapped { virt: HHDM })
    );
    assert_eq!(ram, before);
    // Remap the hole elsewhere, then everything.
    pt.map(&mut ram, KERNEL + 4 * K4, 0x50_0000, 2 * K4, f)
        .unwrap()
        .ignore();
    assert_eq!(phys(&ram, &pt, KERNEL + 5 * K4 + 7), Some(0x50_1007));
    pt.unmap(&mut ram, KERNEL, 16 * K4).unwrap().ignore();
    assert_eq!(ram.live(), 1, "PT, PD and PDPT went back");
    assert_eq!(ram.deallocations, 3);
    pt.map(&mut ram, KERNEL, 0x10_0000, 16 * K4, f)
        .unwrap()
        .ignore();
    assert_eq!(phys(&ram, &pt, KERNEL + 15 * K4), Some(0x10_f000));
}

#[test]
fn pinned_pdpts_survive_unmapping() {
    let (mut ram, mut pt) = tables();
    pt.pin_pdpts();
    assert!(pt.pdpts_pinned());
    let f = MapFlags::DATA;
    pt.map(&mut ram, KERNEL, 0x10_0000, 16 * K4, f)
        .unwrap()
        .ignore();
    let pml4_entry = ram.read_entry(pt.root(), 511);
    assert_ne!(pml4_entry, 0);
    pt.unmap(&mut ram, KERNEL, 16 * K4).unwrap().ignore();
    assert_eq!(ram.live(), 2, "PT and PD went back, the PDPT stays");
    assert_eq!(ram.deallocations, 2);
    assert_eq!(
        ram.read_entry(pt.root(), 511),
        pml4_entry,
        "PML4 entry unchanged"
    );
    assert_eq!(phys(&ram, &pt, KERNEL), None);
    // The kept PDPT is reused.
    pt.map(&mut ram, KERNEL, 0x10_0000, K4, f).unwrap().ignore();
    assert_eq!(ram.read_entry(pt.root(), 511), pml4_entry);
    assert_eq!(phys(&ram, &pt, KERNEL + 8), Some(0x10_0008));
    // A huge page in a pinned PDPT: unmapping it frees nothing at all.
    pt.map(&mut ram, HHDM, 0, G1, f).unwrap().ignore();
    let live = ram.live();
    pt.unmap(&mut ram, HHDM, G1).unwrap().ignore();
    assert_eq!(ram.live(), live);
    assert_ne!(ram.read_entry(pt.root(), 256), 0);
}

#[test]
fn cutting_into_huge_pages_splits_them() {
    let (mut ram, mut pt) = tables();
    let f = MapFlags::DATA;
    pt.map(&mut ram, HHDM, 0, 2 * G1, f).unwrap().ignore();
    assert_eq!(ram.live(), 2);
    // One 4 KiB page out of the first 1 GiB page: 1 GiB → 2 MiB pages → 4 KiB pages.
    let hole = HHDM + 3 * M2 + 5 * K4;
    pt.unmap(&mut ram, hole, K4).unwrap().ignore();
    assert_eq!(ram.live(), 4, "a PD and a PT");
    assert_eq!(phys(&ram, &pt, hole), None);
    assert_eq!(size_at(&ram, &pt, hole - K4), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&ram, &pt, hole + K4), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&ram, &pt, HHDM + 2 * M2), Some(PageSize::Size2MiB));
    assert_eq!(size_at(&ram, &pt, HHDM + G1), Some(PageSize::Size1GiB));
    for v in [
        0,
        3 * M2 + 4 * K4,
        3 * M2 + 6 * K4,
        4 * M2,
        G1 - 1,
        G1,
        2 * G1 - 1,
    ] {
        assert_eq!(phys(&ram, &pt, HHDM + v), Some(v), "at {v:#x}");
    }
    // Protect a range straddling a 2 MiB boundary inside the second 1 GiB page.
    let (a, len) = (HHDM + G1 + M2 - 2 * K4, 4 * K4);
    let flush = pt.protect(&mut ram, a, len, MapFlags::kernel_segment(false, false));
    let flush = flush.unwrap();
    assert_eq!((flush.start(), flush.len()), (a, len));
    flush.ignore();
    for i in 0..4 {
        let t = tr(&ram, &pt, a + i * K4).unwrap();
        assert_eq!(t.0, a + i * K4 - HHDM);
        assert_eq!((t.1, t.2.writable), (PageSize::Size4KiB, false));
    }
    assert!(tr(&ram, &pt, a - K4).unwrap().2.writable);
    assert!(tr(&ram, &pt, a + len).unwrap().2.writable);
    assert_eq!(size_at(&ram, &pt, HHDM + G1), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&ram, &pt, HHDM + G1 + M2), Some(PageSize::Size4KiB));
    assert_eq!(
        size_at(&ram, &pt, HHDM + G1 + 2 * M2),
        Some(PageSize::Size2MiB)
    );
    // Protecting a whole huge page keeps it huge.
    pt.protect(&mut ram, HHDM + G1 + 8 * M2, M2, MapFlags::HHDM)
        .unwrap()
        .ignore();
    assert_eq!(
        tr(&ram, &pt, HHDM + G1 + 8 * M2),
        Some((G1 + 8 * M2, PageSize::Size2MiB, MapFlags::HHDM))
    );
    // Explicit split keeps translations and flags.
    let v = VirtAddr::new(HHDM + G1 + 9 * M2);
    let before = tr(&ram, &pt, v.as_u64() + 0x3456).unwrap();
    let flush = pt.split(&mut ram, v).unwrap().unwrap();
    assert_eq!((flush.start(), flush.len()), (v.as_u64(), M2));
    flush.ignore();
    let after = tr(&ram, &pt, v.as_u64() + 0x3456).unwrap();
    assert_eq!((after.0, after.2), (before.0, before.2));
    assert_eq!(after.1, PageSize::Size4KiB);
    assert_eq!(pt.split(&mut ram, v).unwrap(), None);
    assert_eq!(
        pt.split(&mut ram, VirtAddr::new(HHDM + 3 * G1)),
        Err(MapError::NotMapped {
            virt: HHDM + 3 * G1
        })
    );
    // Unmapping everything gives every table back but the root.
    assert_eq!(
        pt.unmap(&mut ram, HHDM, 2 * G1),
        Err(MapError::NotMapped { virt: hole })
    );
    pt.unmap(&mut ram, HHDM, hole - HHDM).unwrap().ignore();
    pt.unmap(&mut ram, hole + K4, HHDM + 2 * G1 - hole - K4)
        .unwrap()
        .ignore();
    assert_eq!(ram.live(), 1);
    assert_eq!(pt.table_frames(&ram), 1);
}

#[test]
fn split_keeps_pat_and_accessed_bits() {
    for cache in CACHES {
        let (mut ram, mut pt) = tables();
        let flags = MapFlags {
            cache,
            ..MapFlags::DATA
        };
        pt.map(&mut ram, HHDM, 0, G1, flags).unwrap().ignore();
        // Mark the 1 GiB leaf accessed and dirty as the CPU would.
        let w = pt.walk(&ram, VirtAddr::new(HHDM));
        let s = *w.steps().last().unwrap();
        ram.write_entry(s.table, s.index, s.entry.0 | 0x60);
        pt.unmap(&mut ram, HHDM + M2 + K4, K4).unwrap().ignore();
        for v in [0, M2, M2 + 2 * K4, 5 * M2 + 0x123] {
            let t = tr(&ram, &pt, HHDM + v).unwrap();
            assert_eq!((t.0, t.2), (v, flags), "{cache:?} at {v:#x}");
            assert_eq!(leaf(&ram, &pt, HHDM + v) & 0x60, 0x60);
        }
    }
}

#[test]
fn table_left_empty_by_others_is_reused() {
    let (mut ram, mut pt) = tables();
    pt.map_page(&mut ram, page4(KERNEL), frame4(0x1000), MapFlags::DATA)
        .unwrap()
        .ignore();
    // Clear the leaf behind the crate's back: the PT is now empty.
    let w = pt.walk(&ram, VirtAddr::new(KERNEL));
    let s = *w.steps().last().unwrap();
    ram.write_entry(s.table, s.index, 0);
    let p2 = Page::<Size2MiB>::from_start_address(VirtAddr::new(KERNEL)).unwrap();
    let f2 = PhysFrame::<Size2MiB>::from_start_address(PhysAddr::new(M2)).unwrap();
    pt.map_page(&mut ram, p2, f2, MapFlags::DATA)
        .unwrap()
        .ignore();
    assert_eq!(size_at(&ram, &pt, KERNEL), Some(PageSize::Size2MiB));
    assert_eq!(ram.live(), 3);
}

#[test]
fn walk_explains_each_level() {
    let (mut ram, mut pt) = tables();
    pt.map(
        &mut ram,
        KERNEL,
        0x20_0000,
        K4,
        MapFlags::kernel_segment(false, true),
    )
    .unwrap()
    .ignore();
    let w = pt.walk(&ram, VirtAddr::new(KERNEL + 0x123));
    assert_eq!(w.steps().count(), 4);
    let t = w.translation().unwrap();
    assert_eq!(t.phys.as_u64(), 0x20_0123);
    let text = w.to_string();
    for part in [
        "walk of 0xffffffff80000123",
        "PML4[511]",
        "PDPT[510]",
        "PD  [  0]",
        "PT  [  0]",
        "-> PDPT at",
        "-> 4 KiB page at 0x200000",
        "maps to 0x200123 (4 KiB page; read-only, executable, supervisor, write-back)",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    // A miss names the level that stopped it.
    let w = pt.walk(&ram, VirtAddr::new(KERNEL + M2));
    assert_eq!(w.end(), WalkEnd::NotPresent);
    assert_eq!(w.steps().count(), 3);
    let text = w.to_string();
    assert!(
        text.contains("not mapped: the PD entry is not present"),
        "{text}"
    );
    let w = pt.walk(&ram, VirtAddr::new(0));
    assert_eq!(w.steps().count(), 1);
    assert!(w.to_string().contains("the PML4 entry is not present"));
    assert!(!w.writable() && !w.executable() && !w.user());
    // Huge leaves, their flags, and reserved bits.
    pt.map(&mut ram, HHDM, 0, G1, MapFlags::DATA)
        .unwrap()
        .ignore();
    let w = pt.walk(&ram, VirtAddr::new(HHDM + 0x1234));
    let text = w.to_string();
    assert!(text.contains("P W PS NX -> 1 GiB page at 0x0"), "{text}");
    assert!(text.contains("writable, no-execute"), "{text}");
    let no_1g = PageTables::from_root(
        pt.root(),
        Features {
            nx: true,
            huge_1g: false,
        },
    );
    assert_eq!(
        no_1g.walk(&ram, VirtAddr::new(HHDM)).end(),
        WalkEnd::Reserved { bits: 1 << 7 }
    );
    let s = *w.steps().last().unwrap();
    ram.write_entry(s.table, s.index, s.entry.0 | (1 << 13));
    assert_eq!(
        pt.walk(&ram, VirtAddr::new(HHDM)).end(),
        WalkEnd::Reserved { bits: 1 << 13 }
    );
}

#[test]
fn flush_tokens() {
    let mut tlb = RecordingTlb::default();
    Flush::none().flush(&mut tlb);
    assert_eq!((tlb.pages.len(), tlb.all), (0, 0));
    let (mut ram, mut pt) = tables();
    let big = pt.map(&mut ram, HHDM, 0, G1, MapFlags::DATA).unwrap();
    assert_eq!(big.len(), G1);
    big.flush(&mut tlb);
    assert_eq!((tlb.pages.len(), tlb.all), (0, 1));
    let a = pt.unmap(&mut ram, HHDM + 8 * K4, K4).unwrap();
    let b = pt.unmap(&mut ram, HHDM + 2 * K4, K4).unwrap();
    let m = a.merge(b);
    assert_eq!((m.start(), m.len()), (HHDM + 2 * K4, 7 * K4));
    m.flush(&mut tlb);
    assert_eq!(tlb.pages.len(), 7);
    assert_eq!(tlb.pages[0], HHDM + 2 * K4);
    let m = Flush::none().merge(pt.unmap(&mut ram, HHDM, K4).unwrap());
    assert_eq!(m.len(), K4);
    m.merge(Flush::none()).ignore();
}

/// A QEMU-like 16 GiB map: low memory with holes, the 32-bit PCI hole, RAM above 4 GiB.
pub fn ram_16g() -> Vec<(u64, u64)> {
    vec![
        (0x0, 0x9_f000),
        (0x10_0000, 0x80_0000),
        (0x80_8000, 0x81_0000),
        (0x90_0000, 0x7e8e_b000),
        (0x7e8f_0000, 0x7f8e_e000),
        (0x7fbf_f000, 0x7ff7_8000),
        (0x1_0000_0000, 0x4_8000_0000),
    ]
}

#[test]
fn hhdm_of_16_gib_fits_the_frame_goals() {
    let offset = 0xffff_9f6e_c000_0000; // a randomised Limine offset, 1 GiB aligned
    let ranges = ram_16g();
    let total: u64 = ranges.iter().map(|r| r.1 - r.0).sum();
    assert!(total > 15 * G1);
    for (huge_1g, goal) in [(true, 20), (false, 40)] {
        let mut ram = SimRam::new();
        let f = Features { nx: true, huge_1g };
        let mut pt = PageTables::new(&mut ram, f).unwrap();
        pt.map_hhdm(&mut ram, offset, ranges.iter().copied(), MapFlags::DATA)
            .unwrap()
            .ignore();
        let used = pt.table_frames(&ram);
        let mappings: Vec<Mapping> = ranges
            .iter()
            .map(|&(s, e)| Mapping {
                virt: offset + s,
                phys: s,
                len: e - s,
            })
            .collect();
        let bound = table_frames_upper_bound(&mappings, huge_1g);
        println!(
            "bench: hhdm_16g_table_frames_{}: {used} frames (estimate {bound})",
            if huge_1g { "1g" } else { "2m" }
        );
        assert!(used <= goal, "{used} frames with huge_1g={huge_1g}");
        assert!(used <= bound);
        assert_eq!(used, ram.live() as u64);
        // Every range translates, never executable, and the holes stay empty.
        for &(s, e) in &ranges {
            for p in [s, s + 0x777, (s + e) / 2, e - 1] {
                let t = tr(&ram, &pt, offset + p).unwrap();
                assert_eq!(t.0, p);
                assert!(t.2.no_execute && t.2.writable);
            }
            assert_eq!(tr(&ram, &pt, offset + e), None, "{e:#x}");
        }
        if huge_1g {
            assert_eq!(
                size_at(&ram, &pt, offset + 5 * G1),
                Some(PageSize::Size1GiB)
            );
        }
        assert_eq!(
            size_at(&ram, &pt, offset + 0x9e_000),
            Some(PageSize::Size4KiB)
        );
        assert_eq!(
            size_at(&ram, &pt, offset + 0x40_0000),
            Some(PageSize::Size2MiB)
        );
    }
}

#[test]
fn hhdm_rounds_clips_and_merges_hostile_ranges() {
    let offset = HHDM;
    let (mut ram, mut pt) = tables();
    let ranges = [
        (0x1234, 0x2001),                      // unaligned both ends → 0x1000..0x3000
        (0x2000, 0x5000),                      // overlaps the previous
        (0x9000, 0x9000),                      // empty
        (0x9000, 0x8000),                      // backwards
        (0x20_0000, 0x20_0000 + 3 * M2),       // 2 MiB pages
        (0x20_0000 + M2, 0x20_0000 + M2 + K4), // inside the previous
    ];
    pt.map_hhdm(&mut ram, offset, ranges, MapFlags::HHDM)
        .unwrap()
        .ignore();
    for p in [0x1000, 0x2fff, 0x3000, 0x4fff, 0x20_0000, 0x7f_ffff] {
        let t = tr(&ram, &pt, offset + p).unwrap();
        assert_eq!(t.0, p);
        assert!(t.2.no_execute, "the HHDM is never executable");
    }
    for p in [0, 0xfff, 0x5000, 0x9000, 0x80_0000] {
        assert_eq!(tr(&ram, &pt, offset + p), None, "{p:#x}");
    }
    // Ranges clipped at 2^52 that still do not fit the higher half, and an offset that
    // leaves it.
    let before = ram.clone();
    assert!(matches!(
        pt.map_hhdm(&mut ram, offset, [(PHYS_LIMIT - K4, u64::MAX)], MapFlags::HHDM),
        Err(MapError::NonCanonical { virt, len: K4 }) if virt == offset
    ));
    assert_eq!(ram, before);
    assert!(matches!(
        pt.map_hhdm(
            &mut ram,
            0xffff_ffff_0000_0000,
            [(0, 8 * G1)],
            MapFlags::HHDM
        ),
        Err(MapError::NonCanonical { .. })
    ));
}

#[test]
fn table_bound_examples() {
    let m = |virt, phys, len| Mapping { virt, phys, len };
    assert_eq!(table_frames_upper_bound(&[], true), 1);
    assert_eq!(table_frames_upper_bound(&[m(KERNEL, 0, K4)], true), 4);
    assert_eq!(table_frames_upper_bound(&[m(KERNEL, 0, 0)], true), 1);
    let hhdm = table_frames_upper_bound(&[m(HHDM, 0, 64 * G1)], true);
    assert!(hhdm <= 1 + 1 + 2 + 2, "{hhdm}");
    // Without 1 GiB pages: a PD per GiB.
    assert_eq!(
        table_frames_upper_bound(&[m(HHDM, 0, 64 * G1)], false),
        1 + 1 + 64 + 2
    );
    let misaligned = table_frames_upper_bound(&[m(KERNEL, 0x1000, 16 * M2)], true);
    assert_eq!(misaligned, 1 + 1 + 1 + 16);
    for (virt, p, len) in [
        (KERNEL, 0, K4),
        (HHDM, 0, 64 * G1),
        (KERNEL, 0x1000, 16 * M2),
        (HHDM + 0x1000, 0x1000, 5 * G1 + 0x1000),
    ] {
        for huge_1g in [true, false] {
            let mut ram = SimRam::new();
            let mut pt = PageTables::new(&mut ram, Features { nx: true, huge_1g }).unwrap();
            pt.map(&mut ram, virt, p, len, MapFlags::HHDM)
                .unwrap()
                .ignore();
            assert!(
                ram.live() as u64 <= table_frames_upper_bound(&[m(virt, p, len)], huge_1g),
                "{virt:#x} {p:#x} {len:#x}"
            );
        }
    }
}

#[test]
fn free_all_returns_every_table() {
    let (mut ram, mut pt) = tables();
    pt.map(&mut ram, HHDM + K4, K4, 3 * G1, MapFlags::DATA)
        .unwrap()
        .ignore();
    pt.map(&mut ram, 0x40_0000, 0x40_0000, 5 * K4, MapFlags::DATA)
        .unwrap()
        .ignore();
    let n = pt.table_frames(&ram);
    assert_eq!(n, ram.live() as u64);
    pt.free_all(&mut ram);
    assert_eq!(ram.live(), 0);
    assert_eq!(ram.deallocations, n);
}

#[test]
fn env_pairs_memory_and_frames() {
    // Entries in one object, frames from another that draws on the same RAM.
    #[derive(Debug)]
    struct Counter<'a>(&'a std::cell::Cell<u32>);
    let count = std::cell::Cell::new(0);
    let mut ram = SimRam::new();
    let frames: Vec<PhysFrame> = (0..8).map(|_| ram.allocate_frame().unwrap()).collect();
    struct Pool<'a>(Vec<PhysFrame>, Counter<'a>);
    impl FrameSource for Pool<'_> {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            self.1.0.set(self.1.0.get() + 1);
            self.0.pop()
        }
        fn deallocate_frame(&mut self, frame: PhysFrame) {
            self.0.push(frame);
        }
    }
    let mut env = Env {
        mem: &mut ram,
        frames: Pool(frames, Counter(&count)),
    };
    let mut pt = PageTables::new(&mut env, Features::ALL).unwrap();
    pt.map(&mut env, KERNEL, 0, K4, MapFlags::DATA)
        .unwrap()
        .ignore();
    assert_eq!(count.get(), 4);
    assert_eq!(
        pt.translate_addr(&env, KERNEL + 1).unwrap().phys.as_u64(),
        1
    );
    pt.unmap(&mut env, KERNEL, K4).unwrap().ignore();
    assert_eq!(env.frames.0.len(), 7);
}
