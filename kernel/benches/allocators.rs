//! Heap allocator benchmarks, side by side over the same arena in one run: the kernel's three
//! designs (`kernel::allocator`) and three crates from crates.io (`talc`,
//! `linked_list_allocator`, `buddy_system_allocator`), every one through `GlobalAlloc` behind
//! its own lock, every one given the same page-aligned arena afresh for each run.
//!
//! Workloads (the plans are drawn once from a fixed seed, so every allocator sees the same
//! requests in the same order):
//!
//! 1. `small_churn`: 10,000 live objects of 8..=512 B (uniform), then 1,000,000 operations:
//!    500,000 steps of "free a random live object, allocate a new one in its place". Every
//!    new object has its first byte written.
//! 2. `mixed`: the same with 2,000 live objects of 8 B .. 64 KiB (log-uniform: each power of
//!    two equally likely, so small objects dominate by count and large ones by bytes) and
//!    200,000 operations.
//! 3. `efficiency_fill`: allocate log-uniform 8 B .. 64 KiB objects into an 8 MiB arena until
//!    the first failure; the figure is requested bytes / arena bytes.
//!    `efficiency_fragmented`: after that fill, free every other object (by a fixed random
//!    pattern) and continue with the same size stream until the next failure.
//!
//! The bump design takes part only in (3): it reclaims nothing until every object is freed, so
//! the churn workloads would exhaust any arena.
//!
//! Criterion reports first, one churn step (a free and an allocation) at a time on a warmed-up
//! heap; then the bench runs the whole workloads itself (interleaved, the best of three runs)
//! and prints:
//!
//! ```text
//! bench: alloc_small_churn_<allocator>: <ns> ns/op
//! bench: alloc_mixed_<allocator>: <ns> ns/op
//! bench: alloc_efficiency_fill_<allocator>: <percent> %
//! bench: alloc_efficiency_fragmented_<allocator>: <percent> %
//! ratio: fixed_block_vs_talc_small_churn: <talc's time / fixed_block's>
//! ratio: talc_vs_linked_list_allocator_small_churn: <linked_list_allocator's time / talc's>
//! ratio: linked_list_vs_linked_list_allocator_<workload>: <theirs / ours for times,
//!        ours / theirs for efficiency: above 1 means ours is better>
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use kernel::allocator::{
    BumpAllocator, BumpHeap, FixedBlockAllocator, FixedBlockHeap, LinkedListAllocator,
    LinkedListHeap, Locked,
};

/// A page-aligned host buffer, allocated once and handed to each allocator in turn.
struct Arena {
    ptr: *mut u8,
    layout: Layout,
}

