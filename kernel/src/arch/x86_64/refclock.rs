//! Measuring a counter against a reference clock (the PIT, the ACPI PM timer) with
//! simultaneous readings.
//!
//! Each reading pairs `sample()` with the reference's count back to back and is retaken if
//! the two were not adjacent in time (the CPU was taken away between them: an SMI, or a host
//! descheduling a virtual CPU). Time the CPU spends elsewhere during the interval therefore
//! does not skew the result, unlike reading `sample` after noticing a countdown's end, which is
//! late by however long the CPU was away at that moment (as long as the interval stays below
//! the reference counter's period; callers take the median of several windows).

/// Longest a (sample, reference) reading may take, in TSC cycles, to count as simultaneous.
/// Far above the few microseconds a reading takes, far below a preemption (milliseconds).
const PAIR_MAX_CYCLES: u64 = 200_000;

/// Reads of the reference after which one that has not moved is declared dead (a read takes
/// about a microsecond on hardware, so this is well over the longest interval measured).
const STALL_READS: u32 = 2_000_000;

/// Takes `sample()` and `read_ref()` back to back; retries (a bounded number of times) until
/// the pair took less than [`PAIR_MAX_CYCLES`].
fn paired<T>(sample: &mut impl FnMut() -> T, read_ref: &mut impl FnMut() -> u32) -> (T, u32) {
    let mut attempt = 0;
    loop {
        let before = super::cpu::rdtsc();
        let value = sample();
        let count = read_ref();
        attempt += 1;
        if super::cpu::rdtsc().wrapping_sub(before) < PAIR_MAX_CYCLES || attempt >= 64 {
            return (value, count);
        }
    }
}

/// Measures `sample` over at least `ticks` reference ticks: returns (first value, last value,
/// reference ticks between them), or `None` when the reference does not advance.
/// `elapsed(start, now)` turns two reference counts into ticks (it knows the counting
/// direction and width).
pub fn measure_paired<T>(
    mut read_ref: impl FnMut() -> u32,
    elapsed: impl Fn(u32, u32) -> u32,
    ticks: u32,
    mut sample: impl FnMut() -> T,
) -> Option<(T, T, u32)> {
    let (first, c0) = paired(&mut sample, &mut read_ref);
    let wanted = ticks.max(1);
    let reached = (0..STALL_READS).any(|_| elapsed(c0, read_ref()) >= wanted);
    let (last, c1) = paired(&mut sample, &mut read_ref);
    reached.then(|| (first, last, elapsed(c0, c1)))
}
