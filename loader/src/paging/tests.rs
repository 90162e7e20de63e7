//! Host tests of the adapter over simulated RAM (the page-table logic itself is tested in the
//! `pagetables` crate).

use super::*;
use pagetables::x86_64::PhysAddr;
use pagetables::x86_64::structures::paging::PhysFrame;
use std::collections::HashMap;

const K4: u64 = PAGE_SIZE_4K;
const M2: u64 = PAGE_SIZE_2M;
const G1: u64 = PAGE_SIZE_1G;
const HHDM: u64 = 0xffff_8000_0000_0000;
const KERNEL: u64 = 0xffff_ffff_8000_0000;

/// Simulated RAM: only allocated pages exist; touching anything else is a test failure.
#[derive(Debug, Clone, PartialEq)]
struct SimMem {
    pages: HashMap<u64, Box<[u64; 512]>>,
    next: u64,
    limit: usize,
}

impl SimMem {
    fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    fn with_limit(limit: usize) -> Self {
        SimMem {
            pages: HashMap::new(),
            next: 0x100_0000,
            limit,
        }
    }

    fn allocated(&self) -> usize {
        self.pages.len()
    }
}

impl PhysMemory for SimMem {
    fn alloc_zeroed_page(&mut self) -> Option<u64> {
        if self.pages.len() >= self.limit {
            return None;
        }
        let p = self.next;
        self.next += K4;
        self.pages.insert(p, Box::new([0; 512]));
        Some(p)
    }

    fn read_u64(&self, phys: u64) -> u64 {
        assert_eq!(phys % 8, 0, "unaligned table read at {phys:#x}");
        self.pages
            .get(&(phys & !0xfff))
            .expect("read outside tables")[(phys as usize & 0xfff) / 8]
    }

    fn write_u64(&mut self, phys: u64, value: u64) {
        assert_eq!(phys % 8, 0, "unaligned table write at {phys:#x}");
        self.pages
            .get_mut(&(phys & !0xfff))
            .expect("write outside tables")[(phys as usize & 0xfff) / 8] = value;
    }
}

fn builder() -> PageTableBuilder<SimMem> {
    PageTableBuilder::new(SimMem::new(), true).unwrap()
}

/// The raw leaf entry for `virt`, read straight from the simulated RAM (checks that the
/// adapter puts entry `i` of a table at `table + 8 * i`).
fn leaf(b: &PageTableBuilder<SimMem>, virt: u64) -> Option<(u64, u8)> {
    let mut table = b.pml4_phys();
    for level in (1..=4u32).rev() {
        let index = (virt >> (12 + 9 * (level - 1))) & 0x1ff;
        let e = b.memory().read_u64(table + index * 8);
        if e & 1 == 0 {
            return None;
        }
        if level == 1 || (level < 4 && e & (1 << 7) != 0) {
            return Some((e, level as u8));
        }
        table = e & 0x000f_ffff_ffff_f000;
    }
    None
}

fn size_at(b: &PageTableBuilder<SimMem>, virt: u64) -> Option<PageSize> {
    b.translate(virt).map(|t| t.page_size)
}

#[test]
fn new_allocates_one_zeroed_pml4() {
    let b = builder();
    assert_eq!(b.memory().allocated(), 1);
    assert_eq!(b.pml4_phys() % K4, 0);
    assert!(b.nx_supported());
    for i in 0..512 {
        assert_eq!(b.memory().read_u64(b.pml4_phys() + i * 8), 0);
    }
    assert_eq!(b.translate(0), None);
    assert_eq!(b.translate(HHDM), None);
    assert_eq!(
        PageTableBuilder::new(SimMem::with_limit(0), true).unwrap_err(),
        PagingError::OutOfMemory
    );
}

#[test]
fn no_1g_pages_without_cpu_support() {
    let mut b = PageTableBuilder::new(SimMem::with_limit(64), true)
        .unwrap()
        .with_1g_pages(false);
    b.map(HHDM, 0, 2 * G1, MapFlags::HHDM).unwrap();
    assert_eq!(size_at(&b, HHDM), Some(PageSize::Size2MiB));
    assert_eq!(size_at(&b, HHDM + G1 + M2), Some(PageSize::Size2MiB));
    // PML4 + PDPT + one PD per GiB.
    assert_eq!(b.memory().allocated(), 4);
    assert_eq!(
        b.translate(HHDM + G1 + 0x1234).map(|t| t.phys),
        Some(G1 + 0x1234)
    );
}

