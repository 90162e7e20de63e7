//! Power control: the FADT's PM1 control and reset registers, the 8042 reset line, and the
//! triple fault that resets the CPU when nothing else does.
//!
//! A [`FadtRegister`] drives one register the FADT names. Its constructor is checked against
//! the FADT itself (a table the `acpi` crate validated from firmware memory): the I/O port or
//! the physical address of the mapped window must be the one the FADT gives for that register,
//! so safe code can write only where the firmware declared power-control hardware, never an
//! arbitrary port (a DMA controller, PCI configuration space).

use ::x86_64::VirtAddr;
use ::x86_64::instructions::port::Port;
use ::x86_64::instructions::tables::lidt;
use ::x86_64::structures::DescriptorTablePointer;
use acpi::AcpiTable;
use acpi::address::{AddressSpace, GenericAddress};
use acpi::fadt::Fadt;

use super::paging::{Window, WindowError};

/// Which FADT register a handle drives (ACPI spec, "Fixed ACPI Description Table").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// PM1a_CNT (X_PM1a_CNT_BLK, else PM1a_CNT_BLK).
    Pm1aControl,
    /// PM1b_CNT (X_PM1b_CNT_BLK, else PM1b_CNT_BLK).
    Pm1bControl,
    /// RESET_REG.
    Reset,
}

impl Which {
    /// The register's name in the spec.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pm1aControl => "PM1a_CNT",
            Self::Pm1bControl => "PM1b_CNT",
            Self::Reset => "RESET_REG",
        }
    }

    /// The FADT's description of the register, as the crate decodes it (extended field when
    /// non-zero, else the legacy one).
    fn gas(self, fadt: &Fadt) -> Option<GenericAddress> {
        match self {
            Self::Pm1aControl => fadt.pm1a_control_block().ok(),
            Self::Pm1bControl => fadt.pm1b_control_block().ok().flatten(),
            // RESET_REG exists from FADT revision 2 on.
            Self::Reset if fadt.header().revision >= 2 => fadt.reset_register().ok(),
            Self::Reset => None,
        }
    }
}

/// Where a register is: an I/O port, or a window onto its physical address (mapped uncached
/// and writable, see `paging::Window`).
#[derive(Debug)]
pub enum Location {
    /// An I/O port.
    Io(u16),
    /// Memory-mapped.
    Memory(Window),
}

/// Why [`FadtRegister::new`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterHandleError {
    /// The FADT describes no such register.
    NotInFadt(Which),
    /// The FADT puts the register elsewhere (in another space, or at another address).
    Mismatch(Which),
    /// An access width other than 1, 2, 4 or 8 bytes (8 only for memory).
    Width(u8),
    /// The window cannot host the register.
    Window(WindowError),
}

impl core::fmt::Display for RegisterHandleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotInFadt(w) => write!(f, "the FADT has no {}", w.name()),
            Self::Mismatch(w) => write!(f, "not where the FADT puts {}", w.name()),
            Self::Width(b) => write!(f, "{b}-byte register access not supported"),
            Self::Window(e) => write!(f, "register window: {e}"),
        }
    }
}

impl core::error::Error for RegisterHandleError {}

/// One FADT power register, accessed `width` bytes at a time.
#[derive(Debug)]
pub struct FadtRegister {
    which: Which,
    location: Location,
    width: u8,
}

impl FadtRegister {
    /// A handle on the register `which` of `fadt` at `location`, `width` bytes wide.
    ///
    /// # Errors
    /// [`RegisterHandleError`] when the FADT has no such register, puts it elsewhere, the
    /// width is not an access width, or the window does not cover it uncached and writable.
    pub fn new(
        fadt: &Fadt,
        which: Which,
        location: Location,
        width: u8,
    ) -> Result<Self, RegisterHandleError> {
        let gas = which
            .gas(fadt)
            .ok_or(RegisterHandleError::NotInFadt(which))?;
        if gas.address == 0 {
            return Err(RegisterHandleError::NotInFadt(which));
        }
        let matches = match &location {
            Location::Io(port) => {
                gas.address_space == AddressSpace::SystemIo && gas.address == u64::from(*port)
            }
            Location::Memory(w) => {
                gas.address_space == AddressSpace::SystemMemory && gas.address == w.phys()
            }
        };
        if !matches {
            return Err(RegisterHandleError::Mismatch(which));
        }
        match (&location, width) {
            (Location::Io(_), 1 | 2 | 4) | (Location::Memory(_), 1 | 2 | 4 | 8) => {}
            _ => return Err(RegisterHandleError::Width(width)),
        }
        if let Location::Memory(w) = &location {
            w.check(u64::from(width), true)
                .map_err(RegisterHandleError::Window)?;
            if w.phys() % u64::from(width) != 0 {
                return Err(RegisterHandleError::Width(width));
            }
        }
        Ok(Self {
            which,
            location,
            width,
        })
    }

