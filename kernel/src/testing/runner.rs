//! Runs the registered tests in a test kernel and ends the QEMU run with the verdict.

use core::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::atomic::AtomicCell;

use super::ktap::Reporter;
use super::{KTest, Kind};
use crate::arch::qemu::{self, ExitCode};

unsafe extern "C" {
    static __ktests_start: u8;
    static __ktests_end: u8;
}

/// The test currently running, for the panic and exception handlers.
static CURRENT: AtomicCell<Option<&'static KTest>> = AtomicCell::new(None);
/// KTAP number of the test currently running.
static CURRENT_NUMBER: AtomicUsize = AtomicUsize::new(1);

/// Every registered test.
pub fn tests() -> &'static [KTest] {
    // SAFETY: `linker.ld` places only `KTest` statics (emitted by `ktest!`, all with the same
    // size and alignment, so contiguous) between the two symbols, in a read-only segment.
    unsafe {
        let start = (&raw const __ktests_start).cast::<KTest>();
        let end = (&raw const __ktests_end).cast::<KTest>();
        let len = (end as usize - start as usize) / core::mem::size_of::<KTest>();
        core::slice::from_raw_parts(start, len)
    }
}

struct Out;

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        crate::print!("{s}");
        Ok(())
    }
}

/// Runs the tests selected by `selector` (`all`, `prefix:<path>` for the normal tests whose
/// name starts with `<path>`, `bench` for the measurements, `bench-heap` for the heap's, or a test name) and exits QEMU.
pub fn run(selector: &str) -> ! {
    if selector == "all" {
        run_all("", true)
    } else if let Some(prefix) = selector.strip_prefix("prefix:") {
        run_all(prefix, false)
    } else if selector == "bench-heap" {
        crate::heap::bench::run();
        qemu::exit(ExitCode::Success)
    } else if selector == "bench" {
        super::bench::run_all();
        qemu::exit(ExitCode::Success)
    } else {
        run_one(selector)
    }
}

fn run_all(prefix: &str, list_standalone: bool) -> ! {
    let all = tests();
    for t in all.iter().filter(|t| t.is_standalone() && list_standalone) {
        crate::println!("ktest-standalone: {}", t.name);
        for text in t.expect {
            crate::println!("ktest-expect: {} {text}", t.name);
        }
    }
    let selected = |t: &&KTest| !t.is_standalone() && t.name.starts_with(prefix);
    let normal = all.iter().filter(selected).count();
    let mut report = Reporter::new(Out, normal);
    for t in all.iter().filter(selected) {
        CURRENT_NUMBER.store(report.next_number(), Ordering::SeqCst);
        CURRENT.store(Some(t));
        let result = (t.func)();
        CURRENT.store(None);
        match result {
            Ok(()) => report.result(t.name, true, None),
            Err(f) => report.result(t.name, false, Some(format_args!("{f}"))),
        }
    }
    qemu::exit(if report.failed() == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn run_one(name: &str) -> ! {
    let Some(t) = tests().iter().find(|t| t.name == name) else {
        let _ = Reporter::new(Out, 0);
        crate::println!("# no test named {name}");
        qemu::exit(ExitCode::Failure)
    };
    let mut report = Reporter::new(Out, 1);
    CURRENT.store(Some(t));
    let result = (t.func)();
    CURRENT.store(None);
    let ok = match (t.kind, result) {
        (Kind::Normal | Kind::Standalone, Ok(())) => {
            report.result(t.name, true, None);
            true
        }
        (Kind::Normal | Kind::Standalone, Err(f)) => {
            report.result(t.name, false, Some(format_args!("{f}")));
            false
        }
        (_, Err(f)) => {
            report.result(t.name, false, Some(format_args!("{f}")));
            false
        }
        (_, Ok(())) => {
            report.result(
                t.name,
                false,
                Some(format_args!("test returned, but it must end the boot")),
            );
            false
        }
    };
    qemu::exit(if ok {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

/// The test running now, if any.
pub fn current() -> Option<&'static KTest> {
    CURRENT.load()
}

/// Called by the panic handler after it printed the panic: reports the current test and exits.
pub fn on_panic(message: &str) -> ! {
    let Some(t) = current() else {
        crate::println!("# panic outside of any test");
        qemu::exit(ExitCode::Failure)
    };
    match t.kind {
        Kind::ShouldPanic(expected) if message.contains(expected) => {
            crate::println!("ok 1 {}", t.name);
            qemu::exit(ExitCode::Success)
        }
        Kind::ShouldPanic(expected) => {
            crate::println!(
                "not ok 1 {}\n# panicked, but the message lacks {expected:?}",
                t.name
            );
            qemu::exit(ExitCode::Failure)
        }
        _ => {
            let number = CURRENT_NUMBER.load(Ordering::SeqCst);
            crate::println!(
                "not ok {number} {}\n# unexpected panic; remaining tests not run",
                t.name
            );
            qemu::exit(ExitCode::Failure)
        }
    }
}

/// Called by the CPU-exception handler after it printed its report (`vector`, `name` of the
/// exception): a `#[fault = N]` test passes when `vector` is N; anything else fails. Exits.
pub fn on_fault(vector: u8, name: &str) -> ! {
    let Some(t) = current() else {
        crate::println!("# CPU exception {vector} ({name}) outside of any test");
        qemu::exit(ExitCode::Failure)
    };
    match t.kind {
        Kind::Fault(expected) if expected == vector => {
            crate::println!("ok 1 {}", t.name);
            qemu::exit(ExitCode::Success)
        }
        Kind::Fault(expected) => {
            crate::println!(
                "not ok 1 {}\n# expected CPU exception {expected}, got {vector} ({name})",
                t.name
            );
            qemu::exit(ExitCode::Failure)
        }
        Kind::ShouldPanic(_) | Kind::Standalone => {
            crate::println!(
                "not ok 1 {}\n# unexpected CPU exception {vector} ({name})",
                t.name
            );
            qemu::exit(ExitCode::Failure)
        }
        Kind::Normal => {
            let number = CURRENT_NUMBER.load(Ordering::SeqCst);
            crate::println!(
                "not ok {number} {}\n# unexpected CPU exception {vector} ({name}); \
                 remaining tests not run",
                t.name
            );
            qemu::exit(ExitCode::Failure)
        }
    }
}
