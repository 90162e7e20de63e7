//! In-kernel tests of the trap path: descriptor tables, `int3`, registered vectors, the saved
//! frame, and one boot per fatal exception (`#[fault = N]`), each checking the report text.

use core::arch::asm;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{TrapFrame, breakpoint_count, clear_handler, set_handler, stub_address};
use crate::arch::x86_64::{gdt, idt};
use crate::{kassert, kassert_eq, ktest};

/// Software-interrupt vector the frame test routes to its handler.
const TEST_VECTOR: u8 = 0x80;
/// A vector nobody registers (for the unexpected-interrupt test).
const UNUSED_VECTOR: u8 = 0x99;

ktest! {
    fn descriptor_tables_are_the_kernels_own() -> TestResult {
        kassert_eq!(gdt::code_selector(), gdt::KERNEL_CODE.0);
        kassert_eq!(gdt::code_selector(), 0x08);
        kassert_eq!(gdt::task_register(), 0x28);
        kassert_eq!(Some(gdt::loaded_gdt_base()), gdt::gdt_base());
        kassert_eq!(Some(idt::loaded_base()), idt::base());
        // SYSRET layout: user data right below user code.
        kassert_eq!(gdt::USER_DATA.0, 0x1b);
        kassert_eq!(gdt::USER_CODE.0, 0x23);
        let Some(stacks) = gdt::ist_stacks() else {
            kassert!(false, "no IST stacks recorded");
            return Ok(());
        };
        for s in [stacks.double_fault, stacks.nmi, stacks.machine_check] {
            kassert!(s.top % 16 == 0 && s.size >= 16 * 1024, "bad IST stack {s:?}");
            // Guard-paged stacks from the memory module: the page below is never mapped.
            kassert!(crate::memory::translate(s.top - 8).is_some(), "IST stack {s:?} not mapped");
            kassert!(crate::memory::translate(s.top - s.size - 1).is_none(), "IST stack {s:?} has no guard page");
        }
        // 256 distinct stubs.
        let mut addrs = [0u64; 256];
        for (v, a) in (0..=u8::MAX).zip(addrs.iter_mut()) {
            *a = stub_address(v);
        }
        addrs.sort_unstable();
        kassert!(addrs.windows(2).all(|w| w[0] != w[1]), "two vectors share a stub");
        kassert!(addrs[0] >= 0xffff_ffff_8000_0000, "stub below the kernel image: {:#x}", addrs[0]);
        Ok(())
    }
}

ktest! {
    fn breakpoint_returns_into_the_test() -> TestResult {
        let before = breakpoint_count();
        // SAFETY: #BP is handled by logging and returning after the int3.
        unsafe { asm!("int3") };
        kassert_eq!(breakpoint_count(), before + 1);
        // SAFETY: as above.
        unsafe { asm!("int3", "int3") };
        kassert_eq!(breakpoint_count(), before + 3);
        Ok(())
    }
}

/// What the test handler saw: vector, rax, rdi, r15, error code, rip, cs, ss, rsp.
static SEEN: [AtomicU64; 9] = [const { AtomicU64::new(0) }; 9];

fn record_frame(frame: &mut TrapFrame) {
    let values = [
        frame.vector,
        frame.rax,
        frame.rdi,
        frame.r15,
        frame.error_code,
        frame.rip,
        frame.cs,
        frame.ss,
        frame.rsp,
    ];
    for (slot, value) in SEEN.iter().zip(values) {
        slot.store(value, Ordering::SeqCst);
    }
    // Like a system call's return value: the handler's write reaches the interrupted code.
    frame.rax = !frame.rax;
}

ktest! {
    fn registered_vector_sees_the_interrupted_registers() -> TestResult {
        const RAX: u64 = 0x1122_3344_5566_7788;
        const RDI: u64 = 0x0bad_cafe_dead_beef;
        const R15: u64 = 0x7fff_0000_1234_5678;
        set_handler(TEST_VECTOR, record_frame);
        let mut rax = RAX;
        let after: u64;
        let rsp: u64;
        // SAFETY: TEST_VECTOR has a present gate and `record_frame` as handler, which only
        // changes the saved RAX; every other register is restored by the trap path.
        unsafe {
            asm!(
                "mov {rsp}, rsp",
                "lea {after}, [rip + 2f]",
                "int {v}",
                "2:",
                v = const TEST_VECTOR,
                rsp = out(reg) rsp,
                after = out(reg) after,
                inout("rax") rax,
                in("rdi") RDI,
                in("r15") R15,
            );
        }
        clear_handler(TEST_VECTOR);
        let seen: [u64; 9] = core::array::from_fn(|i| SEEN[i].load(Ordering::SeqCst));
        kassert_eq!(seen[0], u64::from(TEST_VECTOR));
        kassert_eq!(seen[1], RAX);
        kassert_eq!(seen[2], RDI);
        kassert_eq!(seen[3], R15);
        kassert_eq!(seen[4], 0);
        kassert_eq!(seen[5], after);
        kassert_eq!(seen[6], u64::from(gdt::KERNEL_CODE.0));
        kassert_eq!(seen[7], u64::from(gdt::KERNEL_DATA.0));
        kassert_eq!(seen[8], rsp);
        kassert_eq!(rax, !RAX);
        Ok(())
    }
}

