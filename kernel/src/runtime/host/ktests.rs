//! In-kernel tests of [`KernelHost`]: the facts against their sources, `vm` against the
//! memory module's translation, the benchmarks' lines, and one boot per fatal `fault` demo.

use alloc::format;
use alloc::string::String;

use super::KernelHost;
use crate::shell::commands::{self, BenchKind, FaultKind, ShellHost, civil_from_days};
use crate::task::executor::Executor;
use crate::{kassert, kassert_eq, ktest};

fn host() -> KernelHost {
    KernelHost::new(Executor::new(4).spawner())
}

/// Every line ends in CR LF, and there is at least one.
fn crlf_lines(text: &str) -> bool {
    !text.is_empty()
        && text.ends_with("\r\n")
        && text
            .match_indices('\n')
            .all(|(i, _)| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

/// The value of the `bench: <name>: <value> <unit>` line called `name`, if there is one.
fn bench_value(text: &str, name: &str, unit: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line
            .trim_end()
            .strip_prefix("bench: ")?
            .strip_prefix(name)?;
        let rest = rest.strip_prefix(": ")?.strip_suffix(unit)?;
        rest.trim_end().parse().ok()
    })
}

/// A function in the kernel's text (4 KiB pages or larger, read-only, executable).
#[inline(never)]
fn marker() -> u64 {
    core::hint::black_box(0x5eed)
}

