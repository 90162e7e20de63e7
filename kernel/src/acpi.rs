//! ACPI: the firmware's tables. [`tables`] decodes bytes (pure, host-tested); on the kernel
//! target the rest reads the live tables through the `acpi` crate: the interrupt controllers
//! (MADT), the PM timer and the power registers (FADT), the `\_S5` sleep type (DSDT/SSDT,
//! through `aml`), and the table listing of the `acpi` shell command ([`write_tables`]).

pub mod tables;

#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;
#[cfg(target_os = "none")]
mod live;
#[cfg(target_os = "none")]
pub use live::*;
