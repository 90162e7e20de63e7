//! Time since kernel entry, measured with the time-stamp counter.
//!
//! The entry point records the TSC first thing; [`calibrate`] then measures the TSC rate against
//! the PIT (see `arch::pit`), which is the method the boot log states. Until calibration the
//! clock reads zero. All conversions use 128-bit arithmetic, so no intermediate overflows.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Converts a TSC delta to nanoseconds at `hz` ticks per second (0 when `hz` is 0).
pub fn cycles_to_nanos(cycles: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let nanos = u128::from(cycles) * 1_000_000_000 / u128::from(hz);
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// Derives a tick rate from `ticks` counted during `pit_ticks` periods of a `pit_hz` clock.
pub fn rate_from_reference(ticks: u64, pit_ticks: u64, pit_hz: u64) -> u64 {
    if pit_ticks == 0 {
        return 0;
    }
    let hz = u128::from(ticks) * u128::from(pit_hz) / u128::from(pit_ticks);
    u64::try_from(hz).unwrap_or(u64::MAX)
}

/// Records the TSC value read at kernel entry.
pub fn record_entry(tsc: u64) {
    TSC_AT_ENTRY.store(tsc, Ordering::Relaxed);
}

/// The calibrated TSC frequency in Hz, or 0 before [`calibrate`].
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since kernel entry (0 before calibration).
pub fn nanos_since_entry() -> u64 {
    #[cfg(target_os = "none")]
    {
        let now = crate::arch::cpu::rdtsc();
        cycles_to_nanos(
            now.wrapping_sub(TSC_AT_ENTRY.load(Ordering::Relaxed)),
            tsc_hz(),
        )
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// Measures the TSC frequency against PIT channel 2 and stores it.
///
/// Method: with interrupts off, PIT channel 2 counts down 5966 ticks of its 1.193182 MHz clock
/// (5.0 ms) in mode 0; the TSC is read when the count is loaded and when OUT2 rises. The
/// frequency is `tsc_delta * 1193182 / 5966`. The better of two runs (the shorter TSC delta,
/// i.e. the one least disturbed by emulation or SMIs) is kept; 10 ms in all keeps the boot fast.
#[cfg(target_os = "none")]
pub fn calibrate() -> u64 {
    use crate::arch::{cpu, pit};
    let ticks = pit::ticks_for_micros(5_000);
    let was_enabled = cpu::disable_interrupts_save();
    let best = (0..2)
        .map(|_| {
            let (start, end) = pit::measure(ticks, cpu::rdtsc);
            end.wrapping_sub(start)
        })
        .min()
        .unwrap_or(0);
    cpu::restore_interrupts(was_enabled);
    let hz = rate_from_reference(best, u64::from(ticks), pit::PIT_HZ);
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(cycles_to_nanos(3_000_000_000, 3_000_000_000), 1_000_000_000);
        assert_eq!(cycles_to_nanos(1, 0), 0);
        assert_eq!(cycles_to_nanos(u64::MAX, 1), u64::MAX);
        assert_eq!(
            rate_from_reference(30_000_000, 11_932, 1_193_182),
            2_999_954_743
        );
        assert_eq!(rate_from_reference(5, 0, 1_193_182), 0);
    }
}
