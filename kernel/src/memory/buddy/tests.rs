//! Host tests of the buddy allocator against a model, over a simulated memory that fails the
//! test on any access outside the frames it allows.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const K4: u64 = FRAME_SIZE;
const M1: u64 = 0x10_0000;
const M2: u64 = 0x20_0000;
const G1: u64 = 0x4000_0000;

/// Sparse simulated memory: only header words are stored; every access must fall inside one
/// of `allowed`.
#[derive(Debug, Default, Clone)]
struct SimFrames {
    words: HashMap<u64, [u64; 4]>,
    allowed: Vec<(u64, u64)>,
    writes: u64,
}

impl SimFrames {
    fn allowing(allowed: &[(u64, u64)]) -> Self {
        SimFrames {
            allowed: allowed.to_vec(),
            ..Default::default()
        }
    }
    fn check(&self, frame: u64, word: usize) {
        assert!(word < 4, "word {word}");
        assert!(frame.is_multiple_of(K4), "unaligned frame {frame:#x}");
        assert!(
            self.allowed.iter().any(|&(s, e)| s <= frame && frame < e),
            "access to {frame:#x} outside usable memory"
        );
    }
}

impl FrameAccess for SimFrames {
    fn read(&self, frame: u64, word: usize) -> u64 {
        self.check(frame, word);
        self.words.get(&frame).map_or(0, |w| w[word])
    }
    fn write(&mut self, frame: u64, word: usize, value: u64) {
        self.check(frame, word);
        self.writes += 1;
        self.words.entry(frame).or_default()[word] = value;
    }
}

fn r(base: u64, length: u64, kind: MemoryKind) -> MemoryRegion {
    MemoryRegion { base, length, kind }
}

fn usable(base: u64, length: u64) -> MemoryRegion {
    r(base, length, MemoryKind::Usable)
}

/// An allocator over `map` whose memory allows exactly `allowed`.
fn buddy(map: &[MemoryRegion], allowed: &[(u64, u64)]) -> BuddyAllocator<SimFrames> {
    let mut b = BuddyAllocator::new(SimFrames::allowing(allowed), 52, 0x1234);
    b.add_map(map);
    b
}

/// Every free block, as (order, address).
fn free_set(b: &BuddyAllocator<SimFrames>) -> BTreeSet<(usize, u64)> {
    (0..ORDERS)
        .flat_map(|o| b.free_list(o).map(move |a| (o, a)))
        .collect()
}

/// Handed-out blocks, checked for overlap on insert.
#[derive(Debug, Default)]
struct Held(BTreeMap<u64, u64>);

impl Held {
    fn insert(&mut self, addr: u64, len: u64) {
        if let Some((&s, &l)) = self.0.range(..addr + len).next_back() {
            assert!(
                s + l <= addr,
                "{addr:#x}+{len:#x} overlaps {s:#x}+{l:#x}: handed out twice"
            );
        }
        self.0.insert(addr, len);
    }
    fn frames(&self) -> u64 {
        self.0.values().sum::<u64>() / K4
    }
}

#[test]
fn hands_out_every_frame_once_and_never_below_1mib() {
    let map = [usable(0, 0x9_f000), usable(M1, 7 * M1)];
    let mut b = buddy(&map, &[(M1, 8 * M1)]);
    let s = b.stats();
    assert_eq!(s.total_frames, 7 * M1 / K4);
    assert_eq!(s.free_frames, s.total_frames);
    assert_eq!(s.clipped.below_1mib, 0x9_f000);
    assert_eq!(b.ranges(), &[(M1, 8 * M1)]);
    let initial = free_set(&b);
    // 1..2 MiB is an order-8 block, 2..4 MiB order 9, 4..8 MiB order 10.
    assert_eq!(s.free_blocks[8], 1);
    assert_eq!(s.free_blocks[9], 1);
    assert_eq!(s.free_blocks[10], 1);
    assert_eq!(s.free_blocks.iter().sum::<u64>(), 3);
    let mut held = Held::default();
    while let Some(f) = b.allocate() {
        assert!((M1..8 * M1).contains(&f) && f.is_multiple_of(K4), "{f:#x}");
        held.insert(f, K4);
    }
    assert_eq!(held.frames(), s.total_frames);
    assert_eq!(b.free_frames(), 0);
    assert_eq!(b.allocate_order(3), None);
    for &f in held.0.keys() {
        b.free(f).unwrap();
    }
    assert_eq!(
        b.stats(),
        s,
        "freeing everything restores the initial state"
    );
    assert_eq!(free_set(&b), initial);
}

