//! CPU exceptions as data: the 32 vector names, error-code decoding and the fault report.
//!
//! Pure logic, built on the host too (`cargo test -p kernel --lib`). The trap code in
//! `arch::x86_64::trap` copies the saved registers of a fault into a [`Snapshot`] and prints a
//! [`Report`] of it; nothing here touches hardware.
//!
//! Key items:
//! - [`name`], [`mnemonic`], [`has_error_code`]: facts about vectors 0-31 (the entry stubs use
//!   [`has_error_code`] at compile time to decide where to push a dummy error code).
//! - [`ErrorCode::decode`] with [`PageFaultError`], [`SelectorError`] and
//!   [`ControlProtectionError`] for the vectors whose error code has structure.
//! - [`Snapshot`] (plain data) and [`Report`] (its `Display`), written to any [`fmt::Write`].
//!
//! Report format (`{:#018x}` is `0x` and 16 hex digits):
//!
//! ```text
//! !!! CPU exception 14 (#PF): Page Fault
//!     error code 0x2: not present, write, supervisor
//!     CR2=0x00007fffdead0000 (faulting address)
//!     RIP=0xffffffff80012345 CS=0x0008 (ring 0) RFLAGS=0x0000000000010046 [PF ZF RF]
//!     RSP=0xffffe8000003fe48 SS=0x0010
//!     RAX=0x0000000000000000 RBX=0x0000000000000000 RCX=0x0000000000000000
//!     RDX=0x0000000000000000 RSI=0x0000000000000000 RDI=0x0000000000000000
//!     RBP=0x0000000000000000 R8 =0x0000000000000000 R9 =0x0000000000000000
//!     R10=0x0000000000000000 R11=0x0000000000000000 R12=0x0000000000000000
//!     R13=0x0000000000000000 R14=0x0000000000000000 R15=0x0000000000000000
//! ```
//!
//! The error-code line appears only for vectors that push one; the CR2 line for page faults
//! (and, labelled as the last page-fault address, for double faults, where it usually names the
//! page whose fault could not be delivered, e.g. a stack guard page); a `handler stack: ISTn`
//! line when the handler ran on an interrupt stack.

use core::fmt::{self, Write};

/// Number of architecturally defined exception vectors (0-31).
pub const EXCEPTION_VECTORS: u8 = 32;

/// Vector of the breakpoint exception (`int3`).
pub const BREAKPOINT: u8 = 3;
/// Vector of the double fault.
pub const DOUBLE_FAULT: u8 = 8;
/// Vector of the page fault.
pub const PAGE_FAULT: u8 = 14;

/// (name, mnemonic) of vectors 0-31, as the Intel SDM and AMD APM name them.
const VECTORS: [(&str, &str); 32] = [
    ("Divide Error", "#DE"),
    ("Debug", "#DB"),
    ("Non-Maskable Interrupt", "NMI"),
    ("Breakpoint", "#BP"),
    ("Overflow", "#OF"),
    ("BOUND Range Exceeded", "#BR"),
    ("Invalid Opcode", "#UD"),
    ("Device Not Available", "#NM"),
    ("Double Fault", "#DF"),
    ("Coprocessor Segment Overrun", "#MF0"),
    ("Invalid TSS", "#TS"),
    ("Segment Not Present", "#NP"),
    ("Stack-Segment Fault", "#SS"),
    ("General Protection", "#GP"),
    ("Page Fault", "#PF"),
    ("Reserved (15)", "-"),
    ("x87 Floating-Point Error", "#MF"),
    ("Alignment Check", "#AC"),
    ("Machine Check", "#MC"),
    ("SIMD Floating-Point", "#XM"),
    ("Virtualization", "#VE"),
    ("Control Protection", "#CP"),
    ("Reserved (22)", "-"),
    ("Reserved (23)", "-"),
    ("Reserved (24)", "-"),
    ("Reserved (25)", "-"),
    ("Reserved (26)", "-"),
    ("Reserved (27)", "-"),
    ("Hypervisor Injection", "#HV"),
    ("VMM Communication", "#VC"),
    ("Security", "#SX"),
    ("Reserved (31)", "-"),
];

