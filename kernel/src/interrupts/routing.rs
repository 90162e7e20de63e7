//! Where an ISA interrupt arrives on an APIC system, from the MADT's data.
//!
//! On the legacy PIC, ISA IRQ n is pin n. With IOAPICs, IRQ n arrives at global system
//! interrupt (GSI) n with ISA defaults (edge triggered, active high) unless the MADT has an
//! interrupt source override for it (QEMU routes the PIT's IRQ 0 to GSI 2, for example, and
//! some firmware makes the SCI level triggered, active low). The override's MPS INTI flags may
//! also say "conforms to the bus", which for ISA means the defaults.

use heapless::Vec;

/// Most IOAPICs the kernel keeps track of.
pub const MAX_IO_APICS: usize = 8;
/// Most interrupt source overrides the kernel keeps.
pub const MAX_OVERRIDES: usize = 32;

/// An IOAPIC from the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoApicInfo {
    /// APIC ID.
    pub id: u8,
    /// Physical address of the register window.
    pub address: u64,
    /// First GSI it serves.
    pub gsi_base: u32,
}

/// An interrupt source override (ISA bus only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    /// ISA IRQ.
    pub irq: u8,
    /// GSI it is wired to.
    pub gsi: u32,
    /// Raw MPS INTI flags (bits 0-1 polarity, bits 2-3 trigger mode).
    pub flags: u16,
}

/// Interrupt hardware as the MADT describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterruptInfo {
    /// Physical address of the local APIC registers (after any address override).
    pub local_apic_address: u64,
    /// The IOAPICs.
    pub io_apics: Vec<IoApicInfo, MAX_IO_APICS>,
    /// ISA interrupt source overrides.
    pub overrides: Vec<Override, MAX_OVERRIDES>,
    /// Whether dual 8259 PICs are present (MADT flag PCAT_COMPAT).
    pub has_8259: bool,
}

/// How a GSI signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Global system interrupt.
    pub gsi: u32,
    /// Active low (else active high).
    pub active_low: bool,
    /// Level triggered (else edge).
    pub level: bool,
}

/// Decodes MPS INTI flags for an ISA source: 00 = bus default (high / edge), 01 = high/edge,
/// 11 = low/level, 10 = reserved (treated as the bus default, logged by the caller).
pub const fn decode_flags(flags: u16) -> (bool, bool) {
    let active_low = flags & 0b11 == 0b11;
    let level = (flags >> 2) & 0b11 == 0b11;
    (active_low, level)
}

impl InterruptInfo {
    /// The route of ISA IRQ `irq`, honouring overrides.
    pub fn route_isa(&self, irq: u8) -> Route {
        match self.overrides.iter().find(|o| o.irq == irq) {
            Some(o) => {
                let (active_low, level) = decode_flags(o.flags);
                Route {
                    gsi: o.gsi,
                    active_low,
                    level,
                }
            }
            None => Route {
                gsi: u32::from(irq),
                active_low: false,
                level: false,
            },
        }
    }

    /// The IOAPIC serving `gsi` (the one with the highest base not above it that has `pins`
    /// pins covering it, as reported by `pins_of`), and the pin number.
    pub fn io_apic_for(
        &self,
        gsi: u32,
        pins_of: impl Fn(&IoApicInfo) -> u32,
    ) -> Option<(IoApicInfo, u32)> {
        self.io_apics
            .iter()
            .filter(|a| gsi >= a.gsi_base && gsi - a.gsi_base < pins_of(a))
            .max_by_key(|a| a.gsi_base)
            .map(|a| (*a, gsi - a.gsi_base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu_like() -> InterruptInfo {
        let mut info = InterruptInfo {
            local_apic_address: 0xfee0_0000,
            has_8259: true,
            ..Default::default()
        };
        let _ = info.io_apics.push(IoApicInfo {
            id: 0,
            address: 0xfec0_0000,
            gsi_base: 0,
        });
        // QEMU: PIT on GSI 2; SCI (IRQ 9) level, active high; IRQs 5, 10, 11 level/high.
        let _ = info.overrides.push(Override {
            irq: 0,
            gsi: 2,
            flags: 0,
        });
        let _ = info.overrides.push(Override {
            irq: 9,
            gsi: 9,
            flags: 0b1101,
        });
        let _ = info.overrides.push(Override {
            irq: 11,
            gsi: 11,
            flags: 0b1111,
        });
        info
    }

    #[test]
    fn overrides_and_defaults() {
        let info = qemu_like();
        assert_eq!(
            info.route_isa(0),
            Route {
                gsi: 2,
                active_low: false,
                level: false
            }
        );
        assert_eq!(
            info.route_isa(1),
            Route {
                gsi: 1,
                active_low: false,
                level: false
            }
        );
        assert_eq!(
            info.route_isa(4),
            Route {
                gsi: 4,
                active_low: false,
                level: false
            }
        );
        assert_eq!(
            info.route_isa(9),
            Route {
                gsi: 9,
                active_low: false,
                level: true
            }
        );
        assert_eq!(
            info.route_isa(11),
            Route {
                gsi: 11,
                active_low: true,
                level: true
            }
        );
    }

    #[test]
    fn flag_decoding() {
        assert_eq!(decode_flags(0b0000), (false, false)); // conforms to ISA: high, edge
        assert_eq!(decode_flags(0b0101), (false, false));
        assert_eq!(decode_flags(0b1111), (true, true));
        assert_eq!(decode_flags(0b0011), (true, false));
        assert_eq!(decode_flags(0b1100), (false, true));
    }

    #[test]
    fn picks_the_io_apic_serving_a_gsi() {
        let mut info = qemu_like();
        let _ = info.io_apics.push(IoApicInfo {
            id: 1,
            address: 0xfec0_1000,
            gsi_base: 24,
        });
        let pins = |_: &IoApicInfo| 24;
        assert_eq!(
            info.io_apic_for(2, pins).map(|(a, pin)| (a.id, pin)),
            Some((0, 2))
        );
        assert_eq!(
            info.io_apic_for(30, pins).map(|(a, pin)| (a.id, pin)),
            Some((1, 6))
        );
        assert_eq!(info.io_apic_for(48, pins), None);
        assert_eq!(InterruptInfo::default().io_apic_for(1, pins), None);
    }
}