ktest! {
    fn vm_prints_the_walk_of_a_mapped_kernel_address() -> TestResult {
        let addr = marker as fn() -> u64 as usize as u64;
        let Some(t) = crate::memory::lookup(addr) else {
            kassert!(false, "kernel text at {addr:#x} is not mapped");
            return Ok(());
        };
        let mut out = String::new();
        kassert!(host().translate(addr, &mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        kassert!(out.starts_with(&format!("walk of {addr:#x} (PML4 at 0x")), "{out:?}");
        // One entry per level down to the leaf, each at the address's index in its table.
        let levels = match t.page_size {
            crate::memory::PageSize::Size4KiB => 4,
            crate::memory::PageSize::Size2MiB => 3,
            crate::memory::PageSize::Size1GiB => 2,
        };
        for (i, name) in ["PML4", "PDPT", "PD", "PT"].into_iter().enumerate() {
            let index = (addr >> (39 - 9 * i)) & 511;
            let entry = format!("  {name:<4}[{index:3}] @ 0x");
            kassert_eq!(out.contains(&entry), i < levels);
        }
        let phys = t.phys.as_u64();
        kassert!(out.contains(&format!("maps to {phys:#x} (")), "{out:?} lacks {phys:#x}");
        kassert!(out.contains("read-only, executable, supervisor"), "{out:?}");
        kassert!(out.contains("in the kernel image\r\n"), "{out:?}");
        // The same through the shell's own parser.
        let mut via_shell = String::new();
        let line = format!("vm {addr:x}");
        kassert!(commands::execute(&line, &mut host(), &mut via_shell).is_ok());
        kassert_eq!(via_shell, out);
        Ok(())
    }
}

ktest! {
    fn vm_reports_an_unmapped_address() -> TestResult {
        let Some(addr) = super::unmapped_kernel_address() else {
            kassert!(false, "no unmapped kernel address found");
            return Ok(());
        };
        let mut out = String::new();
        kassert!(host().translate(addr, &mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        kassert!(out.contains("not mapped: the "), "{out:?}");
        kassert!(!out.contains("maps to"), "{out:?}");
        Ok(())
    }
}

ktest! {
    fn mem_and_heap_figures_are_consistent() -> TestResult {
        let host = host();
        let Some(m) = host.mem_stats() else {
            kassert!(false, "no frame statistics");
            return Ok(());
        };
        kassert_eq!(m.frame_size, 4096);
        kassert!(m.total > 0 && m.free <= m.total, "{m:?}");
        let direct = crate::memory::frame_stats().map(|s| s.total_frames);
        kassert_eq!(Some(m.total), direct);
        let Some(h) = host.heap_stats() else {
            kassert!(false, "no heap statistics");
            return Ok(());
        };
        kassert!(h.size > 0 && h.used <= h.size && h.used <= h.peak, "{h:?}");
        kassert!(h.frees <= h.allocs, "{h:?}");
        // A live allocation shows.
        let kept = alloc::vec![0u8; 4096];
        let Some(after) = host.heap_stats() else {
            kassert!(false, "heap statistics went away");
            return Ok(());
        };
        kassert!(after.used >= h.used + 4096 - 64, "{h:?} then {after:?}");
        kassert!(after.allocs > h.allocs, "{h:?} then {after:?}");
        drop(kept);
        let mut out = String::new();
        kassert!(commands::execute("mem", &mut self::host(), &mut out).is_ok());
        kassert!(out.starts_with("frames: ") && crlf_lines(&out), "{out:?}");
        Ok(())
    }
}

ktest! {
    fn boot_time_is_plausible_when_reported() -> TestResult {
        let host = host();
        let reported = crate::boot::boot_info().boot_time;
        kassert_eq!(host.boot_unix_seconds(), reported);
        match reported {
            Some(seconds) => {
                let (year, _, _) = civil_from_days(seconds / 86_400);
                kassert!(year >= 2024, "boot time {seconds} is in {year}");
                let mut out = String::new();
                kassert!(commands::execute("date", &mut self::host(), &mut out).is_ok());
                kassert!(out.contains(" UTC (booted ") && crlf_lines(&out), "{out:?}");
            }
            None => crate::println!("# the loader reported no boot time"),
        }
        kassert!(host.uptime_nanos() > 0);
        Ok(())
    }
}

ktest! {
    fn tasks_lists_the_spawners_tasks() -> TestResult {
        let mut executor = Executor::new(4);
        let host = KernelHost::new(executor.spawner());
        kassert!(executor.spawn_detached("host-probe", async {}).is_ok());
        let mut seen = alloc::vec::Vec::new();
        host.tasks(&mut |t| seen.push(format!("{} {} {}", t.name, t.state, t.polls)));
        kassert_eq!(seen, alloc::vec![String::from("host-probe ready 0")]);
        executor.run_ready();
        let mut left = 0;
        host.tasks(&mut |_| left += 1);
        kassert_eq!(left, 0);
        Ok(())
    }
}

ktest! {
    fn cpu_report_names_the_cpu_interrupts_and_protections() -> TestResult {
        let mut out = String::new();
        kassert!(host().cpu(&mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        for start in ["cpu: ", "features: ", "tsc: ", "interrupts: ", "timer: ", "protections on: "] {
            kassert!(out.lines().any(|l| l.starts_with(start)), "no {start:?} line in {out:?}");
        }
        // The kernel turns WP on everywhere.
        kassert!(out.contains("protections on: NXE WP") || out.contains("protections on: WP"),
            "{out:?}");
        Ok(())
    }
}

ktest! {
    fn bench_alloc_and_executor_print_their_figures() -> TestResult {
        let mut host = host();
        let mut out = String::new();
        kassert!(host.bench(BenchKind::Alloc, &mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        for size in [16, 64, 256, 1024, 4096] {
            let name = format!("box_alloc_free_{size}_bytes");
            let value = bench_value(&out, &name, "cycles");
            kassert!(value.is_some_and(|c| c > 0 && c < 10_000_000), "{name} in {out:?}");
        }
        let mut out = String::new();
        kassert!(host.bench(BenchKind::Executor, &mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        for name in [
            "executor_spawn_to_completion",
            "executor_spawner_spawn_to_completion",
            "executor_wake_to_poll",
        ] {
            let value = bench_value(&out, name, "cycles");
            kassert!(value.is_some_and(|c| c > 0 && c < 10_000_000), "{name} in {out:?}");
        }
        // Again on the same executor: it is reused and left empty.
        let mut again = String::new();
        kassert!(host.bench(BenchKind::Executor, &mut again).is_ok());
        kassert!(bench_value(&again, "executor_wake_to_poll", "cycles").is_some(), "{again:?}");
        Ok(())
    }
}

ktest! {
    fn bench_irq_prints_the_round_trip() -> TestResult {
        let mut out = String::new();
        kassert!(host().bench(BenchKind::Irq, &mut out).is_ok());
        kassert!(crlf_lines(&out), "not CR LF lines: {out:?}");
        let value = bench_value(&out, "interrupt_roundtrip", "cycles");
        kassert!(value.is_some_and(|c| c > 0 && c < 10_000_000), "{out:?}");
        kassert!(bench_value(&out, "timer_tick_cost", "cycles").is_some()
            || out.contains("no timer ticks"), "{out:?}");
        Ok(())
    }
}

ktest! {
    fn fault_int3_returns_after_the_breakpoint() -> TestResult {
        let before = crate::arch::trap::breakpoint_count();
        host().fault(FaultKind::Int3);
        kassert_eq!(crate::arch::trap::breakpoint_count(), before + 1);
        let mut out = String::new();
        kassert!(commands::execute("fault int3", &mut host(), &mut out).is_ok());
        kassert_eq!(out, "int3: breakpoint handled, continuing\r\n");
        kassert_eq!(crate::arch::trap::breakpoint_count(), before + 2);
        Ok(())
    }
}

// One boot each: the demo must reach the fatal report.

ktest! {
    #[fault = 14]
    #[expect = "!!! CPU exception 14 (#PF): Page Fault"]
    #[expect = "error code 0x0: supervisor read, page not present"]
    #[expect = "cause: no page is mapped at this address"]
    fn shell_fault_pagefault_reads_an_unmapped_kernel_address() -> TestResult {
        let addr = super::unmapped_kernel_address();
        kassert!(addr.is_some_and(|a| a >= 0xffff_8000_0000_0000), "{addr:?}");
        host().fault(FaultKind::PageFault);
        kassert!(false, "no page fault");
        Ok(())
    }
}

ktest! {
    #[fault = 13]
    #[expect = "!!! CPU exception 13 (#GP): General Protection"]
    #[expect = "RCX=0x8000000000000000"]
    fn shell_fault_gpf_loads_a_non_canonical_address() -> TestResult {
        host().fault(FaultKind::Gpf);
        kassert!(false, "no general-protection fault");
        Ok(())
    }
}

ktest! {
    #[fault = 8]
    #[expect = "!!! CPU exception 8 (#DF): Double Fault"]
    #[expect = "handler stack: IST1"]
    #[expect = "hint: stack overflow on the "]
    fn shell_fault_doublefault_overflows_the_stack() -> TestResult {
        kassert!(super::current_stack_is_guarded(), "the test stack has no guard area");
        host().fault(FaultKind::DoubleFault);
        kassert!(false, "no double fault");
        Ok(())
    }
}
