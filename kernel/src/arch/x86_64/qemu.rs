//! QEMU's `isa-debug-exit` device (iobase 0xf4): lets test kernels end the VM with a status.
//!
//! QEMU exits with `(value << 1) | 1`, so [`ExitCode::Success`] (0x10) becomes status 33 and
//! [`ExitCode::Failure`] (0x11) status 35. On machines without the device the write is ignored
//! and [`exit`] halts instead.

use ::x86_64::instructions::port::Port;

/// Status written to the exit device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// All tests passed (QEMU exit status 33).
    Success = 0x10,
    /// A test failed (QEMU exit status 35).
    Failure = 0x11,
}

/// I/O port of the `isa-debug-exit` device configured by the test harness.
const EXIT_PORT: u16 = 0xf4;

/// Ends the QEMU run with `code`; halts if no exit device is present.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(EXIT_PORT);
    // SAFETY: port 0xf4 is either QEMU's isa-debug-exit device (which terminates the VM) or an
    // unused ISA port on which a write has no effect; no memory is touched.
    unsafe { port.write(code as u32) };
    super::cpu::halt_forever()
}
