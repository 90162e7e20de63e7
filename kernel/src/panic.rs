//! The panic handler: report on every console, then stop (test kernels: end the QEMU run).

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::cpu;
use crate::print::panic_print;

static PANICKING: AtomicBool = AtomicBool::new(false);

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