impl Arena {
    fn new(size: usize) -> Self {
        let layout = Layout::from_size_align(size, 4096).expect("arena layout");
        // SAFETY: nonzero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "host allocation of the arena failed");
        Self { ptr, layout }
    }
    fn size(&self) -> usize {
        self.layout.size()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// An allocator under test, built over an arena.
trait Subject: GlobalAlloc {
    const NAME: &'static str;
    /// # Safety
    /// The arena outlives the allocator and nothing else uses it meanwhile.
    unsafe fn over(arena: &Arena) -> Self;
}

macro_rules! ours {
    ($ty:ty, $heap:expr, $name:literal) => {
        impl Subject for $ty {
            const NAME: &'static str = $name;
            unsafe fn over(arena: &Arena) -> Self {
                let a = Locked::new($heap);
                // SAFETY: forwarded from the caller.
                unsafe { a.init(arena.ptr, arena.size()) };
                a
            }
        }
    };
}

ours!(BumpAllocator, BumpHeap::empty(), "bump");
ours!(LinkedListAllocator, LinkedListHeap::empty(), "linked_list");
ours!(FixedBlockAllocator, FixedBlockHeap::empty(), "fixed_block");

type Talc = talc::TalcLock<spinning_top::RawSpinlock, talc::source::Manual>;

impl Subject for Talc {
    const NAME: &'static str = "talc";
    unsafe fn over(arena: &Arena) -> Self {
        let t = Talc::new(talc::source::Manual);
        // SAFETY: forwarded from the caller: the arena is talc's alone.
        let end = unsafe { t.lock().claim(arena.ptr, arena.size()) };
        assert!(end.is_some(), "talc cannot claim the arena");
        t
    }
}

type Lla = linked_list_allocator::LockedHeap;

impl Subject for Lla {
    const NAME: &'static str = "linked_list_allocator";
    unsafe fn over(arena: &Arena) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { Lla::new(arena.ptr, arena.size()) }
    }
}

/// `buddy_system_allocator::Heap` behind a spin lock (its own `LockedHeap` needs a feature the
/// frames bench does not enable; the lock is the same kind).
struct Buddy(spin::Mutex<buddy_system_allocator::Heap<32>>);

// SAFETY: forwards to the buddy heap, which hands out non-overlapping blocks of at least the
// layout; the lock serialises access.
unsafe impl GlobalAlloc for Buddy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0
            .lock()
            .alloc(layout)
            .map_or(std::ptr::null_mut(), |p| p.as_ptr())
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = std::ptr::NonNull::new(ptr) {
            self.0.lock().dealloc(p, layout);
        }
    }
}

impl Subject for Buddy {
    const NAME: &'static str = "buddy_system_allocator";
    unsafe fn over(arena: &Arena) -> Self {
        let mut heap = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: forwarded from the caller.
        unsafe { heap.init(arena.ptr.addr(), arena.size()) };
        Buddy(spin::Mutex::new(heap))
    }
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// 8 ..= 512 bytes, uniform, alignment 8.
    fn small(&mut self) -> Layout {
        Layout::from_size_align(8 + self.below(505) as usize, 8).expect("layout")
    }
    /// 8 B .. 64 KiB, log-uniform (exponent 3..=15 uniform, then uniform in the octave).
    fn mixed(&mut self) -> Layout {
        let lo = 1usize << (3 + self.below(13));
        Layout::from_size_align(lo + self.below(lo as u64) as usize, 8).expect("layout")
    }
}

/// A churn plan: the objects live at the start, then (slot, new layout) steps.
struct Churn {
    warm: Vec<Layout>,
    steps: Vec<(u32, Layout)>,
}

impl Churn {
    fn new(live: usize, ops: usize, seed: u64, draw: fn(&mut Rng) -> Layout) -> Self {
        let mut rng = Rng(seed);
        let warm = (0..live).map(|_| draw(&mut rng)).collect();
        let steps = (0..ops / 2)
            .map(|_| (rng.below(live as u64) as u32, draw(&mut rng)))
            .collect();
        Self { warm, steps }
    }

    fn ops(&self) -> usize {
        2 * self.steps.len()
    }

    /// Runs the plan on a fresh `A` over `arena`; the time of the steps only.
    fn run<A: Subject>(&self, arena: &Arena) -> Duration {
        // SAFETY: the arena outlives `a` (dropped at the end of this function) and every
        // block is freed before.
        let a = unsafe { A::over(arena) };
        let mut slots: Vec<(*mut u8, Layout)> =
            self.warm.iter().map(|&l| (alloc_touch(&a, l), l)).collect();
        let start = Instant::now();
        for &(slot, layout) in &self.steps {
            let (old, old_layout) = slots[slot as usize];
            // SAFETY: `old` is live in `a` with `old_layout`; freed once.
            unsafe { a.dealloc(black_box(old), old_layout) };
            slots[slot as usize] = (alloc_touch(&a, layout), layout);
        }
        let elapsed = start.elapsed();
        for (p, l) in slots {
            // SAFETY: as above.
            unsafe { a.dealloc(p, l) };
        }
        elapsed
    }
}