#[test]
fn aligned_runs() {
    let map = [usable(M1, 64 * M2)];
    let mut b = buddy(&map, &[(M1, M1 + 64 * M2)]);
    let before = (b.stats(), free_set(&b));
    let mut held = Held::default();
    for order in [9, 0, 9, 4, MAX_ORDER.min(14), 1, 9] {
        let a = b.allocate_order(order).unwrap();
        assert!(
            a.is_multiple_of(block_size(order)),
            "order {order} at {a:#x}"
        );
        held.insert(a, block_size(order));
    }
    for count in [1, 3, 5, 200, 512, 513] {
        let a = b.allocate_run(count).unwrap();
        let align = count.next_power_of_two() * K4;
        assert!(a.is_multiple_of(align), "run of {count} at {a:#x}");
        held.insert(a, count * K4);
    }
    assert_eq!(b.free_frames(), b.stats().total_frames - held.frames());
    assert_eq!(b.allocate_order(MAX_ORDER + 1), None);
    assert_eq!(b.allocate_run(0), None);
    assert_eq!(b.allocate_run((1 << MAX_ORDER) + 1), None);
    assert_eq!(b.allocate_order(MAX_ORDER), None, "no whole GiB in 129 MiB");
    for (&a, &len) in &held.0 {
        if len.is_power_of_two() && a.is_multiple_of(len) {
            b.free_order(a, (len / K4).trailing_zeros() as usize)
                .unwrap();
        } else {
            b.free_run(a, len / K4).unwrap();
        }
    }
    assert_eq!((b.stats(), free_set(&b)), before);
}

#[test]
fn gib_blocks_where_ram_allows() {
    let map = [usable(M1, 3 * G1)];
    let mut b = buddy(&map, &[(M1, M1 + 3 * G1)]);
    // 1 GiB .. 3 GiB are two order-18 blocks; no block is bigger.
    assert_eq!(b.stats().free_blocks[MAX_ORDER], 2);
    let a = b.allocate_order(MAX_ORDER).unwrap();
    let c = b.allocate_order(MAX_ORDER).unwrap();
    assert_eq!(BTreeSet::from([a, c]), BTreeSet::from([G1, 2 * G1]));
    assert_eq!(b.allocate_order(MAX_ORDER), None);
    b.free_order(a, MAX_ORDER).unwrap();
    b.free_order(c, MAX_ORDER).unwrap();
    assert_eq!(
        b.stats().free_blocks[MAX_ORDER],
        2,
        "never coalesced past 1 GiB"
    );
}

