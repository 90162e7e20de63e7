//! Local APIC (x2APIC through MSRs when the CPU has it, else xAPIC registers mapped uncached)
//! and IOAPICs (memory-mapped, mapped uncached by the kernel: the HHDM need not cover them).

use x86_64::registers::model_specific::Msr;

use super::paging::{Window, WindowError};

/// Local APIC register offsets (xAPIC MMIO offsets; x2APIC MSR = 0x800 + offset / 16).
mod reg {
    pub const ID: u32 = 0x20;
    pub const VERSION: u32 = 0x30;
    pub const TPR: u32 = 0x80;
    pub const EOI: u32 = 0xb0;
    pub const SVR: u32 = 0xf0;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
    pub const ISR: u32 = 0x100;
    pub const LVT_CMCI: u32 = 0x2f0;
    pub const LVT_THERMAL: u32 = 0x330;
    pub const LVT_PERF: u32 = 0x340;
    pub const ICR_LOW: u32 = 0x300;
    pub const ICR_HIGH: u32 = 0x310;
}

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const LVT_MASKED: u32 = 1 << 16;
const LVT_PERIODIC: u32 = 1 << 17;

/// Whether the CPU supports x2APIC (CPUID.1:ECX bit 21).
pub fn has_x2apic() -> bool {
    super::cpu::cpuid(1, 0).ecx & (1 << 21) != 0
}

/// Physical address of the local APIC registers from IA32_APIC_BASE.
pub fn base_address() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no side effects.
    unsafe { Msr::new(IA32_APIC_BASE).read() & 0x000f_ffff_ffff_f000 }
}

/// Bytes of local APIC registers the handle uses (offsets up to 0x3f0).
const LAPIC_REGISTER_BYTES: u64 = 0x400;
/// Bytes of an IOAPIC's register window (IOREGSEL at 0, IOWIN at 0x10).
const IOAPIC_REGISTER_BYTES: u64 = 0x20;

/// How to reach the local APIC's registers.
#[derive(Debug)]
pub enum ApicAccess {
    /// Through MSRs (x2APIC mode).
    X2apic,
    /// Through its register page, mapped uncached (xAPIC mode).
    Mmio(Window),
}

/// Why the local APIC cannot be enabled as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApicError {
    /// x2APIC mode asked of a CPU without it.
    NoX2apic,
    /// The register window is unsuitable.
    Window(WindowError),
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoX2apic => f.write_str("the CPU has no x2APIC"),
            Self::Window(e) => write!(f, "local APIC registers: {e}"),
        }
    }
}

impl core::error::Error for ApicError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::NoX2apic => None,
            Self::Window(e) => Some(e),
        }
    }
}

/// The boot CPU's local APIC.
///
/// Registers are reached through MSRs or volatile accesses to device memory the kernel does
/// not own, so a second handle could only interleave register writes (a logic error), never
/// touch Rust memory; the interrupt module keeps exactly one.
#[derive(Debug)]
pub struct LocalApic {
    /// Virtual address of the xAPIC register page, or `None` in x2APIC mode.
    mmio: Option<u64>,
}

impl LocalApic {
    /// Enables the local APIC through `access` (see [`enable_raw`](Self::enable_raw)).
    ///
    /// # Errors
    /// [`ApicError`] when the CPU lacks x2APIC for [`ApicAccess::X2apic`], or the window is
    /// cached, too small or over memory the kernel owns.
    pub fn enable(access: ApicAccess, spurious: u8) -> Result<Self, ApicError> {
        let mmio = match access {
            ApicAccess::X2apic if has_x2apic() => None,
            ApicAccess::X2apic => return Err(ApicError::NoX2apic),
            ApicAccess::Mmio(window) => Some(
                window
                    .check(LAPIC_REGISTER_BYTES, true)
                    .map_err(ApicError::Window)?,
            ),
        };
        // SAFETY: x2APIC mode only on a CPU that has it; otherwise `mmio` maps device memory
        // the kernel does not own, uncached, covering every register offset used (checked
        // above, the window consumed here). The caller's choice of physical page is the
        // firmware's (MADT) or the CPU's (IA32_APIC_BASE) word for where the APIC is.
        Ok(unsafe { Self::enable_raw(mmio, spurious) })
    }

