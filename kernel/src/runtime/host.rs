//! The kernel's [`ShellHost`]: what the shell's commands read and do on the running machine
//! (see docs/architecture.md, "Async and the shell").
//!
//! - facts: uptime (`time`), the boot time the loader reported (Limine's Date at Boot
//!   response, `boot::BootInfo::boot_time`), the frame allocator's and the heap's figures, the
//!   executor's task list, CPUID, the interrupt path and the protections on;
//! - `vm`: the memory module's walk of the kernel's tables (`pagetables::Walk`, the same text
//!   the page-fault report prints), plus the kernel area the address falls in;
//! - `bench`: TSC measurements of production code, printed as `bench: <name>: <value> <unit>`
//!   lines: heap `Box` pairs, a private executor, `int` round trips to a no-op vector and the
//!   time each timer tick takes from a spinning task;
//! - `fault`: the deliberate exceptions of `arch::demo`, and a real stack overflow.
//!
//! Every method runs in task context (the shell task): several allocate, and `bench` spins
//! for a few tens of milliseconds.

use alloc::boxed::Box;
use core::fmt::{self, Write};
use core::future::Future;
use core::hint::black_box;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::arch::cpu::{self, Protection};
use crate::arch::{demo, paging, trap};
use crate::console::color::Color;
use crate::interrupts::{self, Mode};
use crate::shell::commands::{BenchKind, FaultKind, HeapStats, MemStats, ShellHost, TaskLine};
use crate::task::executor::{Executor, Spawner};
use crate::time::{self, TscSource};
use crate::{boot, heap, memory};

/// Bytes per frame of the frame allocator.
const FRAME_SIZE: u64 = 4096;

/// Task slots of the executor `bench executor` runs: one per host, made on first use and
/// reused by every run (an executor's run queue and slot table are never freed).
const BENCH_TASKS: usize = 64;

/// The shell's view of the kernel.
pub struct KernelHost {
    spawner: Spawner,
    /// The executor of `bench executor`, made on first use.
    bench_executor: Option<Executor>,
}

// The shell task owns its host across awaits, so the host must be `Send` like every task.
const _: () = {
    const fn send<T: Send>() {}
    send::<KernelHost>();
};

impl KernelHost {
    /// A host listing the tasks of `spawner`'s executor.
    pub fn new(spawner: Spawner) -> Self {
        Self {
            spawner,
            bench_executor: None,
        }
    }
}

impl fmt::Debug for KernelHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelHost")
            .field("spawner", &self.spawner)
            .finish_non_exhaustive()
    }
}

/// Writes every `\n` as `\r\n` (for text made with `writeln!`, like the page-table walk).
struct Crlf<'a>(&'a mut dyn Write);

impl Write for Crlf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut lines = s.split('\n');
        if let Some(first) = lines.next() {
            self.0.write_str(first)?;
        }
        for line in lines {
            self.0.write_str("\r\n")?;
            self.0.write_str(line)?;
        }
        Ok(())
    }
}

impl ShellHost for KernelHost {
    fn set_colors(&mut self, fg: Color, bg: Option<Color>) {
        // The screen's default attribute; without a background the current one stays.
        let bg =
            bg.unwrap_or_else(|| crate::console::screen::with(|c| c.default_attr()).background());
        crate::console::screen::set_default_colors(fg, bg);
    }

    fn uptime_nanos(&self) -> u64 {
        time::uptime_nanos()
    }

    fn boot_unix_seconds(&self) -> Option<u64> {
        boot::try_boot_info().and_then(|info| info.boot_time)
    }

    fn dmesg(&mut self, out: &mut dyn Write) -> fmt::Result {
        crate::logger::dmesg(out)
    }

    fn mem_stats(&self) -> Option<MemStats> {
        memory::frame_stats().map(|s| MemStats {
            frame_size: FRAME_SIZE,
            total: s.total_frames,
            free: s.free_frames,
        })
    }

    fn heap_stats(&self) -> Option<HeapStats> {
        heap::stats().map(|s| HeapStats {
            size: s.heap_size as u64,
            used: s.in_use as u64,
            peak: s.peak_in_use as u64,
            allocs: s.allocations,
            // Every allocation still live has not been freed; all others have.
            frees: s.allocations.saturating_sub(s.live as u64),
        })
    }

