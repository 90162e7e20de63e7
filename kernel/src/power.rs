//! Power off and reset, for the shell's `shutdown` and `reboot`.
//!
//! - [`shutdown`] enters ACPI S5 (soft off): the SLP_TYP values of `\_S5` (from the DSDT or
//!   an SSDT, read by `aml`) with SLP_EN into PM1a_CNT and, when the FADT has one, PM1b_CNT
//!   (ACPI spec, "Sleeping/Wake Control", "PM1 Control Registers"). It returns only when the
//!   machine is still running afterwards, with the reason.
//! - [`reboot`] tries, in order, the FADT's reset register, the 8042 keyboard controller's
//!   reset pulse, and a triple fault; each attempt that fails is logged before the next.
//!
//! The registers come from `acpi` (decoded, host-tested in `acpi::tables`); the writes go
//! through `arch::power`'s handles, which check each port or window against the FADT.
//!
//! Not done: switching the machine into ACPI mode first (writing ACPI_ENABLE to SMI_CMD when
//! SCI_EN is clear). QEMU's PM1 control register acts on SLP_EN either way.

use ::acpi::AcpiError;
use ::acpi::fadt::Fadt;

use crate::acpi::tables::{Register, RegisterError, Space};
use crate::acpi::{self, S5Error};
use crate::aml::pm1_control_value;
use crate::arch::cpu;
use crate::arch::power::{self as hw, FadtRegister, Location, RegisterHandleError, Which};
use crate::memory::{self, MapError};

/// How long [`shutdown`] waits for the power to go before giving up.
const SHUTDOWN_WAIT_NS: u64 = 500_000_000;
/// How long [`reboot`] waits after each attempt.
const RESET_WAIT_NS: u64 = 200_000_000;

/// Why the machine is still running.
#[derive(Debug)]
pub enum PowerError {
    /// The loader reported no RSDP.
    NoRsdp,
    /// No FADT, or unreadable ACPI tables.
    Fadt(AcpiError),
    /// No usable `\_S5` sleep type.
    S5(S5Error),
    /// The FADT's register cannot be used.
    Register(Which, RegisterError),
    /// No window for a memory-mapped register.
    Map(Which, MapError),
    /// The arch handle refused the register.
    Handle(RegisterHandleError),
    /// The registers were written, and the machine still runs.
    StillRunning,
}

impl core::fmt::Display for PowerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoRsdp => f.write_str("no ACPI: the loader reported no RSDP"),
            Self::Fadt(AcpiError::TableMissing(_)) => f.write_str("no FADT in the ACPI tables"),
            Self::Fadt(e) => write!(f, "ACPI tables unreadable ({e:?})"),
            Self::S5(e) => write!(f, "no \\_S5 sleep type: {e}"),
            Self::Register(w, e) => write!(f, "{}: {e}", w.name()),
            Self::Map(w, e) => write!(f, "{}: cannot map the register: {e}", w.name()),
            Self::Handle(e) => write!(f, "{e}"),
            Self::StillRunning => f.write_str("the machine did not power off"),
        }
    }
}

impl core::error::Error for PowerError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::S5(e) => Some(e),
            Self::Register(_, e) => Some(e),
            Self::Map(_, e) => Some(e),
            Self::Handle(e) => Some(e),
            _ => None,
        }
    }
}

/// A handle on the register `which` the FADT describes as `reg` (a fresh uncached window for
/// a memory-mapped one).
///
/// # Errors
/// [`PowerError::Map`] without a window, [`PowerError::Handle`] when `arch::power` refuses.
pub fn open_register(fadt: &Fadt, which: Which, reg: Register) -> Result<FadtRegister, PowerError> {
    let bytes = reg.width.bytes();
    let location = match reg.space {
        Space::Io(port) => Location::Io(port),
        Space::Memory(addr) => Location::Memory(
            memory::map_mmio(addr, u64::from(bytes)).map_err(|e| PowerError::Map(which, e))?,
        ),
    };
    FadtRegister::new(fadt, which, location, bytes).map_err(PowerError::Handle)
}