    /// Enables the local APIC: x2APIC mode when `mmio` is `None` (the CPU must support it),
    /// else xAPIC through the uncached mapping at `mmio`. Software-enables it with spurious
    /// vector `spurious`, TPR 0, LINT0/LINT1/error/timer masked.
    ///
    /// # Safety
    /// `mmio`, if given, must map this CPU's local APIC page uncached, device memory in which
    /// no Rust object lives. (A second handle on the same APIC only interleaves register
    /// accesses, which is a logic error, not a memory-safety one.)
    pub unsafe fn enable_raw(mmio: Option<u64>, spurious: u8) -> Self {
        let mut base = Msr::new(IA32_APIC_BASE);
        // SAFETY: setting the enable (and x2APIC) bits of IA32_APIC_BASE is the architectural
        // way to turn the APIC on; x2APIC is only requested when `mmio` is None, i.e. when the
        // caller checked the CPU supports it. Going from xAPIC to x2APIC is allowed.
        unsafe {
            let value =
                base.read() | APIC_BASE_ENABLE | if mmio.is_none() { APIC_BASE_X2APIC } else { 0 };
            base.write(value);
        }
        let apic = Self { mmio };
        // Mask every local vector table entry the version register says exists, whatever the
        // firmware or an older loader left running, except SMI-delivery ones (firmware owns
        // those; masking them can hang some machines).
        let max_lvt = (apic.read(reg::VERSION) >> 16) & 0xff;
        let mut lvts: [Option<u32>; 7] = [
            Some(reg::LVT_TIMER),
            Some(reg::LVT_LINT0),
            Some(reg::LVT_LINT1),
            Some(reg::LVT_ERROR),
            None,
            None,
            None,
        ];
        if max_lvt >= 4 {
            lvts[4] = Some(reg::LVT_PERF);
        }
        if max_lvt >= 5 {
            lvts[5] = Some(reg::LVT_THERMAL);
        }
        if max_lvt >= 6 {
            lvts[6] = Some(reg::LVT_CMCI);
        }
        for lvt in lvts.into_iter().flatten() {
            let value = apic.read(lvt);
            if (value >> 8) & 0b111 != 0b010 {
                apic.write(lvt, value | LVT_MASKED);
            }
        }
        apic.write(reg::TPR, 0);
        apic.write(reg::SVR, 0x100 | u32::from(spurious));
        // An interrupt the firmware left in service would block every lower-priority vector
        // until acknowledged: acknowledge until the in-service register is clear.
        for _ in 0..256 {
            if !apic.any_in_service() {
                break;
            }
            apic.eoi();
        }
        apic
    }

    /// Whether any vector is in service (ISR, eight 32-bit registers from 0x100).
    pub fn any_in_service(&self) -> bool {
        (0..8).any(|i| self.read(reg::ISR + i * 0x10) != 0)
    }

    /// Whether `vector` is in service.
    pub fn in_service(&self, vector: u8) -> bool {
        let (word, bit) = (u32::from(vector) / 32, u32::from(vector) % 32);
        self.read(reg::ISR + word * 0x10) & (1 << bit) != 0
    }

    fn read(&self, offset: u32) -> u32 {
        match self.mmio {
            // SAFETY: in x2APIC mode every architectural register has its MSR.
            None => unsafe { Msr::new(0x800 + (offset >> 4)).read() as u32 },
            // SAFETY: `mmio` maps the APIC page uncached (constructor contract); the offset is
            // an aligned register inside it.
            Some(base) => unsafe {
                core::ptr::read_volatile((base + u64::from(offset)) as *const u32)
            },
        }
    }

    fn write(&self, offset: u32, value: u32) {
        match self.mmio {
            // SAFETY: as in `read`; writing a register image only programs the APIC.
            None => unsafe { Msr::new(0x800 + (offset >> 4)).write(u64::from(value)) },
            // SAFETY: as in `read`.
            Some(base) => unsafe {
                core::ptr::write_volatile((base + u64::from(offset)) as *mut u32, value)
            },
        }
    }

    /// Whether this APIC runs in x2APIC mode.
    pub fn is_x2apic(&self) -> bool {
        self.mmio.is_none()
    }

    /// The APIC ID (x2APIC: 32 bits; xAPIC: bits 24-31).
    pub fn id(&self) -> u32 {
        let raw = self.read(reg::ID);
        if self.is_x2apic() { raw } else { raw >> 24 }
    }

    /// The version register (bits 16-23: highest LVT entry).
    pub fn version(&self) -> u32 {
        self.read(reg::VERSION)
    }

    /// Virtual-wire mode for the legacy PIC path: LINT0 delivers the 8259's interrupts
    /// (ExtINT), LINT1 delivers NMIs. Without this, a loader that masked the LVTs (as base
    /// revision 5 requires: PROTOCOL.md, "Machine State at Entry") would silence the PIC.
    pub fn virtual_wire(&self) {
        self.write(reg::LVT_LINT0, 0b111 << 8);
        self.write(reg::LVT_LINT1, 0b100 << 8);
    }

    /// Signals end of interrupt.
    pub fn eoi(&self) {
        self.write(reg::EOI, 0);
    }

