//! In-kernel measurements (`ktest=bench`): printed as `bench: <name>: <value> <unit>` lines on
//! COM1 for `make bench`. Nothing here passes or fails.

use crate::arch::cpu::rdtsc;
use crate::console::screen;
use crate::time;

/// Median of `runs` timings of `f`, in TSC cycles.
fn measure(runs: usize, mut f: impl FnMut()) -> u64 {
    let mut samples = [0u64; 64];
    let runs = runs.clamp(1, samples.len());
    for s in samples.iter_mut().take(runs) {
        let start = rdtsc();
        f();
        *s = rdtsc().wrapping_sub(start);
    }
    let samples = &mut samples[..runs];
    samples.sort_unstable();
    samples[runs / 2]
}

fn micros(cycles: u64) -> u64 {
    time::cycles_to_nanos(cycles, time::tsc_hz()) / 1000
}

/// Runs every in-kernel benchmark and prints the figures.
pub fn run_all() {
    if screen::attached() {
        let repaint = measure(9, || screen::with(|c| c.repaint()));
        crate::println!("bench: kernel_console_repaint: {} us", micros(repaint));
        // Distinct lines, so no row of the scrolled screen repeats the one above it (the
        // renderer skips cells that did not change).
        // Start on the bottom row, so every measured line scrolls the screen.
        screen::write(b"\x1b[25;1H");
        screen::flush();
        let mut n = 0u32;
        let line = measure(9, || {
            n += 1;
            let mut text: heapless::String<96> = heapless::String::new();
            for i in 0..8 {
                let _ = core::fmt::Write::write_fmt(&mut text, format_args!("{:>8} ", n * 8 + i));
            }
            let _ = text.push('\n');
            screen::write(text.as_bytes());
            screen::flush();
        });
        crate::println!(
            "bench: kernel_console_line_with_scroll: {} us",
            micros(line)
        );
        let putchar = measure(33, || {
            screen::write(b"x");
            screen::flush();
        });
        crate::println!(
            "bench: kernel_console_putchar: {} ns",
            time::cycles_to_nanos(putchar, time::tsc_hz())
        );
    }
    for (name, value, unit) in extra() {
        crate::println!("bench: {name}: {value} {unit}");
    }
}

/// Figures contributed by other subsystems: (name, value, unit).
fn extra() -> heapless::Vec<(&'static str, u64, &'static str), 16> {
    let mut out = heapless::Vec::new();
    let roundtrip = crate::arch::trap::bench_int_roundtrip(10_000);
    let _ = out.push(("interrupt_roundtrip", roundtrip, "cycles"));
    // Let a few hundred ticks happen, then: handler time per tick, and the whole per-tick
    // overhead as that plus one interrupt entry/exit round trip.
    crate::time::busy_wait_nanos(300_000_000);
    if let Some(handler) = crate::interrupts::average_tick_handler_cycles() {
        let _ = out.push(("timer_tick_handler", handler, "cycles"));
        let _ = out.push(("timer_irq_overhead_per_tick", handler + roundtrip, "cycles"));
    }
    if let Some(cycles) = crate::drivers::keyboard::bench_irq_latency(33) {
        let _ = out.push(("keyboard_irq_to_handler_exit", cycles, "cycles"));
    }
    out
}
