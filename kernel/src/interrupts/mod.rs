//! Hardware interrupts: which controller delivers them, and how drivers attach.
//!
//! Two paths, chosen at boot:
//! - **APIC** (default when the MADT lists an IOAPIC): the 8259s are remapped and fully masked,
//!   the local APIC is enabled (x2APIC when the CPU has it, else xAPIC registers mapped
//!   uncached), ISA IRQs are routed through the IOAPIC honouring the MADT's source overrides,
//!   and the LAPIC timer, calibrated against PIT channel 2, ticks periodically.
//! - **PIC** (`irq=pic` on the command line, or no usable MADT): the 8259 pair on vectors
//!   32-47 and PIT channel 0 as the timer; spurious IRQ 7/15 are detected and counted.
//!
//! Either way ISA IRQ n arrives at vector `IRQ_BASE + n`, so drivers only name their IRQ:
//! [`register_isa`] routes and unmasks it; the common entry calls the driver's handler, then
//! signals end of interrupt to the right controller. Handlers run with interrupts disabled and
//! must be short: read the device, queue, return.

pub mod routing;

#[cfg(target_os = "none")]
mod controller;
#[cfg(target_os = "none")]
pub use controller::*;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod trap_ktests;

/// Vector of ISA IRQ 0; IRQ n arrives at `IRQ_BASE + n`.
pub const IRQ_BASE: u8 = 32;
/// Vector of the local APIC timer.
pub const LAPIC_TIMER_VECTOR: u8 = 48;
/// Vector of local APIC spurious interrupts (low nibble all ones, as older APICs require).
pub const LAPIC_SPURIOUS_VECTOR: u8 = 0xff;
/// Timer interrupts per second on both paths.
pub const TIMER_HZ: u32 = 1000;
