//! Property tests: every design against the model, with sizes 1 B .. 64 KiB (log-uniform, so
//! small blocks dominate as they do in a kernel) and alignments 1 .. 4096.
//!
//! Two kinds per design: short op sequences generated (and shrunk on failure) by proptest, and
//! long seeded runs that alternate between filling and draining phases so the heap goes
//! through exhaustion, fragmentation and recovery many times.

use proptest::prelude::*;

use super::Arena;
use super::model::{Checked, Model, Op};
use crate::allocator::{BumpHeap, FixedBlockHeap, LinkedListHeap};

#[cfg(not(miri))]
mod size {
    pub const SEQ_CASES: u32 = 32;
    pub const SEQ_LEN: usize = 2_000;
    pub const SEEDED_CASES: u32 = 24;
    pub const SEEDED_OPS: usize = 30_000;
    /// Largest request: 2^16 = 64 KiB.
    pub const MAX_LOG: u32 = 16;
    /// Initial regions 2^12 .. 2^20 bytes (the arena has the same again for growth).
    pub const REGION_LOG: core::ops::RangeInclusive<u32> = 12..=20;
}

#[cfg(miri)]
mod size {
    pub const SEQ_CASES: u32 = 2;
    pub const SEQ_LEN: usize = 40;
    pub const SEEDED_CASES: u32 = 1;
    pub const SEEDED_OPS: usize = 300;
    pub const MAX_LOG: u32 = 16;
    pub const REGION_LOG: core::ops::RangeInclusive<u32> = 12..=17;
}

use size::*;

/// Three designs, each run for `SEEDED_CASES * SEEDED_OPS` seeded operations (2.16 million in
/// all, about a second on two cores), plus the generated sequences.
#[cfg(not(miri))]
const _: () = assert!(3 * SEEDED_CASES as usize * SEEDED_OPS >= 1_000_000);

/// A size from exponent `e` and a random `r`: uniform in `[2^e, 2^(e+1))`, at most 2^MAX_LOG.
fn size_of_draw(e: u32, r: u64) -> usize {
    let lo = 1usize << e;
    (lo + (r as usize) % lo).min(1 << MAX_LOG)
}

fn size() -> impl Strategy<Value = usize> {
    (0..=MAX_LOG, any::<u64>()).prop_map(|(e, r)| size_of_draw(e, r))
}

/// Mostly the alignments of ordinary types, a quarter of them 32 .. 4096.
fn align() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0u32..=4, 1 => 5u32..=12].prop_map(|e| 1 << e)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size(), align()).prop_map(|(size, align)| Op::Alloc { size, align }),
        4 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), size()).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        1 => (0usize..=65_536).prop_map(|bytes| Op::Grow { bytes }),
    ]
}

/// xorshift64*, for the seeded runs.
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
}

/// One random op; `filling` phases allocate twice as often as they free, draining ones the
/// reverse.
fn random_op(rng: &mut Rng, filling: bool) -> Op {
    let (alloc, free) = if filling { (6, 3) } else { (2, 6) };
    let roll = rng.below(alloc + free + 3);
    let size = size_of_draw(rng.below(u64::from(MAX_LOG) + 1) as u32, rng.next());
    let align = if rng.below(4) == 0 {
        1 << (5 + rng.below(8))
    } else {
        1 << rng.below(5)
    };
    let pick = rng.next() as usize;
    if roll < alloc {
        Op::Alloc { size, align }
    } else if roll < alloc + free {
        Op::Free { pick }
    } else if roll < alloc + free + 2 {
        Op::Realloc { pick, size }
    } else {
        Op::Grow {
            bytes: rng.below(65_537) as usize,
        }
    }
}

fn run_ops<H: Checked>(region_log: u32, ops: &[Op]) {
    let initial = 1usize << region_log;
    let arena = Arena::new(2 * initial);
    let mut model = Model::<H>::new(&arena, initial);
    for &op in ops {
        model.apply(op);
    }
    model.finish();
}

fn run_seeded<H: Checked>(region_log: u32, seed: u64) {
    let initial = 1usize << region_log;
    let arena = Arena::new(2 * initial);
    let mut model = Model::<H>::new(&arena, initial);
    let mut rng = Rng(seed | 1);
    let mut filling = false; // flipped to a filling phase first
    for i in 0..SEEDED_OPS {
        if i % 1_000 == 0 {
            filling = !filling;
        }
        model.apply(random_op(&mut rng, filling));
    }
    assert_eq!(model.ops, SEEDED_OPS as u64);
    // Failures happen in every run: from about 1 in 7 operations in a 8 KiB region to 1 in 150
    // in a 1 MiB one; each is checked (see `Model::failed`).
    assert!(model.failures > 0, "a seeded run never reached exhaustion");
    model.finish();
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

macro_rules! design_props {
    ($seq:ident, $seeded:ident, $heap:ty) => {
        proptest! {
            #![proptest_config(config(SEQ_CASES))]
            #[test]
            fn $seq(region_log in REGION_LOG, ops in proptest::collection::vec(op(), 1..SEQ_LEN)) {
                run_ops::<$heap>(region_log, &ops);
            }
        }

        proptest! {
            #![proptest_config(config(SEEDED_CASES))]
            #[test]
            fn $seeded(region_log in REGION_LOG, seed in any::<u64>()) {
                run_seeded::<$heap>(region_log, seed);
            }
        }
    };
}

design_props!(bump_sequences, bump_seeded, BumpHeap);
design_props!(linked_list_sequences, linked_list_seeded, LinkedListHeap);
design_props!(
    fixed_block_sequences,
    fixed_block_seeded,
    FixedBlockHeap<LinkedListHeap>
);

/// A run that must hit exhaustion: a small region and only allocations, then the heap still
/// works and gives the whole region back.
#[test]
fn exhaustion_returns_null_and_leaves_the_heap_usable() {
    fn run<H: Checked>() {
        let arena = Arena::new(64 * 1024);
        let mut model = Model::<H>::new(&arena, 32 * 1024);
        let mut rng = Rng(7);
        let n = if cfg!(miri) { 60 } else { 400 };
        for _ in 0..n {
            model.apply(Op::Alloc {
                size: 1 + rng.below(4096) as usize,
                align: 1 << rng.below(7),
            });
        }
        assert!(
            model.failures > 0,
            "a 32 KiB region cannot hold 60 blocks of ~2 KiB"
        );
        for _ in 0..n / 4 {
            model.apply(Op::Free {
                pick: rng.next() as usize,
            });
        }
        model.apply(Op::Grow { bytes: 32 * 1024 });
        for _ in 0..n / 8 {
            model.apply(Op::Alloc {
                size: 512,
                align: 8,
            });
        }
        model.finish();
    }
    run::<BumpHeap>();
    run::<LinkedListHeap>();
    run::<FixedBlockHeap<LinkedListHeap>>();
}