/// Name of `vector`: the exception's name for 0-31, `"Interrupt"` above.
pub const fn name(vector: u8) -> &'static str {
    if vector < EXCEPTION_VECTORS {
        VECTORS[vector as usize].0
    } else {
        "Interrupt"
    }
}

/// Short mnemonic of `vector` (`#PF`, `NMI`, ...); `"-"` for reserved vectors, `"IRQ"` above 31.
pub const fn mnemonic(vector: u8) -> &'static str {
    if vector < EXCEPTION_VECTORS {
        VECTORS[vector as usize].1
    } else {
        "IRQ"
    }
}

/// Whether the CPU pushes an error code when it delivers `vector` as an exception: #DF, #TS,
/// #NP, #SS, #GP, #PF, #AC, #CP, #VC and #SX. (`int n` never pushes one.)
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// A page-fault error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFaultError(pub u64);

impl PageFaultError {
    /// P: the page was present (a protection violation); clear: not present.
    pub const PRESENT: u64 = 1 << 0;
    /// W/R: the access was a write; clear: a read.
    pub const WRITE: u64 = 1 << 1;
    /// U/S: the access came from user mode (CPL 3).
    pub const USER: u64 = 1 << 2;
    /// RSVD: a reserved bit was set in a paging-structure entry.
    pub const RESERVED: u64 = 1 << 3;
    /// I/D: the access was an instruction fetch.
    pub const INSTRUCTION: u64 = 1 << 4;
    /// PK: protection-key rights forbade the access.
    pub const PROTECTION_KEY: u64 = 1 << 5;
    /// SS: the access was a shadow-stack access.
    pub const SHADOW_STACK: u64 = 1 << 6;
    /// SGX: an SGX-specific access-control violation.
    pub const SGX: u64 = 1 << 15;

    const fn has(self, bit: u64) -> bool {
        self.0 & bit != 0
    }

    /// The page was present: the fault is a protection violation.
    pub const fn present(self) -> bool {
        self.has(Self::PRESENT)
    }
    /// The access was a write.
    pub const fn write(self) -> bool {
        self.has(Self::WRITE)
    }
    /// The access came from user mode.
    pub const fn user(self) -> bool {
        self.has(Self::USER)
    }
    /// A reserved bit was set in a paging-structure entry.
    pub const fn reserved_bit(self) -> bool {
        self.has(Self::RESERVED)
    }
    /// The access was an instruction fetch.
    pub const fn instruction_fetch(self) -> bool {
        self.has(Self::INSTRUCTION)
    }
    /// A protection key forbade the access.
    pub const fn protection_key(self) -> bool {
        self.has(Self::PROTECTION_KEY)
    }
    /// The access was a shadow-stack access.
    pub const fn shadow_stack(self) -> bool {
        self.has(Self::SHADOW_STACK)
    }
    /// An SGX access-control violation.
    pub const fn sgx(self) -> bool {
        self.has(Self::SGX)
    }
}

/// `not present, write, supervisor` and then any of `reserved bit`, `protection key`,
/// `shadow stack`, `SGX`. The access is `instruction fetch` when I/D is set, else `write` or
/// `read`.
impl fmt::Display for PageFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.present() {
            "present"
        } else {
            "not present"
        })?;
        f.write_str(if self.instruction_fetch() {
            ", instruction fetch"
        } else if self.write() {
            ", write"
        } else {
            ", read"
        })?;
        f.write_str(if self.user() {
            ", user"
        } else {
            ", supervisor"
        })?;
        for (set, text) in [
            (self.reserved_bit(), ", reserved bit"),
            (self.protection_key(), ", protection key"),
            (self.shadow_stack(), ", shadow stack"),
            (self.sgx(), ", SGX"),
        ] {
            if set {
                f.write_str(text)?;
            }
        }
        Ok(())
    }
}

/// The descriptor table a selector error code refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescriptorTable {
    /// Global descriptor table.
    Gdt,
    /// Interrupt descriptor table (the index is a vector number).
    Idt,
    /// Local descriptor table.
    Ldt,
}

impl DescriptorTable {
    /// `GDT`, `IDT` or `LDT`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gdt => "GDT",
            Self::Idt => "IDT",
            Self::Ldt => "LDT",
        }
    }
}

/// A selector error code (#TS, #NP, #SS, #GP): external bit, table, index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectorError(pub u64);

