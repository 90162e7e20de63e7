//! Frame allocator benchmarks, side by side over the same simulated memory map: the kernel's
//! buddy allocator (`kernel::memory::buddy`), `buddy_system_allocator::FrameAllocator`, and a
//! plain bitmap scan.
//!
//! Criterion reports first; then the bench measures the contract figures itself (interleaved
//! batches timed with `Instant`, best batch average) and prints:
//!
//! ```text
//! bench: frame_alloc_free_<allocator>: <ns> ns        single frame, alloc + free
//! bench: frame_alloc_free_order9_<allocator>: <ns> ns one 2 MiB run, alloc + free
//! bench: frame_churn_<allocator>: <ns> ns             alloc + free with 4096 frames held
//! ratio: frame_alloc_vs_buddy_system_allocator: <their single-frame time / ours>
//! ```
//!
//! The buddy runs as the production kernel does (a free checks the block itself for a double
//! free); the `_full_checks` cases add the search for a larger free block containing it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use buddy_system_allocator::FrameAllocator;
use criterion::Criterion;
use kernel::boot::info::{MemoryKind, MemoryRegion};
use kernel::memory::buddy::{BuddyAllocator, FRAME_SIZE, FrameAccess, MAX_ORDER};
use kernel::rand::XorShift64;

const G1: u64 = 1 << 30;

/// An OVMF-like 6 GiB map: low RAM with firmware holes, the PCI hole, RAM above 4 GiB.
fn memory_map() -> Vec<MemoryRegion> {
    let r = |base, length, kind| MemoryRegion { base, length, kind };
    vec![
        r(0, 0x9_f000, MemoryKind::Usable),
        r(0x10_0000, 0x70_0000, MemoryKind::Usable),
        r(0x80_0000, 0x8000, MemoryKind::AcpiNvs),
        r(0x80_8000, 0x8000, MemoryKind::Usable),
        r(0x90_0000, 0x3f0_0000 - 0x90_0000, MemoryKind::Usable),
        r(0x3f0_0000, 0x10_0000, MemoryKind::BootloaderReclaimable),
        r(0x400_0000, 0x7bb0_0000 - 0x400_0000, MemoryKind::Usable),
        r(0x7bb0_0000, 0x50_0000, MemoryKind::AcpiReclaimable),
        r(0x1_0000_0000, 4 * G1, MemoryKind::Usable),
    ]
}

/// Frame headers in one flat array, as direct-mapped RAM would be.
struct Dense(Vec<[u64; 4]>);

impl FrameAccess for Dense {
    fn read(&self, frame: u64, word: usize) -> u64 {
        self.0[(frame / FRAME_SIZE) as usize][word]
    }
    fn write(&mut self, frame: u64, word: usize, value: u64) {
        self.0[(frame / FRAME_SIZE) as usize][word] = value;
    }
}

fn ours(map: &[MemoryRegion]) -> BuddyAllocator<Dense> {
    let top = map.iter().map(|r| r.end()).max().unwrap_or(0);
    let mem = Dense(vec![[0; 4]; (top / FRAME_SIZE) as usize + 1]);
    let mut b = BuddyAllocator::new(mem, 40, 0x5eed);
    b.set_full_checks(false);
    b.add_map(map);
    b
}

/// The same managed ranges (as frame numbers) in `buddy_system_allocator`.
fn theirs(ranges: &[(u64, u64)]) -> FrameAllocator<{ MAX_ORDER + 1 }> {
    let mut f = FrameAllocator::<{ MAX_ORDER + 1 }>::new();
    for &(s, e) in ranges {
        f.add_frame((s / FRAME_SIZE) as usize, (e / FRAME_SIZE) as usize);
    }
    f
}

/// The baseline: one bit per frame (1 = free), searched from the start every time.
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(ranges: &[(u64, u64)]) -> Self {
        let top = ranges.iter().map(|r| r.1).max().unwrap_or(0) / FRAME_SIZE;
        let mut words = vec![0u64; top.div_ceil(64) as usize];
        for &(s, e) in ranges {
            for f in s / FRAME_SIZE..e / FRAME_SIZE {
                words[(f / 64) as usize] |= 1 << (f % 64);
            }
        }
        Bitmap(words)
    }
    fn alloc(&mut self) -> Option<u64> {
        let (i, w) = self.0.iter_mut().enumerate().find(|(_, w)| **w != 0)?;
        let bit = w.trailing_zeros();
        *w &= !(1 << bit);
        Some(i as u64 * 64 + u64::from(bit))
    }
    /// 512 frames aligned to 512: eight all-free words at an 8-word boundary.
    fn alloc_512(&mut self) -> Option<u64> {
        let i = self
            .0
            .chunks_exact(8)
            .position(|c| c.iter().all(|w| *w == u64::MAX))?;
        self.0[i * 8..i * 8 + 8].fill(0);
        Some(i as u64 * 512)
    }
    fn free(&mut self, frame: u64) {
        self.0[(frame / 64) as usize] |= 1 << (frame % 64);
    }
    fn free_512(&mut self, frame: u64) {
        let i = (frame / 64) as usize;
        self.0[i..i + 8].fill(u64::MAX);
    }
}

const HELD: usize = 4096;

/// The three allocators, each holding `HELD` scattered frames for the churn pattern.
struct Set {
    ours: BuddyAllocator<Dense>,
    theirs: FrameAllocator<{ MAX_ORDER + 1 }>,
    bitmap: Bitmap,
    held_ours: Vec<u64>,
    held_theirs: Vec<usize>,
    held_bitmap: Vec<u64>,
    rng: XorShift64,
}

