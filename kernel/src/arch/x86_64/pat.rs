//! The page attribute table: the kernel programs it itself, to the layout the `pagetables`
//! crate's cache types assume ([`PAT_MSR_VALUE`]: PAT0 WB, PAT1 WT, PAT2 UC-, PAT3 UC, PAT4
//! WP, PAT5 WC), whatever the loader left there (PROTOCOL.md, "Machine State at Entry", fixes a
//! layout too, but a kernel that maps its framebuffer write-combining checks rather than
//! assumes).

use ::x86_64::registers::model_specific::Msr;
pub use pagetables::{PAT_MSR, PAT_MSR_VALUE};

/// Why the PAT could not be programmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatError {
    /// The CPU has no PAT (CPUID.01h:EDX[16] clear): only the PWT/PCD types exist.
    Unsupported,
    /// The MSR reads back something else than was written.
    ReadBack {
        /// The value read.
        value: u64,
    },
}

impl core::fmt::Display for PatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Unsupported => f.write_str("the CPU has no page attribute table"),
            Self::ReadBack { value } => write!(
                f,
                "IA32_PAT reads back {value:#018x} after writing {PAT_MSR_VALUE:#018x}"
            ),
        }
    }
}

impl core::error::Error for PatError {}

/// The IA32_PAT MSR now (`None` without a PAT).
pub fn read() -> Option<u64> {
    if !super::cpu::features().pat {
        return None;
    }
    // SAFETY: IA32_PAT exists when CPUID reports PAT; reading it has no side effect.
    Some(unsafe { Msr::new(PAT_MSR).read() })
}

/// Writes [`PAT_MSR_VALUE`] to IA32_PAT, reads it back and returns what the loader had there.
///
/// # Errors
/// [`PatError`] without a PAT or when the read-back differs.
pub fn program() -> Result<u64, PatError> {
    let before = read().ok_or(PatError::Unsupported)?;
    let were_enabled = super::cpu::disable_interrupts_save();
    // SAFETY: 1. the MSR exists (CPUID, checked by `read`); 2. PAT0..PAT3 keep their power-on
    // types (WB, WT, UC-, UC), which is all the kernel's memory and the loader's RAM mappings
    // use, so no mapping of kernel memory changes type; 3. caches are written back and the TLB
    // flushed around the write (SDM Vol. 3A, 11.12.4) so no line or translation keeps an old
    // type; interrupts are off on the only CPU.
    unsafe {
        core::arch::asm!("wbinvd", options(nostack, preserves_flags));
        Msr::new(PAT_MSR).write(PAT_MSR_VALUE);
        core::arch::asm!("wbinvd", options(nostack, preserves_flags));
    }
    super::paging::flush_everything();
    super::cpu::restore_interrupts(were_enabled);
    match read() {
        Some(PAT_MSR_VALUE) => Ok(before),
        Some(value) => Err(PatError::ReadBack { value }),
        None => Err(PatError::Unsupported),
    }
}