    fn translate(&mut self, addr: u64, out: &mut dyn Write) -> fmt::Result {
        let Some(walk) = memory::walk(addr) else {
            return out.write_str("vm: the kernel's page tables are not set up\r\n");
        };
        writeln!(Crlf(out), "{walk}")?;
        if let Some(owner) = memory::guard_page_owner(addr) {
            write!(
                out,
                "  in the guard area below the {owner} (never mapped)\r\n"
            )?;
        } else if let Some(area) = area_of(addr) {
            write!(out, "  in the {area}\r\n")?;
        }
        Ok(())
    }

    fn tasks(&self, f: &mut dyn FnMut(TaskLine<'_>)) {
        for t in self.spawner.tasks() {
            f(TaskLine {
                id: t.id.as_u64(),
                name: t.name,
                state: t.state.name(),
                polls: t.polls,
            });
        }
    }

    fn cpu(&mut self, out: &mut dyn Write) -> fmt::Result {
        cpu_report(out)
    }

    fn acpi(&mut self, out: &mut dyn Write) -> fmt::Result {
        crate::acpi::write_tables(out)
    }

    fn bench(&mut self, kind: BenchKind, out: &mut dyn Write) -> fmt::Result {
        match kind {
            BenchKind::Alloc => bench_alloc(out),
            BenchKind::Executor => {
                let executor = self
                    .bench_executor
                    .get_or_insert_with(|| Executor::new(BENCH_TASKS));
                bench_executor(executor, out)
            }
            BenchKind::Irq => bench_irq(out),
        }
    }

    fn reboot(&mut self) {
        crate::power::reboot()
    }

    fn shutdown(&mut self) {
        let e = crate::power::shutdown();
        crate::print!("shutdown: {e}\r\n");
    }

    fn fault(&mut self, kind: FaultKind) {
        match kind {
            FaultKind::Int3 => demo::breakpoint(),
            FaultKind::Gpf => demo::load_non_canonical(),
            FaultKind::PageFault => {
                if let Some(addr) = unmapped_kernel_address() {
                    demo::read_unmapped(addr);
                }
            }
            FaultKind::DoubleFault => {
                if current_stack_is_guarded() {
                    black_box(demo::exhaust_stack(0));
                } else {
                    demo::push_on_unmapped_stack();
                }
            }
        }
    }
}

/// The kernel area `addr` lies in, by the memory layout (see `memory`), if any.
fn area_of(addr: u64) -> Option<&'static str> {
    let within = |(base, size): (u64, u64)| addr.wrapping_sub(base) < size;
    let (image_start, image_end) = paging::image_layout().span();
    let (heap_base, _, heap_cap) = heap::range();
    let hhdm = paging::hhdm_offset().zip(paging::ram_ranges().last().map(|r| r.1));
    if (image_start..image_end).contains(&addr) {
        Some("kernel image")
    } else if heap_base != 0 && (heap_base..heap_cap).contains(&addr) {
        Some("kernel heap")
    } else if memory::stack_area().is_some_and(within) {
        Some("kernel stack area")
    } else if memory::mapping_area().is_some_and(within) {
        Some("mapping API's area")
    } else if hhdm.is_some_and(within) {
        Some("HHDM (all RAM, direct-mapped)")
    } else {
        None
    }
}

// --- cpu ---

/// The 12-byte vendor string of CPUID leaf 0 and the 48-byte brand string of leaves
/// 0x80000002-4 (empty without them).
fn identity() -> ([u8; 12], [u8; 48]) {
    let l0 = cpu::cpuid(0, 0);
    let mut vendor = [0u8; 12];
    for (i, reg) in [l0.ebx, l0.edx, l0.ecx].into_iter().enumerate() {
        vendor[i * 4..i * 4 + 4].copy_from_slice(&reg.to_le_bytes());
    }
    let mut brand = [0u8; 48];
    if cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0004 {
        for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
            let r = cpu::cpuid(leaf, 0);
            for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].into_iter().enumerate() {
                let at = i * 16 + j * 4;
                brand[at..at + 4].copy_from_slice(&reg.to_le_bytes());
            }
        }
    }
    (vendor, brand)
}

/// Printable ASCII of `bytes` up to the first NUL, trimmed.
fn ascii(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = &bytes[..end];
    if text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        core::str::from_utf8(text).unwrap_or("").trim()
    } else {
        "?"
    }
}

