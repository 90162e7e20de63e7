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
//! - [`WalkReport`]: the walk of CR2 through the page tables (any `Display`, in the kernel a
//!   `pagetables::Walk`) and, for a page fault, its cause ([`page_fault_cause`] from the error
//!   code and the rights the walk found, [`Leaf`]).
//!
//! Report format (`{:#018x}` is `0x` and 16 hex digits):
//!
//! ```text
//! !!! CPU exception 14 (#PF): Page Fault
//!     error code 0x2: supervisor write, page not present
//!     CR2=0xffffe8000003eff8 (faulting address)
//!     hint: stack overflow on the kernel stack (CR2 is in its guard area)
//!     RIP=0xffffffff80012345 CS=0x0008 (ring 0) RFLAGS=0x0000000000010046 [PF ZF RF]
//!     RSP=0xffffe8000003f000 SS=0x0010
//!     RAX=0x0000000000000000 RBX=0x0000000000000000 RCX=0x0000000000000000
//!     RDX=0x0000000000000000 RSI=0x0000000000000000 RDI=0x0000000000000000
//!     RBP=0x0000000000000000 R8 =0x0000000000000000 R9 =0x0000000000000000
//!     R10=0x0000000000000000 R11=0x0000000000000000 R12=0x0000000000000000
//!     R13=0x0000000000000000 R14=0x0000000000000000 R15=0x0000000000000000
//!     walk of 0xffffe8000003eff8 (PML4 at 0x7f3e000):
//!       PML4[464] @ 0x7f3e000 = 0x0000000007f2d003  P W -> PDPT at 0x7f2d000
//!       PDPT[  0] @ 0x7f2d000 = 0x0000000007f2c003  P W -> PD at 0x7f2c000
//!       PD  [  1] @ 0x7f2c000 = 0x0000000007f2b003  P W -> PT at 0x7f2b000
//!       PT  [ 62] @ 0x7f2b000 = 0x0000000000000000  -
//!       not mapped: the PT entry is not present
//!     cause: no page is mapped at this address
//! ```
//!
//! The error-code line appears only for vectors that push one; the CR2 line for page faults
//! (and, labelled as the last page-fault address, for double faults, where it usually names the
//! page whose fault could not be delivered, e.g. a stack guard page), with the `hint` line when
//! CR2 lies in the unmapped guard area below a stack; a `handler stack: ISTn` line when the handler ran on an
//! interrupt stack. The kernel prints the [`WalkReport`] separately, after the [`Report`]: if
//! reading the page tables faults, the registers are out already.

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

    /// Who accessed (`user`, `supervisor`) and how (`read`, `write`, `instruction fetch`):
    /// `supervisor write`.
    pub const fn access(self) -> (&'static str, &'static str) {
        (
            if self.user() { "user" } else { "supervisor" },
            if self.instruction_fetch() {
                "instruction fetch"
            } else if self.write() {
                "write"
            } else {
                "read"
            },
        )
    }

    /// What kind of fault: `page not present`, `protection violation`, or `reserved bit set`
    /// (the CPU sets P with RSVD, so a reserved-bit fault is not called a protection
    /// violation).
    pub const fn kind(self) -> &'static str {
        if self.reserved_bit() {
            "reserved bit set"
        } else if self.present() {
            "protection violation"
        } else {
            "page not present"
        }
    }
}

/// `supervisor write, page not present`: the access ([`PageFaultError::access`]), the kind
/// ([`PageFaultError::kind`]), then any of `protection key`, `shadow stack`, `SGX`.
impl fmt::Display for PageFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (who, what) = self.access();
        write!(f, "{who} {what}, {}", self.kind())?;
        for (set, text) in [
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

/// What a walk of the faulting address found, for [`page_fault_cause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// The page tables could not be read (too early in the boot, or no address to walk).
    Unknown,
    /// The walk ended before a leaf: nothing maps the address.
    NotMapped,
    /// A leaf maps the address; the rights are what every entry on the way allows together
    /// (the CPU ANDs W and U, ORs NX).
    Mapped {
        /// Writes allowed.
        writable: bool,
        /// Instruction fetches allowed.
        executable: bool,
        /// Ring 3 allowed.
        user: bool,
    },
}

