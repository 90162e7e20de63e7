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

/// Longest a (sample, PIT count) reading may take, in TSC cycles, to count as simultaneous.
/// Far above the few microseconds a reading takes, far below a preemption (milliseconds).
const PAIR_MAX_CYCLES: u64 = 200_000;

/// Takes `sample()` and the PIT count back to back; retries (a bounded number of times) until
/// the pair took less than [`PAIR_MAX_CYCLES`] (the CPU was not taken away in between).
fn paired<T>(sample: &mut impl FnMut() -> T) -> (T, u16) {
    let mut attempt = 0;
    loop {
        let before = super::cpu::rdtsc();
        let value = sample();
        let count = read_channel2();
        attempt += 1;
        if super::cpu::rdtsc().wrapping_sub(before) < PAIR_MAX_CYCLES || attempt >= 64 {
            return (value, count);
        }
    }
}

/// Reads of the count after which a PIT that has not moved is declared absent (a read takes
/// about a microsecond on hardware, so this is well over the longest interval measured).
const STALL_READS: u32 = 2_000_000;

/// Measures `sample` over at least `ticks` PIT ticks (below 65536) with simultaneous
/// readings: returns (first value, last value, PIT ticks between them), or `None` when the
/// counter does not advance (no working PIT).
///
/// Unlike [`measure`], which reads `sample` only after noticing the countdown's end (late by
/// however long the CPU was away at that moment: an SMI, or a host descheduling a virtual
/// CPU), each reading here pairs `sample` with the PIT's latched count at the same instant,
/// so time the CPU spends elsewhere during the interval does not skew the result (as long as
/// it stays below the counter's 55 ms period; callers take the median of several windows).
pub fn measure_paired<T>(ticks: u16, mut sample: impl FnMut() -> T) -> Option<(T, T, u32)> {
    let mut control = Port::<u8>::new(NMI_STATUS_CONTROL);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: as in `measure`: channel 2 with the speaker off, port 0x61 restored at the end.
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
    let (first, c0) = paired(&mut sample);
    let wanted = u32::from(ticks.max(1));
    let elapsed = |c: u16| u32::from(c0.wrapping_sub(c));
    let mut reads = 0u32;
    let mut reached = false;
    while reads < STALL_READS {
        if elapsed(read_channel2()) >= wanted {
            reached = true;
            break;
        }
        reads += 1;
    }
    let (last, c1) = paired(&mut sample);
    // SAFETY: restores the gate/speaker bits as found.
    unsafe { control.write(saved) };
    reached.then(|| (first, last, elapsed(c1)))
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