#[test]
fn mixed_range_climbs_and_descends_page_sizes() {
    // 0x1000..0x8020_1000 mapped at HHDM: 4 KiB up to 2 MiB, 2 MiB up to 1 GiB, one 1 GiB page,
    // 2 MiB pages again, then a 4 KiB tail.
    let (start, end) = (0x1000u64, 0x8020_1000u64);
    let mut b = builder();
    b.map(HHDM + start, start, end - start, MapFlags::HHDM)
        .unwrap();
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
        let t = b.translate(HHDM + p).unwrap();
        assert_eq!((t.phys, t.page_size), (p, size), "at {p:#x}");
    }
    assert_eq!(b.translate(HHDM), None);
    assert_eq!(b.translate(HHDM + 0xfff), None);
    assert_eq!(b.translate(HHDM + end), None);
    // PML4 + PDPT + 3 PDs (windows 0, 1 GiB... only 0 and 2 need one) + 2 PTs.
    // Windows: PD for GiB 0 and GiB 2; GiB 1 is a single 1 GiB leaf.
    assert_eq!(b.memory().allocated(), 1 + 1 + 2 + 2);
    let bound = table_pages_upper_bound(&[Mapping {
        virt: HHDM + start,
        phys: start,
        len: end - start,
    }]);
    assert!(b.memory().allocated() as u64 <= bound);

    // The example from the brief: 0x1000..0x4020_1000 has no room for a 1 GiB page.
    let mut b = builder();
    b.map(HHDM + 0x1000, 0x1000, 0x4020_0000, MapFlags::HHDM)
        .unwrap();
    assert_eq!(size_at(&b, HHDM + 0x1000), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&b, HHDM + 0x20_0000), Some(PageSize::Size2MiB));
    assert_eq!(size_at(&b, HHDM + 0x4000_0000), Some(PageSize::Size2MiB));
    assert_eq!(size_at(&b, HHDM + 0x4020_0000), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&b, HHDM + 0x4020_1000), None);
}

#[test]
fn cache_encodings_in_every_page_size() {
    let caches = [
        Cache::WriteBack,
        Cache::WriteThrough,
        Cache::UncachedMinus,
        Cache::Uncached,
        Cache::WriteProtect,
        Cache::WriteCombining,
    ];
    for size in [PageSize::Size4KiB, PageSize::Size2MiB, PageSize::Size1GiB] {
        for cache in caches {
            let mut b = builder();
            let flags = MapFlags {
                cache,
                ..MapFlags::HHDM
            };
            let phys = 3 * G1;
            b.map(HHDM + phys, phys, size.bytes(), flags).unwrap();
            let t = b.translate(HHDM + phys).unwrap();
            assert_eq!((t.page_size, t.flags, t.phys), (size, flags, phys));
            let (e, _) = leaf(&b, HHDM + phys).unwrap();
            let pat_bit = match size {
                PageSize::Size4KiB => 1 << 7,
                _ => 1 << 12,
            };
            let pwt = e & (1 << 3) != 0;
            let pcd = e & (1 << 4) != 0;
            let pat = e & pat_bit != 0;
            let (want_pwt, want_pcd, want_pat) = match cache {
                Cache::WriteBack => (false, false, false),
                Cache::WriteThrough => (true, false, false),
                Cache::UncachedMinus => (false, true, false),
                Cache::Uncached => (true, true, false),
                Cache::WriteProtect => (false, false, true),
                Cache::WriteCombining => (true, false, true),
            };
            assert_eq!(
                (pwt, pcd, pat),
                (want_pwt, want_pcd, want_pat),
                "{cache:?} {size:?}"
            );
            // PS is set exactly for huge leaves, and the address field is clean.
            assert_eq!(e & (1 << 7) != 0, size != PageSize::Size4KiB || pat);
            assert_eq!(e & 0x000f_ffff_ffff_f000 & !(size.bytes() - 1), phys);
        }
    }
}