impl Set {
    fn new() -> Self {
        let map = memory_map();
        let ours = ours(&map);
        let ranges = ours.ranges().to_vec();
        let mut s = Set {
            theirs: theirs(&ranges),
            bitmap: Bitmap::new(&ranges),
            ours,
            held_ours: Vec::new(),
            held_theirs: Vec::new(),
            held_bitmap: Vec::new(),
            rng: XorShift64(0x2545_f491_4f6c_dd1d),
        };
        // Hold every other frame of a long stretch, so the free lists are fragmented.
        for i in 0..2 * HELD {
            let a = s.ours.allocate().expect("frame");
            let b = s.theirs.alloc(1).expect("frame");
            let c = s.bitmap.alloc().expect("frame");
            if i % 2 == 0 {
                s.held_ours.push(a);
                s.held_theirs.push(b);
                s.held_bitmap.push(c);
            } else {
                s.ours.free(a).expect("held frame");
                s.theirs.dealloc(b, 1);
                s.bitmap.free(c);
            }
        }
        s
    }

    fn single_ours(&mut self) {
        let f = self.ours.allocate().expect("frame");
        self.ours.free(black_box(f)).expect("held frame");
    }
    fn single_theirs(&mut self) {
        let f = self.theirs.alloc(1).expect("frame");
        self.theirs.dealloc(black_box(f), 1);
    }
    fn single_bitmap(&mut self) {
        let f = self.bitmap.alloc().expect("frame");
        self.bitmap.free(black_box(f));
    }
    fn order9_ours(&mut self) {
        let f = self.ours.allocate_order(9).expect("2 MiB");
        self.ours.free_order(black_box(f), 9).expect("held run");
    }
    fn order9_theirs(&mut self) {
        let f = self.theirs.alloc(512).expect("2 MiB");
        self.theirs.dealloc(black_box(f), 512);
    }
    fn order9_bitmap(&mut self) {
        let f = self.bitmap.alloc_512().expect("2 MiB");
        self.bitmap.free_512(black_box(f));
    }
    fn churn_ours(&mut self) {
        let i = (self.rng.next_u64() % HELD as u64) as usize;
        let f = self.ours.allocate().expect("frame");
        let old = std::mem::replace(&mut self.held_ours[i], f);
        self.ours.free(black_box(old)).expect("held frame");
    }
    fn churn_theirs(&mut self) {
        let i = (self.rng.next_u64() % HELD as u64) as usize;
        let f = self.theirs.alloc(1).expect("frame");
        let old = std::mem::replace(&mut self.held_theirs[i], f);
        self.theirs.dealloc(black_box(old), 1);
    }
    fn single_ours_checked(&mut self) {
        self.ours.set_full_checks(true);
        self.single_ours();
        self.ours.set_full_checks(false);
    }
    fn churn_ours_checked(&mut self) {
        self.ours.set_full_checks(true);
        self.churn_ours();
        self.ours.set_full_checks(false);
    }
    fn churn_bitmap(&mut self) {
        let i = (self.rng.next_u64() % HELD as u64) as usize;
        let f = self.bitmap.alloc().expect("frame");
        let old = std::mem::replace(&mut self.held_bitmap[i], f);
        self.bitmap.free(black_box(old));
    }
}

type Case = (&'static str, fn(&mut Set));

const CASES: [Case; 11] = [
    ("frame_alloc_free_buddy", Set::single_ours),
    (
        "frame_alloc_free_buddy_system_allocator",
        Set::single_theirs,
    ),
    ("frame_alloc_free_bitmap", Set::single_bitmap),
    ("frame_alloc_free_order9_buddy", Set::order9_ours),
    (
        "frame_alloc_free_order9_buddy_system_allocator",
        Set::order9_theirs,
    ),
    ("frame_alloc_free_order9_bitmap", Set::order9_bitmap),
    ("frame_churn_buddy", Set::churn_ours),
    ("frame_churn_buddy_system_allocator", Set::churn_theirs),
    ("frame_churn_bitmap", Set::churn_bitmap),
    (
        "frame_alloc_free_buddy_full_checks",
        Set::single_ours_checked,
    ),
    ("frame_churn_buddy_full_checks", Set::churn_ours_checked),
];

/// Average time in nanoseconds of one call of `f` over a batch of `n` calls.
fn batch(set: &mut Set, n: u32, f: fn(&mut Set)) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f(set);
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test" || a == "--list");

    let mut set = Set::new();
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    for (name, f) in CASES {
        criterion.bench_function(name, |b| b.iter(|| f(&mut set)));
    }
    criterion.final_summary();
    if test_mode {
        return;
    }

    // Own measurements: interleaved batches, best batch average of each.
    let mut best = [f64::MAX; CASES.len()];
    for _ in 0..25 {
        for (b, (_, f)) in best.iter_mut().zip(CASES) {
            *b = b.min(batch(&mut set, 20_000, f));
        }
    }
    for (b, (name, _)) in best.iter().zip(CASES) {
        println!("bench: {name}: {b:.1} ns");
    }
    println!(
        "ratio: frame_alloc_vs_buddy_system_allocator: {:.2}",
        best[1] / best[0]
    );
    println!(
        "ratio: frame_alloc_order9_vs_buddy_system_allocator: {:.2}",
        best[4] / best[3]
    );
    println!(
        "ratio: frame_churn_vs_buddy_system_allocator: {:.2}",
        best[7] / best[6]
    );
    println!(
        "ratio: frame_alloc_full_checks_vs_buddy_system_allocator: {:.2}",
        best[1] / best[9]
    );
}