/// Why the access `error` faulted, in one phrase, given what the walk of the address found
/// now. A protection violation is explained by the first rule the rights break: a user access
/// to a supervisor page, a fetch from a no-execute page, a write to a read-only page (CR0.WP
/// applies this to supervisor writes too), a supervisor fetch from or access to a user page
/// (SMEP, SMAP).
pub const fn page_fault_cause(error: PageFaultError, leaf: Leaf) -> &'static str {
    if error.reserved_bit() {
        return "an entry on the way has a reserved bit set";
    }
    if error.protection_key() {
        return "the page's protection key forbids this access";
    }
    if error.shadow_stack() {
        return "shadow-stack access the page's type does not allow";
    }
    if error.sgx() {
        return "SGX access-control violation";
    }
    let (writable, executable, user_page) = match leaf {
        Leaf::Mapped {
            writable,
            executable,
            user,
        } => (writable, executable, user),
        Leaf::Unknown if error.present() => return "protection violation (tables not readable)",
        Leaf::Unknown => return "no page is mapped at this address",
        Leaf::NotMapped if error.present() => {
            return "protection violation, but the tables no longer map the address";
        }
        Leaf::NotMapped => return "no page is mapped at this address",
    };
    if !error.present() {
        return "not mapped when accessed (the tables map it now)";
    }
    if error.user() && !user_page {
        "user-mode access to a supervisor page"
    } else if error.instruction_fetch() && !executable {
        "instruction fetch from a no-execute page"
    } else if error.write() && !writable {
        "write to a read-only page"
    } else if !error.user() && user_page && error.instruction_fetch() {
        "supervisor instruction fetch from a user page (SMEP)"
    } else if !error.user() && user_page {
        "supervisor access to a user page (SMAP)"
    } else {
        "protection violation the tables do not explain (stale TLB entry?)"
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
    guard: Option<&'a str>,
}

impl<'a> Report<'a> {
    /// A plain-text report of `snapshot`.
    pub const fn new(snapshot: &'a Snapshot) -> Self {
        Self {
            snapshot,
            ansi: false,
            guard: None,
        }
    }

    /// The same report with its first line in bold red (ANSI SGR) for the consoles.
    pub const fn with_colour(self) -> Self {
        Self { ansi: true, ..self }
    }

    /// The same report with the hint that CR2 lies in the guard area of the stack called
    /// `stack` (named without an article, as the memory module registers stacks: `boot CPU
    /// kernel stack`): a `hint: stack overflow on the <stack>` line after CR2.
    pub const fn with_guard_page_of(self, stack: &'a str) -> Self {
        Self {
            guard: Some(stack),
            ..self
        }
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
            if let Some(stack) = self.guard {
                writeln!(
                    f,
                    "    hint: stack overflow on the {stack} (CR2 is in its guard area)"
                )?;
            }
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

/// The second part of a page-fault (or double-fault) report: the walk of CR2 through the page
/// tables, indented under the report, then (for a page fault) its cause.
///
/// ```text
///     walk of 0xffffffff80001000 (PML4 at 0x7f3e000):
///       PML4[511] @ 0x7f3e000 = 0x0000000007f3d003  P W -> PDPT at 0x7f3d000
///       ...
///       maps to 0x1c5000 (4 KiB page; read-only, executable, supervisor, write-back)
///     cause: write to a read-only page
/// ```
///
/// Without a walk (the tables are not readable yet) the first line is `walk: unavailable`.
#[derive(Clone, Copy)]
pub struct WalkReport<'a> {
    walk: Option<&'a dyn fmt::Display>,
    cause: Option<&'static str>,
}

impl<'a> WalkReport<'a> {
    /// The walk section of the report of `snapshot`: `walk` is the walk of its CR2 (any
    /// `Display`, e.g. `pagetables::Walk`) and `leaf` what it found. Page faults also get a
    /// `cause:` line ([`page_fault_cause`]).
    pub fn new(snapshot: &Snapshot, walk: Option<&'a dyn fmt::Display>, leaf: Leaf) -> Self {
        let cause = (snapshot.vector == PAGE_FAULT)
            .then(|| page_fault_cause(PageFaultError(snapshot.error_code), leaf));
        Self { walk, cause }
    }
}

impl fmt::Debug for WalkReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalkReport")
            .field("walk", &self.walk.is_some())
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for WalkReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.walk {
            Some(walk) => {
                let mut out = Indent {
                    out: f,
                    line_start: true,
                };
                write!(out, "{walk}")?;
                if !out.line_start {
                    out.out.write_char('\n')?;
                }
            }
            None => {
                f.write_str("    walk: unavailable (the page tables are not readable yet)\n")?
            }
        }
        if let Some(cause) = self.cause {
            writeln!(f, "    cause: {cause}")?;
        }
        Ok(())
    }
}

/// Writes through to `out`, four spaces before every line.
struct Indent<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    line_start: bool,
}

