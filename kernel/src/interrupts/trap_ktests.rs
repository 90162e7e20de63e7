//! In-kernel tests of the trap path (`arch::trap`): descriptor tables, `int3`, registered
//! vectors, the saved frame, and one boot per fatal exception (`#[fault = N]`), each checking
//! the report text. The raw instructions come from `arch::probe`; the checks live here, above
//! `arch` (see docs/architecture.md, Layering).
//!
//! The page-fault boots check the whole report: the decoded access, CR2, the walk of CR2
//! through the page tables and the cause. Where the faulting address is only known at run time
//! the test prints it before the fault as `ktest: let <name>=<value>`, and the harness puts
//! that value in for `{<name>}` in the expected texts.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::probe::{self, PATTERN};
use crate::arch::trap::{TrapFrame, breakpoint_count, clear_handler, set_handler, stub_address};
use crate::arch::{gdt, idt};
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
        probe::breakpoint();
        kassert_eq!(breakpoint_count(), before + 1);
        probe::breakpoint();
        probe::breakpoint();
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
        let seen_by_caller = probe::interrupt_with_registers::<TEST_VECTOR>(RAX, RDI, R15);
        clear_handler(TEST_VECTOR);
        let seen: [u64; 9] = core::array::from_fn(|i| SEEN[i].load(Ordering::SeqCst));
        kassert_eq!(seen[0], u64::from(TEST_VECTOR));
        kassert_eq!(seen[1], RAX);
        kassert_eq!(seen[2], RDI);
        kassert_eq!(seen[3], R15);
        kassert_eq!(seen[4], 0);
        kassert_eq!(seen[5], seen_by_caller.return_rip);
        kassert_eq!(seen[6], u64::from(gdt::KERNEL_CODE.0));
        kassert_eq!(seen[7], u64::from(gdt::KERNEL_DATA.0));
        kassert_eq!(seen[8], seen_by_caller.rsp);
        kassert_eq!(seen_by_caller.rax_after, !RAX);
        Ok(())
    }
}

ktest! {
    fn every_general_register_survives_a_trap() -> TestResult {
        const NAMES: [&str; 15] = [
            "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
            "r13", "r14", "r15",
        ];
        let before = breakpoint_count();
        let after = probe::registers_across_int3();
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
        let first = crate::serial::capture_loopback(probe::software_interrupt::<UNUSED_VECTOR>);
        let Some(first) = first else {
            kassert!(false, "no UART at COM1");
            return Ok(());
        };
        let text = core::str::from_utf8(&first).unwrap_or("<not UTF-8>");
        kassert!(text.contains("unexpected interrupt vector 153"), "captured {text:?}");
        let second = crate::serial::capture_loopback(probe::software_interrupt::<UNUSED_VECTOR>);
        let second = second.unwrap_or_default();
        kassert!(second.is_empty(), "logged twice: {:?}", core::str::from_utf8(&second));
        Ok(())
    }
}

ktest! {
    fn int_roundtrip_bench_runs() -> TestResult {
        let cycles = crate::arch::trap::bench_int_roundtrip(1000).unwrap_or(0);
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
        probe::divide_error()
    }
}

ktest! {
    #[fault = 6]
    #[expect = "!!! CPU exception 6 (#UD): Invalid Opcode"]
    fn invalid_opcode_is_reported() -> TestResult {
        probe::invalid_opcode()
    }
}

ktest! {
    #[fault = 13]
    #[expect = "!!! CPU exception 13 (#GP): General Protection"]
    #[expect = "error code 0x0: no selector"]
    #[expect = "RCX=0x8000000000000000"]
    fn non_canonical_access_is_a_general_protection_fault() -> TestResult {
        probe::load_non_canonical()
    }
}

ktest! {
    #[fault = 14]
    #[expect = "!!! CPU exception 14 (#PF): Page Fault"]
    #[expect = "error code 0x2: supervisor write, page not present"]
    #[expect = "CR2=0x00007fffdead0008 (faulting address)"]
    #[expect = "walk of 0x7fffdead0008 (PML4 at 0x"]
    #[expect = "cause: no page is mapped at this address"]
    fn write_to_unmapped_memory_is_a_page_fault() -> TestResult {
        probe::write_unmapped()
    }
}

ktest! {
    #[fault = 8]
    #[expect = "!!! CPU exception 8 (#DF): Double Fault"]
    #[expect = "handler stack: IST1"]
    #[expect = "CR2=0x00007fffdeacfff8 (last page-fault address)"]
    #[expect = "walk of 0x7fffdeacfff8 (PML4 at 0x"]
    fn fault_on_an_unusable_stack_is_a_double_fault() -> TestResult {
        probe::push_on_unmapped_stack()
    }
}

/// Prints `addr` for the harness: `cr2` as the report shows CR2, `walk` as the walk names it.
fn announce_fault_address(addr: u64) {
    crate::println!("ktest: let cr2={addr:#018x}");
    crate::println!("ktest: let walk={addr:#x}");
}