/// Family, model and stepping from CPUID leaf 1 (with the extended fields where they count).
fn signature() -> (u32, u32, u32) {
    let eax = cpu::cpuid(1, 0).eax;
    let base_family = (eax >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((eax >> 20) & 0xff)
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        ((eax >> 4) & 0xf) | ((eax >> 12) & 0xf0)
    } else {
        (eax >> 4) & 0xf
    };
    (family, model, eax & 0xf)
}

fn tsc_source_name(source: TscSource) -> &'static str {
    match source {
        TscSource::Pit => "measured against the PIT",
        TscSource::PmTimer => "measured against the ACPI PM timer",
        TscSource::Cpuid => "as CPUID states it",
        TscSource::Unknown => "unknown",
    }
}

/// Appends `name` to a space-separated list.
fn push_name<const N: usize>(list: &mut heapless::String<N>, name: &str) {
    if !list.is_empty() {
        let _ = list.push(' ');
    }
    let _ = list.push_str(name);
}

fn cpu_report(out: &mut dyn Write) -> fmt::Result {
    let (vendor, brand) = identity();
    let (family, model, stepping) = signature();
    write!(
        out,
        "cpu: {} {} (family {family:#x}, model {model:#x}, stepping {stepping})\r\n",
        ascii(&vendor),
        ascii(&brand)
    )?;
    let f = cpu::features();
    let leaf1 = cpu::cpuid(1, 0);
    let invariant_tsc = cpu::cpuid(0x8000_0000, 0).eax >= 0x8000_0007
        && cpu::cpuid(0x8000_0007, 0).edx & (1 << 8) != 0;
    let mut names: heapless::String<128> = heapless::String::new();
    for (on, name) in [
        (f.nx, "nx"),
        (f.huge_1g, "pdpe1gb"),
        (f.pge, "pge"),
        (f.pat, "pat"),
        (f.smep, "smep"),
        (f.smap, "smap"),
        (f.umip, "umip"),
        (f.rdrand, "rdrand"),
        (leaf1.edx & (1 << 9) != 0, "apic"),
        (leaf1.ecx & (1 << 21) != 0, "x2apic"),
        (leaf1.ecx & (1 << 31) != 0, "hypervisor"),
        (invariant_tsc, "invariant-tsc"),
    ] {
        if on {
            push_name(&mut names, name);
        }
    }
    write!(
        out,
        "features: {names}; {}-bit physical addresses\r\n",
        f.phys_bits
    )?;
    let hz = time::tsc_hz();
    write!(
        out,
        "tsc: {}.{:03} MHz ({})\r\n",
        hz / 1_000_000,
        (hz / 1000) % 1000,
        tsc_source_name(time::tsc_source())
    )?;
    match interrupts::mode() {
        Some(Mode::Apic { x2apic }) => {
            let io_apics = interrupts::info().map_or(0, |i| i.io_apics.len());
            write!(
                out,
                "interrupts: local APIC ({}) and {io_apics} IOAPIC(s), 8259 PICs masked\r\n",
                if x2apic {
                    "x2APIC, MSRs"
                } else {
                    "xAPIC, MMIO"
                }
            )?;
            let bus = interrupts::lapic_hz();
            write!(
                out,
                "timer: local APIC timer, periodic, {} Hz (input clock {}.{:03} MHz)\r\n",
                interrupts::TIMER_HZ,
                bus / 1_000_000,
                (bus / 1000) % 1000
            )?;
        }
        Some(Mode::Pic) => {
            out.write_str("interrupts: 8259 PIC pair (vectors 32-47)\r\n")?;
            write!(
                out,
                "timer: PIT channel 0, {} Hz (IRQ 0)\r\n",
                interrupts::TIMER_HZ
            )?;
        }
        None => out.write_str("interrupts: not set up\r\n")?,
    }
    write!(
        out,
        "ticks: {} ({} lost), spurious interrupts {}, strays {}\r\n",
        time::ticks(),
        time::lost_ticks(),
        interrupts::spurious_count(),
        interrupts::stray_count()
    )?;
    let mut on: heapless::String<64> = heapless::String::new();
    let mut off: heapless::String<64> = heapless::String::new();
    let mut missing: heapless::String<64> = heapless::String::new();
    for p in Protection::ALL {
        let list = if p.is_on() {
            &mut on
        } else if p.supported(&f) {
            &mut off
        } else {
            &mut missing
        };
        push_name(list, p.name());
    }
    fn or_none(s: &str) -> &str {
        if s.is_empty() { "none" } else { s }
    }
    write!(
        out,
        "protections on: {}; off: {}; not supported: {}\r\n",
        or_none(&on),
        or_none(&off),
        or_none(&missing)
    )
}

