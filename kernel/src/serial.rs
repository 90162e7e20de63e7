//! The kernel's COM1 console: one global UART behind an interrupt-disabling lock.
//!
//! Everything printed (log records, `print!`) is mirrored here, so a headless QEMU shows the
//! full console on the terminal and the test harness reads results from it. If the machine has
//! no UART, output is silently dropped. A capture mode (UART loopback) lets tests see exactly the
//! bytes that went out.

use heapless::Vec;

use crate::arch::serial::{self, SerialPort};
use crate::arch::stop::Stopped;
use crate::sync::IrqMutex;
use crate::task::stream::ByteSource;

/// Bytes received on COM1, queued by the receive interrupt for the serial key stream (the
/// shell reads it through `task::stream::SerialKeys`).
pub static SERIAL_IN: ByteSource<256> = ByteSource::new();

/// Capacity of the loopback capture buffer.
pub const CAPTURE_CAPACITY: usize = 4096;

struct State {
    port: Option<SerialPort>,
    capture: Option<Vec<u8, CAPTURE_CAPACITY>>,
}

static SERIAL: IrqMutex<State> = IrqMutex::new(State {
    port: None,
    capture: None,
});

/// Initialises COM1; returns whether a UART answered.
pub fn init() -> bool {
    // The one COM1 handle lives in `SERIAL` and is never handed out.
    let port = SerialPort::take_com1().and_then(Result::ok);
    let present = port.is_some();
    SERIAL.lock().port = port;
    present
}

fn write_locked(state: &mut State, bytes: &[u8]) {
    let State { port, capture } = state;
    let Some(port) = port else { return };
    match capture {
        None => port.write_bytes(bytes),
        Some(buf) => {
            // In loopback mode each byte comes straight back; collect it before the next one
            // so the 16-byte receive FIFO never overflows.
            for chunk in bytes.chunks(1) {
                let after_cr = port.last_sent() == b'\r';
                port.write_bytes(chunk);
                let mut expected = if chunk == b"\n" && !after_cr { 2 } else { 1 };
                let mut spins = 0u32;
                while expected > 0 && spins < 1_000_000 {
                    match port.try_read_byte() {
                        Some(b) => {
                            let _ = buf.push(b);
                            expected -= 1;
                        }
                        None => spins += 1,
                    }
                }
            }
        }
    }
}

/// Sends `bytes` to COM1.
pub fn write_bytes(bytes: &[u8]) {
    write_locked(&mut SERIAL.lock(), bytes);
}

/// Writes `bytes` in the last words of a panic or fatal exception: takes the lock over if the
/// interrupted code holds it (see `arch::stop`), else writes to COM1 directly.
pub fn panic_write(stopped: &mut Stopped, bytes: &[u8]) {
    match stopped.lock(&SERIAL) {
        Some(mut guard) => write_locked(&mut guard, bytes),
        None => serial::emergency_write_com1(bytes),
    }
}

/// Writes `bytes` when even the last words failed (a nested panic or fault): through the lock
/// if it is free, else to COM1 directly.
pub fn emergency_write(bytes: &[u8]) {
    match SERIAL.try_lock() {
        Some(mut guard) => write_locked(&mut guard, bytes),
        None => serial::emergency_write_com1(bytes),
    }
}

/// Whether the receive interrupt feeds [`SERIAL_IN`].
static RX_INTERRUPT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Reads one received byte, if any: from the interrupt-fed queue once the receive interrupt is
/// on (reading the UART directly as well could reorder bytes), by polling the UART before.
pub fn try_read_byte() -> Option<u8> {
    if RX_INTERRUPT.load(core::sync::atomic::Ordering::Acquire) {
        return SERIAL_IN.try_pop();
    }
    SERIAL
        .lock()
        .port
        .as_mut()
        .and_then(SerialPort::try_read_byte)
}