#[test]
fn nx_is_dropped_without_cpu_support() {
    let mut b = PageTableBuilder::new(SimMem::new(), false).unwrap();
    assert!(!b.nx_supported());
    let flags = MapFlags::kernel_segment(true, false);
    b.map(KERNEL, 0, M2 + K4, flags).unwrap();
    for v in [KERNEL, KERNEL + M2] {
        let (e, _) = leaf(&b, v).unwrap();
        assert_eq!(e & (1 << 63), 0);
        assert!(!b.translate(v).unwrap().flags.no_execute);
    }
    // Remapping with the same requested flags agrees with what was written.
    b.map(KERNEL, 0, M2 + K4, flags).unwrap();
    // And with NX support the bit is set.
    let mut b = builder();
    b.map(KERNEL, 0, K4, flags).unwrap();
    assert_ne!(leaf(&b, KERNEL).unwrap().0 & (1 << 63), 0);
}

#[test]
fn conflicts_are_detected_before_writing() {
    let mut b = builder();
    b.map(HHDM, 0, M2, MapFlags::HHDM).unwrap();
    let before = b.memory().clone();
    // Different target for a 4 KiB step inside the 2 MiB page.
    assert_eq!(
        b.map(HHDM + 0x5000, 0x9000, K4, MapFlags::HHDM),
        Err(PagingError::AlreadyMapped {
            virt: HHDM + 0x5000,
            existing_phys: 0x5000,
            requested_phys: 0x9000
        })
    );
    // Same target, different flags.
    assert!(matches!(
        b.map(HHDM + 0x5000, 0x5000, K4, MapFlags::FRAMEBUFFER),
        Err(PagingError::AlreadyMapped { .. })
    ));
    assert_eq!(b.memory(), &before);

    // A range that starts unmapped (needing new tables) and runs into a conflict writes nothing.
    let mut b = builder();
    b.map(KERNEL + M2, 0x40_0000, M2, MapFlags::HHDM).unwrap();
    let before = b.memory().clone();
    assert_eq!(
        b.map(KERNEL - 3 * M2, 0x100_0000, 5 * M2, MapFlags::HHDM),
        Err(PagingError::AlreadyMapped {
            virt: KERNEL + M2,
            existing_phys: 0x40_0000,
            requested_phys: 0x180_0000
        })
    );
    assert_eq!(b.memory(), &before);

    // Huge step over existing 4 KiB pages: disagreeing → error, nothing written.
    let mut b = builder();
    b.map(HHDM + 0x3000, 0x3000, K4, MapFlags::HHDM).unwrap();
    let before = b.memory().clone();
    assert!(matches!(
        b.map(HHDM, 0x4000_0000, G1, MapFlags::HHDM),
        Err(PagingError::AlreadyMapped { virt, .. }) if virt == HHDM + 0x3000
    ));
    assert_eq!(b.memory(), &before);
    // Agreeing → the existing table is filled in with 4 KiB pages, the rest uses 2 MiB pages.
    b.map(HHDM, 0, G1, MapFlags::HHDM).unwrap();
    assert_eq!(size_at(&b, HHDM), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&b, HHDM + 0x3000), Some(PageSize::Size4KiB));
    assert_eq!(size_at(&b, HHDM + M2), Some(PageSize::Size2MiB));
    for v in [0, 0x3000, 0x1f_f000, M2, G1 - K4] {
        assert_eq!(b.translate(HHDM + v).unwrap().phys, v);
    }
    assert_eq!(b.translate(HHDM + G1), None);
}