// --- bench ---

/// Median of `runs` (at most 64) timings of `f`, in TSC cycles, divided by `ops`.
fn median_per_op(runs: usize, ops: u64, mut f: impl FnMut()) -> u64 {
    let mut samples = [0u64; 64];
    let runs = runs.clamp(1, samples.len());
    for s in samples.iter_mut().take(runs) {
        let start = cpu::rdtsc();
        f();
        *s = cpu::rdtsc().wrapping_sub(start);
    }
    let samples = &mut samples[..runs];
    samples.sort_unstable();
    samples[runs / 2] / ops.max(1)
}

/// Runs of each measurement; the median is printed.
const RUNS: usize = 33;

fn bench_line(out: &mut dyn Write, name: &str, value: u64, unit: &str) -> fmt::Result {
    write!(out, "bench: {name}: {value} {unit}\r\n")
}

/// `Box` allocate + free pairs through the global allocator, per size.
fn bench_alloc(out: &mut dyn Write) -> fmt::Result {
    const PAIRS: u64 = 64;
    write!(
        out,
        "alloc: {} heap; cycles per Box alloc+free pair, median of {RUNS} runs of {PAIRS}\r\n",
        heap::chosen().map_or("no", |c| c.name())
    )?;
    for size in [16usize, 64, 256, 1024, 4096] {
        let cycles = median_per_op(RUNS, PAIRS, || {
            for _ in 0..PAIRS {
                // `black_box` on the size and on the box: the allocation and the free happen.
                drop(black_box(Box::<[u8]>::new_uninit_slice(black_box(size))));
            }
        });
        let mut name: heapless::String<32> = heapless::String::new();
        let _ = write!(name, "box_alloc_free_{size}_bytes");
        bench_line(out, &name, cycles, "cycles")?;
    }
    Ok(())
}

/// Pending `left` times, waking itself each time, then ready: every poll after the first is
/// one wake (run-queue push) and one poll.
struct Rewake {
    left: u64,
}

