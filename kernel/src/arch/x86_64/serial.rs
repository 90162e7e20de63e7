//! COM1 (I/O port 0x3F8) through the `uart_16550` crate: 115200 baud, 8N1, FIFO on.
//!
//! The port is the kernel's first console and its test channel. Output converts a lone `\n` to
//! `\r\n` so raw terminals (QEMU's `-serial stdio`) show proper lines (a `\r\n` stays as it
//! is). Loopback mode routes transmitted bytes back into the receiver, which lets a test check
//! the exact bytes the log path produces.

use core::sync::atomic::{AtomicBool, Ordering};

use uart_16550::backend::{Backend, PioBackend};
use uart_16550::spec::registers::{IER, MCR, offsets};
use uart_16550::{BaudRate, Config, InitError, Uart16550};

/// I/O base of the first serial port.
pub const COM1: u16 = 0x3F8;

/// COM1 has been handed out by [`SerialPort::take_com1`].
static COM1_TAKEN: AtomicBool = AtomicBool::new(false);
/// A UART answered at COM1 (so [`emergency_write_com1`] has somewhere to write).
static COM1_PRESENT: AtomicBool = AtomicBool::new(false);

/// Line status register offset and its "transmit holding register empty" bit.
const LSR: u16 = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// An initialised 16550-compatible UART.
#[derive(Debug)]
pub struct SerialPort {
    uart: Uart16550<PioBackend>,
    /// The last byte sent, so a `\r\n` split across two writes is not sent as `\r\r\n`.
    last: u8,
}

impl SerialPort {
    /// Initialises the UART at `base` for 115200 8N1 with FIFOs and no interrupts.
    ///
    /// # Errors
    /// [`InitError`] when no UART answers at `base` (many laptops have no COM1).
    ///
    /// # Safety
    /// `base..base + 8` must be the registers of a 16550-compatible UART (or unused ports), and
    /// no other code may drive that UART while the returned value exists.
    pub unsafe fn init(base: u16) -> Result<Self, InitError> {
        // SAFETY: the caller guarantees exclusive ownership of the eight ports at `base`.
        let mut uart =
            unsafe { Uart16550::new_port(base) }.map_err(|_| InitError::DeviceNotPresent)?;
        uart.init(Config {
            baud_rate: BaudRate::Baud115200,
            ..Config::DEFAULT
        })?;
        Ok(Self { uart, last: 0 })
    }

    /// The UART at COM1, initialised as [`init`](Self::init) does; `None` after the first call
    /// (one handle owns the port).
    ///
    /// # Errors
    /// Inside the `Some`: [`InitError`] when no UART answers at COM1.
    pub fn take_com1() -> Option<Result<Self, InitError>> {
        if COM1_TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: COM1's eight ports belong to the UART there (or nothing), and the flag above
        // lets only this one call create a handle on them.
        let port = unsafe { Self::init(COM1) };
        COM1_PRESENT.store(port.is_ok(), Ordering::Release);
        Some(port)
    }

    /// Sends `bytes`, translating a `\n` not already preceded by `\r` into `\r\n`; blocks until
    /// the FIFO has taken them.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            match chunk.split_last() {
                Some((b'\n', head)) => {
                    self.uart.send_bytes_exact(head);
                    let before = head.last().copied().unwrap_or(self.last);
                    let end: &[u8] = if before == b'\r' { b"\n" } else { b"\r\n" };
                    self.uart.send_bytes_exact(end);
                }
                _ => self.uart.send_bytes_exact(chunk),
            }
            if let Some(&b) = chunk.last() {
                self.last = b;
            }
        }
    }

    /// The last byte [`SerialPort::write_bytes`] was given (0 before any).
    pub fn last_sent(&self) -> u8 {
        self.last
    }

    /// Returns a received byte if one is waiting.
    pub fn try_read_byte(&mut self) -> Option<u8> {
        self.uart.try_receive_byte().ok()
    }

    /// Turns the "received data available" interrupt on (with OUT2, which gates the UART's
    /// interrupt line on PCs).
    pub fn enable_rx_interrupt(&mut self) {
        self.set_loopback(false);
        self.uart.enable_interrupts(IER::DATA_READY);
    }

    /// Switches internal loopback on or off. While on, every transmitted byte arrives in the
    /// receiver and nothing leaves the chip; interrupts from the modem lines are kept off.
    pub fn set_loopback(&mut self, on: bool) {
        let mcr = if on {
            MCR::LOOP_BACK
        } else {
            MCR::DTR | MCR::RTS | MCR::OUT_2_INT_ENABLE
        };
        // Drain anything pending so no stale byte is mistaken for looped-back data.
        while self.try_read_byte().is_some() {}
        // SAFETY: MCR is a register of the UART this value owns; loopback only reroutes the
        // serial lines inside the chip.
        unsafe {
            self.uart
                .backend_mut()
                .write(offsets::MCR as u8, mcr.bits())
        };
    }
}

/// Writes `bytes` to COM1 without its handle (`\n` as `\r\n`), for a panic report whose normal
/// path is unavailable (the handle's lock is held by the code the panic interrupted). Waits a
/// bounded time for the transmitter per byte; does nothing when no UART answered at COM1.
pub fn emergency_write_com1(bytes: &[u8]) {
    if !COM1_PRESENT.load(Ordering::Acquire) {
        return;
    }
    let mut status = ::x86_64::instructions::port::PortReadOnly::<u8>::new(COM1 + LSR);
    let mut data = ::x86_64::instructions::port::PortWriteOnly::<u8>::new(COM1);
    let mut send = |byte: u8| {
        for _ in 0..100_000 {
            // SAFETY: reading COM1's line status register has no side effects.
            if unsafe { status.read() } & LSR_THR_EMPTY != 0 {
                break;
            }
        }
        // SAFETY: a UART answered at COM1 (flag above), and writing its transmit register only
        // sends the byte. Racing the handle that owns the port costs interleaved output, not
        // memory; the stop path, the only caller, runs when that handle's user never resumes.
        unsafe { data.write(byte) };
    };
    for &byte in bytes {
        if byte == b'\n' {
            send(b'\r');
        }
        send(byte);
    }
}
