//! The last steps: quiet the interrupt controllers, program the PAT, and jump to the kernel in
//! the machine state the Limine protocol specifies.
//!
//! [`enter_kernel`] runs a naked trampoline that (1) loads the new CR3 while executing from an
//! identity-mapped page, (2) continues at the same code's HHDM alias, (3) clears PML4 entries
//! 0-255 so no lower-half mapping survives, (4) loads the protocol GDT and reloads CS=0x28 and
//! the data segments with 0x30, zero FS/GS bases, (5) sets CR0/CR4/EFER to exactly the bits the
//! protocol names, a null IDT and LDT, RFLAGS=0x2, (6) switches to the kernel stack with a zero
//! return address, zeroes every other GPR and jumps.

use core::arch::{asm, naked_asm};

use loader::acpi::IoApic;
use loader::boot::{CpuFeatures, HandoffArgs, Quiesce, ioapic_entry_must_be_masked};

/// The trampoline's code, so the caller can identity-map it: (start, length) covering it.
pub fn trampoline_span() -> (u64, u64) {
    let start = trampoline as *const () as u64;
    // The routine is well under 512 bytes; two pages cover it wherever it starts.
    (start & !0xfff, 0x2000)
}

/// Jumps to the kernel. Interrupts must be off and boot services gone.
///
/// # Safety
/// `args` must describe page tables that map the trampoline's pages both identically and at
/// their HHDM alias, the GDTR, the stack and the kernel; everything the tables and the kernel
/// need must be in place, since nothing of the loader runs afterwards.
pub unsafe fn enter_kernel(args: &HandoffArgs) -> ! {
    // SAFETY: forwarded from the caller.
    unsafe { trampoline(args) }
}

#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline(args: *const HandoffArgs) -> ! {
    naked_asm!(
        "cli",
        "cld",
        "mov r8,  [rdi + 0]",
        "mov r9,  [rdi + 8]",
        "mov r10, [rdi + 16]",
        "mov r11, [rdi + 24]",
        "mov r12, [rdi + 32]",
        "mov r13, [rdi + 40]",
        "mov r14, [rdi + 48]",
        "mov cr3, r8",
        // Continue at the HHDM alias of the next instruction.
        "lea rax, [rip + 2f]",
        "add rax, r9",
        "jmp rax",
        "2:",
        // The firmware's stack is in the lower half, about to vanish: use the kernel's now.
        "mov rsp, r11",
        // No lower-half mapping survives: clear PML4[0..256] and flush.
        "mov rdi, r13",
        "xor eax, eax",
        "mov ecx, 256",
        "rep stosq",
        "mov rax, cr3",
        "mov cr3, rax",
        "lgdt [r10]",
        "lea rax, [rip + 3f]",
        "push 0x28",
        "push rax",
        "retfq",
        "3:",
        "mov eax, 0x30",
        "mov ds, eax",
        "mov es, eax",
        "mov ss, eax",
        "mov fs, eax",
        "mov gs, eax",
        // FS base, GS base, kernel GS base: 0.
        "xor eax, eax",
        "xor edx, edx",
        "mov ecx, 0xc0000100",
        "wrmsr",
        "mov ecx, 0xc0000101",
        "wrmsr",
        "mov ecx, 0xc0000102",
        "wrmsr",
        // EFER as computed by the loader.
        "mov ecx, 0xc0000080",
        "mov rax, r14",
        "mov rdx, r14",
        "shr rdx, 32",
        "wrmsr",
        // CR4: PAE only. CR0: PG | WP | ET | PE.
        "mov eax, 0x20",
        "mov cr4, rax",
        "mov eax, 0x80010011",
        "mov cr0, rax",
        "mov rsp, r11",
        // Null IDT (limit 0, base 0) and LDT.
        "push 0",
        "push 0",
        "lidt [rsp]",
        "add rsp, 16",
        "xor eax, eax",
        "lldt ax",
        // [RSP] = 0 at entry; `ret` below pops the entry address.
        "push 0",
        "push r12",
        "push 2",
        "popfq",
        "xor eax, eax",
        "xor ebx, ebx",
        "xor ecx, ecx",
        "xor edx, edx",
        "xor esi, esi",
        "xor edi, edi",
        "xor ebp, ebp",
        "xor r8d, r8d",
        "xor r9d, r9d",
        "xor r10d, r10d",
        "xor r11d, r11d",
        "xor r12d, r12d",
        "xor r13d, r13d",
        "xor r14d, r14d",
        "xor r15d, r15d",
        "ret",
    )
}

