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
fn extra() -> heapless::Vec<(&'static str, u64, &'static str), 24> {
    let mut out = heapless::Vec::new();
    let roundtrip = crate::arch::trap::bench_int_roundtrip(10_000);
    let _ = out.push(("interrupt_roundtrip", roundtrip, "cycles"));
    // Let a few hundred ticks happen, then: handler time per tick, and the whole per-tick
    // overhead as that plus one interrupt entry/exit round trip.
    crate::time::busy_wait_nanos(300_000_000);
    // The tick's own work (advancing the timers to now, none due), without entry or EOI.
    let work = measure(33, || {
        for _ in 0..100 {
            crate::time::TIMERS.tick(crate::time::uptime_nanos());
        }
    }) / 100;
    let _ = out.push(("timer_tick_work", work, "cycles"));
    let uptime = measure(33, || {
        for _ in 0..100 {
            core::hint::black_box(crate::time::uptime_nanos());
        }
    }) / 100;
    let _ = out.push(("uptime_read", uptime, "cycles"));
    if let Some(eoi) = crate::interrupts::bench_eoi_cycles() {
        let _ = out.push(("end_of_interrupt_write", eoi, "cycles"));
    }
    if let Some(handler) = crate::interrupts::average_tick_handler_cycles() {
        let _ = out.push(("timer_tick_handler", handler, "cycles"));
        if let Some(work) = crate::interrupts::average_tick_work_cycles() {
            let _ = out.push(("timer_tick_handler_work", work, "cycles"));
        }
        let _ = out.push(("timer_irq_overhead_per_tick", handler + roundtrip, "cycles"));
    }
    if let Some(cycles) = crate::drivers::keyboard::bench_irq_latency(33) {
        let _ = out.push(("keyboard_irq_to_handler_exit", cycles, "cycles"));
    }
    if let Some((median, p99)) = crate::runtime::bench_key_to_task(200) {
        let _ = out.push(("keyboard_irq_to_task_poll_median", median, "cycles"));
        let _ = out.push(("keyboard_irq_to_task_poll_p99", p99, "cycles"));
    }
    for (name, value, unit) in memory() {
        let _ = out.push((name, value, unit));
    }
    out
}

/// The kernel's page tables and frame allocator: the boot's build (cold: under TCG it also
/// pays for translating the code), the same build again into scratch tables (median of 9),
/// the HHDM's table frames, and allocate + free pairs.
fn memory() -> heapless::Vec<(&'static str, u64, &'static str), 10> {
    use crate::memory;
    let mut out = heapless::Vec::new();
    let us = |cycles| time::cycles_to_nanos(cycles, time::tsc_hz()) / 1000;
    if let Some(b) = memory::build_report() {
        let _ = out.push(("page_table_build_at_boot", us(b.cycles), "us"));
        let _ = out.push(("hhdm_table_frames", b.hhdm_frames, "frames"));
        let _ = out.push(("kernel_table_frames", b.frames, "frames"));
    }
    let info = crate::boot::boot_info();
    let mut builds = [(0u64, 0u64); 9];
    let mut n = 0;
    for b in builds.iter_mut() {
        if let Some((all, hhdm, _)) = memory::bench_table_build(info) {
            *b = (all, hhdm);
            n += 1;
        }
    }
    if n == builds.len() {
        builds.sort_unstable_by_key(|b| b.0);
        let _ = out.push(("page_table_build", us(builds[4].0), "us"));
        builds.sort_unstable_by_key(|b| b.1);
        let _ = out.push(("hhdm_build", us(builds[4].1), "us"));
    }
    // As the production kernel runs (double frees refused when the block itself is free).
    let figures = [
        ("frame_alloc_free_pair", 0, true, false),
        ("frame_alloc_free_pair_order9", 9, true, false),
        ("frame_alloc_free_pair_full_checks", 0, true, true),
    ];
    for (name, order, neighbour, full) in figures {
        if let Some(c) = memory::bench_frame_pairs(order, 100_000, neighbour, full) {
            let _ = out.push((name, c, "cycles"));
        }
    }
    out
}
