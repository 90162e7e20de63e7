//! The 8042 PS/2 controller: data port 0x60, status/command port 0x64.
//!
//! Every wait is bounded, so a machine without a controller (or with a broken one) costs a
//! few milliseconds and an error, never a hang.

use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS_CMD: u16 = 0x64;
/// Status bit 0: output buffer full (a byte is waiting at 0x60).
const OUTPUT_FULL: u8 = 1 << 0;
/// Status bit 1: input buffer full (the controller has not taken our last byte yet).
const INPUT_FULL: u8 = 1 << 1;
/// Polls before a wait gives up (each is a port read, ~1 us on hardware).
const SPINS: u32 = 200_000;

/// Configuration byte bits.
mod config {
    pub const PORT1_IRQ: u8 = 1 << 0;
    pub const PORT2_IRQ: u8 = 1 << 1;
    pub const PORT1_CLOCK_OFF: u8 = 1 << 4;
    pub const TRANSLATION: u8 = 1 << 6;
}

/// What went wrong talking to the controller or keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ps2Error {
    /// The controller did not take a byte in time.
    InputTimeout,
    /// No response byte arrived in time.
    OutputTimeout,
    /// The controller's self-test answered this instead of 0x55.
    SelfTest(u8),
    /// The first port's interface test answered this instead of 0x00.
    PortTest(u8),
    /// The keyboard answered this instead of ACK (0xfa).
    NoAck(u8),
}

impl core::fmt::Display for Ps2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InputTimeout => f.write_str("PS/2 controller does not accept commands"),
            Self::OutputTimeout => f.write_str("PS/2 controller does not answer"),
            Self::SelfTest(b) => write!(f, "PS/2 controller self-test failed ({b:#04x})"),
            Self::PortTest(b) => write!(f, "PS/2 port 1 test failed ({b:#04x})"),
            Self::NoAck(b) => write!(f, "keyboard did not acknowledge ({b:#04x})"),
        }
    }
}

impl core::error::Error for Ps2Error {}

/// The controller handle has been handed out by [`Ps2Controller::take`].
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The controller.
#[derive(Debug)]
pub struct Ps2Controller {
    data: Port<u8>,
    status: Port<u8>,
}

impl Ps2Controller {
    /// The one handle on the controller; `None` after the first call.
    pub fn take() -> Option<Self> {
        // SAFETY: the flag lets only the first call create the handle.
        (!TAKEN.swap(true, Ordering::AcqRel)).then(|| unsafe { Self::new() })
    }

    /// A handle on ports 0x60/0x64.
    ///
    /// # Safety
    /// Only one handle may drive the controller; the keyboard IRQ handler reads 0x60 through
    /// [`read_data_if_ready`] only after initialisation.
    const unsafe fn new() -> Self {
        Self {
            data: Port::new(DATA),
            status: Port::new(STATUS_CMD),
        }
    }

    fn status(&mut self) -> u8 {
        // SAFETY: reading the status register has no side effects.
        unsafe { self.status.read() }
    }

    fn wait_input_clear(&mut self) -> Result<(), Ps2Error> {
        (0..SPINS)
            .find(|_| self.status() & INPUT_FULL == 0)
            .map(|_| ())
            .ok_or(Ps2Error::InputTimeout)
    }

    fn command(&mut self, cmd: u8) -> Result<(), Ps2Error> {
        self.wait_input_clear()?;
        // SAFETY: a controller command byte; the callers send only documented commands.
        unsafe { self.status.write(cmd) };
        Ok(())
    }

    fn write_data(&mut self, byte: u8) -> Result<(), Ps2Error> {
        self.wait_input_clear()?;
        // SAFETY: data for the controller or the keyboard, as the preceding command expects.
        unsafe { self.data.write(byte) };
        Ok(())
    }

    fn read_data(&mut self) -> Result<u8, Ps2Error> {
        for _ in 0..SPINS {
            if self.status() & OUTPUT_FULL != 0 {
                // SAFETY: a byte is waiting; reading it consumes it.
                return Ok(unsafe { self.data.read() });
            }
        }
        Err(Ps2Error::OutputTimeout)
    }

