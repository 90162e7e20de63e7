//! The end of the road: the panic handler and the fatal CPU-exception report.
//!
//! Both stop the kernel for good through `arch::stop`, whose last words (the functions here)
//! report on every console with `print::panic_print`, taking over a console lock the
//! interrupted code holds, then stop: production kernels halt, test kernels hand over to the
//! test runner, which ends the QEMU run with a verdict. A panic or fault inside the last words
//! ends up in the `nested` functions, which say the least possible on serial and halt.
//!
//! The trap code in `arch` knows nothing of consoles (see docs/architecture.md, Layering): it
//! hands the saved registers of a fatal exception to the hook [`install`] registers.
//!
//! A page fault or double fault also gets the walk of CR2 through the active page tables
//! (`arch::walk`), printed after the registers so that a fault while reading the tables still
//! leaves the registers on the console, and a hint when CR2 lies in a stack's guard area
//! (`memory::guard_page_owner`).

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::arch::stop::{self, Stopped};
use crate::arch::{cpu, trap, walk};
use crate::exceptions::{self, Leaf, Snapshot, WalkReport};
use crate::print::panic_print;

/// Registers the fatal-exception report with the trap code. The boot calls this first, before
/// the kernel's IDT is loaded.
pub(crate) fn install() {
    trap::set_fatal_hook(report_fault);
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    stop::stop_for_panic(info, panic_words, nested_panic)
}

fn panic_words(stopped: &mut Stopped, info: &PanicInfo<'_>) -> ! {
    let mut message: heapless::String<256> = heapless::String::new();
    let _ = write!(message, "{}", info.message());
    // An allocation failure (the default alloc-error handler panics with "memory allocation of
    // N bytes failed"): the allocator's report of the request and its figures comes first.
    // Lock-free: the panic may come from inside the allocator.
    if message.starts_with("memory allocation of")
        && let Some(report) = crate::heap::try_last_failure()
    {
        panic_print(stopped, format_args!("\n{report}"));
    }
    match info.location() {
        Some(loc) => panic_print(
            stopped,
            format_args!(
                "\n\x1b[1;31m!!! kernel panic\x1b[0m at {}:{}:{}\n    {}\n",
                loc.file(),
                loc.line(),
                loc.column(),
                info.message()
            ),
        ),
        None => panic_print(
            stopped,
            format_args!(
                "\n\x1b[1;31m!!! kernel panic\x1b[0m\n    {}\n",
                info.message()
            ),
        ),
    }
    #[cfg(feature = "ktest")]
    crate::testing::runner::on_panic(&message);
    #[cfg(not(feature = "ktest"))]
    {
        let _ = message;
        cpu::halt_forever()
    }
}

/// A panic while reporting a panic or fault: say the least possible and stop.
fn nested_panic(_info: &PanicInfo<'_>) -> ! {
    crate::serial::emergency_write(b"\n!!! nested panic; halting\n");
    cpu::halt_forever()
}

/// The fatal hook: stops the kernel with the report of `snapshot`.
fn report_fault(snapshot: &Snapshot) -> ! {
    stop::stop_for_fault(snapshot, fault_words, nested_fault)
}

/// Prints the report, then stops (test kernels: the runner decides whether the fault was the
/// one the test wanted).
fn fault_words(stopped: &mut Stopped, snapshot: &Snapshot) -> ! {
    let mut report = exceptions::Report::new(snapshot).with_colour();
    // Lock-free: the interrupted code may hold the memory module's lock.
    if let Some(stack) = snapshot.cr2.and_then(crate::memory::guard_page_owner) {
        report = report.with_guard_page_of(stack);
    }
    panic_print(stopped, format_args!("\n{report}"));
    if let Some(cr2) = snapshot.cr2 {
        let walk = walk::walk_active(stopped, cr2);
        let leaf = walk
            .as_ref()
            .map_or(Leaf::Unknown, |w| match w.translation() {
                Some(_) => Leaf::Mapped {
                    writable: w.writable(),
                    executable: w.executable(),
                    user: w.user(),
                },
                None => Leaf::NotMapped,
            });
        let shown = walk.as_ref().map(|w| w as &dyn core::fmt::Display);
        panic_print(
            stopped,
            format_args!("{}", WalkReport::new(snapshot, shown, leaf)),
        );
    }
    #[cfg(feature = "ktest")]
    crate::testing::runner::on_fault(snapshot.vector, exceptions::name(snapshot.vector));
    #[cfg(not(feature = "ktest"))]
    cpu::halt_forever()
}

/// The report itself faulted (or a fault hit a panic report): serial only, then stop.
fn nested_fault(snapshot: &Snapshot) -> ! {
    let mut line: heapless::String<96> = heapless::String::new();
    let _ = write!(
        line,
        "\n!!! CPU exception {} while reporting a CPU exception; halting\n",
        snapshot.vector
    );
    crate::serial::emergency_write(line.as_bytes());
    #[cfg(feature = "ktest")]
    crate::arch::qemu::exit(crate::arch::qemu::ExitCode::Failure);
    #[cfg(not(feature = "ktest"))]
    cpu::halt_forever()
}