#[test]
fn hostile_maps_are_clipped_and_counted() {
    let map = [
        usable(0, 0x20_0000),                         // below 1 MiB: 1 MiB clipped
        usable(0x30_0123, 0x2000),                    // unaligned: one whole frame
        usable(0x40_0000, 0),                         // zero length
        usable(0x50_0000, 0x10_0000),                 // ...
        usable(0x58_0000, 0x10_0000),                 // overlaps the previous by 512 KiB
        usable(0x50_0000, 0x1000),                    // inside the first: all overlap
        r(0x52_0000, 0x1_0000, MemoryKind::Reserved), // claimed by both kinds
        r(0x53_0800, 0x800, MemoryKind::AcpiNvs),     // unaligned claim: whole frame out
        usable(u64::MAX - 0x1fff, 0x3000),            // wraps; beyond MAXPHYADDR anyway
        usable((1 << 36) - 0x2000, 0x4000),           // straddles MAXPHYADDR (36 bits)
        r(0xfee0_0000, 0x1000, MemoryKind::Unknown(77)),
        r(0x7000_0000, 0x1000, MemoryKind::BootloaderReclaimable),
        r(0x8000_0000, 0x3000, MemoryKind::BootloaderReclaimable),
        r(0x9000_0000, 0x5000, MemoryKind::Framebuffer),
    ];
    let allowed = [(M1, 1 << 36)];
    let mut b = BuddyAllocator::new(SimFrames::allowing(&allowed), 36, 7);
    b.add_map(&map);
    let s = b.stats();
    let c = s.clipped;
    assert_eq!(c.below_1mib, M1);
    assert_eq!(
        c.empty_regions, 2,
        "zero length and the wrapping region beyond the limit"
    );
    assert_eq!(c.wrapping_regions, 1);
    assert_eq!(c.beyond_limit, 0x2000 + 0x1fff);
    assert_eq!(c.unaligned, 0x2000 - 0x1000);
    assert_eq!(c.overlapping, 0x8_0000 + 0x1000);
    assert_eq!(c.claimed_by_other, 0x1_0000 + 0x1000);
    assert_eq!(c.no_room, 0);
    assert!(c.any());
    assert_eq!(
        b.ranges(),
        &[
            (M1, 0x20_0000),
            (0x30_1000, 0x30_2000),
            (0x50_0000, 0x52_0000),
            (0x53_1000, 0x68_0000),
            ((1 << 36) - 0x2000, 1 << 36),
        ]
    );
    let expected_frames = (0x10_0000 + 0x1000 + 0x2_0000 + (0x68_0000 - 0x53_1000) + 0x2000) / K4;
    assert_eq!(s.total_frames, expected_frames);
    // Reserved by type.
    assert_eq!(s.reserved.bytes(MemoryKind::BootloaderReclaimable), 0x4000);
    assert_eq!(s.reserved.bytes(MemoryKind::Reserved), 0x1_0000);
    assert_eq!(s.reserved.bytes(MemoryKind::AcpiNvs), 0x800);
    assert_eq!(s.reserved.bytes(MemoryKind::Framebuffer), 0x5000);
    assert_eq!(s.reserved.bytes(MemoryKind::Unknown(3)), 0x1000);
    assert_eq!(s.reserved.bytes(MemoryKind::Usable), 0);
    assert_eq!(
        s.reserved.iter().map(|(_, b)| b).sum::<u64>(),
        0x1_0000 + 0x800 + 0x1000 + 0x4000 + 0x5000
    );
    // Everything handed out is inside what survived.
    let mut held = Held::default();
    while let Some(f) = b.allocate() {
        assert!(b.ranges().iter().any(|&(s, e)| s <= f && f < e), "{f:#x}");
        held.insert(f, K4);
    }
    assert_eq!(held.frames(), expected_frames);
}

#[test]
fn reclaim_adds_regions_later() {
    let map = [
        usable(M1, M1),
        r(2 * M1, M1, MemoryKind::BootloaderReclaimable),
        usable(3 * M1, M1),
    ];
    let mut b = buddy(&map, &[(M1, 4 * M1)]);
    assert_eq!(b.stats().total_frames, 2 * M1 / K4);
    assert_eq!(b.stats().free_blocks[8], 2);
    // Reclaiming the middle joins the neighbours: 1..4 MiB = 1 MiB block + 2 MiB block.
    assert_eq!(b.add_region(2 * M1, M1), M1);
    assert_eq!(b.ranges(), &[(M1, 4 * M1)]);
    assert_eq!(b.stats().free_blocks[9], 1);
    assert_eq!(b.stats().free_blocks[8], 1);
    // Adding it again, or below 1 MiB, adds nothing.
    assert_eq!(b.add_region(2 * M1, M1), 0);
    assert_eq!(b.add_region(0, M1), 0);
    assert_eq!(b.stats().clipped.overlapping, M1);
    assert_eq!(b.stats().total_frames, 3 * M1 / K4);
    // Every reclaimed frame is free; one handed out is not, and is again once freed.
    assert!(
        (2 * M1..3 * M1)
            .step_by(K4 as usize)
            .all(|f| b.frame_is_free(f + 8))
    );
    assert!(!b.frame_is_free(0) && !b.frame_is_free(4 * M1));
    let f = b.allocate().unwrap();
    assert!(!b.frame_is_free(f));
    b.free(f).unwrap();
    assert!(b.frame_is_free(f));
}