    /// Stops the timer and loads `initial` as a one-shot count with divider 16, masked, so the
    /// count can be watched without interrupts (calibration).
    pub fn timer_start_counting(&self, initial: u32) {
        self.write(reg::LVT_TIMER, LVT_MASKED);
        self.write(reg::TIMER_DIVIDE, 0b0011); // divide by 16
        self.write(reg::TIMER_INITIAL, initial);
    }

    /// The timer's current count.
    pub fn timer_current(&self) -> u32 {
        self.read(reg::TIMER_CURRENT)
    }

    /// Runs the timer periodically: every `count` ticks of the bus clock / 16, `vector` fires.
    pub fn timer_periodic(&self, vector: u8, count: u32) {
        self.write(reg::TIMER_DIVIDE, 0b0011);
        self.write(reg::LVT_TIMER, LVT_PERIODIC | u32::from(vector));
        self.write(reg::TIMER_INITIAL, count.max(1));
    }

    /// Sends this CPU a non-maskable interrupt (an NMI IPI to its own APIC ID: the "self"
    /// shorthand is only valid for fixed delivery).
    pub fn send_nmi_to_self(&self) {
        const DELIVERY_NMI: u32 = 0b100 << 8;
        const LEVEL_ASSERT: u32 = 1 << 14;
        let id = self.id();
        match self.mmio {
            None => {
                // x2APIC: the ICR is one 64-bit MSR, destination in the high half.
                let icr = (u64::from(id) << 32) | u64::from(DELIVERY_NMI | LEVEL_ASSERT);
                // SAFETY: in x2APIC mode MSR 0x830 is the ICR; the IPI targets this CPU.
                unsafe { Msr::new(0x800 + (reg::ICR_LOW >> 4)).write(icr) };
            }
            Some(_) => {
                self.write(reg::ICR_HIGH, id << 24);
                self.write(reg::ICR_LOW, DELIVERY_NMI | LEVEL_ASSERT);
            }
        }
    }

    /// Masks the timer.
    pub fn timer_stop(&self) {
        self.write(reg::LVT_TIMER, LVT_MASKED);
        self.write(reg::TIMER_INITIAL, 0);
    }
}

/// An IOAPIC's register window (IOREGSEL at +0, IOWIN at +0x10). As for [`LocalApic`], a
/// second handle could only interleave register accesses.
#[derive(Debug)]
pub struct IoApic {
    base: u64,
}

impl IoApic {
    /// The IOAPIC whose registers `window` maps (uncached).
    ///
    /// # Errors
    /// [`WindowError`] when the window is cached, too small or over memory the kernel owns.
    pub fn from_window(window: Window) -> Result<Self, WindowError> {
        let base = window.check(IOAPIC_REGISTER_BYTES, true)?;
        // SAFETY: `base` maps device memory the kernel does not own, uncached, covering both
        // registers (checked above, the window consumed here); the MADT says an IOAPIC is
        // there.
        Ok(unsafe { Self::new(base) })
    }

    /// A handle on the IOAPIC whose registers are mapped uncached at `base`.
    ///
    /// # Safety
    /// `base` must map an IOAPIC's register page uncached, device memory in which no Rust
    /// object lives (a second handle only interleaves register accesses).
    pub const unsafe fn new(base: u64) -> Self {
        Self { base }
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: per `new`, `base` maps the register window; select, then read the window.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::read_volatile((self.base + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(self.base as *mut u32, reg);
            core::ptr::write_volatile((self.base + 0x10) as *mut u32, value);
        }
    }

    /// Number of redirection entries (pins).
    pub fn pins(&self) -> u32 {
        ((self.read(1) >> 16) & 0xff) + 1
    }

    /// Masks every pin.
    pub fn mask_all(&self) {
        for pin in 0..self.pins() {
            let low = self.read(0x10 + 2 * pin);
            self.write(0x10 + 2 * pin, low | LVT_MASKED);
        }
    }

    /// Routes `pin` to `vector` on the local APIC `dest` (physical mode, fixed delivery) with
    /// the given polarity and trigger mode, unmasked.
    pub fn route(&self, pin: u32, vector: u8, dest: u32, active_low: bool, level: bool) {
        let mut low = u32::from(vector);
        if active_low {
            low |= 1 << 13;
        }
        if level {
            low |= 1 << 15;
        }
        let reg = 0x10 + 2 * pin;
        // Mask while changing, program the destination, then the vector/flags (unmasked).
        self.write(reg, LVT_MASKED);
        self.write(reg + 1, (dest & 0xff) << 24);
        self.write(reg, low);
    }

    /// The low half of `pin`'s redirection entry (tests).
    pub fn entry_low(&self, pin: u32) -> u32 {
        self.read(0x10 + 2 * pin)
    }
}