/// Distinct values for RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8-R15 (below 2^63 so they are
/// plain immediates for the assembler).
const PATTERN: [u64; 15] = {
    let mut p = [0u64; 15];
    let mut i = 0;
    while i < 15 {
        p[i] = 0x0101_0101_0101_0101 * (i as u64 + 1) + 0x10_0000;
        i += 1;
    }
    p
};

/// Loads [`PATTERN`] into all fifteen general registers, executes `int3`, and stores the
/// registers as they are afterwards into `out` (same order).
fn registers_across_int3(out: &mut [u64; 15]) {
    // SAFETY: RBX and RBP (which Rust reserves) are saved and restored by hand; the other
    // registers are declared clobbered; the pointer to `out` is parked on the stack while the
    // registers hold the pattern, and `out` is writable for 15 quadwords. Pushes are balanced.
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
}

ktest! {
    fn every_general_register_survives_a_trap() -> TestResult {
        const NAMES: [&str; 15] = [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
            "r13", "r14", "r15",
        ];
        let mut after = [0u64; 15];
        let before = breakpoint_count();
        registers_across_int3(&mut after);
        kassert_eq!(breakpoint_count(), before + 1);
        for i in 0..15 {
            kassert!(after[i] == PATTERN[i], "{} is {:#x} after the trap, was {:#x}",
                NAMES[i], after[i], PATTERN[i]);
        }
        Ok(())
    }
}

ktest! {
    fn unregistered_vector_is_logged_once_and_ignored() -> TestResult {
        let first = crate::serial::capture_loopback(|| {
            // SAFETY: UNUSED_VECTOR has a present gate and no handler; the default logs and
            // returns.
            unsafe { asm!("int {v}", v = const UNUSED_VECTOR) };
        });
        let Some(first) = first else {
            kassert!(false, "no UART at COM1");
            return Ok(());
        };
        let text = core::str::from_utf8(&first).unwrap_or("<not UTF-8>");
        kassert!(text.contains("unexpected interrupt vector 153"), "captured {text:?}");
        let second = crate::serial::capture_loopback(|| {
            // SAFETY: as above.
            unsafe { asm!("int {v}", v = const UNUSED_VECTOR) };
        });
        let second = second.unwrap_or_default();
        kassert!(second.is_empty(), "logged twice: {:?}", core::str::from_utf8(&second));
        Ok(())
    }
}

ktest! {
    fn int_roundtrip_bench_runs() -> TestResult {
        let cycles = super::bench_int_roundtrip(1000);
        kassert!(cycles > 0 && cycles < 10_000_000, "implausible: {cycles} cycles per int");
        Ok(())
    }
}

// One boot each: the exception must reach its handler, whose report the harness checks.

ktest! {
    #[fault = 0]
    #[expect = "!!! CPU exception 0 (#DE): Divide Error"]
    #[expect = "RIP=0xffffffff8"]
    fn divide_error_is_reported() -> TestResult {
        // SAFETY: deliberately divides by zero; the #DE handler ends the boot.
        unsafe {
            asm!("xor edx, edx", "mov eax, 1", "xor ecx, ecx", "div ecx", options(noreturn))
        }
    }
}

ktest! {
    #[fault = 6]
    #[expect = "!!! CPU exception 6 (#UD): Invalid Opcode"]
    fn invalid_opcode_is_reported() -> TestResult {
        // SAFETY: `ud2` raises #UD on purpose; the handler ends the boot.
        unsafe { asm!("ud2", options(noreturn)) }
    }
}

ktest! {
    #[fault = 13]
    #[expect = "!!! CPU exception 13 (#GP): General Protection"]
    #[expect = "error code 0x0: no selector"]
    #[expect = "RCX=0x8000000000000000"]
    fn non_canonical_access_is_a_general_protection_fault() -> TestResult {
        // SAFETY: a non-canonical address raises #GP(0) on purpose; the handler ends the boot.
        unsafe {
            asm!("mov rax, [rcx]", in("rcx") 0x8000_0000_0000_0000u64, options(noreturn))
        }
    }
}