/// Enters ACPI S5 (soft off). Flushes the screen and logs first; returns only if the machine
/// still runs half a second after the write, or when something needed is missing.
pub fn shutdown() -> PowerError {
    match try_shutdown() {
        Ok(()) => PowerError::StillRunning,
        Err(e) => e,
    }
}

fn try_shutdown() -> Result<(), PowerError> {
    let rsdp = crate::boot::boot_info()
        .rsdp_phys
        .ok_or(PowerError::NoRsdp)?;
    let fadt = acpi::fadt(rsdp).map_err(PowerError::Fadt)?;
    let s5 = acpi::find_s5(rsdp).map_err(PowerError::S5)?;
    let regs = acpi::power_registers(&fadt);
    let a = regs
        .pm1a
        .map_err(|e| PowerError::Register(Which::Pm1aControl, e))?;
    let a = open_register(&fadt, Which::Pm1aControl, a)?;
    let b = match regs.pm1b {
        None => None,
        Some(reg) => {
            let reg = reg.map_err(|e| PowerError::Register(Which::Pm1bControl, e))?;
            Some(open_register(&fadt, Which::Pm1bControl, reg)?)
        }
    };
    log::info!(
        "entering S5 (SLP_TYPa {}, SLP_TYPb {})",
        s5.sleep.a,
        s5.sleep.b
    );
    crate::console::screen::flush();
    let was_enabled = cpu::disable_interrupts_save();
    // PM1a then PM1b, each keeping its other bits (ACPI spec, "Sleeping/Wake Control").
    let value_a = pm1_control_value(a.read() as u16, s5.sleep.a);
    let value_b = b
        .as_ref()
        .map(|b| pm1_control_value(b.read() as u16, s5.sleep.b));
    a.write(u64::from(value_a));
    if let (Some(b), Some(v)) = (&b, value_b) {
        b.write(u64::from(v));
    }
    // The timer keeps ticking while we wait (the TSC times the wait).
    cpu::restore_interrupts(was_enabled);
    crate::time::busy_wait_nanos(SHUTDOWN_WAIT_NS);
    log::warn!("still running after writing SLP_EN");
    Ok(())
}

/// The FADT's reset register: written once (when the FADT has one in I/O or memory space).
fn reset_through_fadt() -> Result<(), PowerError> {
    let rsdp = crate::boot::boot_info()
        .rsdp_phys
        .ok_or(PowerError::NoRsdp)?;
    let fadt = acpi::fadt(rsdp).map_err(PowerError::Fadt)?;
    let reset = acpi::power_registers(&fadt)
        .reset
        .map_err(|e| PowerError::Register(Which::Reset, e))?;
    let reg = open_register(&fadt, Which::Reset, reset.register)?;
    log::info!(
        "reset through {} (value {:#04x})",
        reset.register,
        reset.value
    );
    reg.write(u64::from(reset.value));
    crate::time::busy_wait_nanos(RESET_WAIT_NS);
    Err(PowerError::StillRunning)
}

/// Resets the machine: the FADT reset register, then the 8042 reset pulse, then a triple
/// fault. Flushes the screen and logs each failed attempt (serial) before the next.
pub fn reboot() -> ! {
    log::info!("rebooting");
    crate::console::screen::flush();
    if let Err(e) = reset_through_fadt() {
        log::warn!("FADT reset register: {e}; trying the keyboard controller");
    }
    cpu::disable_interrupts_save();
    match hw::pulse_8042_reset() {
        Ok(()) => {
            crate::time::busy_wait_nanos(RESET_WAIT_NS);
            log::warn!("the keyboard controller did not reset the machine; triple fault");
        }
        Err(e) => log::warn!("{e}; triple fault"),
    }
    hw::triple_fault()
}