impl Write for Indent<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.line_start {
                self.out.write_str("    ")?;
            }
            self.out.write_str(piece)?;
            self.line_start = piece.ends_with('\n');
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
        assert_eq!(e.to_string(), "supervisor write, page not present");
        assert_eq!(
            PageFaultError(0).to_string(),
            "supervisor read, page not present"
        );
        assert_eq!(
            PageFaultError(0b11).to_string(),
            "supervisor write, protection violation"
        );
        assert_eq!(
            PageFaultError(0b1_0001).to_string(),
            "supervisor instruction fetch, protection violation"
        );
        assert_eq!(
            PageFaultError(0b1_0101).to_string(),
            "user instruction fetch, protection violation"
        );
        assert_eq!(
            PageFaultError(0b1_1001).to_string(),
            "supervisor instruction fetch, reserved bit set"
        );
        assert_eq!(
            PageFaultError(0b111).to_string(),
            "user write, protection violation"
        );
        // I/D wins over W/R (a fetch never writes).
        assert_eq!(
            PageFaultError(0b1_0010).access(),
            ("supervisor", "instruction fetch")
        );
        let all = PageFaultError(0x807f);
        assert!(all.reserved_bit() && all.protection_key() && all.shadow_stack() && all.sgx());
        assert_eq!(
            all.to_string(),
            "user instruction fetch, reserved bit set, protection key, shadow stack, SGX"
        );
        assert_eq!(
            PageFaultError(0x21).to_string(),
            "supervisor read, protection violation, protection key"
        );
        assert_eq!(
            PageFaultError(0x43).to_string(),
            "supervisor write, protection violation, shadow stack"
        );
        assert_eq!(
            PageFaultError(0x8001).to_string(),
            "supervisor read, protection violation, SGX"
        );
    }

    fn rights(writable: bool, executable: bool, user: bool) -> Leaf {
        Leaf::Mapped {
            writable,
            executable,
            user,
        }
    }

    #[test]
    fn page_fault_causes() {
        let cause = |code, leaf| page_fault_cause(PageFaultError(code), leaf);
        // Not present: whatever the walk could tell.
        for leaf in [Leaf::Unknown, Leaf::NotMapped] {
            assert_eq!(cause(0, leaf), "no page is mapped at this address");
            assert_eq!(cause(0b10, leaf), "no page is mapped at this address");
        }
        assert_eq!(
            cause(0, rights(true, false, false)),
            "not mapped when accessed (the tables map it now)"
        );
        // Protection violations, by the rule broken.
        let text = rights(false, true, false);
        let data = rights(true, false, false);
        let user_data = rights(true, false, true);
        let user_text = rights(false, true, true);
        assert_eq!(cause(0b11, text), "write to a read-only page");
        assert_eq!(
            cause(0b1_0001, data),
            "instruction fetch from a no-execute page"
        );
        assert_eq!(
            cause(0b1_0001, user_text),
            "supervisor instruction fetch from a user page (SMEP)"
        );
        assert_eq!(
            cause(0b01, user_data),
            "supervisor access to a user page (SMAP)"
        );
        assert_eq!(
            cause(0b11, user_data),
            "supervisor access to a user page (SMAP)"
        );
        assert_eq!(cause(0b101, data), "user-mode access to a supervisor page");
        assert_eq!(
            cause(0b1_0101, text),
            "user-mode access to a supervisor page"
        );
        assert_eq!(cause(0b111, user_text), "write to a read-only page");
        assert_eq!(
            cause(0b1_0101, user_data),
            "instruction fetch from a no-execute page"
        );
        assert_eq!(
            cause(0b11, data),
            "protection violation the tables do not explain (stale TLB entry?)"
        );
        assert_eq!(
            cause(0b11, Leaf::Unknown),
            "protection violation (tables not readable)"
        );
        assert_eq!(
            cause(0b11, Leaf::NotMapped),
            "protection violation, but the tables no longer map the address"
        );
        // Special bits name themselves, whatever the rights.
        assert_eq!(
            cause(0b1001, data),
            "an entry on the way has a reserved bit set"
        );
        assert_eq!(
            cause(0x21, data),
            "the page's protection key forbids this access"
        );
        assert_eq!(
            cause(0x43, data),
            "shadow-stack access the page's type does not allow"
        );
        assert_eq!(cause(0x8001, data), "SGX access-control violation");
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
            "    error code 0x2: supervisor write, page not present"
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
        assert!(big.contains("page not present"));
    }

    #[test]
    fn guard_page_hint_follows_cr2() {
        let s = page_fault_snapshot();
        let out = Report::new(&s)
            .with_guard_page_of("kernel stack")
            .to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[2], "    CR2=0x00007fffdead0000 (faulting address)");
        assert_eq!(
            lines[3],
            "    hint: stack overflow on the kernel stack (CR2 is in its guard area)"
        );
        assert_eq!(lines.len(), 11);
        // Double fault: the hint comes before the handler stack.
        let df = Snapshot {
            vector: 8,
            error_code: 0,
            ist: Some(1),
            ..s
        };
        let out = Report::new(&df)
            .with_guard_page_of("kernel stack")
            .to_string();
        assert!(out.contains(
            "(last page-fault address)\n    hint: stack overflow on the kernel stack (CR2 is in \
             its guard area)\n    handler stack: IST1\n"
        ));
        // No CR2, no hint.
        let ud = Snapshot {
            vector: 6,
            cr2: None,
            ..s
        };
        let out = Report::new(&ud).with_guard_page_of("x").to_string();
        assert!(!out.contains("hint"));
    }

    /// A walk-like text: several lines, no final newline (as `pagetables::Walk` writes it).
    struct FakeWalk;

    impl fmt::Display for FakeWalk {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("walk of 0x1000:\n  PML4[  0] = 0\n")?;
            f.write_str("  not mapped")
        }
    }

    #[test]
    fn walk_section_is_indented_and_ends_with_the_cause() {
        let s = Snapshot {
            error_code: 0b11,
            ..page_fault_snapshot()
        };
        let walk = FakeWalk;
        let out = WalkReport::new(&s, Some(&walk), rights(false, true, false)).to_string();
        assert_eq!(
            out,
            "    walk of 0x1000:\n      PML4[  0] = 0\n      not mapped\n    cause: write to a \
             read-only page\n"
        );
        let out = WalkReport::new(&s, None, Leaf::Unknown).to_string();
        assert_eq!(
            out,
            "    walk: unavailable (the page tables are not readable yet)\n    cause: protection \
             violation (tables not readable)\n"
        );
        // A double fault has no page-fault error code, hence no cause.
        let df = Snapshot { vector: 8, ..s };
        let out = WalkReport::new(&df, Some(&walk), Leaf::NotMapped).to_string();
        assert!(out.ends_with("      not mapped\n"), "{out}");
        assert!(!out.contains("cause"));
    }

    /// Page tables in a map from frame address to table, for a real `pagetables::Walk`.
    #[derive(Default)]
    struct Ram(std::collections::HashMap<u64, [u64; 512]>, u64);

    impl pagetables::PhysMemory for Ram {
        fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
            self.0
                .get(&table.start_address().as_u64())
                .map_or(0, |t| t[index])
        }
        fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
            self.0
                .entry(table.start_address().as_u64())
                .or_insert([0; 512])[index] = value;
        }
    }

    impl pagetables::FrameSource for Ram {
        fn allocate_frame(&mut self) -> Option<PhysFrame> {
            self.1 += 0x1000;
            Some(PhysFrame::containing_address(PhysAddr::new(
                0x10_0000 + self.1,
            )))
        }
        fn deallocate_frame(&mut self, _: PhysFrame) {}
    }

    use pagetables::x86_64::structures::paging::PhysFrame;
    use pagetables::x86_64::{PhysAddr, VirtAddr};

    #[test]
    fn report_of_a_write_to_kernel_text_with_a_real_walk() {
        let mut ram = Ram::default();
        let mut pt = pagetables::PageTables::new(&mut ram, pagetables::Features::ALL).unwrap();
        let text = 0xffff_ffff_8000_1000;
        pt.map(
            &mut ram,
            text,
            0x20_0000,
            0x1000,
            pagetables::MapFlags::kernel_segment(false, true),
        )
        .unwrap()
        .ignore();
        let walk = pt.walk(&ram, VirtAddr::new(text + 8));
        let s = Snapshot {
            error_code: 0b11,
            cr2: Some(text + 8),
            ..page_fault_snapshot()
        };
        let leaf = Leaf::Mapped {
            writable: walk.writable(),
            executable: walk.executable(),
            user: walk.user(),
        };
        let out = format!(
            "{}{}",
            Report::new(&s),
            WalkReport::new(&s, Some(&walk), leaf)
        );
        for part in [
            "    error code 0x3: supervisor write, protection violation\n",
            "    CR2=0xffffffff80001008 (faulting address)\n",
            "    walk of 0xffffffff80001008 (PML4 at 0x101000):\n",
            "\n      PML4[511] @ 0x101000 = ",
            "\n      PT  [  1] @ ",
            " -> 4 KiB page at 0x200000\n",
            "\n      maps to 0x200008 (4 KiB page; read-only, executable, supervisor, write-back)\n",
            "\n    cause: write to a read-only page\n",
        ] {
            assert!(out.contains(part), "missing {part:?} in\n{out}");
        }
        // Every line of the walk is indented under the report.
        assert!(
            out.lines()
                .all(|l| l.starts_with("    ") || l.starts_with("!!!")),
            "{out}"
        );
        // An unmapped neighbour: the walk stops at the PT.
        let walk = pt.walk(&ram, VirtAddr::new(text + 0x1000));
        let out = WalkReport::new(&s, Some(&walk), Leaf::NotMapped).to_string();
        assert!(
            out.contains("      not mapped: the PT entry is not present\n"),
            "{out}"
        );
    }
}
