//! The 8253/8254 programmable interval timer, used as a reference clock.
//!
//! Channel 2 is the one channel whose gate is software controlled (port 0x61 bit 0) and which
//! drives nothing but the (disabled) speaker. [`measure_paired`] lets it run free and reads its
//! latched count back to back with a caller-supplied counter at the start and end of an
//! interval. The TSC and the LAPIC timer are calibrated this way: the PIT input clock is a fixed
//! 1.193182 MHz on every PC, so `ticks / PIT_HZ` seconds is a trustworthy interval. Every wait
//! is bounded: a machine without a working PIT (some VMs, chipsets with 8254 clock gating) gets
//! `None`, not a hang.

use ::x86_64::instructions::port::Port;

/// Input clock of the PIT in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Longest interval one mode-0 countdown can measure (65535 ticks, about 54.9 ms).
pub const MAX_TICKS: u16 = u16::MAX;

const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
const NMI_STATUS_CONTROL: u16 = 0x61;

/// Port 0x61 bit 0: gate of channel 2.
const GATE2: u8 = 1 << 0;
/// Port 0x61 bit 1: speaker data enable (kept off so calibration is silent).
const SPEAKER: u8 = 1 << 1;

/// Reads channel 2's current count (latched, so both bytes belong together).
fn read_channel2() -> u16 {
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: the latch command (channel 2, counter latch) and two data reads only copy the
    // current count out; counting goes on undisturbed.
    unsafe {
        command.write(0b1000_0000);
        let lo = data.read();
        let hi = data.read();
        u16::from_le_bytes([lo, hi])
    }
}

/// Measures `sample` over at least `ticks` PIT ticks (below 65536) with simultaneous
/// readings (see `refclock`): returns (first value, last value, PIT ticks between them), or
/// `None` when the counter does not advance (no working PIT).
pub fn measure_paired<T>(ticks: u16, sample: impl FnMut() -> T) -> Option<(T, T, u32)> {
    let mut control = Port::<u8>::new(NMI_STATUS_CONTROL);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: channel 2 drives only the speaker, which stays off; port 0x61 is restored at
    // the end. No memory is touched.
    let saved = unsafe {
        let saved = control.read();
        control.write((saved & !SPEAKER) | GATE2);
        // Channel 2, lobyte/hibyte, mode 2 (rate generator), count 0 = 65536: free running.
        command.write(0b1011_0100);
        data.write(0);
        data.write(0);
        saved
    };
    // Let the counter load its first count.
    let _ = read_channel2();
    // The count runs down, modulo 65536.
    let elapsed = |c0: u32, c: u32| u32::from((c0 as u16).wrapping_sub(c as u16));
    let result = super::refclock::measure_paired(
        || u32::from(read_channel2()),
        elapsed,
        u32::from(ticks),
        sample,
    );
    // SAFETY: restores the gate/speaker bits as found.
    unsafe { control.write(saved) };
    result
}

/// Number of PIT ticks in `micros` microseconds, clamped to what one countdown can measure.
pub fn ticks_for_micros(micros: u32) -> u16 {
    let ticks = u64::from(micros) * PIT_HZ / 1_000_000;
    u16::try_from(ticks).unwrap_or(MAX_TICKS)
}

/// Runs channel 0 (wired to IRQ 0) as a rate generator at about `hz` interrupts per second
/// (mode 2); returns the exact rate programmed.
pub fn start_periodic(hz: u32) -> u32 {
    let divisor = (PIT_HZ / u64::from(hz.max(19))).clamp(1, 65535) as u16;
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(0x40);
    // SAFETY: programming PIT channel 0 only changes when IRQ 0 fires.
    unsafe {
        command.write(0b0011_0100); // channel 0, lobyte/hibyte, mode 2, binary
        let [lo, hi] = divisor.to_le_bytes();
        data.write(lo);
        data.write(hi);
    }
    (PIT_HZ / u64::from(divisor)) as u32
}

/// Stops channel 0 (one-shot mode with a zero count never re-fires).
pub fn stop_periodic() {
    let mut command = Port::<u8>::new(COMMAND);
    // SAFETY: as in `start_periodic`.
    unsafe { command.write(0b0011_0000) };
}