#[test]
fn bad_input_is_rejected() {
    let mut b = builder();
    let f = MapFlags::HHDM;
    assert_eq!(
        b.map(HHDM + 1, 0, K4, f),
        Err(PagingError::Unaligned {
            virt: HHDM + 1,
            phys: 0,
            len: K4
        })
    );
    assert!(matches!(
        b.map(HHDM, 8, K4, f),
        Err(PagingError::Unaligned { .. })
    ));
    assert!(matches!(
        b.map(HHDM, 0, 100, f),
        Err(PagingError::Unaligned { .. })
    ));
    // Non-canonical start, range across the hole, range past 2^64.
    assert!(matches!(
        b.map(0x0000_8000_0000_0000, 0, K4, f),
        Err(PagingError::NonCanonical { .. })
    ));
    assert!(matches!(
        b.map(0xfff0_0000_0000_0000, 0, K4, f),
        Err(PagingError::NonCanonical { .. })
    ));
    assert!(matches!(
        b.map(0x0000_7fff_ffff_f000, 0, 2 * K4, f),
        Err(PagingError::NonCanonical { .. })
    ));
    assert!(matches!(
        b.map(0xffff_ffff_ffff_f000, 0, 2 * K4, f),
        Err(PagingError::NonCanonical { .. })
    ));
    // Physical range at or beyond 2^52, or overflowing.
    assert!(matches!(
        b.map(HHDM, PHYS_LIMIT, K4, f),
        Err(PagingError::PhysOutOfRange { .. })
    ));
    assert!(matches!(
        b.map(HHDM, PHYS_LIMIT - K4, 2 * K4, f),
        Err(PagingError::PhysOutOfRange { .. })
    ));
    assert!(matches!(
        b.map(HHDM, u64::MAX - 0xfff, K4, f),
        Err(PagingError::Unaligned { .. }) | Err(PagingError::PhysOutOfRange { .. })
    ));
    // Nothing was allocated by any of that.
    assert_eq!(b.memory().allocated(), 1);
    // Zero length is a no-op, even at a weird (aligned) address.
    b.map(0x0000_8000_0000_0000, 0, 0, f).unwrap();
    assert_eq!(b.memory().allocated(), 1);
    // The very last page of the address space and the last lower-half page are fine.
    b.map(0xffff_ffff_ffff_f000, PHYS_LIMIT - K4, K4, f)
        .unwrap();
    b.map(0x0000_7fff_ffff_f000, 0, K4, f).unwrap();
    assert_eq!(b.translate(u64::MAX).unwrap().phys, PHYS_LIMIT - 1);
    assert_eq!(b.translate(0x0000_7fff_ffff_ffff).unwrap().phys, 0xfff);
    // translate rejects non-canonical addresses.
    assert_eq!(b.translate(0x0000_8000_0000_0000), None);
}

#[test]
fn allocator_failures_are_reported() {
    // PML4 only: the first map needs a PDPT.
    let mut b = PageTableBuilder::new(SimMem::with_limit(1), true).unwrap();
    assert_eq!(
        b.map(KERNEL, 0, K4, MapFlags::HHDM),
        Err(PagingError::OutOfMemory)
    );
    // Enough for one 4 KiB page (PDPT, PD, PT) but not a second PT.
    let mut b = PageTableBuilder::new(SimMem::with_limit(4), true).unwrap();
    b.map(KERNEL, 0, K4, MapFlags::HHDM).unwrap();
    assert_eq!(
        b.map(KERNEL + M2, 0x1000, K4, MapFlags::HHDM),
        Err(PagingError::OutOfMemory)
    );

    /// An allocator returning a misaligned page.
    #[derive(Debug)]
    struct Broken(SimMem);
    impl PhysMemory for Broken {
        fn alloc_zeroed_page(&mut self) -> Option<u64> {
            self.0.alloc_zeroed_page().map(|p| p + 8)
        }
        fn read_u64(&self, phys: u64) -> u64 {
            self.0.read_u64(phys)
        }
        fn write_u64(&mut self, phys: u64, value: u64) {
            self.0.write_u64(phys, value);
        }
    }
    let err = PageTableBuilder::new(Broken(SimMem::new()), true).unwrap_err();
    assert!(matches!(err, PagingError::BadAllocation { .. }));
    // Errors explain themselves.
    for e in [
        err,
        PagingError::OutOfMemory,
        PagingError::Unaligned {
            virt: 1,
            phys: 2,
            len: 3,
        },
        PagingError::NonCanonical { virt: 1, len: 2 },
        PagingError::PhysOutOfRange { phys: 1, len: 2 },
        PagingError::AlreadyMapped {
            virt: 1,
            existing_phys: 2,
            requested_phys: 3,
        },
    ] {
        assert!(e.to_string().len() > 30, "{e}");
    }
}

#[test]
fn builder_works_over_a_borrowed_memory() {
    let mut mem = SimMem::new();
    let pml4 = {
        let mut b = PageTableBuilder::new(&mut mem, true).unwrap();
        b.map(KERNEL, 0x20_0000, M2, MapFlags::kernel_segment(false, true))
            .unwrap();
        b.pml4_phys()
    };
    let t = translate(&mem, pml4, KERNEL + 0x10).unwrap();
    assert_eq!(t.phys, 0x20_0010);
    assert_eq!(t.page_size, PageSize::Size2MiB);
    assert_eq!(mem.allocated(), 3);
    let b = PageTableBuilder::new(SimMem::new(), true).unwrap();
    assert_eq!(b.into_memory().allocated(), 1);
}