impl SelectorError {
    /// EXT: the fault happened while delivering an event external to the program (an
    /// interrupt or an earlier exception).
    pub const fn external(self) -> bool {
        self.0 & 1 != 0
    }

    /// Table the index refers to (bit 1 set: IDT; else bit 2 set: LDT; else GDT).
    pub const fn table(self) -> DescriptorTable {
        if self.0 & 0b10 != 0 {
            DescriptorTable::Idt
        } else if self.0 & 0b100 != 0 {
            DescriptorTable::Ldt
        } else {
            DescriptorTable::Gdt
        }
    }

    /// Descriptor index (bits 3-15); a vector number when [`Self::table`] is the IDT.
    pub const fn index(self) -> u16 {
        ((self.0 >> 3) & 0x1fff) as u16
    }
}

/// `GDT index 5 (selector 0x28)`, `IDT vector 13`, with `, external` appended when EXT is set;
/// `no selector` for code 0 (the usual #GP(0)).
impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("no selector");
        }
        match self.table() {
            DescriptorTable::Idt => write!(f, "IDT vector {}", self.index())?,
            table => write!(
                f,
                "{} index {} (selector {:#x})",
                table.as_str(),
                self.index(),
                self.0 & 0xfff8
            )?,
        }
        if self.external() {
            f.write_str(", external")?;
        }
        Ok(())
    }
}

/// A control-protection (#CP, CET) error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlProtectionError(pub u64);

impl ControlProtectionError {
    /// What the CPU was checking (bits 0-14).
    pub const fn cause(self) -> &'static str {
        match self.0 & 0x7fff {
            1 => "near RET",
            2 => "far RET or IRET",
            3 => "missing ENDBRANCH",
            4 => "RSTORSSP",
            5 => "SETSSBSY",
            _ => "unknown cause",
        }
    }

    /// The fault happened inside an SGX enclave (bit 15).
    pub const fn in_enclave(self) -> bool {
        self.0 & (1 << 15) != 0
    }
}

impl fmt::Display for ControlProtectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cause())?;
        if self.in_enclave() {
            f.write_str(", in enclave")?;
        }
        Ok(())
    }
}

/// An error code interpreted according to its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The vector has no error code.
    None,
    /// Page fault.
    PageFault(PageFaultError),
    /// #TS, #NP, #SS, #GP.
    Selector(SelectorError),
    /// #CP.
    ControlProtection(ControlProtectionError),
    /// #DF and #AC: architecturally always zero (the value seen is kept).
    AlwaysZero(u64),
    /// #VC, #SX: shown as a number.
    Raw(u64),
}

impl ErrorCode {
    /// Interprets `code` as the error code of `vector`.
    pub const fn decode(vector: u8, code: u64) -> Self {
        match vector {
            14 => Self::PageFault(PageFaultError(code)),
            10..=13 => Self::Selector(SelectorError(code)),
            21 => Self::ControlProtection(ControlProtectionError(code)),
            8 | 17 => Self::AlwaysZero(code),
            v if has_error_code(v) => Self::Raw(code),
            _ => Self::None,
        }
    }
}

/// The decoded meaning (without the number): `not present, write, supervisor`, ...; empty for
/// [`ErrorCode::None`].
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::PageFault(e) => e.fmt(f),
            Self::Selector(e) => e.fmt(f),
            Self::ControlProtection(e) => e.fmt(f),
            Self::AlwaysZero(0) => f.write_str("always zero"),
            Self::AlwaysZero(_) => f.write_str("should be zero"),
            Self::Raw(_) => f.write_str("see the vendor manual"),
        }
    }
}

/// Names of the RFLAGS bits the report lists, lowest bit first.
const RFLAGS_BITS: [(u32, &str); 14] = [
    (0, "CF"),
    (2, "PF"),
    (4, "AF"),
    (6, "ZF"),
    (7, "SF"),
    (8, "TF"),
    (9, "IF"),
    (10, "DF"),
    (11, "OF"),
    (14, "NT"),
    (16, "RF"),
    (17, "VM"),
    (18, "AC"),
    (21, "ID"),
];

/// RFLAGS as `[ZF IF]`, with `IOPL=n` when the I/O privilege level is not 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rflags(pub u64);

