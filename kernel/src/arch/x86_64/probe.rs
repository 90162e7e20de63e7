//! Test probes (test kernels only, `ktest` feature): safe functions that make the CPU do what
//! the trap path must cope with, for the in-kernel tests above `arch` to call and check.
//!
//! The probes that end the boot on purpose (a deliberate fault) never return: the fault goes
//! to the fatal hook, which reports it and ends the test run. Their addresses are fixed here
//! (the lower half, which nothing maps: see docs/architecture.md, Address space), so callers
//! cannot aim them at memory that matters. Every probe needs the kernel's IDT (`trap::init`);
//! before it they panic instead.

use core::arch::asm;
use core::sync::atomic::AtomicU8;

use super::{demo, idt};

/// A lower-half address nothing maps: the page-fault and double-fault probes touch it.
pub use super::demo::UNMAPPED;
/// Where user programs are traditionally linked (4 MiB): in the empty lower half, so a read
/// faults.
pub const LOWER_HALF: u64 = 0x40_0000;

/// A `ret` instruction (0xc3) in writable data (`.data`, mapped no-execute): the target of
/// [`execute_data`].
static DATA_RET: AtomicU8 = AtomicU8::new(0xc3);
/// A non-canonical address (bit 63 set, bits 48-62 clear): loading from it raises #GP(0).
pub use super::demo::NON_CANONICAL;

/// Distinct values for RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8-R15 (below 2^63 so they are
/// plain immediates for the assembler), loaded by [`registers_across_int3`].
pub const PATTERN: [u64; 15] = {
    let mut p = [0u64; 15];
    let mut i = 0;
    while i < 15 {
        p[i] = 0x0101_0101_0101_0101 * (i as u64 + 1) + 0x10_0000;
        i += 1;
    }
    p
};

fn require_idt() {
    assert!(
        idt::is_loaded(),
        "test probes need the kernel's IDT (trap::init)"
    );
}

/// Executes `int3` (the trap path logs the breakpoint, counts it and returns).
pub fn breakpoint() {
    require_idt();
    demo::breakpoint();
}

/// Executes `int VECTOR` (32-255): the registered handler runs, or the unexpected-vector path
/// logs once and returns.
pub fn software_interrupt<const VECTOR: u8>() {
    const { assert!(VECTOR >= 32, "vectors 0-31 are CPU exceptions") };
    require_idt();
    // SAFETY: every vector has a present gate and the dispatcher returns for vectors 32-255
    // (none of which has a CPU error code, so the frame stays in step); the trap path restores
    // every register and RFLAGS. No `nostack`: the CPU pushes the frame on this stack.
    unsafe { asm!("int {v}", v = const VECTOR) };
}

/// What [`interrupt_with_registers`] observed around its `int`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted {
    /// RAX after the interrupt returned (a handler may change the saved RAX).
    pub rax_after: u64,
    /// RSP right before the `int`.
    pub rsp: u64,
    /// Address of the instruction after the `int` (the saved RIP).
    pub return_rip: u64,
}

/// Executes `int VECTOR` (32-255) with RAX, RDI and R15 loaded as given.
pub fn interrupt_with_registers<const VECTOR: u8>(rax: u64, rdi: u64, r15: u64) -> Interrupted {
    const { assert!(VECTOR >= 32, "vectors 0-31 are CPU exceptions") };
    require_idt();
    let mut rax = rax;
    let after: u64;
    let rsp: u64;
    // SAFETY: as in `software_interrupt`: the trap path restores every register from the
    // saved frame (only a handler's deliberate change of the saved RAX comes back), and the
    // registers named here are declared as operands.
    unsafe {
        asm!(
            "mov {rsp}, rsp",
            "lea {after}, [rip + 2f]",
            "int {v}",
            "2:",
            v = const VECTOR,
            rsp = out(reg) rsp,
            after = out(reg) after,
            inout("rax") rax,
            in("rdi") rdi,
            in("r15") r15,
        );
    }
    Interrupted {
        rax_after: rax,
        rsp,
        return_rip: after,
    }
}

/// Loads [`PATTERN`] into all fifteen general registers, executes `int3`, and returns the
/// registers as they are afterwards (same order).
pub fn registers_across_int3() -> [u64; 15] {
    require_idt();
    let mut out = [0u64; 15];
    // SAFETY: RBX and RBP (which Rust reserves) are saved and restored by hand; the other
    // registers are declared clobbered; the pointer to `out` is parked on the stack while the
    // registers hold the pattern, and `out` is writable for 15 quadwords. Pushes are balanced,
    // and #BP returns after the `int3` with every register restored.
    unsafe {
        asm!(
            "push rbx",
            "push rbp",
            "push {out}",
            "mov rax, {p0}",
            "mov rbx, {p1}",
            "mov rcx, {p2}",
            "mov rdx, {p3}",
            "mov rsi, {p4}",
            "mov rdi, {p5}",
            "mov rbp, {p6}",
            "mov r8, {p7}",
            "mov r9, {p8}",
            "mov r10, {p9}",
            "mov r11, {p10}",
            "mov r12, {p11}",
            "mov r13, {p12}",
            "mov r14, {p13}",
            "mov r15, {p14}",
            "int3",
            "xchg rax, [rsp]",
            "mov [rax + 8], rbx",
            "mov [rax + 16], rcx",
            "mov [rax + 24], rdx",
            "mov [rax + 32], rsi",
            "mov [rax + 40], rdi",
            "mov [rax + 48], rbp",
            "mov [rax + 56], r8",
            "mov [rax + 64], r9",
            "mov [rax + 72], r10",
            "mov [rax + 80], r11",
            "mov [rax + 88], r12",
            "mov [rax + 96], r13",
            "mov [rax + 104], r14",
            "mov [rax + 112], r15",
            "pop rcx",
            "mov [rax], rcx",
            "pop rbp",
            "pop rbx",
            out = in(reg) out.as_mut_ptr(),
            p0 = const PATTERN[0],
            p1 = const PATTERN[1],
            p2 = const PATTERN[2],
            p3 = const PATTERN[3],
            p4 = const PATTERN[4],
            p5 = const PATTERN[5],
            p6 = const PATTERN[6],
            p7 = const PATTERN[7],
            p8 = const PATTERN[8],
            p9 = const PATTERN[9],
            p10 = const PATTERN[10],
            p11 = const PATTERN[11],
            p12 = const PATTERN[12],
            p13 = const PATTERN[13],
            p14 = const PATTERN[14],
            lateout("rax") _,
            lateout("rcx") _,
            lateout("rdx") _,
            lateout("rsi") _,
            lateout("rdi") _,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            lateout("r12") _,
            lateout("r13") _,
            lateout("r14") _,
            lateout("r15") _,
        );
    }
    out
}