ktest! {
    #[fault = 14]
    #[expect = "!!! CPU exception 14 (#PF): Page Fault"]
    #[expect = "error code 0x2: not present, write, supervisor"]
    #[expect = "CR2=0x00007fffdead0008 (faulting address)"]
    fn write_to_unmapped_memory_is_a_page_fault() -> TestResult {
        // SAFETY: nothing maps this lower-half address (the loader maps only the higher half
        // here), so the write raises #PF on purpose; the handler ends the boot.
        unsafe {
            asm!("mov qword ptr [rcx + 8], rax", in("rcx") 0x7fff_dead_0000u64, in("rax") 0,
                options(noreturn))
        }
    }
}

ktest! {
    #[fault = 8]
    #[expect = "!!! CPU exception 8 (#DF): Double Fault"]
    #[expect = "handler stack: IST1"]
    #[expect = "CR2=0x00007fffdeacfff8 (last page-fault address)"]
    fn fault_on_an_unusable_stack_is_a_double_fault() -> TestResult {
        // SAFETY: points RSP at unmapped memory and pushes: the push raises #PF, delivering it
        // needs the same stack and faults again, so the CPU raises #DF, which runs on IST1 and
        // ends the boot. Nothing returns here.
        unsafe {
            asm!("mov rsp, {bad}", "push rax", bad = in(reg) 0x7fff_dead_0000u64,
                options(noreturn))
        }
    }
}

ktest! {
    // Sends this CPU an NMI through its local APIC (xAPIC MMIO; no shorthand and its own APIC
    // ID, since the self shorthand is only valid for fixed delivery). LINT1, where QEMU's
    // monitor `nmi` arrives, is masked by the firmware, so this is the way to raise one.
    #[fault = 2]
    #[expect = "!!! CPU exception 2 (NMI): Non-Maskable Interrupt"]
    #[expect = "handler stack: IST2"]
    fn nmi_runs_on_its_own_stack() -> TestResult {
        const IA32_APIC_BASE: u32 = 0x1b;
        const APIC_ENABLED: u64 = 1 << 11;
        const X2APIC_MODE: u64 = 1 << 10;
        const ID: usize = 0x20 / 4;
        const ICR_LOW: usize = 0x300 / 4;
        const ICR_HIGH: usize = 0x310 / 4;
        const DELIVERY_NMI: u32 = 0b100 << 8;
        const LEVEL_ASSERT: u32 = 1 << 14;
        let msr = ::x86_64::registers::model_specific::Msr::new(IA32_APIC_BASE);
        // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effects.
        let base = unsafe { msr.read() };
        kassert!(base & APIC_ENABLED != 0, "local APIC disabled (IA32_APIC_BASE {base:#x})");
        kassert!(base & X2APIC_MODE == 0, "local APIC in x2APIC mode; this test speaks xAPIC");
        let regs = crate::memory::map_mmio(base & 0xf_ffff_f000, 4096);
        kassert!(regs.is_ok(), "cannot map the local APIC: {regs:?}");
        let regs = regs.unwrap_or(0) as *mut u32;
        // SAFETY: `regs` maps the local APIC's 4 KiB register page uncached; ID, ICR high and ICR
        // low are 32-bit registers at the given offsets, and an NMI IPI to this CPU is what the
        // test wants (its handler ends the boot).
        unsafe {
            let id = regs.add(ID).read_volatile() >> 24;
            regs.add(ICR_HIGH).write_volatile(id << 24);
            regs.add(ICR_LOW).write_volatile(DELIVERY_NMI | LEVEL_ASSERT);
        }
        for _ in 0..1_000_000 {
            core::hint::spin_loop();
        }
        kassert!(false, "no NMI arrived");
        Ok(())
    }
}

/// Recurses until the stack runs out; each level keeps 1 KiB live so nothing is optimised away.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u64; 128];
    frame[(depth % 128) as usize] = depth;
    let frame = black_box(&mut frame);
    if black_box(true) {
        recurse(depth + 1).wrapping_add(frame[(depth % 128) as usize])
    } else {
        frame[0]
    }
}

ktest! {
    // Needs the kernel stack's unmapped guard page (init.rs switches to a guard-paged stack
    // from the memory module before running tests). Without it the recursion would walk over
    // whatever lies below the stack instead of faulting.
    #[fault = 8]
    #[expect = "!!! CPU exception 8 (#DF): Double Fault"]
    #[expect = "handler stack: IST1"]
    #[expect = "(last page-fault address)"]
    fn kernel_stack_overflow_is_a_double_fault() -> TestResult {
        let depth = recurse(0);
        kassert!(false, "recursion returned after {depth}");
        Ok(())
    }
}