impl fmt::Display for Rflags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        let mut first = true;
        for (bit, flag) in RFLAGS_BITS {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_char(' ')?;
                }
                f.write_str(flag)?;
                first = false;
            }
        }
        let iopl = (self.0 >> 12) & 3;
        if iopl != 0 {
            if !first {
                f.write_char(' ')?;
            }
            write!(f, "IOPL={iopl}")?;
        }
        f.write_char(']')
    }
}

/// The general-purpose registers at the time of a trap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Registers {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

impl Registers {
    /// (label, value) pairs in report order.
    pub const fn labelled(&self) -> [(&'static str, u64); 15] {
        [
            ("RAX", self.rax),
            ("RBX", self.rbx),
            ("RCX", self.rcx),
            ("RDX", self.rdx),
            ("RSI", self.rsi),
            ("RDI", self.rdi),
            ("RBP", self.rbp),
            ("R8 ", self.r8),
            ("R9 ", self.r9),
            ("R10", self.r10),
            ("R11", self.r11),
            ("R12", self.r12),
            ("R13", self.r13),
            ("R14", self.r14),
            ("R15", self.r15),
        ]
    }
}

/// Everything a fault report shows, as plain data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Vector number.
    pub vector: u8,
    /// Error code pushed by the CPU (0 where it pushes none).
    pub error_code: u64,
    /// CR2, read on entry (page faults and double faults only).
    pub cr2: Option<u64>,
    /// Interrupt stack table slot (1-7) the handler ran on, if any.
    pub ist: Option<u8>,
    /// Saved instruction pointer.
    pub rip: u64,
    /// Saved code segment selector.
    pub cs: u64,
    /// Saved RFLAGS.
    pub rflags: u64,
    /// Saved stack pointer.
    pub rsp: u64,
    /// Saved stack segment selector.
    pub ss: u64,
    /// General-purpose registers.
    pub regs: Registers,
}

/// A fault report; `Display` writes the format shown in the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    snapshot: &'a Snapshot,
    ansi: bool,
}

impl<'a> Report<'a> {
    /// A plain-text report of `snapshot`.
    pub const fn new(snapshot: &'a Snapshot) -> Self {
        Self {
            snapshot,
            ansi: false,
        }
    }

    /// The same report with its first line in bold red (ANSI SGR) for the consoles.
    pub const fn with_colour(self) -> Self {
        Self { ansi: true, ..self }
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.snapshot;
        let v = s.vector;
        let (on, off) = if self.ansi {
            ("\x1b[1;31m", "\x1b[0m")
        } else {
            ("", "")
        };
        writeln!(
            f,
            "{on}!!! CPU exception {v} ({}): {}{off}",
            mnemonic(v),
            name(v)
        )?;
        if has_error_code(v) {
            writeln!(
                f,
                "    error code {:#x}: {}",
                s.error_code,
                ErrorCode::decode(v, s.error_code)
            )?;
        }
        if let Some(cr2) = s.cr2 {
            let what = if v == PAGE_FAULT {
                "faulting address"
            } else {
                "last page-fault address"
            };
            writeln!(f, "    CR2={cr2:#018x} ({what})")?;
        }
        if let Some(ist) = s.ist {
            writeln!(f, "    handler stack: IST{ist}")?;
        }
        writeln!(
            f,
            "    RIP={:#018x} CS={:#06x} (ring {}) RFLAGS={:#018x} {}",
            s.rip,
            s.cs,
            s.cs & 3,
            s.rflags,
            Rflags(s.rflags)
        )?;
        writeln!(f, "    RSP={:#018x} SS={:#06x}", s.rsp, s.ss)?;
        for row in s.regs.labelled().chunks(3) {
            f.write_str("   ")?;
            for (label, value) in row {
                write!(f, " {label}={value:#018x}")?;
            }
            f.write_char('\n')?;
        }
        Ok(())
    }
}