fn on_rx_irq() {
    // The FIFO may hold several bytes; take them all (bounded by its depth), then hand them
    // over with the lock released.
    let mut bytes = [0u8; 16];
    let mut n = 0;
    if let Some(port) = SERIAL.lock().port.as_mut() {
        while n < bytes.len() {
            match port.try_read_byte() {
                Some(byte) => {
                    bytes[n] = byte;
                    n += 1;
                }
                None => break,
            }
        }
    }
    for &byte in &bytes[..n] {
        SERIAL_IN.push_from_irq(byte);
    }
}

/// Why serial input stays polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialError {
    /// No UART answered at COM1.
    NoUart,
    /// IRQ 4 could not be attached.
    Irq(crate::interrupts::IrqError),
}

impl core::fmt::Display for SerialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoUart => f.write_str("no UART at COM1"),
            Self::Irq(_) => f.write_str("IRQ 4 cannot be attached"),
        }
    }
}

impl core::error::Error for SerialError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::NoUart => None,
            Self::Irq(e) => Some(e),
        }
    }
}

/// Enables COM1's receive interrupt (IRQ 4): received bytes go to [`SERIAL_IN`].
///
/// # Errors
/// [`SerialError`] when there is no UART, or IRQ 4 cannot be attached.
pub fn enable_rx_interrupt() -> Result<(), SerialError> {
    SERIAL
        .lock()
        .port
        .as_mut()
        .ok_or(SerialError::NoUart)?
        .enable_rx_interrupt();
    crate::interrupts::register_isa(4, on_rx_irq).map_err(SerialError::Irq)?;
    RX_INTERRUPT.store(true, core::sync::atomic::Ordering::Release);
    // Bytes that arrived before the pin was unmasked: take them now.
    let was = crate::arch::cpu::disable_interrupts_save();
    on_rx_irq();
    crate::arch::cpu::restore_interrupts(was);
    Ok(())
}

/// Runs `f` with the UART in loopback mode and returns the bytes that were transmitted (as the
/// receiver saw them), or `None` when there is no UART.
pub fn capture_loopback(f: impl FnOnce()) -> Option<Vec<u8, CAPTURE_CAPACITY>> {
    {
        let mut state = SERIAL.lock();
        state.port.as_mut()?.set_loopback(true);
        state.capture = Some(Vec::new());
    }
    f();
    let mut state = SERIAL.lock();
    let captured = state.capture.take();
    if let Some(port) = state.port.as_mut() {
        port.set_loopback(false);
    }
    captured
}

#[cfg(feature = "ktest")]
mod ktests {

    use crate::{kassert, kassert_eq, ktest};

    ktest! {
        fn log_path_round_trips_through_uart_loopback() -> TestResult {
            let captured = super::capture_loopback(|| log::warn!("loopback marker {}", 42));
            let Some(bytes) = captured else {
                kassert!(false, "no UART at COM1");
                return Ok(());
            };
            let text = core::str::from_utf8(&bytes).unwrap_or("<not UTF-8>");
            kassert!(text.contains("WARN"), "captured {text:?} lacks the level");
            kassert!(text.contains("loopback marker 42\r\n"), "captured {text:?} lacks the message");
            kassert!(text.contains("\x1b["), "captured {text:?} lacks the level colour");
            Ok(())
        }
    }

    ktest! {
        fn crlf_is_sent_once_and_a_lone_lf_becomes_crlf() -> TestResult {
            // The shell writes CR LF itself, the log LF only; split writes as the editor does.
            let captured = super::capture_loopback(|| {
                super::write_bytes(b"a\r\nb\n");
                super::write_bytes(b"c\r");
                super::write_bytes(b"\nd");
            });
            let Some(bytes) = captured else {
                kassert!(false, "no UART at COM1");
                return Ok(());
            };
            kassert_eq!(bytes.as_slice(), b"a\r\nb\r\nc\r\nd");
            Ok(())
        }
    }
}
