//! Deliberate CPU exceptions, for the shell's `fault` command and the test probes (`probe`
//! wraps these): a breakpoint that returns, and a general-protection fault, a page fault and
//! a double fault that end in the fatal report.
//!
//! Each function first checks that the instruction will raise exactly the exception it names
//! (the kernel's IDT is loaded, the address is unmapped in the tables the CPU uses) and returns
//! without executing it otherwise, so no caller can aim one at memory that matters.

use core::arch::asm;

use super::{cpu, idt, paging};

/// A lower-half address nothing maps (the kernel's tables leave the lower half empty, see
/// docs/architecture.md, Address space): the stack [`push_on_unmapped_stack`] switches to.
pub const UNMAPPED: u64 = 0x7fff_dead_0000;

/// A non-canonical address (bit 63 set, bits 48-62 clear): loading from it raises #GP(0).
pub const NON_CANONICAL: u64 = 0x8000_0000_0000_0000;

/// Whether `virt` is canonical (bits 63..47 all equal, 4-level paging).
fn canonical(virt: u64) -> bool {
    ::x86_64::VirtAddr::try_new(virt).is_ok()
}

/// Executes `int3`: the trap path logs the breakpoint, counts it and returns here. Does
/// nothing before the kernel's IDT is loaded.
pub fn breakpoint() {
    if !idt::is_loaded() {
        return;
    }
    // SAFETY: #BP has a present gate whose handler logs and returns after the `int3`; the trap
    // path restores every register and RFLAGS.
    unsafe { asm!("int3") };
}

/// Loads from [`NON_CANONICAL`] through RCX: #GP(0), vector 13, fatal. Returns (doing
/// nothing) only before the kernel's IDT is loaded.
pub fn load_non_canonical() {
    if !idt::is_loaded() {
        return;
    }
    // SAFETY: a non-canonical address raises #GP(0) before any memory is touched; the fatal
    // path never returns here.
    unsafe { asm!("mov rax, [rcx]", in("rcx") NON_CANONICAL, options(noreturn)) }
}

/// Reads the byte at `virt`, which must be canonical and unmapped in the tables the CPU uses:
/// #PF (vector 14, error code 0x0), fatal. Returns without reading when `virt` is mapped or
/// not canonical, or before the kernel's IDT is loaded.
pub fn read_unmapped(virt: u64) {
    // Interrupts stay off from the check to the read: nothing can map the page in between.
    let were_enabled = cpu::disable_interrupts_save();
    if idt::is_loaded() && canonical(virt) && paging::translate_active(virt).is_none() {
        // SAFETY: nothing maps `virt` in the active tables (checked just above, and the memory
        // module flushes the TLB after every unmap), so the read raises #PF before touching
        // memory and the fatal path never returns here.
        unsafe {
            asm!("mov al, byte ptr [rcx]", in("rcx") virt, out("al") _,
                options(nostack, readonly))
        }
    }
    cpu::restore_interrupts(were_enabled);
}

/// Points RSP at [`UNMAPPED`] and pushes: the #PF cannot be delivered on that stack either,
/// so the CPU raises #DF (vector 8), which runs on IST1, fatal. Returns (doing nothing) only
/// before the kernel's IDT is loaded or if something maps the page below [`UNMAPPED`].
pub fn push_on_unmapped_stack() {
    let were_enabled = cpu::disable_interrupts_save();
    if idt::is_loaded() && paging::translate_active(UNMAPPED - 8).is_none() {
        // SAFETY: the push faults before writing (the page below UNMAPPED is unmapped, checked
        // just above with interrupts off), delivering the #PF faults again on the same stack,
        // and the #DF handler runs on its own stack (IST1, loaded with the IDT) and never
        // returns here.
        unsafe { asm!("mov rsp, {bad}", "push rax", bad = in(reg) UNMAPPED, options(noreturn)) }
    }
    cpu::restore_interrupts(were_enabled);
}

/// Recurses until the stack runs out, keeping 1 KiB live per level so nothing is optimised
/// away; returns only if the stack never ends (it does: its guard area faults). On a guarded
/// kernel stack the page fault cannot be delivered on the exhausted stack, so the CPU raises a
/// double fault on its own stack, whose report names the overflowed stack.
#[inline(never)]
pub fn exhaust_stack(depth: u64) -> u64 {
    let mut frame = [0u64; 128];
    frame[(depth % 128) as usize] = depth;
    let frame = core::hint::black_box(&mut frame);
    if core::hint::black_box(true) {
        exhaust_stack(depth + 1).wrapping_add(frame[(depth % 128) as usize])
    } else {
        frame[0]
    }
}
