//! The 8253/8254 programmable interval timer, used as a reference clock.
//!
//! Channel 2 is the one channel whose output can be polled (port 0x61 bit 5) without an
//! interrupt, and whose gate is software controlled (port 0x61 bit 0). [`measure`] programs it in
//! mode 0 (interrupt on terminal count) for a given number of PIT ticks, samples a caller-supplied
//! counter right after the count is loaded and again when OUT2 rises, and returns both samples.
//! The TSC and, later, the LAPIC timer are calibrated this way: the PIT input clock is a fixed
//! 1.193182 MHz on every PC, so `ticks / PIT_HZ` seconds is a trustworthy interval.

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
/// Port 0x61 bit 5: current state of channel 2's output.
const OUT2: u8 = 1 << 5;

/// Counts `ticks` PIT cycles on channel 2 and returns `(sample at start, sample at end)`.
///
/// Run with interrupts disabled for an accurate interval. `ticks` of 0 is treated as 1.
pub fn measure<T>(ticks: u16, mut sample: impl FnMut() -> T) -> (T, T) {
    let ticks = ticks.max(1);
    let mut control = Port::<u8>::new(NMI_STATUS_CONTROL);
    let mut command = Port::<u8>::new(COMMAND);
    let mut data = Port::<u8>::new(CHANNEL2_DATA);
    // SAFETY: ports 0x42, 0x43 and 0x61 belong to the PIT and the system control port on every
    // PC; channel 2 drives only the speaker, which stays disabled, and the original value of
    // port 0x61 is restored before returning. No memory is touched.
    unsafe {
        let saved = control.read();
        // Gate low while programming so the countdown starts exactly when the count is loaded.
        control.write(saved & !(GATE2 | SPEAKER));
        // Channel 2, access lobyte/hibyte, mode 0, binary.
        command.write(0b1011_0000);
        let [lo, hi] = ticks.to_le_bytes();
        data.write(lo);
        data.write(hi);
        control.write((saved & !SPEAKER) | GATE2);
        let start = sample();
        while control.read() & OUT2 == 0 {
            core::hint::spin_loop();
        }
        let end = sample();
        control.write(saved);
        (start, end)
    }
}

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

/// Takes `sample()` and the PIT count back to back; retries until the pair took less than
/// [`PAIR_MAX_CYCLES`] (the CPU was not taken away in between).
fn paired<T>(sample: &mut impl FnMut() -> T) -> (T, u16) {
    loop {
        let before = super::cpu::rdtsc();
        let value = sample();
        let count = read_channel2();
        if super::cpu::rdtsc().wrapping_sub(before) < PAIR_MAX_CYCLES {
            return (value, count);
        }
    }
}

/// Measures `sample` over at least `ticks` PIT ticks (below 65536) with simultaneous
/// readings: returns (first value, last value, PIT ticks between them).
///
/// Unlike [`measure`], which reads `sample` only after noticing the countdown's end (late by
/// however long the CPU was away at that moment: an SMI, or a host descheduling a virtual
/// CPU), each reading here pairs `sample` with the PIT's latched count at the same instant,
/// so time the CPU spends elsewhere during the interval does not skew the result.
pub fn measure_paired<T>(ticks: u16, mut sample: impl FnMut() -> T) -> (T, T, u32) {
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
    while elapsed(read_channel2()) < wanted {
        core::hint::spin_loop();
    }
    let (last, c1) = paired(&mut sample);
    // SAFETY: restores the gate/speaker bits as found.
    unsafe { control.write(saved) };
    (first, last, elapsed(c1))
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
