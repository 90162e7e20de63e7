//! Architecture seam: re-exports the one architecture the kernel runs on.
//!
//! Everything that executes privileged instructions (port I/O, MSRs, control registers,
//! descriptor tables, `hlt`, `rdtsc`) lives below this module behind safe functions. Generic
//! kernel code calls `arch::...` and never names `x86_64::instructions` itself.

pub mod x86_64;

pub use self::x86_64::*;
