//! Time since kernel entry, measured with the time-stamp counter.
//!
//! The entry point records the TSC first thing; [`calibrate`] then measures the TSC rate against
//! the PIT (see `arch::pit`), which is the method the boot log states. Until calibration the
//! clock reads zero. All conversions use 128-bit arithmetic, so no intermediate overflows.
//! Timer ticks ([`on_tick`]) drive the timers ([`TIMERS`]) and are counted, but the TSC
//! defines time (see [`uptime_nanos`] for why).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// [`nanos_scale`] of [`TSC_HZ`].
#[cfg(target_os = "none")]
static TSC_SCALE: AtomicU64 = AtomicU64::new(0);

/// Timer interrupts since the timer started.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// TSC value at the first tick.
#[cfg(target_os = "none")]
static FIRST_TICK_TSC: AtomicU64 = AtomicU64::new(0);
/// Largest uptime handed out, so readers never see time go backwards.
#[cfg(target_os = "none")]
static LAST_UPTIME: AtomicU64 = AtomicU64::new(0);

/// Ticks of a `hz` timer in `nanos` nanoseconds (rounded down).
pub fn ticks_in(nanos: u64, hz: u32) -> u64 {
    let t = u128::from(nanos) * u128::from(hz) / 1_000_000_000;
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// Converts a TSC delta to nanoseconds at `hz` ticks per second (0 when `hz` is 0).
pub fn cycles_to_nanos(cycles: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let nanos = u128::from(cycles) * 1_000_000_000 / u128::from(hz);
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

/// The fixed-point factor (nanoseconds per cycle, scaled by 2^32) for [`scaled_nanos`] at
/// `hz` cycles per second (0 when `hz` is 0).
pub fn nanos_scale(hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    u64::try_from((1_000_000_000u128 << 32) / u128::from(hz)).unwrap_or(u64::MAX)
}

/// `cycles` in nanoseconds with a factor from [`nanos_scale`]: one multiplication instead of
/// [`cycles_to_nanos`]'s 128-bit division (the clock is read on every timer tick). Rounds down;
/// off from the exact value by less than one nanosecond per 2^32 cycles plus the factor's
/// truncation (under a microsecond per hour at GHz rates).
pub fn scaled_nanos(cycles: u64, scale: u64) -> u64 {
    u64::try_from((u128::from(cycles) * u128::from(scale)) >> 32).unwrap_or(u64::MAX)
}

/// Derives a tick rate from `ticks` counted during `pit_ticks` periods of a `pit_hz` clock.
pub fn rate_from_reference(ticks: u64, pit_ticks: u64, pit_hz: u64) -> u64 {
    if pit_ticks == 0 {
        return 0;
    }
    let hz = u128::from(ticks) * u128::from(pit_hz) / u128::from(pit_ticks);
    u64::try_from(hz).unwrap_or(u64::MAX)
}

/// Timer ticks so far.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Acquire)
}

/// The kernel's timers (`sleep`, `interval`), driven by [`on_tick`] with [`uptime_nanos`].
pub static TIMERS: crate::task::timer::Timers = crate::task::timer::Timers::new();

/// Called by the timer interrupt, [`crate::interrupts::TIMER_HZ`] times a second: advances
/// the tick count and wakes the timers due by now. Timekeeping only: drawing the console is
/// the presenter task's job (see `runtime`), so the tick stays short with interrupts off.
#[cfg(target_os = "none")]
pub fn on_tick() {
    if TICKS.load(Ordering::Relaxed) == 0 {
        FIRST_TICK_TSC.store(crate::arch::cpu::rdtsc(), Ordering::Release);
    }
    TICKS.fetch_add(1, Ordering::AcqRel);
    TIMERS.tick(uptime_nanos());
}

/// A future ready `nanos` after now (by the TSC clock, so never early; it fires on the first
/// timer tick at or after its deadline).
#[cfg(target_os = "none")]
pub fn sleep(nanos: u64) -> crate::task::timer::Sleep<'static> {
    TIMERS.sleep_until(uptime_nanos().saturating_add(nanos))
}

/// A stream of ticks every `period` nanoseconds, the first `period` from now.
#[cfg(target_os = "none")]
pub fn interval(period: u64) -> crate::task::timer::Interval<'static> {
    TIMERS.interval_at(uptime_nanos().saturating_add(period), period)
}