/// Divides by zero (#DE, vector 0). Never returns.
pub fn divide_error() -> ! {
    require_idt();
    // SAFETY: a deliberate #DE; the fatal path never returns here.
    unsafe {
        asm!(
            "xor edx, edx",
            "mov eax, 1",
            "xor ecx, ecx",
            "div ecx",
            options(noreturn)
        )
    }
}

/// Executes `ud2` (#UD, vector 6). Never returns.
pub fn invalid_opcode() -> ! {
    require_idt();
    // SAFETY: a deliberate #UD; the fatal path never returns here.
    unsafe { asm!("ud2", options(noreturn)) }
}

/// Loads from [`NON_CANONICAL`] through RCX (#GP(0), vector 13). Never returns.
pub fn load_non_canonical() -> ! {
    require_idt();
    demo::load_non_canonical();
    unreachable!("the load from a non-canonical address returned")
}

/// Writes zero to [`UNMAPPED`] + 8 through RCX (#PF, vector 14, error code 0x2). Never returns.
pub fn write_unmapped() -> ! {
    require_idt();
    // SAFETY: nothing maps the lower half, so the write raises #PF instead of touching memory;
    // the fatal path never returns here.
    unsafe {
        asm!("mov qword ptr [rcx + 8], rax", in("rcx") UNMAPPED, in("rax") 0,
            options(noreturn))
    }
}

/// Points RSP at [`UNMAPPED`] and pushes: the #PF cannot be delivered on that stack either,
/// so the CPU raises #DF (vector 8), which runs on IST1. Never returns.
pub fn push_on_unmapped_stack() -> ! {
    require_idt();
    demo::push_on_unmapped_stack();
    unreachable!("the push on an unmapped stack returned (is {UNMAPPED:#x} mapped?)")
}

/// Reads the byte at address 0: with nothing mapped in the lower half, #PF (vector 14, error
/// code 0x0). Returns only if page 0 is mapped after all (the caller's test then fails).
pub fn read_null() {
    read_fixed::<0>();
}

/// Reads the byte at [`LOWER_HALF`]: #PF (error code 0x0), or returns if it is mapped.
pub fn read_lower_half() {
    read_fixed::<LOWER_HALF>();
}

fn read_fixed<const ADDR: u64>() {
    require_idt();
    // SAFETY: a one-byte read of a fixed lower-half address: it faults if unmapped (the fatal
    // path never returns here); if something maps it, the loader put RAM there (it maps no
    // devices in the lower half) and reading RAM has no effect.
    unsafe {
        asm!("mov al, byte ptr [rcx]", in("rcx") ADDR, out("al") _, options(nostack, readonly))
    }
}

/// The address [`write_kernel_text`] writes to: its own first instruction byte.
pub fn kernel_text_target() -> u64 {
    write_kernel_text as fn() as usize as u64
}

/// Writes the first byte of this function's own code back unchanged: kernel text is mapped
/// read-only (and CR0.WP makes that bind ring 0), so #PF (error code 0x3). Returns only if the
/// write went through, leaving the code as it was.
pub fn write_kernel_text() {
    require_idt();
    let target = kernel_text_target();
    // SAFETY: the byte written is the byte just read from the same address, so even if text
    // were writable no instruction changes (one CPU: nothing executes it meanwhile).
    unsafe {
        asm!(
            "mov al, byte ptr [rcx]",
            "mov byte ptr [rcx], al",
            in("rcx") target,
            out("al") _,
            options(nostack)
        )
    }
}

/// The address [`execute_data`] jumps to: a `ret` in `.data`.
pub fn data_target() -> u64 {
    DATA_RET.as_ptr() as u64
}

/// Calls the `ret` byte in writable data: data is mapped no-execute, so the instruction fetch
/// faults (#PF, error code 0x11, RIP and CR2 both at [`data_target`]). Returns only if the
/// fetch went through (the `ret` comes straight back).
pub fn execute_data() {
    require_idt();
    // SAFETY: the target holds a single `ret`, so if it executes it returns here at once with
    // only RSP moved back; the call uses this stack (no red zone on this target) and every
    // caller-saved register is declared clobbered.
    unsafe { asm!("call {t}", t = in(reg) data_target(), clobber_abi("sysv64")) }
}