#[test]
fn bad_frees_are_refused_and_change_nothing() {
    let map = [usable(M1, 4 * M2)];
    let mut b = buddy(&map, &[(M1, M1 + 4 * M2)]);
    let a = b.allocate_order(9).unwrap();
    let f = b.allocate().unwrap();
    let before = (b.stats(), free_set(&b));
    assert_eq!(
        b.free_order(a + K4, 9),
        Err(FreeError::Misaligned {
            addr: a + K4,
            order: 9
        })
    );
    assert_eq!(
        b.free_order(a, MAX_ORDER + 1),
        Err(FreeError::Misaligned {
            addr: a,
            order: MAX_ORDER + 1
        })
    );
    assert_eq!(b.free(0), Err(FreeError::NotManaged { addr: 0 }));
    assert_eq!(
        b.free(0x9_f000),
        Err(FreeError::NotManaged { addr: 0x9_f000 })
    );
    assert_eq!(b.free(G1), Err(FreeError::NotManaged { addr: G1 }));
    assert_eq!(
        b.free_run(a, 0),
        Err(FreeError::Misaligned { addr: a, order: 0 })
    );
    // A frame inside a free block, and a free block itself.
    let free_block = *free_set(&b).iter().find(|(o, _)| *o >= 2).unwrap();
    assert_eq!(
        b.free(free_block.1 + K4),
        Err(FreeError::DoubleFree {
            addr: free_block.1 + K4
        })
    );
    assert_eq!(
        b.free_order(free_block.1, free_block.0),
        Err(FreeError::DoubleFree { addr: free_block.1 })
    );
    assert_eq!((b.stats(), free_set(&b)), before);
    // Production checks catch the block itself (here its buddy is held, so it stays a block
    // of its own) and a free block starting where it starts.
    b.set_full_checks(false);
    let h = b.allocate_order(1).unwrap();
    let g = h + K4;
    b.free(g).unwrap();
    assert_eq!(b.free(g), Err(FreeError::DoubleFree { addr: g }));
    assert_eq!(
        b.free_order(free_block.1, free_block.0),
        Err(FreeError::DoubleFree { addr: free_block.1 })
    );
    b.free(h).unwrap();
    b.set_full_checks(true);
    b.free(f).unwrap();
    assert_eq!(b.free(f), Err(FreeError::DoubleFree { addr: f }));
    b.free_order(a, 9).unwrap();
    assert!(matches!(
        b.free_run(a, 3),
        Err(FreeError::DoubleFree { .. })
    ));
    for e in [
        FreeError::DoubleFree { addr: 1 },
        FreeError::NotManaged { addr: 1 },
        FreeError::Misaligned { addr: 1, order: 2 },
    ] {
        assert!(e.to_string().len() > 15, "{e}");
    }
}

#[test]
fn junk_in_handed_out_frames_is_never_taken_for_a_header() {
    // Users fill their frames with anything, including copies of real headers of other
    // blocks: a tag only matches its own address and order.
    let map = [usable(M1, 16 * M2)];
    let mut b = buddy(&map, &[(M1, M1 + 16 * M2)]);
    let before = (b.stats(), free_set(&b));
    let mut held = Vec::new();
    while let Some(a) = b.allocate_order(2) {
        held.push(a);
    }
    let sample: Vec<[u64; 4]> = b.access().words.values().take(8).copied().collect();
    for (i, &a) in held.iter().enumerate() {
        for f in 0..4 {
            let junk = sample.get(i % 8).copied().unwrap_or([i as u64; 4]);
            for (w, v) in junk.iter().enumerate() {
                b.access_mut()
                    .write(a + f * K4, w, v ^ (f * (i as u64 % 2)));
            }
        }
    }
    let mut half = Held::default();
    for &a in held.iter().step_by(2) {
        b.free_order(a, 2).unwrap();
    }
    while let Some(f) = b.allocate() {
        half.insert(f, K4);
    }
    for &a in held.iter().skip(1).step_by(2) {
        half.insert(a, 4 * K4);
    }
    for (&a, &l) in &half.0 {
        b.free_run(a, l / K4).unwrap();
    }
    assert_eq!((b.stats(), free_set(&b)), before);
}

