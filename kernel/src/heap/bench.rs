//! In-kernel heap workloads under the allocator chosen at boot (`ktest=bench-heap
//! allocator=<name>`): `bench: heap_<workload>_<allocator>: <ns> ns/op` lines for `make bench`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hint::black_box;

use crate::arch::cpu::rdtsc;
use crate::time;

/// Nanoseconds per operation of `f`, which performs `ops` operations (best of three runs).
fn per_op(ops: u64, mut f: impl FnMut()) -> u64 {
    let mut best = u64::MAX;
    for _ in 0..3 {
        let start = rdtsc();
        f();
        best = best.min(rdtsc().wrapping_sub(start));
    }
    time::cycles_to_nanos(best, time::tsc_hz()) / ops.max(1)
}

/// Runs the workloads and prints one line each.
pub fn run() {
    let name = super::chosen()
        .map_or("none", |c| c.name())
        .replace('-', "_");
    const MANY: u64 = 102_400;
    let many = per_op(MANY, || {
        for i in 0..MANY {
            black_box(Box::new(black_box(i)));
        }
    });
    let long_lived = per_op(MANY, || {
        let keep = black_box(Box::new(1u64));
        for i in 0..MANY {
            black_box(Box::new(black_box(i)));
        }
        black_box(keep);
    });
    let large_vec = per_op(1000, || {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..1000 {
            v.push(black_box(i));
        }
        black_box(v.iter().sum::<u64>());
    });
    // Small-object churn: a ring of 1024 live objects of 8..512 bytes, each replaced in turn.
    const CHURN: u64 = 100_000;
    let churn = per_op(CHURN, || {
        let mut ring: Vec<Option<Vec<u8>>> = (0..1024).map(|_| None).collect();
        let mut rng = crate::rand::XorShift64(0x2545_f491_4f6c_dd1d);
        for i in 0..CHURN as usize {
            let size = 8 + (rng.next_u64() % 505) as usize;
            ring[i % 1024] = Some(black_box(Vec::with_capacity(size)));
        }
        black_box(ring);
    });
    for (workload, ns) in [
        ("many_boxes", many),
        ("many_boxes_long_lived", long_lived),
        ("large_vec", large_vec),
        ("churn", churn),
    ] {
        crate::println!("bench: heap_{workload}_{name}: {ns} ns/op");
    }
}
