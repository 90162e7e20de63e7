//! The ACPI power-management timer: a free-running 24- or 32-bit counter at 3.579545 MHz in
//! I/O space (its port comes from the FADT). The reference clock when there is no working PIT.

use x86_64::instructions::port::Port;

/// Input clock of the PM timer in Hz.
pub const PM_TIMER_HZ: u64 = 3_579_545;

/// A PM timer at `port`, `bits` wide (24 or 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PmTimer {
    port: u16,
    mask: u32,
}

impl PmTimer {
    /// A handle on the timer the FADT describes at `port`, `bits` wide.
    ///
    /// Safe: the handle only ever reads `port`, and an I/O read touches no memory. A port that
    /// is not a PM timer yields a count that does not advance, which [`measure_paired`]
    /// reports as `None`.
    ///
    /// [`measure_paired`]: Self::measure_paired
    pub const fn new(port: u16, bits: u32) -> Self {
        Self {
            port,
            mask: if bits >= 32 { u32::MAX } else { (1 << 24) - 1 },
        }
    }

    /// The current count.
    pub fn read(&self) -> u32 {
        // SAFETY: an I/O read touches no memory (see `new`); on the FADT's PM timer port it
        // only returns the count.
        unsafe { Port::<u32>::new(self.port).read() & self.mask }
    }

    /// Measures `sample` over at least `ticks` timer ticks with simultaneous readings (see
    /// `refclock`): (first, last, ticks elapsed), or `None` when the counter does not advance.
    pub fn measure_paired<T>(&self, ticks: u32, sample: impl FnMut() -> T) -> Option<(T, T, u32)> {
        let mask = self.mask;
        super::refclock::measure_paired(
            || self.read(),
            |c0, c| c.wrapping_sub(c0) & mask,
            ticks,
            sample,
        )
    }
}