/// Monotonic time since kernel entry, in nanoseconds.
///
/// The TSC is the clock (calibrated against the PIT, invariant on every CPU this kernel
/// targets and in QEMU). Timer ticks are not: a periodic timer that fires while the previous
/// interrupt is still pending is coalesced, so ticks get lost whenever interrupts are held off
/// or, under emulation, whenever the host deschedules the virtual CPU. Ticks therefore drive
/// the timers (each fires on the first tick at or after its deadline by this clock) and are
/// checked against this clock ([`lost_ticks`]), but never define time. The value never
/// decreases.
#[cfg(target_os = "none")]
pub fn uptime_nanos() -> u64 {
    let now = nanos_since_entry();
    LAST_UPTIME.fetch_max(now, Ordering::AcqRel).max(now)
}

/// Timer ticks that should have happened since the first one, by the TSC clock, but did not
/// arrive (coalesced interrupts). Zero before the timer starts.
#[cfg(target_os = "none")]
pub fn lost_ticks() -> u64 {
    let (first_tsc, seen) = (
        FIRST_TICK_TSC.load(Ordering::Acquire),
        TICKS.load(Ordering::Acquire),
    );
    if seen == 0 {
        return 0;
    }
    let elapsed = cycles_to_nanos(crate::arch::cpu::rdtsc().wrapping_sub(first_tsc), tsc_hz());
    // The first tick happened at `first_tsc`; one more is due every period since.
    (ticks_in(elapsed, crate::interrupts::TIMER_HZ) + 1).saturating_sub(seen)
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
        scaled_nanos(
            now.wrapping_sub(TSC_AT_ENTRY.load(Ordering::Relaxed)),
            TSC_SCALE.load(Ordering::Relaxed),
        )
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// Spins for at least `nanos` nanoseconds (TSC-timed; returns at once before calibration).
#[cfg(target_os = "none")]
pub fn busy_wait_nanos(nanos: u64) {
    let start = crate::arch::cpu::rdtsc();
    let hz = tsc_hz();
    while hz != 0 && cycles_to_nanos(crate::arch::cpu::rdtsc().wrapping_sub(start), hz) < nanos {
        core::hint::spin_loop();
    }
}

/// Median of `N` rates, each from one window `measure` returns as (counter at start,
/// counter at end, reference ticks elapsed) against a reference clock of `ref_hz`; `None` as
/// soon as a window fails. Interrupts are off during each window.
#[cfg(target_os = "none")]
fn median_of<const N: usize>(
    counts_down: bool,
    ref_hz: u64,
    mut measure: impl FnMut() -> Option<(u64, u64, u32)>,
) -> Option<u64> {
    use crate::arch::cpu;
    let mut rates = [0u64; N];
    for rate in rates.iter_mut() {
        let was_enabled = cpu::disable_interrupts_save();
        let measured = measure();
        cpu::restore_interrupts(was_enabled);
        let (start, end, elapsed) = measured?;
        let delta = if counts_down {
            start.wrapping_sub(end)
        } else {
            end.wrapping_sub(start)
        };
        *rate = rate_from_reference(delta, u64::from(elapsed), ref_hz);
    }
    rates.sort_unstable();
    Some(rates[N / 2])
}

/// Median of `N` rate measurements of a counter read by `sample`, each over `window_us`
/// microseconds of PIT channel 2 with simultaneous readings (see `arch::refclock`), or `None`
/// without a working PIT.
#[cfg(target_os = "none")]
pub fn median_rate<const N: usize>(
    window_us: u32,
    mut sample: impl FnMut() -> u64,
    counts_down: bool,
) -> Option<u64> {
    use crate::arch::pit;
    let ticks = pit::ticks_for_micros(window_us);
    median_of::<N>(counts_down, pit::PIT_HZ, || {
        pit::measure_paired(ticks, &mut sample)
    })
}

/// How the TSC rate was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TscSource {
    /// Measured against PIT channel 2.
    Pit,
    /// Measured against the ACPI PM timer (no working PIT).
    PmTimer,
    /// From CPUID (leaf 0x15 crystal ratio, 0x16 base frequency, or a hypervisor's 0x40000010).
    Cpuid,
    /// Unknown: time reads zero.
    Unknown,
}

/// The [`TscSource`] of the rate in use.
static TSC_SOURCE: AtomicU8 = AtomicU8::new(TscSource::Unknown as u8);

#[cfg(target_os = "none")]
fn set_tsc(hz: u64, source: TscSource) {
    TSC_HZ.store(hz, Ordering::Relaxed);
    TSC_SCALE.store(nanos_scale(hz), Ordering::Relaxed);
    TSC_SOURCE.store(source as u8, Ordering::Relaxed);
}

