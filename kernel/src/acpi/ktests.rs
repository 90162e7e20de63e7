//! In-kernel tests against QEMU's real ACPI tables: `\_S5` from its DSDT, the PM1 control and
//! reset registers, and the `acpi` command's listing.

use alloc::string::String;

use super::tables::{Space, Width};
use crate::arch::power::{FadtRegister, Location, Which};
use crate::boot::boot_info;
use crate::{kassert, kassert_eq, ktest};

ktest! {
    fn s5_and_pm1_control_from_qemus_fadt_and_dsdt() -> TestResult {
        let Some(rsdp) = boot_info().rsdp_phys else {
            kassert!(false, "no RSDP");
            return Ok(());
        };
        // QEMU's DSDT: `Name (_S5, Package (4) { Zero, Zero, Zero, Zero })`.
        let s5 = match super::find_s5(rsdp) {
            Ok(s5) => s5,
            Err(e) => {
                kassert!(false, "no \\_S5: {e}");
                return Ok(());
            }
        };
        kassert_eq!(&s5.signature, b"DSDT");
        kassert_eq!((s5.sleep.a, s5.sleep.b), (0, 0));
        let fadt = match super::fadt(rsdp) {
            Ok(f) => f,
            Err(e) => {
                kassert!(false, "no FADT: {e:?}");
                return Ok(());
            }
        };
        let regs = super::power_registers(&fadt);
        // PM1a_CNT: a 16-bit I/O port in the chipset's PM block (0x604 on q35, 0xb004 with
        // OVMF on i440fx), no PM1b.
        let Ok(pm1a) = regs.pm1a else {
            kassert!(false, "PM1a_CNT: {:?}", regs.pm1a);
            return Ok(());
        };
        kassert_eq!(pm1a.width, Width::Word);
        let Space::Io(port) = pm1a.space else {
            kassert!(false, "PM1a_CNT not in I/O space: {pm1a}");
            return Ok(());
        };
        kassert!(port >= 0x400 && port % 4 == 0, "implausible PM1a_CNT port {port:#x}");
        kassert_eq!(regs.pm1b, None);
        // The arch handle takes the FADT's port and no other.
        kassert!(
            FadtRegister::new(&fadt, Which::Pm1aControl, Location::Io(port + 1), 2).is_err(),
            "a port the FADT does not name was accepted"
        );
        kassert!(FadtRegister::new(&fadt, Which::Pm1bControl, Location::Io(port), 2).is_err());
        let reg = match crate::power::open_register(&fadt, Which::Pm1aControl, pm1a) {
            Ok(r) => r,
            Err(e) => {
                kassert!(false, "PM1a_CNT handle: {e}");
                return Ok(());
            }
        };
        // SLP_EN is write-only: it reads as zero.
        kassert_eq!(reg.read() & u64::from(crate::aml::SLP_EN), 0);
        // QEMU's reset register: port 0xcf9.
        if let Ok(reset) = regs.reset {
            kassert_eq!(reset.register.space, Space::Io(0xcf9));
            kassert_eq!(reset.register.width, Width::Byte);
        }
        Ok(())
    }
}

ktest! {
    fn write_tables_lists_facp_apic_and_dsdt() -> TestResult {
        let mut out = String::new();
        kassert!(super::write_tables(&mut out).is_ok());
        for line in out.split_terminator("\r\n") {
            kassert!(!line.contains('\n') && !line.contains('\r'), "bad line end in {line:?}");
        }
        kassert!(out.ends_with("\r\n"));
        let starts = |p: &str| out.split("\r\n").any(|l| l.starts_with(p));
        for sig in ["RSDP ", "FACP ", "APIC ", "DSDT "] {
            kassert!(starts(sig), "no {sig} line in:\n{out}");
        }
        kassert!(starts("XSDT ") || starts("RSDT "), "no root table in:\n{out}");
        kassert!(out.contains("OEM BOCHS"), "no OEM ID in:\n{out}");
        kassert!(starts("PM1a_CNT  I/O port 0x"), "no PM1a_CNT in:\n{out}");
        kassert!(starts("PM1b_CNT  none"), "PM1b_CNT in:\n{out}");
        kassert!(starts("\\_S5      SLP_TYPa 0, SLP_TYPb 0"), "no \\_S5 in:\n{out}");
        kassert!(!out.contains("bad checksum"), "checksum warning in:\n{out}");
        // The DSDT line's address is the one `find_s5` read.
        if let Some(s5) = boot_info().rsdp_phys.and_then(|r| super::find_s5(r).ok()) {
            let at = alloc::format!("at {:#012x}", s5.phys);
            kassert!(
                out.split("\r\n").any(|l| l.starts_with("DSDT ") && l.contains(&at)),
                "DSDT line lacks {at} in:\n{out}"
            );
        }
        Ok(())
    }
}
