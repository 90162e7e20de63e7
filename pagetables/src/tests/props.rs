//! Property tests: random ranges, random HHDM region sets, random edit sequences against a
//! model.

use std::collections::BTreeMap;

use proptest::prelude::*;
use x86_64::structures::paging::{Page, PhysFrame, Size2MiB, Size4KiB};
use x86_64::{PhysAddr, VirtAddr};

use super::sim::SimRam;
use super::unit::{G1, HHDM, K4, M2, tables};
use crate::*;

/// Every leaf of the hierarchy: (virt, phys, size, flags), in address order.
fn leaves(ram: &SimRam, pt: &PageTables) -> Vec<(u64, u64, u64, MapFlags)> {
    fn walk(
        ram: &SimRam,
        table: PhysFrame,
        level: u8,
        base: u64,
        out: &mut Vec<(u64, u64, u64, MapFlags)>,
    ) {
        let span = 1u64 << (12 + 9 * (level as u32 - 1));
        for i in 0..512u64 {
            let e = Entry(ram.read_entry(table, i as usize));
            if !e.is_present() {
                continue;
            }
            let mut v = base + i * span;
            if level == 4 && i >= 256 {
                v |= 0xffff_0000_0000_0000;
            }
            let leaf = level == 1 || (level < 4 && e.0 & (1 << 7) != 0);
            if leaf {
                let size = match level {
                    1 => PageSize::Size4KiB,
                    2 => PageSize::Size2MiB,
                    _ => PageSize::Size1GiB,
                };
                let (p, f) = e.decode_leaf(size);
                out.push((v, p, span, f));
            } else {
                let child =
                    PhysFrame::containing_address(PhysAddr::new(e.0 & 0x000f_ffff_ffff_f000));
                walk(ram, child, level - 1, v, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(ram, pt.root(), 4, 0, &mut out);
    out
}

/// Leaves merged into maximal runs that are contiguous in both spaces with equal flags.
fn runs(leaves: &[(u64, u64, u64, MapFlags)]) -> Vec<(u64, u64, u64, MapFlags)> {
    let mut out: Vec<(u64, u64, u64, MapFlags)> = Vec::new();
    for &(v, p, len, f) in leaves {
        if let Some(last) = out.last_mut()
            && last.0 + last.2 == v
            && last.1 + last.2 == p
            && last.3 == f
        {
            last.2 += len;
            continue;
        }
        out.push((v, p, len, f));
    }
    out
}

// ------------------------------------------------------------------------------------------
// Random ranges with chosen congruences (ported from the loader's builder tests)
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct RangeSpec {
    higher_half: bool,
    congruence: u64,
    virt_off_pages: u64,
    len_pages: u64,
    phys_seed: u64,
    flags: MapFlags,
    probes: Vec<u64>,
}

fn cache() -> impl Strategy<Value = Cache> {
    prop_oneof![
        Just(Cache::WriteBack),
        Just(Cache::WriteCombining),
        Just(Cache::Uncached),
        Just(Cache::WriteThrough),
    ]
}

fn range_spec() -> impl Strategy<Value = RangeSpec> {
    (
        any::<bool>(),
        prop_oneof![Just(K4), Just(M2), Just(G1)],
        0u64..(1 << 18),
        any::<u64>(),
        (any::<bool>(), any::<bool>(), any::<bool>(), cache()),
        proptest::collection::vec(any::<u64>(), 4),
        0u64..1000,
    )
        .prop_map(
            |(higher_half, congruence, off, seed, f, probes, len_seed)| {
                let max_pages = match congruence {
                    K4 => 4096,
                    M2 => 64 * 512,
                    _ => 3 * 512 * 512,
                };
                RangeSpec {
                    higher_half,
                    congruence,
                    virt_off_pages: off,
                    len_pages: 1 + (len_seed * len_seed * 7919) % max_pages,
                    phys_seed: seed,
                    flags: MapFlags {
                        writable: f.0,
                        no_execute: f.1,
                        user: false,
                        global: f.2,
                        cache: f.3,
                    },
                    probes,
                }
            },
        )
}

impl RangeSpec {
    /// Slot `i` is 8 GiB apart from the others, so ranges never overlap.
    fn resolve(&self, slot: u64) -> (u64, u64, u64) {
        let base = if self.higher_half { HHDM } else { 0 };
        let virt = base + slot * 8 * G1 + self.virt_off_pages * K4;
        let phys_any = (self.phys_seed % (1 << 40)) & !(K4 - 1);
        let c = self.congruence;
        let phys = (phys_any & !(c - 1)) | (virt & (c - 1));
        (virt, phys, self.len_pages * K4)
    }
}

// ------------------------------------------------------------------------------------------
// Random HHDM region sets
// ------------------------------------------------------------------------------------------

/// A region of a hostile memory map: anywhere in the first 64 GiB, any alignment, sometimes
/// empty, backwards or overlapping.
fn region() -> impl Strategy<Value = (u64, u64)> {
    (
        0u64..64 * G1,
        prop_oneof![
            0u64..=0,
            1u64..0x10_0000,
            0x10_0000u64..0x4000_0000,
            0x4000_0000u64..4 * G1,
        ],
        prop_oneof![Just(1u64), Just(K4), Just(M2), Just(G1)],
        any::<bool>(),
    )
        .prop_map(|(start, len, align, backwards)| {
            let start = start / align * align;
            let len = if align > 1 { len / align * align } else { len };
            if backwards && len > 0 {
                (start + len, start)
            } else {
                (start, start + len)
            }
        })
}

/// The page-rounded union of `ranges`, as sorted disjoint intervals.
fn union(ranges: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut r: Vec<(u64, u64)> = ranges
        .iter()
        .map(|&(s, e)| (s & !(K4 - 1), e.next_multiple_of(K4)))
        .filter(|&(s, e)| e > s)
        .collect();
    r.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in r {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Random edit sequences against a model
// ------------------------------------------------------------------------------------------

/// The model: disjoint intervals `start → (len, phys, flags)`.
#[derive(Debug, Default, Clone)]
struct Model(BTreeMap<u64, (u64, u64, MapFlags)>);

impl Model {
    /// Intervals overlapping `[v, v + len)`.
    fn overlapping(&self, v: u64, len: u64) -> Vec<(u64, u64, u64, MapFlags)> {
        self.0
            .iter()
            .filter(|(s, (l, _, _))| **s < v + len && v < **s + *l)
            .map(|(s, (l, p, f))| (*s, *l, *p, *f))
            .collect()
    }

    fn covered(&self, v: u64, len: u64) -> bool {
        let mut at = v;
        for (s, l, _, _) in self.overlapping(v, len) {
            if s > at {
                return false;
            }
            at = at.max(s + l);
        }
        at >= v + len
    }

    /// Cuts `[v, v + len)` out, returning the pieces removed.
    fn cut(&mut self, v: u64, len: u64) -> Vec<(u64, u64, u64, MapFlags)> {
        let mut removed = Vec::new();
        for (s, l, p, f) in self.overlapping(v, len) {
            self.0.remove(&s);
            if s < v {
                self.0.insert(s, (v - s, p, f));
            }
            if s + l > v + len {
                let off = v + len - s;
                self.0.insert(v + len, (s + l - (v + len), p + off, f));
            }
            let a = s.max(v);
            let b = (s + l).min(v + len);
            removed.push((a, b - a, p + (a - s), f));
        }
        removed
    }

    fn insert(&mut self, v: u64, len: u64, p: u64, f: MapFlags) {
        self.cut(v, len);
        self.0.insert(v, (len, p, f));
    }

    fn normalized(&self) -> Vec<(u64, u64, u64, MapFlags)> {
        let list: Vec<_> = self
            .0
            .iter()
            .map(|(s, (l, p, f))| (*s, *p, *l, *f))
            .collect();
        runs(&list)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Map { v: u64, p: u64, len: u64, f: u8 },
    MapPage4K { v: u64, p: u64, f: u8 },
    MapPage2M { v: u64, p: u64, f: u8 },
    Unmap { v: u64, len: u64 },
    Protect { v: u64, len: u64, f: u8 },
}

const WINDOW: u64 = 0xffff_c000_0000_0000;

fn flags_of(i: u8) -> MapFlags {
    let caches = [Cache::WriteBack, Cache::Uncached, Cache::WriteCombining];
    MapFlags {
        writable: i & 1 != 0,
        no_execute: i & 2 != 0,
        user: false,
        global: i & 4 != 0,
        cache: caches[(i as usize >> 3) % 3],
    }
}

fn op() -> impl Strategy<Value = Op> {
    // A page-size class decides the alignment of addresses and lengths, so every page size
    // appears; a 4 KiB skew (same for both addresses) makes unaligned edges.
    let class = prop_oneof![Just(K4), Just(M2), Just(G1)];
    let range = (class, 0u64..4096, 1u64..40, 0u64..64, 0u64..4).prop_map(|(c, n, l, g, skew)| {
        let max_units = match c {
            K4 => 40,
            M2 => 16,
            _ => 3,
        };
        let v = (c * n) % (4 * G1) + skew * K4;
        let len = c * (l % max_units + 1);
        (v, g * G1 + v % G1, len)
    });
    prop_oneof![
        3 => (range.clone(), 0u8..24).prop_map(|((v, p, len), f)| Op::Map { v, p, len, f }),
        1 => (range.clone(), 0u64..512, 0u8..24).prop_map(|((v, p, _), k, f)| {
            // Any physical page: not congruent with the virtual one.
            Op::MapPage4K { v, p: p + k * K4, f }
        }),
        1 => (range.clone(), 0u8..24)
            .prop_map(|((v, p, _), f)| Op::MapPage2M { v: v & !(M2 - 1), p: p & !(M2 - 1), f }),
        2 => range.clone().prop_map(|(v, _, len)| Op::Unmap { v, len }),
        2 => (range, 0u8..24).prop_map(|((v, _, len), f)| Op::Protect { v, len, f }),
    ]
}

fn check_against_model(ram: &SimRam, pt: &PageTables, model: &Model) -> Result<(), TestCaseError> {
    let got = runs(&leaves(ram, pt));
    let want = model.normalized();
    prop_assert_eq!(got, want);
    prop_assert_eq!(
        ram.live() as u64,
        pt.table_frames(ram),
        "a table frame leaked"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_ranges_translate_exactly(specs in proptest::collection::vec(range_spec(), 1..6)) {
        let (mut ram, mut pt) = tables();
        let mut mappings = Vec::new();
        for (slot, s) in specs.iter().enumerate() {
            let (virt, phys, len) = s.resolve(slot as u64);
            pt.map(&mut ram, virt, phys, len, s.flags).unwrap().ignore();
            mappings.push(Mapping { virt, phys, len });
        }
        prop_assert!(ram.live() as u64 <= table_frames_upper_bound(&mappings, true));
        for (s, m) in specs.iter().zip(&mappings) {
            let mut inside = vec![m.virt, m.virt + m.len - 1];
            inside.extend(s.probes.iter().map(|p| m.virt + p % m.len));
            for v in inside {
                let t = pt.translate_addr(&ram, v).unwrap();
                prop_assert_eq!(t.phys.as_u64(), m.phys + (v - m.virt));
                prop_assert_eq!(t.flags, s.flags);
                let page = t.page_size.bytes();
                prop_assert!(v / page * page >= m.virt);
                prop_assert!(v / page * page + page <= m.virt + m.len);
            }
            prop_assert_eq!(pt.translate_addr(&ram, m.virt.wrapping_sub(1)), None);
            prop_assert_eq!(pt.translate_addr(&ram, m.virt + m.len), None);
            for p in &s.probes {
                let v = m.virt + m.len + p % (4 * G1);
                prop_assert_eq!(pt.translate_addr(&ram, v), None);
            }
        }
        // Mapping everything again changes nothing.
        let before = ram.clone();
        for (s, m) in specs.iter().zip(&mappings) {
            pt.map(&mut ram, m.virt, m.phys, m.len, s.flags).unwrap().ignore();
        }
        prop_assert_eq!(&ram, &before);
        // Unmapping everything gives back every table but the root.
        for m in &mappings {
            pt.unmap(&mut ram, m.virt, m.len).unwrap().ignore();
        }
        prop_assert_eq!(ram.live(), 1);
    }

    /// Every byte of every region translates to itself plus the offset, nothing else is
    /// mapped, and no two mappings overlap (checked on the full list of leaves).
    #[test]
    fn hhdm_maps_exactly_the_regions(
        regions in proptest::collection::vec(region(), 0..12),
        huge_1g in any::<bool>(),
        offset_gib in 0u64..1024,
    ) {
        let offset = HHDM + offset_gib * G1;
        let mut ram = SimRam::new();
        let mut pt = PageTables::new(&mut ram, Features { nx: true, huge_1g }).unwrap();
        pt.map_hhdm(&mut ram, offset, regions.iter().copied(), MapFlags::DATA).unwrap().ignore();
        let leaves = leaves(&ram, &pt);
        // No overlaps, virtually or physically (leaves are in virtual order).
        for w in leaves.windows(2) {
            prop_assert!(w[0].0 + w[0].2 <= w[1].0);
            prop_assert!(w[0].1 + w[0].2 <= w[1].1);
        }
        for &(v, p, size, f) in &leaves {
            prop_assert_eq!(v, p + offset);
            prop_assert!(f.no_execute && f.writable);
            prop_assert!(huge_1g || size < G1);
        }
        // The union of the leaves is exactly the union of the page-rounded regions.
        let mapped: Vec<(u64, u64)> =
            runs(&leaves).iter().map(|&(_, p, len, _)| (p, p + len)).collect();
        prop_assert_eq!(mapped, union(&regions));
        // 4 KiB pages only at unaligned edges: at most 2 PTs' worth per region.
        let small = leaves.iter().filter(|l| l.2 == K4).count();
        prop_assert!(small <= regions.len() * 2 * 512);
        prop_assert!(pt.table_frames(&ram) as usize == ram.live());
    }

    #[test]
    fn random_edits_match_a_model(ops in proptest::collection::vec(op(), 1..120)) {
        let (mut ram, mut pt) = tables();
        let mut model = Model::default();
        for (i, op) in ops.iter().enumerate() {
            // Snapshot only when the model expects a refusal (which must change nothing).
            let snapshot = |ram: &SimRam, expect_err: bool| expect_err.then(|| ram.clone());
            match *op {
                Op::Map { v, p, len, f } => {
                    let flags = flags_of(f);
                    let (v, p) = (WINDOW + v, p & !(K4 - 1));
                    let agrees = model.overlapping(v, len).iter().all(|&(s, _, mp, mf)| {
                        mf == flags && mp.wrapping_sub(s) == p.wrapping_sub(v)
                    });
                    let before = snapshot(&ram, !agrees);
                    let r = pt.map(&mut ram, v, p, len, flags);
                    if agrees {
                        r.unwrap().ignore();
                        model.insert(v, len, p, flags);
                    } else {
                        prop_assert!(matches!(r, Err(MapError::AlreadyMapped { .. })), "{:?}", r);
                        prop_assert_eq!(Some(&ram), before.as_ref());
                    }
                }
                Op::MapPage4K { v, p, f } => {
                    let v = WINDOW + v;
                    let before = snapshot(&ram, !model.overlapping(v, K4).is_empty());
                    let r = pt.map_page(
                        &mut ram,
                        Page::<Size4KiB>::from_start_address(VirtAddr::new(v)).unwrap(),
                        PhysFrame::<Size4KiB>::from_start_address(PhysAddr::new(p)).unwrap(),
                        flags_of(f),
                    );
                    if model.overlapping(v, K4).is_empty() {
                        r.unwrap().ignore();
                        model.insert(v, K4, p, flags_of(f));
                    } else {
                        prop_assert!(matches!(r, Err(MapError::AlreadyMapped { .. } | MapError::HugePageInTheWay { .. })), "{:?}", r);
                        prop_assert_eq!(Some(&ram), before.as_ref());
                    }
                }
                Op::MapPage2M { v, p, f } => {
                    let v = WINDOW + v;
                    let before = snapshot(&ram, !model.overlapping(v, M2).is_empty());
                    let r = pt.map_page(
                        &mut ram,
                        Page::<Size2MiB>::from_start_address(VirtAddr::new(v)).unwrap(),
                        PhysFrame::<Size2MiB>::from_start_address(PhysAddr::new(p)).unwrap(),
                        flags_of(f),
                    );
                    if model.overlapping(v, M2).is_empty() {
                        r.unwrap().ignore();
                        model.insert(v, M2, p, flags_of(f));
                    } else {
                        prop_assert!(matches!(r, Err(MapError::AlreadyMapped { .. } | MapError::HugePageInTheWay { .. })), "{:?}", r);
                        prop_assert_eq!(Some(&ram), before.as_ref());
                    }
                }
                Op::Unmap { v, len } => {
                    let v = WINDOW + v;
                    let before = snapshot(&ram, !model.covered(v, len));
                    let r = pt.unmap(&mut ram, v, len);
                    if model.covered(v, len) {
                        let flush = r.unwrap();
                        prop_assert_eq!((flush.start(), flush.len()), (v, len));
                        flush.ignore();
                        model.cut(v, len);
                    } else {
                        prop_assert!(matches!(r, Err(MapError::NotMapped { .. })), "{:?}", r);
                        prop_assert_eq!(Some(&ram), before.as_ref());
                    }
                }
                Op::Protect { v, len, f } => {
                    let v = WINDOW + v;
                    let before = snapshot(&ram, !model.covered(v, len));
                    let r = pt.protect(&mut ram, v, len, flags_of(f));
                    if model.covered(v, len) {
                        r.unwrap().ignore();
                        for (s, l, p, _) in model.cut(v, len) {
                            model.0.insert(s, (l, p, flags_of(f)));
                        }
                    } else {
                        prop_assert!(matches!(r, Err(MapError::NotMapped { .. })), "{:?}", r);
                        prop_assert_eq!(Some(&ram), before.as_ref());
                    }
                }
            }
            if i % 8 == 7 || i + 1 == ops.len() {
                check_against_model(&ram, &pt, &model)?;
            }
        }
        // Unmap what the model holds: every table but the root goes back.
        let all: Vec<(u64, u64)> = model.0.iter().map(|(s, (l, _, _))| (*s, *l)).collect();
        for (s, l) in all {
            pt.unmap(&mut ram, s, l).unwrap().ignore();
        }
        prop_assert_eq!(ram.live(), 1);
        prop_assert_eq!(ram.allocations, ram.deallocations + 1);
    }
}