impl Future for Rewake {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Spawn-to-completion of trivial tasks (spawned on the executor and through its spawner,
/// as tasks do) and wake-to-poll, on `executor` with [`Executor::run_ready`] (no idling).
fn bench_executor(executor: &mut Executor, out: &mut dyn Write) -> fmt::Result {
    const TASKS: u64 = BENCH_TASKS as u64;
    const WAKES: u64 = 1000;
    write!(
        out,
        "executor: a private {BENCH_TASKS}-slot executor; cycles per op, median of {RUNS} runs\r\n"
    )?;
    let mut failed = false;
    let local = median_per_op(RUNS, TASKS, || {
        for _ in 0..TASKS {
            failed |= executor.spawn_detached("bench", async {}).is_err();
        }
        executor.run_ready();
    });
    let spawner = executor.spawner();
    let remote = median_per_op(RUNS, TASKS, || {
        for _ in 0..TASKS {
            failed |= spawner.spawn_detached("bench", async {}).is_err();
        }
        executor.run_ready();
    });
    let mut polls = 0;
    let wake = median_per_op(RUNS, WAKES, || {
        failed |= executor
            .spawn_detached("bench", Rewake { left: WAKES })
            .is_err();
        polls = executor.run_ready();
    });
    if failed || executor.stats().live != 0 || polls != WAKES as usize + 1 {
        return out.write_str("executor: a benchmark task did not run to completion\r\n");
    }
    bench_line(out, "executor_spawn_to_completion", local, "cycles")?;
    bench_line(
        out,
        "executor_spawner_spawn_to_completion",
        remote,
        "cycles",
    )?;
    bench_line(out, "executor_wake_to_poll", wake, "cycles")
}

/// `int` round trips to the no-op vector, and the time a timer tick takes from running code.
fn bench_irq(out: &mut dyn Write) -> fmt::Result {
    const INTS: u64 = 100;
    let mut averages = [0u64; RUNS];
    for a in averages.iter_mut() {
        match trap::bench_int_roundtrip(INTS) {
            Some(cycles) => *a = cycles,
            None => return out.write_str("irq: the kernel's IDT is not loaded\r\n"),
        }
    }
    averages.sort_unstable();
    let roundtrip = averages[RUNS / 2];
    write!(
        out,
        "irq: int {:#x} to a no-op handler, median of {RUNS} runs of {INTS}\r\n",
        trap::BENCH_VECTOR
    )?;
    bench_line(out, "interrupt_roundtrip", roundtrip, "cycles")?;
    match tick_cost() {
        Some(t) => {
            write!(
                out,
                "irq: timer tick cost from a loop spinning {TICK_WINDOW_MS} ms, median of {} ticks\r\n",
                t.ticks
            )?;
            bench_line(out, "timer_tick_cost", t.cycles, "cycles")?;
        }
        None => out.write_str("irq: no timer ticks while spinning (interrupts off?)\r\n")?,
    }
    #[cfg(feature = "ktest")]
    if let Some(handler) = interrupts::average_tick_handler_cycles() {
        bench_line(out, "timer_tick_handler", handler, "cycles")?;
    }
    Ok(())
}

/// How long [`tick_cost`] spins.
const TICK_WINDOW_MS: u64 = 20;

/// What [`tick_cost`] found.
struct TickCost {
    /// Median cycles a tick took from the spinning code (entry, handler, EOI, exit).
    cycles: u64,
    /// Ticks measured.
    ticks: usize,
}

/// The time each timer tick takes away from running code: spins for [`TICK_WINDOW_MS`] with
/// interrupts on, reading the TSC and the tick count; a loop iteration in which the count
/// moved contained a tick, so its length less the loop's own (timed with interrupts off) is
/// the cost of that tick. Median over the window's ticks; `None` without ticks (interrupts
/// off, or no timer).
fn tick_cost() -> Option<TickCost> {
    const KEPT: usize = 64;
    let hz = time::tsc_hz();
    if hz == 0 || !cpu::interrupts_enabled() {
        return None;
    }
    // The loop's own iteration, with nothing to interrupt it: the shortest of many.
    let were_enabled = cpu::disable_interrupts_save();
    let mut base = u64::MAX;
    let mut last = cpu::rdtsc();
    for _ in 0..10_000 {
        let now = cpu::rdtsc();
        black_box(time::ticks());
        base = base.min(now.wrapping_sub(last));
        last = now;
    }
    cpu::restore_interrupts(were_enabled);
    let mut gaps = [0u64; KEPT];
    let mut n = 0;
    let window = hz / 1000 * TICK_WINDOW_MS;
    let start = cpu::rdtsc();
    let (mut last, mut last_ticks) = (start, time::ticks());
    while last.wrapping_sub(start) < window {
        let now = cpu::rdtsc();
        let ticks = time::ticks();
        if ticks != last_ticks && n < KEPT {
            gaps[n] = now.wrapping_sub(last);
            n += 1;
        }
        (last, last_ticks) = (now, ticks);
    }
    if n == 0 {
        return None;
    }
    let gaps = &mut gaps[..n];
    gaps.sort_unstable();
    Some(TickCost {
        cycles: gaps[n / 2].saturating_sub(base),
        ticks: n,
    })
}

// --- fault ---

/// A canonical kernel-half address nothing maps: the start of the mapping API's area (only
/// the heap, in the area's upper half, maps there so far) or the end of the heap's cap.
fn unmapped_kernel_address() -> Option<u64> {
    let area = memory::mapping_area().map(|(base, _)| base);
    let heap_cap = Some(heap::range().2).filter(|&end| end != 0);
    [area, heap_cap]
        .into_iter()
        .flatten()
        .find(|&addr| memory::lookup(addr).is_none())
}

/// Whether the stack this runs on has a registered guard area right below its lowest mapped
/// page (a kernel stack from the memory module), so running off its end faults.
fn current_stack_is_guarded() -> bool {
    const PAGE: u64 = 4096;
    // Kernel stacks are far smaller; a walk this long means something else.
    const MAX_PAGES: u64 = 4096;
    let mut bottom = cpu::stack_pointer() & !(PAGE - 1);
    for _ in 0..MAX_PAGES {
        if memory::translate(bottom - PAGE).is_none() {
            return memory::guard_page_owner(bottom - 8).is_some();
        }
        bottom -= PAGE;
    }
    false
}

#[cfg(feature = "ktest")]
mod ktests;