/// How the TSC rate in use was found.
pub fn tsc_source() -> TscSource {
    match TSC_SOURCE.load(Ordering::Relaxed) {
        x if x == TscSource::Pit as u8 => TscSource::Pit,
        x if x == TscSource::PmTimer as u8 => TscSource::PmTimer,
        x if x == TscSource::Cpuid as u8 => TscSource::Cpuid,
        _ => TscSource::Unknown,
    }
}

/// The TSC rate the CPU states: the hypervisor timing leaf (0x40000010, kHz), else leaf 0x15
/// (crystal Hz x ratio), else leaf 0x16 (base MHz, an approximation).
#[cfg(target_os = "none")]
fn tsc_hz_from_cpuid() -> Option<u64> {
    use crate::arch::cpu::cpuid;
    let max = cpuid(0, 0).eax;
    let hv = cpuid(1, 0).ecx & (1 << 31) != 0;
    if hv && cpuid(0x4000_0000, 0).eax >= 0x4000_0010 {
        let khz = cpuid(0x4000_0010, 0).eax;
        if khz != 0 {
            return Some(u64::from(khz) * 1000);
        }
    }
    if max >= 0x15 {
        let l = cpuid(0x15, 0);
        if l.eax != 0 && l.ebx != 0 && l.ecx != 0 {
            return Some(u64::from(l.ecx) * u64::from(l.ebx) / u64::from(l.eax));
        }
    }
    if max >= 0x16 {
        let mhz = cpuid(0x16, 0).eax & 0xffff;
        if mhz != 0 {
            return Some(u64::from(mhz) * 1_000_000);
        }
    }
    None
}

/// Finds the TSC frequency and stores it.
///
/// Method: PIT channel 2 runs free (mode 2) and is read latched, each time back to back with
/// the TSC; a pair whose two reads were not adjacent in time (the CPU was taken away between
/// them) is taken again. Over a window of at least 3 ms (3580 PIT ticks at 1.193182 MHz), the
/// TSC delta times 1193182 over the PIT ticks elapsed is the frequency. Three windows, median.
/// Without a working PIT, the frequency CPUID states is used; failing that, time stays zero.
#[cfg(target_os = "none")]
pub fn calibrate() -> TscSource {
    let (hz, source) = match median_rate::<3>(3_000, crate::arch::cpu::rdtsc, false) {
        Some(hz) => (hz, TscSource::Pit),
        None => match tsc_hz_from_cpuid() {
            Some(hz) => (hz, TscSource::Cpuid),
            None => (0, TscSource::Unknown),
        },
    };
    set_tsc(hz, source);
    source
}

/// Measures the TSC against the ACPI PM timer (port and width from the FADT), as
/// [`calibrate`] does against the PIT; for machines without a working PIT. Returns the rate,
/// or `None` if the timer does not count.
#[cfg(target_os = "none")]
pub fn calibrate_with_pm_timer(port: u16, bits: u32) -> Option<u64> {
    use crate::arch::{cpu, pmtimer};
    let timer = pmtimer::PmTimer::new(port, bits);
    let ticks = (pmtimer::PM_TIMER_HZ * 3 / 1000) as u32; // 3 ms
    let hz = median_of::<3>(false, pmtimer::PM_TIMER_HZ, || {
        timer.measure_paired(ticks, cpu::rdtsc)
    })?;
    set_tsc(hz, TscSource::PmTimer);
    Some(hz)
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

    #[test]
    fn scaled_conversion_matches_the_division() {
        assert_eq!(scaled_nanos(12_345, nanos_scale(0)), 0);
        for hz in [
            1_000_000,
            1_193_182,
            2_599_970_000,
            3_000_000_000,
            5_300_000_123,
        ] {
            let scale = nanos_scale(hz);
            let mut prev = 0;
            // From a few cycles up to about ten hours at this rate.
            for cycles in [0, 1, 7, 1_000, hz / 3, hz, hz * 61, hz * 3600, hz * 36_000] {
                let exact = cycles_to_nanos(cycles, hz);
                let fast = scaled_nanos(cycles, scale);
                assert!(fast <= exact, "{hz} Hz, {cycles}: {fast} > {exact}");
                let allowed = 1 + exact / 1_000_000_000;
                assert!(
                    exact - fast <= allowed,
                    "{hz} Hz, {cycles}: {fast} vs {exact}"
                );
                assert!(fast >= prev, "not monotonic");
                prev = fast;
            }
        }
    }

    #[test]
    fn ticks_in_an_interval() {
        assert_eq!(ticks_in(0, 1000), 0);
        assert_eq!(ticks_in(5_250_000, 1000), 5);
        assert_eq!(ticks_in(1_000_000_000, 1000), 1000);
        assert_eq!(ticks_in(u64::MAX, u32::MAX), u64::MAX);
    }
}
