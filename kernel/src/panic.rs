//! The end of the road: the panic handler and the fatal CPU-exception report.
//!
//! Both report on every console (serial and screen, through `print::panic_print`, which does
//! not wait for a console lock the interrupted code holds), then stop: production kernels
//! halt, test kernels hand over to the test runner, which ends the QEMU run with a verdict.
//!
//! The trap code in `arch` knows nothing of consoles (see docs/architecture.md, Layering): it
//! hands the saved registers of a fatal exception to the hook [`install`] registers, which
//! prints the [`exceptions::Report`] here.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{cpu, trap};
use crate::exceptions::{self, Snapshot};
use crate::print::panic_print;

static PANICKING: AtomicBool = AtomicBool::new(false);
/// A fatal exception is being reported (a second one means the report itself faulted).
static REPORTING: AtomicBool = AtomicBool::new(false);

/// Registers the fatal-exception report with the trap code. The boot calls this first, before
/// the kernel's IDT is loaded.
pub(crate) fn install() {
    trap::set_fatal_hook(report_fault);
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cpu::disable_interrupts_save();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while reporting a panic: say the least possible and stop.
        crate::serial::panic_write(b"\n!!! nested panic; halting\n");
        cpu::halt_forever();
    }
    let mut message: heapless::String<256> = heapless::String::new();
    let _ = write!(message, "{}", info.message());
    match info.location() {
        Some(loc) => panic_print(format_args!(
            "\n\x1b[1;31m!!! kernel panic\x1b[0m at {}:{}:{}\n    {}\n",
            loc.file(),
            loc.line(),
            loc.column(),
            info.message()
        )),
        None => panic_print(format_args!(
            "\n\x1b[1;31m!!! kernel panic\x1b[0m\n    {}\n",
            info.message()
        )),
    }
    #[cfg(feature = "ktest")]
    crate::testing::runner::on_panic(&message);
    #[cfg(not(feature = "ktest"))]
    {
        let _ = message;
        cpu::halt_forever()
    }
}

/// The fatal hook: prints the report of `snapshot`, then stops (test kernels: the runner
/// decides whether the fault was the one the test wanted).
fn report_fault(snapshot: &Snapshot) -> ! {
    let vector = snapshot.vector;
    if REPORTING.swap(true, Ordering::SeqCst) {
        // The report itself faulted: say the least possible, serial only.
        let mut line: heapless::String<96> = heapless::String::new();
        let _ = write!(
            line,
            "\n!!! CPU exception {vector} while reporting a CPU exception; halting\n"
        );
        crate::serial::panic_write(line.as_bytes());
        #[cfg(feature = "ktest")]
        crate::arch::qemu::exit(crate::arch::qemu::ExitCode::Failure);
        #[cfg(not(feature = "ktest"))]
        cpu::halt_forever();
    }
    panic_print(format_args!(
        "\n{}",
        exceptions::Report::new(snapshot).with_colour()
    ));
    #[cfg(feature = "ktest")]
    crate::testing::runner::on_fault(vector, exceptions::name(vector));
    #[cfg(not(feature = "ktest"))]
    cpu::halt_forever()
}