#[test]
fn table_bound_examples() {
    assert_eq!(table_pages_upper_bound(&[]), 1);
    let m = |virt, phys, len| Mapping { virt, phys, len };
    // One 4 KiB page: PDPT, PD, PT.
    assert_eq!(table_pages_upper_bound(&[m(KERNEL, 0, K4)]), 4);
    // Zero length costs nothing.
    assert_eq!(table_pages_upper_bound(&[m(KERNEL, 0, 0)]), 1);
    // 64 GiB HHDM, 1 GiB congruent: one PDPT and no PD/PT beyond the (empty) head and tail.
    let hhdm = table_pages_upper_bound(&[m(HHDM, 0, 64 * G1)]);
    assert!(hhdm <= 1 + 1 + 2 + 2, "{hhdm}");
    // Misaligned relative to 2 MiB: one PT per 2 MiB window.
    let misaligned = table_pages_upper_bound(&[m(KERNEL, 0x1000, 16 * M2)]);
    assert_eq!(misaligned, 1 + 1 + 1 + 16);
    // The real builder stays within these.
    for (virt, phys, len) in [
        (KERNEL, 0, K4),
        (HHDM, 0, 64 * G1),
        (KERNEL, 0x1000, 16 * M2),
        (HHDM + 0x1000, 0x1000, 5 * G1 + 0x1000),
    ] {
        let mut b = builder();
        b.map(virt, phys, len, MapFlags::HHDM).unwrap();
        assert!(
            b.memory().allocated() as u64 <= table_pages_upper_bound(&[m(virt, phys, len)]),
            "{virt:#x} {phys:#x} {len:#x}"
        );
    }
}

#[test]
fn adapter_builds_the_same_tables_as_the_crate() {
    // The same mappings through the adapter and straight through the crate, over the same
    // kind of bump allocator, give identical memory.
    let maps = [
        (HHDM + 0x1000, 0x1000, 5 * G1 + 0x1000, MapFlags::HHDM),
        (
            KERNEL,
            0x20_0000,
            3 * M2 + 5 * K4,
            MapFlags::kernel_segment(false, true),
        ),
        (
            HHDM + 0x1_fd00_0000,
            0x1_fd00_0000,
            0x30_0000,
            MapFlags::FRAMEBUFFER,
        ),
    ];
    let mut b = builder();
    for (v, p, l, f) in maps {
        b.map(v, p, l, f).unwrap();
    }
    let adapter_mem = b.into_memory();

    struct Direct(SimMem);
    impl pagetables::PhysMemory for Direct {
        fn read_entry(&self, t: PhysFrame, i: usize) -> u64 {
            self.0.read_u64(t.start_address().as_u64() + i as u64 * 8)
        }
        fn write_entry(&mut self, t: PhysFrame, i: usize, v: u64) {
            self.0
                .write_u64(t.start_address().as_u64() + i as u64 * 8, v);
        }
    }
    impl pagetables::FrameSource for Direct {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            let p = self.0.alloc_zeroed_page()?;
            Some(PhysFrame::containing_address(PhysAddr::new(p)))
        }
        fn deallocate_frame(&mut self, _: PhysFrame) {}
    }
    let mut d = Direct(SimMem::new());
    let f = pagetables::Features {
        nx: true,
        huge_1g: true,
    };
    let mut pt = pagetables::PageTables::new(&mut d, f).unwrap();
    for (v, p, l, fl) in maps {
        pt.map(&mut d, v, p, l, fl).unwrap().ignore();
    }
    assert_eq!(d.0, adapter_mem);
}

#[test]
fn other_crate_errors_keep_their_text() {
    let e = PagingError::Tables(MapError::NotMapped { virt: 0x5000 });
    assert!(e.to_string().contains("0x5000"), "{e}");
    for e in [
        PagingError::NonCanonical { virt: 1, len: 2 },
        PagingError::PhysOutOfRange { phys: 1, len: 2 },
    ] {
        assert!(e.to_string().len() > 30, "{e}");
    }
}