/// Allocates and writes the first byte; a failure ends the bench (the arena is sized so that
/// none happens).
fn alloc_touch<A: Subject>(a: &A, layout: Layout) -> *mut u8 {
    // SAFETY: nonzero size.
    let p = unsafe { a.alloc(layout) };
    assert!(
        !p.is_null(),
        "{}: {layout:?} failed: arena too small",
        A::NAME
    );
    // SAFETY: just allocated, at least one byte.
    unsafe { p.write(1) };
    black_box(p)
}

const EFFICIENCY_ARENA: usize = 8 << 20;

/// Requested bytes live at the first failure, in percent of the arena: after a plain fill, and
/// after freeing every other object and filling again.
fn efficiency<A: Subject>(arena: &Arena, sizes: &[Layout], pattern: &[bool]) -> (f64, f64) {
    // SAFETY: as in `Churn::run`.
    let a = unsafe { A::over(arena) };
    let mut stream = sizes.iter().copied();
    let mut live: Vec<(*mut u8, Layout)> = Vec::new();
    let fill = |live: &mut Vec<(*mut u8, Layout)>, stream: &mut dyn Iterator<Item = Layout>| {
        for l in stream {
            // SAFETY: nonzero size.
            let p = unsafe { a.alloc(l) };
            if p.is_null() {
                return;
            }
            live.push((p, l));
        }
        panic!("size stream too short for the arena");
    };
    let percent = |live: &[(*mut u8, Layout)]| {
        let used: usize = live.iter().map(|(_, l)| l.size()).sum();
        used as f64 * 100.0 / arena.size() as f64
    };
    fill(&mut live, &mut stream);
    let first = percent(&live);
    let mut kept = Vec::with_capacity(live.len());
    for (i, (p, l)) in live.into_iter().enumerate() {
        if pattern[i % pattern.len()] {
            kept.push((p, l));
        } else {
            // SAFETY: live in `a` with this layout; freed once.
            unsafe { a.dealloc(p, l) };
        }
    }
    fill(&mut kept, &mut stream);
    let second = percent(&kept);
    for (p, l) in kept {
        // SAFETY: as above.
        unsafe { a.dealloc(p, l) };
    }
    (first, second)
}

/// The timed subjects (bump excluded, see the module documentation), in print order.
const TIMED: [&str; 5] = [
    "linked_list",
    "fixed_block",
    "talc",
    "linked_list_allocator",
    "buddy_system_allocator",
];

/// Runs `f::<A>` for the timed subject named `name`.
macro_rules! with_timed {
    ($name:expr, $f:ident($($arg:expr),*)) => {
        match $name {
            "linked_list" => $f::<LinkedListAllocator>($($arg),*),
            "fixed_block" => $f::<FixedBlockAllocator>($($arg),*),
            "talc" => $f::<Talc>($($arg),*),
            "linked_list_allocator" => $f::<Lla>($($arg),*),
            "buddy_system_allocator" => $f::<Buddy>($($arg),*),
            other => unreachable!("no subject {other}"),
        }
    };
}

fn churn_run<A: Subject>(plan: &Churn, arena: &Arena) -> Duration {
    plan.run::<A>(arena)
}