/// A scattered map like OVMF's at `gib` GiB of RAM, with reserved holes.
fn scattered(gib: u64) -> Vec<MemoryRegion> {
    let mut map = vec![
        usable(0, 0x9_f000),
        r(0x9_f000, 0x6_1000, MemoryKind::Reserved),
        usable(M1, 0x70_0000),
        r(0x80_0000, 0x8000, MemoryKind::AcpiNvs),
        usable(0x80_8000, 0x8000),
        r(0x81_0000, 0xf_0000, MemoryKind::AcpiNvs),
        usable(0x90_0000, 0x3f0_0000 - 0x90_0000),
        r(0x3f0_0000, 0x10_0000, MemoryKind::BootloaderReclaimable),
        usable(0x400_0000, 0x3c00_0000),
        r(0x7fb0_0000, 0x40_0000, MemoryKind::AcpiReclaimable),
    ];
    if gib > 2 {
        map.push(usable(0x1_0000_0000, (gib - 2) * G1));
    }
    map
}

fn allowed_of(map: &[MemoryRegion]) -> Vec<(u64, u64)> {
    map.iter()
        .filter(|r| r.kind == MemoryKind::Usable)
        .map(|r| (r.base.max(M1), r.end()))
        .collect()
}

#[test]
fn init_cost_is_per_region_not_per_frame() {
    let small = scattered(1); // ~1 GiB
    let large = scattered(16);
    let b_small = buddy(&small, &allowed_of(&small));
    let b_large = buddy(&large, &allowed_of(&large));
    let (ws, wl) = (b_small.access().writes, b_large.access().writes);
    assert!(b_large.stats().total_frames > 14 * (G1 / K4));
    // 14 extra GiB above 4 GiB are 14 aligned 1 GiB blocks: 14 pushes of 4-5 writes.
    assert!(wl - ws <= 14 * 5, "16 GiB cost {wl} writes, 1 GiB {ws}");
    assert!(wl <= (large.len() * 2 * ORDERS * 5) as u64);
    println!("bench: buddy_init_writes_16g: {wl} writes (1 GiB map: {ws})");
}

#[test]
fn a_million_random_operations_against_the_model() {
    random_operations(1_000_000, true);
}

#[test]
fn random_operations_with_production_checks() {
    random_operations(200_000, false);
}

fn random_operations(count: u64, full_checks: bool) {
    let map = scattered(6);
    let allowed = allowed_of(&map);
    let mut b = buddy(&map, &allowed);
    b.set_full_checks(full_checks);
    assert_eq!(b.full_checks(), full_checks);
    let initial = (b.stats(), free_set(&b));
    let total = b.stats().total_frames;
    let mut held: Vec<(u64, u64)> = Vec::new(); // (addr, frames)
    let mut model = Held::default();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut ops = 0u64;
    while ops < count {
        let x = next();
        let alloc = held.len() < 64 || x % 100 < 50;
        if alloc {
            let (got, frames) = match x >> 8 & 7 {
                0..=3 => (b.allocate(), 1),
                4 | 5 => (b.allocate_order(9), 512),
                6 => {
                    let order = (x >> 16) as usize % 12;
                    (b.allocate_order(order), 1 << order)
                }
                _ => {
                    let n = 1 + (x >> 16) % 700;
                    (b.allocate_run(n), n)
                }
            };
            if let Some(a) = got {
                assert!(allowed.iter().any(|&(s, e)| s <= a && a + frames * K4 <= e));
                model.insert(a, frames * K4);
                held.push((a, frames));
            }
        } else {
            let i = (x >> 20) as usize % held.len();
            let (a, frames) = held.swap_remove(i);
            model.0.remove(&a);
            if frames.is_power_of_two() && a.is_multiple_of(frames * K4) && x & 1 == 0 {
                b.free_order(a, frames.trailing_zeros() as usize).unwrap();
            } else {
                b.free_run(a, frames).unwrap();
            }
        }
        ops += 1;
        if ops.is_multiple_of(4096) {
            assert_eq!(b.free_frames(), total - model.frames());
            let s = b.stats();
            let listed: u64 = (0..ORDERS).map(|o| s.free_blocks[o] << o).sum();
            assert_eq!(listed, s.free_frames);
        }
    }
    for (a, frames) in held {
        b.free_run(a, frames).unwrap();
    }
    assert_eq!(
        (b.stats(), free_set(&b)),
        initial,
        "full coalescing after freeing everything"
    );
}