/// Stops this CPU for good (interrupts off, `hlt` in a loop).
pub fn halt() -> ! {
    loop {
        // SAFETY: `cli; hlt` only stops this CPU; nothing else runs afterwards.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

fn outb(port: u16, value: u8) {
    // SAFETY: only called for the 8259 PIC data ports, where a write sets the interrupt mask.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Masks every line of both 8259 PICs (not remapped, as the protocol states).
fn mask_pics() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

/// Reads an MSR.
///
/// # Safety
/// `msr` must exist on this CPU.
unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes an MSR.
///
/// # Safety
/// `msr` must exist and `value` be valid for it, with no effect on memory safety.
unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// The CPU as the loader sees it: what the hand-off depends on, and whether RDRAND exists.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// The features the library decides with.
    pub features: CpuFeatures,
    /// RDRAND available.
    pub rdrand: bool,
}

/// Reads the features from CPUID and CR4.
pub fn cpu() -> Cpu {
    let leaf1 = core::arch::x86_64::__cpuid(1);
    let max_ext = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    let ext_edx = if max_ext >= 0x8000_0001 {
        core::arch::x86_64::__cpuid(0x8000_0001).edx
    } else {
        0
    };
    let cr4: u64;
    // SAFETY: reading CR4 at CPL 0 (UEFI runs the loader in ring 0) has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags)) };
    Cpu {
        features: CpuFeatures {
            nx: ext_edx & (1 << 20) != 0,
            pat: leaf1.edx & (1 << 16) != 0,
            huge_1g: ext_edx & (1 << 26) != 0,
            la57_active: cr4 & (1 << 12) != 0,
        },
        rdrand: leaf1.ecx & (1 << 30) != 0,
    }
}

/// A random 64-bit value for KASLR: RDRAND when available, else the TSC mixed.
pub fn random_u64(rdrand_available: bool) -> u64 {
    #[target_feature(enable = "rdrand")]
    fn rdrand() -> Option<u64> {
        for _ in 0..32 {
            let mut v = 0u64;
            if core::arch::x86_64::_rdrand64_step(&mut v) == 1 {
                return Some(v);
            }
        }
        None
    }
    if rdrand_available {
        // SAFETY: CPUID reported RDRAND.
        if let Some(v) = unsafe { rdrand() } {
            return v;
        }
    }
    // SAFETY: `rdtsc` has no side effects.
    let tsc = unsafe { core::arch::x86_64::_rdtsc() };
    // splitmix64 finaliser spreads the low-entropy TSC over all bits.
    let mut z = tsc.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Quiets the machine right after `ExitBootServices`, as the library decided.
pub fn quiesce(q: &Quiesce<'_>) {
    if q.mask_pics {
        mask_pics();
    }
    mask_io_apics(q.io_apics, q.revision);
    if q.reset_local_apic {
        reset_local_apic();
    }
    if let Some(pat) = q.pat {
        program_pat(pat);
    }
}

/// Programs the PAT as the protocol specifies (PAT0 WB, 1 WT, 2 UC-, 3 UC, 4 WP, 5 WC).
fn program_pat(value: u64) {
    // SAFETY: IA32_PAT (0x277) exists (the caller checked CPUID); caches are flushed around the
    // change as the SDM requires when memory types change.
    unsafe {
        asm!("wbinvd", options(nostack));
        wrmsr(0x277, value);
        asm!("wbinvd", options(nostack));
    }
}

/// Masks every IOAPIC redirection entry [`ioapic_entry_must_be_masked`] names.
fn mask_io_apics(apics: &[IoApic], revision: u64) {
    for apic in apics {
        let base = apic.address as usize;
        let read = |reg: u32| -> u32 {
            // SAFETY: `base` is an IOAPIC's register window from the MADT, identity mapped by
            // the firmware's page tables (still active); IOREGSEL at +0, IOWIN at +0x10.
            unsafe {
                core::ptr::write_volatile(base as *mut u32, reg);
                core::ptr::read_volatile((base + 0x10) as *const u32)
            }
        };
        let write = |reg: u32, value: u32| {
            // SAFETY: as for `read`.
            unsafe {
                core::ptr::write_volatile(base as *mut u32, reg);
                core::ptr::write_volatile((base + 0x10) as *mut u32, value);
            }
        };
        let entries = ((read(1) >> 16) & 0xff) + 1;
        for i in 0..entries.min(240) {
            let reg = 0x10 + 2 * i;
            let low = read(reg);
            if ioapic_entry_must_be_masked(low, revision) {
                write(reg, low | (1 << 16));
            }
        }
    }
}

/// Revision 5 and later: the boot CPU's LAPIC enabled, SVR 0x1FF, TPR 0, every LVT masked.
fn reset_local_apic() {
    // SAFETY: IA32_APIC_BASE (0x1b) exists on every x86_64 CPU.
    let base_msr = unsafe { rdmsr(0x1b) };
    let x2apic = base_msr & (1 << 10) != 0;
    if base_msr & (1 << 11) == 0 {
        return; // globally disabled; leave it alone
    }
    let mmio = (base_msr & 0x000f_ffff_ffff_f000) as usize;
    let read = |off: u32| -> u32 {
        if x2apic {
            // SAFETY: x2APIC mode is on, so the MSR for this architectural register exists.
            unsafe { rdmsr(0x800 + (off >> 4)) as u32 }
        } else {
            // SAFETY: the xAPIC page is identity mapped (uncached) by the firmware's tables.
            unsafe { core::ptr::read_volatile((mmio + off as usize) as *const u32) }
        }
    };
    let write = |off: u32, v: u32| {
        if x2apic {
            // SAFETY: as for `read`; the value is a valid register image.
            unsafe { wrmsr(0x800 + (off >> 4), u64::from(v)) }
        } else {
            // SAFETY: as for `read`.
            unsafe { core::ptr::write_volatile((mmio + off as usize) as *mut u32, v) }
        }
    };
    let max_lvt = (read(0x30) >> 16) & 0xff;
    let mut lvts = alloc::vec![0x320, 0x350, 0x360, 0x370];
    if max_lvt >= 4 {
        lvts.push(0x340);
    }
    if max_lvt >= 5 {
        lvts.push(0x330);
    }
    if max_lvt >= 6 {
        lvts.push(0x2f0);
    }
    for off in lvts {
        write(off, read(off) | (1 << 16));
    }
    write(0x80, 0);
    write(0xf0, 0x1ff);
}