    /// Discards whatever is waiting in the output buffer; returns how many bytes.
    pub fn flush(&mut self) -> usize {
        let mut n = 0;
        while self.status() & OUTPUT_FULL != 0 && n < 64 {
            // SAFETY: consumes a waiting byte.
            unsafe { self.data.read() };
            n += 1;
        }
        n
    }

    /// Sends `byte` to the keyboard and waits for its ACK (resending on 0xfe, a few times).
    /// Other bytes before the ACK are skipped: a keyboard sends keystrokes it buffered while
    /// its port was disabled as soon as it is enabled again.
    fn keyboard_command(&mut self, byte: u8) -> Result<(), Ps2Error> {
        for _ in 0..3 {
            self.write_data(byte)?;
            let mut last = 0;
            for _ in 0..32 {
                last = self.read_data()?;
                match last {
                    0xfa => return Ok(()),
                    0xfe => break,
                    _ => continue,
                }
            }
            if last != 0xfe {
                return Err(Ps2Error::NoAck(last));
            }
        }
        Err(Ps2Error::NoAck(0xfe))
    }

    /// Initialises the controller for an interrupt-driven keyboard on port 1: devices off,
    /// output flushed, controller self-test (configuration restored afterwards: some
    /// controllers reset it), port-1 test, IRQ 1 and scancode-set-1 translation on, port 1
    /// on, keyboard scanning enabled. The second port stays disabled.
    ///
    /// # Errors
    /// [`Ps2Error`] when the controller or keyboard misbehaves; the keyboard is then unusable.
    pub fn init_keyboard(&mut self) -> Result<(), Ps2Error> {
        self.command(0xad)?; // disable port 1
        self.command(0xa7)?; // disable port 2 (ignored without one)
        self.flush();
        self.command(0x20)?;
        let mut cfg = self.read_data()?;
        cfg &= !(config::PORT1_IRQ | config::PORT2_IRQ | config::TRANSLATION);
        self.command(0x60)?;
        self.write_data(cfg)?;
        self.command(0xaa)?;
        match self.read_data()? {
            0x55 => {}
            other => return Err(Ps2Error::SelfTest(other)),
        }
        self.command(0x60)?; // the self-test may have reset the configuration
        self.write_data(cfg)?;
        self.command(0xab)?;
        match self.read_data()? {
            0x00 => {}
            other => return Err(Ps2Error::PortTest(other)),
        }
        cfg |= config::PORT1_IRQ | config::TRANSLATION;
        cfg &= !config::PORT1_CLOCK_OFF;
        self.command(0x60)?;
        self.write_data(cfg)?;
        self.command(0xae)?; // enable port 1
        self.flush();
        self.keyboard_command(0xf4)?; // enable scanning
        Ok(())
    }
}

/// Makes the controller deliver `byte` as if the keyboard had sent it (command 0xd2, "write
/// keyboard output buffer"), raising IRQ 1: for measuring the interrupt path without a person.
/// Test kernels only.
///
/// # Errors
/// [`Ps2Error::InputTimeout`] when the controller does not take the command.
#[cfg(feature = "ktest")]
pub fn inject_scancode(byte: u8) -> Result<(), Ps2Error> {
    // SAFETY: a second handle for two writes; the keyboard is initialised and nothing else
    // sends controller commands after boot (the IRQ handler only reads the data port).
    let mut ctl = unsafe { Ps2Controller::new() };
    ctl.command(0xd2)?;
    ctl.write_data(byte)
}

/// Reads the data port if a byte is waiting (the keyboard IRQ handler).
pub fn read_data_if_ready() -> Option<u8> {
    let mut status = Port::<u8>::new(STATUS_CMD);
    let mut data = Port::<u8>::new(DATA);
    // SAFETY: status reads are side-effect free; the data byte is consumed only when the
    // controller says one is waiting, and only the keyboard IRQ handler reads it after init.
    unsafe { (status.read() & OUTPUT_FULL != 0).then(|| data.read()) }
}