/// Writes the report of `snapshot` (plain text) to `out`.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_report(out: &mut impl Write, snapshot: &Snapshot) -> fmt::Result {
    write!(out, "{}", Report::new(snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_has_a_name_and_mnemonic() {
        for v in 0..=255u8 {
            assert!(!name(v).is_empty());
            assert!(!mnemonic(v).is_empty());
        }
        assert_eq!(name(0), "Divide Error");
        assert_eq!(name(2), "Non-Maskable Interrupt");
        assert_eq!(name(8), "Double Fault");
        assert_eq!(name(13), "General Protection");
        assert_eq!(name(14), "Page Fault");
        assert_eq!(name(15), "Reserved (15)");
        assert_eq!(name(21), "Control Protection");
        assert_eq!(name(28), "Hypervisor Injection");
        assert_eq!(name(29), "VMM Communication");
        assert_eq!(name(30), "Security");
        assert_eq!(name(31), "Reserved (31)");
        assert_eq!(name(32), "Interrupt");
        assert_eq!(mnemonic(14), "#PF");
        assert_eq!(mnemonic(6), "#UD");
        assert_eq!(mnemonic(200), "IRQ");
        let reserved = (0..32u8)
            .filter(|&v| name(v).starts_with("Reserved"))
            .count();
        assert_eq!(reserved, 8, "15, 22-27 and 31 are reserved");
    }

    #[test]
    fn error_code_vectors() {
        let with: Vec<u8> = (0..=255u8).filter(|&v| has_error_code(v)).collect();
        assert_eq!(with, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
    }

    #[test]
    fn page_fault_decoding() {
        let e = PageFaultError(0b10);
        assert!(!e.present() && e.write() && !e.user());
        assert_eq!(e.to_string(), "not present, write, supervisor");
        assert_eq!(
            PageFaultError(0).to_string(),
            "not present, read, supervisor"
        );
        assert_eq!(
            PageFaultError(0b1_0101).to_string(),
            "present, instruction fetch, user"
        );
        let all = PageFaultError(0x807f);
        assert!(all.reserved_bit() && all.protection_key() && all.shadow_stack() && all.sgx());
        assert_eq!(
            all.to_string(),
            "present, instruction fetch, user, reserved bit, protection key, shadow stack, SGX"
        );
    }

    #[test]
    fn selector_decoding() {
        assert_eq!(SelectorError(0).to_string(), "no selector");
        let gdt = SelectorError(0x28);
        assert_eq!(
            (gdt.table(), gdt.index(), gdt.external()),
            (DescriptorTable::Gdt, 5, false)
        );
        assert_eq!(gdt.to_string(), "GDT index 5 (selector 0x28)");
        // IDT entry 13 (13 << 3 | IDT bit), raised while delivering an external event.
        let idt = SelectorError((13 << 3) | 0b11);
        assert_eq!(idt.table(), DescriptorTable::Idt);
        assert_eq!(idt.to_string(), "IDT vector 13, external");
        // Bit 1 (IDT) wins over bit 2 (TI).
        assert_eq!(SelectorError(0b110).table(), DescriptorTable::Idt);
        let ldt = SelectorError((7 << 3) | 0b100);
        assert_eq!(ldt.to_string(), "LDT index 7 (selector 0x38)");
        assert_eq!(SelectorError(0xffff).index(), 0x1fff);
    }

    #[test]
    fn error_codes_by_vector() {
        assert_eq!(ErrorCode::decode(0, 0), ErrorCode::None);
        assert_eq!(ErrorCode::decode(3, 0), ErrorCode::None);
        assert_eq!(ErrorCode::decode(8, 0), ErrorCode::AlwaysZero(0));
        assert_eq!(
            ErrorCode::decode(13, 0x10),
            ErrorCode::Selector(SelectorError(0x10))
        );
        assert_eq!(
            ErrorCode::decode(14, 2),
            ErrorCode::PageFault(PageFaultError(2))
        );
        assert_eq!(ErrorCode::decode(30, 1), ErrorCode::Raw(1));
        assert_eq!(ErrorCode::decode(64, 5), ErrorCode::None);
        assert_eq!(ErrorCode::decode(21, 3).to_string(), "missing ENDBRANCH");
        assert_eq!(
            ErrorCode::decode(21, 0x8001).to_string(),
            "near RET, in enclave"
        );
        assert_eq!(ErrorCode::decode(8, 0).to_string(), "always zero");
    }

    #[test]
    fn rflags_names() {
        assert_eq!(Rflags(0x2).to_string(), "[]");
        assert_eq!(Rflags(0x246).to_string(), "[PF ZF IF]");
        assert_eq!(Rflags(0x3002).to_string(), "[IOPL=3]");
        assert_eq!(Rflags(0x13201).to_string(), "[CF IF RF IOPL=3]");
    }

    fn page_fault_snapshot() -> Snapshot {
        Snapshot {
            vector: 14,
            error_code: 2,
            cr2: Some(0x7fff_dead_0000),
            ist: None,
            rip: 0xffff_ffff_8001_2345,
            cs: 0x08,
            rflags: 0x10046,
            rsp: 0xffff_e800_0003_fe48,
            ss: 0x10,
            regs: Registers {
                rax: 1,
                rbx: 2,
                r8: 0x88,
                r15: 0xf00d,
                ..Registers::default()
            },
        }
    }

    #[test]
    fn page_fault_report() {
        let mut out = String::new();
        write_report(&mut out, &page_fault_snapshot()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "!!! CPU exception 14 (#PF): Page Fault");
        assert_eq!(
            lines[1],
            "    error code 0x2: not present, write, supervisor"
        );
        assert_eq!(lines[2], "    CR2=0x00007fffdead0000 (faulting address)");
        assert_eq!(
            lines[3],
            "    RIP=0xffffffff80012345 CS=0x0008 (ring 0) RFLAGS=0x0000000000010046 [PF ZF RF]"
        );
        assert_eq!(lines[4], "    RSP=0xffffe8000003fe48 SS=0x0010");
        assert_eq!(
            lines[5],
            "    RAX=0x0000000000000001 RBX=0x0000000000000002 RCX=0x0000000000000000"
        );
        assert_eq!(
            lines[7],
            "    RBP=0x0000000000000000 R8 =0x0000000000000088 R9 =0x0000000000000000"
        );
        assert_eq!(
            lines[9],
            "    R13=0x0000000000000000 R14=0x0000000000000000 R15=0x000000000000f00d"
        );
        assert_eq!(lines.len(), 10);
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn report_without_error_code_or_cr2() {
        let s = Snapshot {
            vector: 6,
            error_code: 0,
            cr2: None,
            ..page_fault_snapshot()
        };
        let out = Report::new(&s).to_string();
        assert!(out.starts_with("!!! CPU exception 6 (#UD): Invalid Opcode\n    RIP="));
        assert!(!out.contains("error code"));
        assert!(!out.contains("CR2"));
    }

    #[test]
    fn double_fault_report_names_ist_and_last_cr2() {
        let s = Snapshot {
            vector: 8,
            error_code: 0,
            cr2: Some(0xffff_e800_0000_0ff8),
            ist: Some(1),
            ..page_fault_snapshot()
        };
        let out = Report::new(&s).to_string();
        assert!(out.contains("!!! CPU exception 8 (#DF): Double Fault\n"));
        assert!(out.contains("    error code 0x0: always zero\n"));
        assert!(out.contains("    CR2=0xffffe80000000ff8 (last page-fault address)\n"));
        assert!(out.contains("    handler stack: IST1\n"));
    }

    #[test]
    fn general_protection_report() {
        let s = Snapshot {
            vector: 13,
            error_code: 0x29,
            cr2: None,
            cs: 0x23,
            ..page_fault_snapshot()
        };
        let out = Report::new(&s).to_string();
        assert!(out.contains("error code 0x29: GDT index 5 (selector 0x28), external"));
        assert!(out.contains("CS=0x0023 (ring 3)"));
    }

    #[test]
    fn colour_only_on_the_first_line() {
        let s = page_fault_snapshot();
        let out = Report::new(&s).with_colour().to_string();
        assert!(out.starts_with("\x1b[1;31m!!! CPU exception 14 (#PF): Page Fault\x1b[0m\n"));
        assert_eq!(out.matches('\x1b').count(), 2);
    }

    #[test]
    fn report_into_a_fixed_buffer() {
        // The kernel formats without a heap; a too-small sink reports an error, no panic.
        let mut small: heapless::String<64> = heapless::String::new();
        assert!(write_report(&mut small, &page_fault_snapshot()).is_err());
        let mut big: heapless::String<1024> = heapless::String::new();
        write_report(&mut big, &page_fault_snapshot()).unwrap();
        assert!(big.contains("not present"));
    }
}
