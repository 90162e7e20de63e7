//! Basic CPU control: halting, the interrupt flag, the time-stamp counter.

use core::arch::asm;

/// Halts the CPU forever with interrupts disabled. Used after fatal errors.
pub fn halt_forever() -> ! {
    loop {
        ::x86_64::instructions::interrupts::disable();
        ::x86_64::instructions::hlt();
    }
}

/// Waits for the next interrupt (`sti; hlt` as one step, so a wake-up cannot be missed).
pub fn wait_for_interrupt() {
    ::x86_64::instructions::interrupts::enable_and_hlt();
}

/// Whether maskable interrupts are enabled (RFLAGS.IF).
pub fn interrupts_enabled() -> bool {
    ::x86_64::instructions::interrupts::are_enabled()
}

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    ::x86_64::instructions::interrupts::enable();
}

/// Disables interrupts and returns whether they were enabled before.
pub fn disable_interrupts_save() -> bool {
    let was_enabled = interrupts_enabled();
    ::x86_64::instructions::interrupts::disable();
    was_enabled
}

/// Re-enables interrupts if `was_enabled` (the value returned by [`disable_interrupts_save`]).
pub fn restore_interrupts(was_enabled: bool) {
    if was_enabled {
        ::x86_64::instructions::interrupts::enable();
    }
}

/// Reads the time-stamp counter.
///
/// `rdtsc` is not serialising; callers measuring short intervals accept a few cycles of skew.
#[inline]
pub fn rdtsc() -> u64 {
    let lo: u32;
    let hi: u32;
    // SAFETY: `rdtsc` only reads the TSC into EDX:EAX; CR4.TSD is clear at ring 0 either way.
    unsafe {
        asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The current stack pointer.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let rsp: u64;
    // SAFETY: copies RSP into a general register; nothing else changes.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}

/// Result of the `cpuid` instruction.
#[derive(Debug, Clone, Copy)]
pub struct CpuidResult {
    /// EAX output.
    pub eax: u32,
    /// EBX output.
    pub ebx: u32,
    /// ECX output.
    pub ecx: u32,
    /// EDX output.
    pub edx: u32,
}

/// Executes `cpuid` for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    CpuidResult {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}
