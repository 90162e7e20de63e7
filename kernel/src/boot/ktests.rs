//! In-kernel tests of what the loader handed over.

use super::boot_info;
use super::info::{self, MemoryKind, PAGE_SIZE, REQUESTED_REVISION};
use crate::{kassert, kassert_eq, ktest};

ktest! {
    fn hhdm_offset_is_higher_half_and_canonical() -> TestResult {
        let off = boot_info().hhdm_offset;
        kassert!(off >= 0xffff_8000_0000_0000, "HHDM offset {off:#x} is not in the higher half");
        kassert!(info::is_canonical(off), "HHDM offset {off:#x} is not canonical");
        kassert_eq!(off % PAGE_SIZE, 0);
        Ok(())
    }
}

ktest! {
    fn memory_map_is_sorted_aligned_and_disjoint() -> TestResult {
        let map = &boot_info().memory_map;
        kassert_eq!(boot_info().memory_map_dropped, 0);
        if let Err(e) = info::check_memory_map(map) {
            kassert!(false, "{e}");
        }
        kassert!(info::usable_bytes(map) > 0, "no usable memory");
        Ok(())
    }
}

ktest! {
    fn kernel_lies_in_an_executable_region() -> TestResult {
        let bi = boot_info();
        let (Some(phys), Some(virt)) = (bi.kernel_phys_base, bi.kernel_virt_base) else {
            kassert!(false, "no executable address response");
            return Ok(());
        };
        kassert!(virt >= 0xffff_ffff_8000_0000, "kernel virtual base {virt:#x} below -2 GiB");
        kassert_eq!(phys % PAGE_SIZE, 0);
        let region = info::region_containing(&bi.memory_map, phys, PAGE_SIZE, MemoryKind::ExecutableAndModules);
        kassert!(region.is_some(), "kernel physical base {phys:#x} is not inside a type-6 entry");
        // The code that runs this test is inside the image: its address translates through the
        // executable-address formula to a physical address in the same region.
        let here = kernel_lies_in_an_executable_region as fn() -> crate::testing::TestResult as usize as u64;
        let Some(here_phys) = here.checked_sub(virt).and_then(|off| off.checked_add(phys)) else {
            kassert!(false, "code at {here:#x} lies below the kernel base {virt:#x}");
            return Ok(());
        };
        let region = info::region_containing(&bi.memory_map, here_phys, 1, MemoryKind::ExecutableAndModules);
        kassert!(region.is_some(), "code at {here:#x} (phys {here_phys:#x}) is outside the type-6 entry");
        Ok(())
    }
}

ktest! {
    fn framebuffer_is_described_consistently() -> TestResult {
        let bi = boot_info();
        let Some(fb) = bi.framebuffer else {
            // A framebuffer is optional (PROTOCOL.md, "Framebuffer Feature"), but UEFI under
            // QEMU always has one.
            kassert!(bi.firmware != Some(info::Firmware::Uefi64), "UEFI boot without a framebuffer");
            return Ok(());
        };
        kassert!(fb.width > 0 && fb.height > 0, "empty framebuffer {}x{}", fb.width, fb.height);
        kassert!(fb.pitch_is_sane(), "pitch {} < width {} * {} bpp / 8", fb.pitch, fb.width, fb.bpp);
        kassert_eq!(fb.virt, fb.phys + bi.hhdm_offset);
        let region = info::region_containing(&bi.memory_map, fb.phys, fb.size_bytes(), MemoryKind::Framebuffer);
        kassert!(region.is_some(), "framebuffer {:#x}+{:#x} is not inside a type-7 entry", fb.phys, fb.size_bytes());
        Ok(())
    }
}

ktest! {
    fn base_revision_tag_as_seen_by_the_kernel() -> TestResult {
        let bi = boot_info();
        let rev = bi.revision;
        kassert_eq!(rev.requested, REQUESTED_REVISION);
        if bi.loader_name.as_str() == "bundled-loader" {
            // The harness says what it told the bundled loader to serve; default: everything.
            let expected = match bi.cmdline().get("ktest.revision") {
                Some(v) => v.parse::<u64>().unwrap_or(u64::MAX),
                None => REQUESTED_REVISION,
            };
            kassert_eq!(rev.used, expected);
            kassert_eq!(rev.supported, expected == REQUESTED_REVISION);
            kassert!(rev.reported, "the loader did not write the revision it used into the tag");
        } else {
            // Real Limine: 8.0-8.2 boot 2 and 8.3.0-8.3.1 boot 3 without reporting; 8.3.2-10.1
            // report 3, 10.2-10.7 report 4, 10.8 reports 5, 11.0 and later support 6. Whatever
            // the version, the tag must be consistent with itself.
            kassert!((2..=6).contains(&rev.used), "revision {} out of range", rev.used);
            kassert_eq!(rev.supported, rev.used == REQUESTED_REVISION);
            kassert!(rev.reported || rev.used <= 3, "revision {} inferred, not reported", rev.used);
        }
        Ok(())
    }
}

ktest! {
    fn command_line_reaches_the_kernel() -> TestResult {
        let bi = boot_info();
        kassert!(bi.cmdline().has("ktest"), "cmdline {:?} lacks the harness's ktest= option", bi.cmdline.as_str());
        kassert!(!bi.cmdline_truncated);
        Ok(())
    }
}

ktest! {
    fn kernel_sits_where_kaslr_says() -> TestResult {
        const LINK_BASE: u64 = 0xffff_ffff_8000_0000;
        let bi = boot_info();
        let virt = bi.kernel_virt_base.unwrap_or(0);
        // The harness boots with `kaslr: no` unless it passes `ktest.kaslr=1`.
        if bi.cmdline().get("ktest.kaslr") == Some("1") {
            kassert!(virt != LINK_BASE, "KASLR on, but the kernel sits at its link address");
            kassert!(virt > LINK_BASE, "slid below the link address: {virt:#x}");
        } else {
            kassert_eq!(virt, LINK_BASE);
        }
        kassert_eq!(virt % PAGE_SIZE, 0);
        // Code addresses agree with the reported base: this function lies inside the image.
        let here = kernel_sits_where_kaslr_says as fn() -> crate::testing::TestResult as usize as u64;
        // Compared as an offset from the base: a slide near the top of the address space would
        // make `virt + 64 MiB` wrap around.
        kassert!(here.checked_sub(virt).is_some_and(|off| off < 64 * 1024 * 1024),
            "code at {here:#x}, base {virt:#x}");
        Ok(())
    }
}