ktest! {
    // Needs the kernel's own W^X mapping of its image (text read-only) and CR0.WP.
    #[fault = 14]
    #[expect = "error code 0x3: supervisor write, protection violation"]
    #[expect = "CR2={cr2} (faulting address)"]
    #[expect = "walk of {walk} (PML4 at 0x"]
    #[expect = "read-only, executable, supervisor"]
    #[expect = "cause: write to a read-only page"]
    fn write_to_kernel_text_is_a_protection_fault() -> TestResult {
        let target = probe::kernel_text_target();
        announce_fault_address(target);
        probe::write_kernel_text();
        kassert!(false, "writing kernel text at {target:#x} did not fault");
        Ok(())
    }
}

ktest! {
    // Needs EFER.NXE and data mapped no-execute.
    #[fault = 14]
    #[expect = "error code 0x11: supervisor instruction fetch, protection violation"]
    #[expect = "CR2={cr2} (faulting address)"]
    #[expect = "RIP={cr2} CS=0x0008 (ring 0)"]
    #[expect = "walk of {walk} (PML4 at 0x"]
    #[expect = "writable, no-execute, supervisor"]
    #[expect = "cause: instruction fetch from a no-execute page"]
    fn executing_data_is_a_protection_fault() -> TestResult {
        let target = probe::data_target();
        announce_fault_address(target);
        probe::execute_data();
        kassert!(false, "executing data at {target:#x} did not fault");
        Ok(())
    }
}

ktest! {
    // Needs the empty lower half.
    #[fault = 14]
    #[expect = "error code 0x0: supervisor read, page not present"]
    #[expect = "CR2=0x0000000000000000 (faulting address)"]
    #[expect = "walk of 0x0 (PML4 at 0x"]
    #[expect = "PML4[  0] @ 0x"]
    #[expect = "not mapped: the PML4 entry is not present"]
    #[expect = "cause: no page is mapped at this address"]
    fn null_dereference_is_a_page_fault() -> TestResult {
        probe::read_null();
        kassert!(false, "reading address 0 did not fault");
        Ok(())
    }
}

ktest! {
    // Needs the empty lower half.
    #[fault = 14]
    #[expect = "error code 0x0: supervisor read, page not present"]
    #[expect = "CR2=0x0000000000400000 (faulting address)"]
    #[expect = "walk of 0x400000 (PML4 at 0x"]
    #[expect = "not mapped: the PML4 entry is not present"]
    #[expect = "cause: no page is mapped at this address"]
    fn lower_half_read_is_a_page_fault() -> TestResult {
        probe::read_lower_half();
        kassert!(false, "reading {:#x} did not fault", probe::LOWER_HALF);
        Ok(())
    }
}

ktest! {
    // Sends this CPU an NMI through its local APIC (an IPI to its own APIC ID). LINT1, where
    // QEMU's monitor `nmi` arrives, is masked by the firmware, so this is the way to raise one.
    #[fault = 2]
    #[expect = "!!! CPU exception 2 (NMI): Non-Maskable Interrupt"]
    #[expect = "handler stack: IST2"]
    fn nmi_runs_on_its_own_stack() -> TestResult {
        kassert!(super::send_nmi_to_self(), "no local APIC to send the NMI");
        for _ in 0..1_000_000 {
            core::hint::spin_loop();
        }
        kassert!(false, "no NMI arrived");
        Ok(())
    }
}

ktest! {
    // Needs the kernel stack's unmapped guard area (init.rs switches to a guard-paged stack
    // from the memory module before running tests). Without it the recursion would walk over
    // whatever lies below the stack instead of faulting. The #PF cannot push its frame on the
    // exhausted stack, so the CPU raises #DF on IST1, whose report still walks CR2 (in the page
    // below the stack's lowest) and names the stack (`memory::guard_page_owner`).
    #[fault = 8]
    #[expect = "!!! CPU exception 8 (#DF): Double Fault"]
    #[expect = "handler stack: IST1"]
    #[expect = "CR2={guard_page}"]
    #[expect = "(last page-fault address)"]
    #[expect = "hint: stack overflow on the boot CPU kernel stack (CR2 is in its guard area)"]
    #[expect = "walk of {guard_page}"]
    #[expect = "not mapped: the "]
    fn kernel_stack_overflow_is_a_double_fault() -> TestResult {
        // The lowest mapped page of this stack: the recursion faults in the page below it.
        let mut bottom = crate::arch::cpu::stack_pointer() & !0xfff;
        while crate::memory::translate(bottom - 0x1000).is_some() {
            bottom -= 0x1000;
        }
        // Number of the page below, as the report prints CR2: `0x` and 13 of the 16 digits.
        crate::println!("ktest: let guard_page={:#015x}", (bottom - 0x1000) >> 12);
        let depth = crate::arch::demo::exhaust_stack(0);
        kassert!(false, "recursion returned after {depth}");
        Ok(())
    }
}