/// Criterion's view: one churn step (a free and an allocation) at a time on a warmed-up heap,
/// cycling through the plan's steps.
fn criterion_steps<A: Subject>(c: &mut Criterion, workload: &str, plan: &Churn, arena: &Arena) {
    c.bench_function(&format!("alloc_{workload}_{}", A::NAME), |b| {
        // SAFETY: as in `Churn::run`: the heap is dropped at the end of this closure, after
        // every block is freed.
        let a = unsafe { A::over(arena) };
        let mut slots: Vec<(*mut u8, Layout)> =
            plan.warm.iter().map(|&l| (alloc_touch(&a, l), l)).collect();
        let mut steps = plan.steps.iter().cycle();
        b.iter(|| {
            let &(slot, layout) = steps.next().expect("cycle");
            let (old, old_layout) = slots[slot as usize];
            // SAFETY: `old` is live in `a` with `old_layout`; freed once.
            unsafe { a.dealloc(black_box(old), old_layout) };
            slots[slot as usize] = (alloc_touch(&a, layout), layout);
        });
        for (p, l) in slots {
            // SAFETY: as above.
            unsafe { a.dealloc(p, l) };
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test" || a == "--list");

    let arena = Arena::new(64 << 20);
    let small = Churn::new(10_000, 1_000_000, 0x5eed_0001, Rng::small);
    let mixed = Churn::new(2_000, 200_000, 0x5eed_0002, Rng::mixed);
    let workloads = [("small_churn", &small), ("mixed", &mixed)];

    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    for (workload, plan) in workloads {
        for name in TIMED {
            with_timed!(
                name,
                criterion_steps(&mut criterion, workload, plan, &arena)
            );
        }
    }
    criterion.final_summary();
    if test_mode {
        return;
    }

    // Own measurements: the whole workloads, interleaved, the best of three runs each, in ns
    // per operation.
    let mut best = [[f64::MAX; TIMED.len()]; 2];
    for _ in 0..3 {
        for (w, (_, plan)) in workloads.iter().enumerate() {
            for (i, name) in TIMED.iter().enumerate() {
                let t = with_timed!(*name, churn_run(plan, &arena));
                let ns = t.as_secs_f64() * 1e9 / plan.ops() as f64;
                best[w][i] = best[w][i].min(ns);
            }
        }
    }
    for (w, (workload, _)) in workloads.iter().enumerate() {
        for (i, name) in TIMED.iter().enumerate() {
            println!("bench: alloc_{workload}_{name}: {:.1} ns/op", best[w][i]);
        }
    }

    let eff_arena = Arena::new(EFFICIENCY_ARENA);
    let mut rng = Rng(0x5eed_0003);
    let sizes: Vec<Layout> = (0..100_000).map(|_| rng.mixed()).collect();
    let pattern: Vec<bool> = (0..4096).map(|_| rng.below(2) == 0).collect();
    let mut eff = Vec::new();
    let bump = efficiency::<BumpAllocator>(&eff_arena, &sizes, &pattern);
    eff.push(("bump", bump));
    for name in TIMED {
        eff.push((
            name,
            with_timed!(name, efficiency(&eff_arena, &sizes, &pattern)),
        ));
    }
    for (name, (fill, frag)) in &eff {
        println!("bench: alloc_efficiency_fill_{name}: {fill:.1} %");
        println!("bench: alloc_efficiency_fragmented_{name}: {frag:.1} %");
    }

    let at = |name: &str| TIMED.iter().position(|n| *n == name).expect("subject");
    let (ll, fb, talc, lla) = (
        at("linked_list"),
        at("fixed_block"),
        at("talc"),
        at("linked_list_allocator"),
    );
    let eff_of = |name: &str| eff.iter().find(|e| e.0 == name).expect("subject").1;
    println!(
        "ratio: fixed_block_vs_talc_small_churn: {:.2}",
        best[0][talc] / best[0][fb]
    );
    println!(
        "ratio: talc_vs_linked_list_allocator_small_churn: {:.2}",
        best[0][lla] / best[0][talc]
    );
    println!(
        "ratio: linked_list_vs_linked_list_allocator_small_churn: {:.2}",
        best[0][lla] / best[0][ll]
    );
    println!(
        "ratio: linked_list_vs_linked_list_allocator_mixed: {:.2}",
        best[1][lla] / best[1][ll]
    );
    let (ours, theirs) = (eff_of("linked_list"), eff_of("linked_list_allocator"));
    println!(
        "ratio: linked_list_vs_linked_list_allocator_efficiency_fill: {:.3}",
        ours.0 / theirs.0
    );
    println!(
        "ratio: linked_list_vs_linked_list_allocator_efficiency_fragmented: {:.3}",
        ours.1 / theirs.1
    );
}
