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

/// Paging and protection features of the CPU, from CPUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFeatures {
    /// No-execute pages (CPUID.80000001h:EDX[20]).
    pub nx: bool,
    /// 1 GiB pages (CPUID.80000001h:EDX[26], pdpe1gb).
    pub huge_1g: bool,
    /// Global pages (CPUID.01h:EDX[13]).
    pub pge: bool,
    /// The page attribute table (CPUID.01h:EDX[16]).
    pub pat: bool,
    /// Supervisor-mode execution prevention (CPUID.07h.0:EBX[7]).
    pub smep: bool,
    /// Supervisor-mode access prevention (CPUID.07h.0:EBX[20]).
    pub smap: bool,
    /// User-mode instruction prevention (CPUID.07h.0:ECX[2]).
    pub umip: bool,
    /// The RDRAND instruction (CPUID.01h:ECX[30]).
    pub rdrand: bool,
    /// Physical address width, MAXPHYADDR (CPUID.80000008h:EAX[7:0]; 36 without the leaf).
    pub phys_bits: u8,
}

/// The CPU's paging and protection features.
pub fn features() -> CpuFeatures {
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let ext = if max_ext >= 0x8000_0001 {
        cpuid(0x8000_0001, 0)
    } else {
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    };
    let basic = cpuid(1, 0);
    let leaf7 = if cpuid(0, 0).eax >= 7 {
        cpuid(7, 0)
    } else {
        CpuidResult {
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    };
    let phys_bits = if max_ext >= 0x8000_0008 {
        (cpuid(0x8000_0008, 0).eax & 0xff) as u8
    } else {
        36
    };
    CpuFeatures {
        nx: ext.edx & (1 << 20) != 0,
        huge_1g: ext.edx & (1 << 26) != 0,
        pge: basic.edx & (1 << 13) != 0,
        pat: basic.edx & (1 << 16) != 0,
        smep: leaf7.ebx & (1 << 7) != 0,
        smap: leaf7.ebx & (1 << 20) != 0,
        umip: leaf7.ecx & (1 << 2) != 0,
        rdrand: basic.ecx & (1 << 30) != 0,
        phys_bits,
    }
}

/// Whether EFER.NXE is set (bit 63 of page-table entries means no-execute).
pub fn nx_enabled() -> bool {
    ::x86_64::registers::model_specific::Efer::read()
        .contains(::x86_64::registers::model_specific::EferFlags::NO_EXECUTE_ENABLE)
}

/// Sets EFER.NXE when the CPU has NX; returns whether it is on. Needed before any table with
/// NX bits is used (without NXE, bit 63 is reserved).
pub fn enable_nx() -> bool {
    use ::x86_64::registers::model_specific::{Efer, EferFlags};
    if !features().nx {
        return false;
    }
    // SAFETY: NXE only gives bit 63 of page-table entries its meaning; the active tables were
    // built by a loader for a CPU with NX (PROTOCOL.md, "Machine State at Entry": NX is
    // enabled), so they stay valid.
    unsafe { Efer::update(|f| f.insert(EferFlags::NO_EXECUTE_ENABLE)) };
    nx_enabled()
}

/// One protection the kernel turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// EFER.NXE: no-execute pages.
    Nxe,
    /// CR0.WP: read-only pages bind the kernel too.
    Wp,
    /// CR4.SMEP: no kernel execution of user pages.
    Smep,
    /// CR4.SMAP: no kernel access to user pages.
    Smap,
    /// CR4.UMIP: no SGDT/SIDT/SLDT/SMSW/STR in user mode.
    Umip,
    /// CR4.PGE: global kernel pages survive address-space switches.
    Pge,
}

impl Protection {
    /// Every protection, in the order the boot log lists them.
    pub const ALL: [Protection; 6] = [
        Protection::Nxe,
        Protection::Wp,
        Protection::Smep,
        Protection::Smap,
        Protection::Umip,
        Protection::Pge,
    ];

    /// The name in the boot log.
    pub const fn name(self) -> &'static str {
        match self {
            Protection::Nxe => "NXE",
            Protection::Wp => "WP",
            Protection::Smep => "SMEP",
            Protection::Smap => "SMAP",
            Protection::Umip => "UMIP",
            Protection::Pge => "PGE",
        }
    }

    /// Whether the bit is set now.
    pub fn is_on(self) -> bool {
        use ::x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
        match self {
            Protection::Nxe => nx_enabled(),
            Protection::Wp => Cr0::read().contains(Cr0Flags::WRITE_PROTECT),
            Protection::Smep => {
                Cr4::read().contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION)
            }
            Protection::Smap => Cr4::read().contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
            Protection::Umip => Cr4::read().contains(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
            Protection::Pge => Cr4::read().contains(Cr4Flags::PAGE_GLOBAL),
        }
    }

    /// Whether the CPU has it.
    pub fn supported(self, f: &CpuFeatures) -> bool {
        match self {
            Protection::Nxe => f.nx,
            Protection::Wp => true,
            Protection::Smep => f.smep,
            Protection::Smap => f.smap,
            Protection::Umip => f.umip,
            Protection::Pge => f.pge,
        }
    }
}

/// Turns on every protection of [`Protection::ALL`] the CPU has and returns the features it
/// decided by. Run on the kernel's own tables (every kernel page supervisor, the kernel half
/// global, the lower half empty).
pub fn enable_protections() -> CpuFeatures {
    use ::x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    let f = features();
    enable_nx();
    let mut cr4 = Cr4Flags::empty();
    for (on, flag) in [
        (f.smep, Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        (f.smap, Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
        (f.umip, Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION),
        (f.pge, Cr4Flags::PAGE_GLOBAL),
    ] {
        if on {
            cr4 |= flag;
        }
    }
    // SAFETY: 1. WP only makes read-only pages read-only for the kernel as well, and the
    // kernel writes only to writable mappings; 2. each CR4 bit is set only when CPUID reports
    // it (an unsupported bit would #GP); SMEP and SMAP forbid the kernel user pages, and the
    // kernel maps none; UMIP concerns user mode only; PGE keeps translations marked global
    // across CR3 writes, which only the kernel half uses.
    unsafe {
        Cr0::update(|c| c.insert(Cr0Flags::WRITE_PROTECT));
        Cr4::update(|c| c.insert(cr4));
    }
    f
}

/// A seed nobody can predict from outside: RDRAND when the CPU has it (retried, as the SDM
/// advises), mixed with the TSC.
pub fn random_seed() -> u64 {
    let tsc = rdtsc();
    if features().rdrand {
        for _ in 0..10 {
            let value: u64;
            let ok: u8;
            // SAFETY: RDRAND only writes its destination and CF; CPUID said it exists.
            unsafe {
                asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok,
                    options(nomem, nostack));
            }
            if ok != 0 {
                return value ^ tsc.rotate_left(32);
            }
        }
    }
    tsc
}