/// A random (possibly hostile) region.
fn region() -> impl Strategy<Value = MemoryRegion> {
    (
        prop_oneof![0u64..64 * M1, 0u64..8 * G1, (u64::MAX - G1)..=u64::MAX],
        prop_oneof![0u64..=0, 1u64..0x4000, 0x1000u64..16 * M1, 0u64..2 * G1],
        prop_oneof![Just(1u64), Just(K4), Just(M2)],
        0u8..6,
    )
        .prop_map(|(base, len, align, kind)| {
            let kind = match kind {
                0..=2 => MemoryKind::Usable,
                3 => MemoryKind::Reserved,
                4 => MemoryKind::BootloaderReclaimable,
                _ => MemoryKind::AcpiNvs,
            };
            r(base / align * align, len / align * align, kind)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever the map says, every frame handed out is usable, at or above 1 MiB, below the
    /// limit, claimed by no other region, handed out once; and all of them come back.
    #[test]
    fn random_maps_hand_out_only_usable_frames(
        map in proptest::collection::vec(region(), 0..14),
        phys_bits in 32u8..=40,
    ) {
        let limit = 1u64 << phys_bits;
        // Frames the allocator may touch: usable, >= 1 MiB, < limit, minus other claims.
        let ok = |f: u64| {
            f >= M1 && f < limit
                && map.iter().any(|r| r.kind == MemoryKind::Usable && r.base <= f && f + K4 <= r.end())
                && !map.iter().any(|r| r.kind != MemoryKind::Usable && r.length > 0 && r.base < f + K4 && f < r.end())
        };
        let mut b = BuddyAllocator::new(SimFrames::allowing(&[(M1, limit)]), phys_bits, 99);
        b.add_map(&map);
        for &(s, e) in b.ranges() {
            prop_assert!(s < e && ok(s) && ok(e - K4));
        }
        let initial = (b.stats(), free_set(&b));
        let mut held = Held::default();
        let mut handed = Vec::new();
        // Big blocks first, then singles, bounded so huge maps stay quick.
        for order in [MAX_ORDER, 12, 9, 3, 0] {
            for _ in 0..64 {
                let Some(a) = b.allocate_order(order) else { break };
                prop_assert!(ok(a) && ok(a + block_size(order) - K4), "{:#x}", a);
                held.insert(a, block_size(order));
                handed.push((a, order));
            }
        }
        prop_assert_eq!(b.free_frames(), b.stats().total_frames - held.frames());
        for (a, o) in handed.into_iter().rev() {
            b.free_order(a, o).unwrap();
        }
        prop_assert_eq!((b.stats(), free_set(&b)), initial);
    }
}

#[test]
fn a_restored_stale_header_does_not_make_a_block_free() {
    // A user copies a frame's old contents back, stale free-list header included (as if it
    // had saved the page while it was free): the tag matches, but the list does not point at
    // the block, so its buddy's free must not merge with it.
    let map = [usable(2 * M2, 2 * M2)];
    let mut b = buddy(&map, &[(2 * M2, 4 * M2)]);
    let x = b.allocate_order(9).unwrap();
    let y = b.allocate_order(9).unwrap();
    assert_eq!(x ^ y, M2, "buddies");
    b.free_order(x, 9).unwrap();
    let stale: Vec<u64> = (0..4).map(|w| b.access().read(x, w)).collect();
    assert_eq!(b.allocate_order(9), Some(x));
    for (w, v) in stale.into_iter().enumerate() {
        b.access_mut().write(x, w, v);
    }
    b.free_order(y, 9).unwrap();
    assert_eq!(
        b.stats().free_blocks[10],
        0,
        "merged with an allocated block"
    );
    assert_eq!(b.allocate_order(9), Some(y));
    assert_eq!(b.allocate_order(0), None);
}