    /// The register this handle drives.
    pub fn which(&self) -> Which {
        self.which
    }

    /// Reads the register (zero-extended).
    pub fn read(&self) -> u64 {
        match &self.location {
            // SAFETY: a read of the port the FADT names as this register (checked in `new`);
            // a PM1 control or reset register read has no side effects and touches no memory.
            Location::Io(port) => unsafe {
                match self.width {
                    1 => u64::from(Port::<u8>::new(*port).read()),
                    2 => u64::from(Port::<u16>::new(*port).read()),
                    _ => u64::from(Port::<u32>::new(*port).read()),
                }
            },
            Location::Memory(w) => {
                let addr = w.virt();
                // SAFETY: `new` checked that the window maps the register's physical address
                // uncached and writable for `width` bytes, aligned, in memory the kernel does
                // not own; a volatile read of device memory aliases no Rust object.
                unsafe {
                    match self.width {
                        1 => u64::from(core::ptr::read_volatile(addr as *const u8)),
                        2 => u64::from(core::ptr::read_volatile(addr as *const u16)),
                        4 => u64::from(core::ptr::read_volatile(addr as *const u32)),
                        _ => core::ptr::read_volatile(addr as *const u64),
                    }
                }
            }
        }
    }

    /// Writes `value` (truncated to the width). On PM1x_CNT with SLP_EN set, or on the
    /// reset register with RESET_VALUE, the machine sleeps or resets: that is the point.
    pub fn write(&self, value: u64) {
        match &self.location {
            // SAFETY: a write to the port the FADT names as this power register (checked in
            // `new`); its effect is a sleep state or a reset, never a memory access.
            Location::Io(port) => unsafe {
                match self.width {
                    1 => Port::<u8>::new(*port).write(value as u8),
                    2 => Port::<u16>::new(*port).write(value as u16),
                    _ => Port::<u32>::new(*port).write(value as u32),
                }
            },
            Location::Memory(w) => {
                let addr = w.virt();
                // SAFETY: as in `read`: a volatile write to the register's uncached, writable
                // window, which holds no memory the kernel owns.
                unsafe {
                    match self.width {
                        1 => core::ptr::write_volatile(addr as *mut u8, value as u8),
                        2 => core::ptr::write_volatile(addr as *mut u16, value as u16),
                        4 => core::ptr::write_volatile(addr as *mut u32, value as u32),
                        _ => core::ptr::write_volatile(addr as *mut u64, value),
                    }
                }
            }
        }
    }
}

/// 8042 status/command port.
const KBC_STATUS_CMD: u16 = 0x64;
/// Status bit 1: the controller has not taken the last byte yet.
const KBC_INPUT_FULL: u8 = 1 << 1;
/// Command 0xfe: pulse output line 0 (the CPU reset line) low.
const KBC_PULSE_RESET: u8 = 0xfe;
/// Status polls before giving up (about 100 ms of port reads on hardware).
const KBC_SPINS: u32 = 100_000;

/// The 8042's input buffer stayed full (or there is no controller: the port reads 0xff).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KbcBusy;

impl core::fmt::Display for KbcBusy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the keyboard controller does not accept commands")
    }
}

impl core::error::Error for KbcBusy {}

/// Asks the 8042 keyboard controller to pulse the CPU reset line: waits (bounded) for its
/// input buffer to empty, then sends command 0xfe. Returns after sending; whether the machine
/// resets is up to the board (wait a little before trying something else).
///
/// # Errors
/// [`KbcBusy`] when the controller never takes the command.
pub fn pulse_8042_reset() -> Result<(), KbcBusy> {
    let mut status = Port::<u8>::new(KBC_STATUS_CMD);
    for _ in 0..KBC_SPINS {
        // SAFETY: reading the 8042 status register has no side effects.
        if unsafe { status.read() } & KBC_INPUT_FULL == 0 {
            // SAFETY: a documented controller command, sent while the `ps2` driver's handle
            // may exist: the command only resets the machine, and if the board ignores it the
            // controller is left as it was (no byte is consumed or produced).
            unsafe { status.write(KBC_PULSE_RESET) };
            return Ok(());
        }
    }
    Err(KbcBusy)
}

/// Resets the CPU by a triple fault: interrupts off, an empty IDT (limit 0), then `int3`,
/// whose delivery faults, and the double fault's too. Never returns (halts if, against the
/// architecture, it does).
pub fn triple_fault() -> ! {
    ::x86_64::instructions::interrupts::disable();
    let empty = DescriptorTablePointer {
        limit: 0,
        base: VirtAddr::zero(),
    };
    // SAFETY: loading an IDT with no entries: every vector faults, the double fault too, and
    // the CPU shuts down (a reset on PC hardware, an exit in QEMU with -no-reboot). Nothing
    // runs after this that could rely on the old IDT: interrupts are off and `int3` follows.
    unsafe { lidt(&empty) };
    ::x86_64::instructions::interrupts::int3();
    super::cpu::halt_forever()
}
