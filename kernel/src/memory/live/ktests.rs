//! In-kernel tests of the kernel's own page tables, the frame allocator on the machine, and
//! the mapping API.

use super::*;
use crate::boot::boot_info;
use crate::boot::info::region_containing;
use crate::{kassert, kassert_eq, ktest};

ktest! {
    fn physical_window_maps_the_requested_frame() -> TestResult {
        // Map a usable frame (a fresh stack page) through the window: the window's page
        // table entry points at that frame, at the right offset, and so does a second one.
        let before = frames_allocated();
        let stack = alloc_stack("test stack", 4096);
        kassert!(stack.is_ok(), "alloc_stack failed: {stack:?}");
        let frame = translate(stack.map_or(0, |s| s.bottom()));
        kassert!(frame.is_some(), "stack page not mapped");
        let frame = frame.unwrap_or(0);
        let map = &boot_info().memory_map;
        kassert!(region_containing(map, frame, 4096, MemoryKind::Usable).is_some()
            || region_containing(map, frame, 4096, MemoryKind::BootloaderReclaimable).is_some(),
            "stack frame {frame:#x} is neither usable nor reclaimed memory");
        let window = map_physical(frame + 8, 16, Cache::WriteBack, true);
        kassert!(window.is_ok(), "map_physical failed: {window:?}");
        let Ok(window) = window else { return Ok(()) };
        kassert_eq!(window.virt() & 0xfff, 8);
        kassert_eq!((window.phys(), window.len()), (frame + 8, 16));
        kassert_eq!(translate(window.virt()), Some(frame + 8));
        kassert_eq!(translate(window.virt() + 15), Some(frame + 8 + 15));
        let again = map_mmio(frame + 0xff0, 0x20);
        kassert!(again.is_ok(), "map_physical across a page boundary failed: {again:?}");
        let Ok(again) = again else { return Ok(()) };
        kassert!(again.virt() > window.virt() && again.is_uncached(), "{again:?}");
        kassert_eq!(translate(again.virt()), Some(frame + 0xff0));
        // A device handle refuses a window over kernel memory.
        kassert_eq!(
            window.check(16, false),
            Err(crate::arch::paging::WindowError::KernelMemory { phys: frame + 8 })
        );
        kassert!(frames_allocated() > before);
        Ok(())
    }
}

ktest! {
    fn stacks_have_unmapped_guard_pages() -> TestResult {
        let a = alloc_stack("test stack", 16 * 1024);
        let b = alloc_stack("test stack", 16 * 1024);
        let (Ok(a), Ok(b)) = (a, b) else {
            kassert!(false, "alloc_stack failed");
            return Ok(());
        };
        kassert_eq!(a.size(), 16 * 1024);
        kassert_eq!(a.top() % 16, 0);
        kassert!(translate(a.guard()).is_none(), "guard page {:#x} is mapped", a.guard());
        kassert!(translate(b.guard()).is_none(), "guard page {:#x} is mapped", b.guard());
        kassert!(translate(a.top()).is_none(), "page above the stack top is mapped");
        kassert!(translate(a.top() - 8).is_some() && translate(a.bottom()).is_some());
        kassert!(b.guard() > a.top(), "stacks overlap");
        kassert_eq!(crate::memory::guard_page_owner(a.guard()), Some("test stack"));
        kassert_eq!(crate::memory::guard_page_owner(a.guard_start()), Some("test stack"));
        kassert_eq!(crate::memory::guard_page_owner(a.bottom()), None);
        Ok(())
    }
}

ktest! {
    fn running_on_the_kernel_stack() -> TestResult {
        let rsp = crate::arch::cpu::stack_pointer();
        let (base, size) = stack_area().unwrap_or((0, 0));
        kassert!((base..base + size).contains(&rsp), "rsp {rsp:#x} is not in the kernel stack area");
        Ok(())
    }
}

/// Read-only data: lands in `.rodata`.
static RODATA_PROBE: [u64; 4] = [1, 2, 3, 4];
/// Mutable data: lands in `.data`/`.bss`.
static DATA_PROBE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(5);

fn a_text_address() -> u64 {
    a_text_address as fn() -> u64 as usize as u64
}

ktest! {
    fn kernel_image_is_mapped_w_xor_x() -> TestResult {
        let nx = crate::arch::cpu::nx_enabled();
        kassert!(nx, "NX is off");
        let text = lookup(a_text_address());
        kassert!(text.is_some(), "text not mapped");
        let text = text.map(|t| t.flags).unwrap_or_default();
        kassert!(!text.writable && !text.no_execute, "text flags {text:?}");
        let rodata = lookup(core::ptr::addr_of!(RODATA_PROBE) as u64).map(|t| t.flags);
        kassert!(rodata.is_some_and(|f| !f.writable && f.no_execute), "rodata flags {rodata:?}");
        let data = lookup(core::ptr::addr_of!(DATA_PROBE) as u64).map(|t| t.flags);
        kassert!(data.is_some_and(|f| f.writable && f.no_execute), "data flags {data:?}");
        kassert_eq!(DATA_PROBE.load(core::sync::atomic::Ordering::Relaxed) + RODATA_PROBE[3], 9);
        // Every page of the image: mapped, never both writable and executable, global with
        // PGE, at the physical address the executable-address response gives.
        let image = crate::arch::paging::image_layout();
        let (start, end) = image.span();
        let bi = boot_info();
        let global = crate::arch::cpu::features().pge;
        for page in (start..end).step_by(4096) {
            let t = lookup(page);
            kassert!(t.is_some(), "image page {page:#x} not mapped");
            let Some(t) = t else { continue };
            kassert!(!t.flags.writable || t.flags.no_execute, "page {page:#x} is W+X");
            kassert_eq!(t.flags.global, global);
            if let (Some(v), Some(p)) = (bi.kernel_virt_base, bi.kernel_phys_base) {
                kassert_eq!(t.phys.as_u64(), page - v + p);
            }
            let executable = (image.text.0..image.text.1).contains(&page);
            kassert_eq!(!t.flags.no_execute, executable);
        }
        Ok(())
    }
}

ktest! {
    fn framebuffer_is_write_combining_under_the_kernels_pat() -> TestResult {
        use crate::arch::pat::{PAT_MSR_VALUE, read};
        kassert_eq!(read(), Some(PAT_MSR_VALUE));
        let pat = read().unwrap_or(0);
        let wc = Cache::WriteCombining;
        kassert_eq!(((pat >> (8 * u64::from(wc.pat_index()))) & 7) as u8, wc.memory_type());
        let Some(fb) = boot_info().framebuffer else {
            return Ok(()); // checked by the boot tests: UEFI under QEMU has one
        };
        let mapping = framebuffer_mapping();
        kassert!(mapping.is_some(), "the console did not map the framebuffer");
        let (virt, phys, len) = mapping.unwrap_or_default();
        kassert_eq!((phys, len), (fb.phys, fb.size_bytes()));
        for off in [0, len / 2, len - 1] {
            let t = lookup(virt + off);
            kassert!(t.is_some(), "framebuffer byte {off:#x} not mapped");
            let Some(t) = t else { continue };
            kassert_eq!(t.phys.as_u64(), phys + off);
            kassert_eq!(t.flags.cache, Cache::WriteCombining);
            kassert!(t.flags.writable && t.flags.no_execute, "{:?}", t.flags);
        }
        // The framebuffer is not RAM: the kernel's HHDM leaves it out.
        kassert_eq!(translate(boot_info().hhdm_offset + fb.phys), None);
        Ok(())
    }
}

ktest! {
    fn lower_half_is_empty() -> TestResult {
        for i in 0..256 {
            let e = active_pml4_entry(i);
            kassert!(e == 0, "PML4 entry {i} of the lower half is {e:#x}");
        }
        for addr in [0, 8, 0x1000, 0xb8000, 0x10_0000, 0x7fff_ffff_f000] {
            kassert_eq!(translate(addr), None);
        }
        kassert_eq!(
            Some(crate::arch::paging::active_root().start_address().as_u64()),
            kernel_root()
        );
        Ok(())
    }
}

ktest! {
    fn hhdm_maps_every_ram_region_and_nothing_else() -> TestResult {
        use crate::memory::layout::in_hhdm;
        let bi = boot_info();
        let map = &bi.memory_map;
        let cpu = crate::arch::cpu::features();
        let ram_page = |page: u64| map.iter().any(|r| in_hhdm(r.kind) && r.base < page + 4096 && page < r.end());
        let mut huge = 0;
        for r in map.iter() {
            let first = r.base.next_multiple_of(4096);
            let last = (r.end() & !0xfff).saturating_sub(4096);
            if first > last {
                continue;
            }
            for page in [first, last, first + (last - first) / 2 / 4096 * 4096] {
                let t = lookup(bi.hhdm_offset + page);
                if in_hhdm(r.kind) {
                    kassert!(t.is_some(), "{} page {page:#x} not in the HHDM", r.kind.name());
                    let Some(t) = t else { continue };
                    kassert_eq!(t.phys.as_u64(), page);
                    kassert!(t.flags.writable && t.flags.no_execute && !t.flags.user, "{:?}", t.flags);
                    kassert_eq!(t.flags.cache, Cache::WriteBack);
                    if t.page_size != PageSize::Size4KiB {
                        huge += 1;
                    }
                    if t.page_size == PageSize::Size1GiB {
                        kassert!(cpu.huge_1g, "1 GiB page without pdpe1gb");
                    }
                } else if !ram_page(page) {
                    kassert!(t.is_none(), "{} page {page:#x} is in the HHDM", r.kind.name());
                }
            }
        }
        kassert!(huge > 0, "no huge page in the HHDM");
        let build = build_report();
        kassert!(build.is_some_and(|b| b.huge_1g == cpu.huge_1g && b.hhdm_frames >= 2), "{build:?}");
        Ok(())
    }
}

ktest! {
    fn cpu_protections_match_cpuid() -> TestResult {
        use crate::arch::cpu::{Protection, features};
        let f = features();
        for p in Protection::ALL {
            kassert_eq!((p.name(), p.is_on()), (p.name(), p.supported(&f)));
        }
        Ok(())
    }
}

ktest! {
    fn loader_memory_is_free_after_reclaim() -> TestResult {
        let report = reclaim_report();
        kassert!(report.is_some(), "reclaim did not run");
        let Some(report) = report else { return Ok(()) };
        let root = loader_root().unwrap_or(0);
        let map = &boot_info().memory_map;
        kassert!(region_containing(map, root, 4096, MemoryKind::BootloaderReclaimable).is_some(),
            "the loader's PML4 {root:#x} is not in bootloader-reclaimable memory");
        // Managed, not necessarily still free: the heap and the tests allocate after reclaim,
        // and where the loader's memory lies decides whether they take this frame (the BIOS
        // entry's reclaimable memory is one ~13 MiB block the 8 MiB heap often comes from).
        kassert!(frame_is_managed(root), "the loader's PML4 {root:#x} was not given to the frame allocator");
        kassert!(report.reclaimed > 0, "nothing reclaimed: {report:?}");
        // Within 5% of usable + reclaimable (less only what lies below 1 MiB).
        kassert!(report.managed <= report.expected, "{report:?}");
        kassert!(report.managed >= report.expected - report.expected / 20, "{report:?}");
        let stats = frame_stats();
        kassert!(stats.is_some_and(|s| s.total_frames * 4096 == report.managed), "{stats:?}");
        Ok(())
    }
}

ktest! {
    fn mapping_api_maps_protects_splits_and_gives_tables_back() -> TestResult {
        let (base, size) = mapping_area().unwrap_or((0, 0));
        kassert!(size >= 4 << 30, "mapping area of {size:#x} bytes");
        // Real frames: a 2 MiB run and one frame.
        let run = alloc_frames(9);
        let single = alloc_frame();
        let (Some(run), Some(single)) = (run, single) else {
            kassert!(false, "no frames");
            return Ok(());
        };
        let free_before = frame_stats().map_or(0, |s| s.free_frames);
        let tables_before = table_frames();
        let m2 = PageSize::Size2MiB.bytes();
        let data = MapFlags::DATA;

        // One range → one 2 MiB page; the same again is a no-op; another target is refused.
        kassert_eq!(map(base, run, m2, data), Ok(()));
        kassert_eq!(lookup(base).map(|t| t.page_size), Some(PageSize::Size2MiB));
        kassert_eq!(translate(base + 0x12345), Some(run + 0x12345));
        kassert_eq!(map(base, run, m2, data), Ok(()));
        kassert_eq!(map(base, single, 4096, data), Err(MapError::AlreadyMapped { virt: base }));

        // A 4 KiB change inside the huge page splits it.
        let read_only = MapFlags { writable: false, ..data };
        kassert_eq!(protect(base + 4096, 4096, read_only), Ok(()));
        let (a, b, c) = (lookup(base), lookup(base + 4096), lookup(base + 8192));
        kassert!(a.is_some_and(|t| t.page_size == PageSize::Size4KiB && t.flags.writable), "{a:?}");
        kassert!(b.is_some_and(|t| !t.flags.writable && t.phys.as_u64() == run + 4096), "{b:?}");
        kassert!(c.is_some_and(|t| t.flags.writable), "{c:?}");
        // A PD for the 2 MiB page, a PT for its split.
        kassert_eq!(table_frames(), tables_before + 2);

        // Single pages: refused where something is, or misaligned, or outside the area.
        kassert_eq!(map_page(base + 8192, single, PageSize::Size4KiB, data),
            Err(MapError::AlreadyMapped { virt: base + 8192 }));
        kassert_eq!(map_page(base + 4 * m2, run, PageSize::Size2MiB, data), Ok(()));
        kassert_eq!(map_page(base + 4 * m2 + 4096, single, PageSize::Size4KiB, data),
            Err(MapError::HugePageInTheWay { virt: base + 4 * m2 + 4096, size: PageSize::Size2MiB }));
        kassert!(matches!(map_page(base + 4096, run, PageSize::Size2MiB, data), Err(MapError::Misaligned { .. })));
        kassert_eq!(map(0x1000, single, 4096, data), Err(MapError::OutsideArea { virt: 0x1000 }));
        let text = a_text_address() & !0xfff;
        kassert_eq!(unmap(text, 4096), Err(MapError::OutsideArea { virt: text }));
        kassert!(translate(text).is_some(), "the refused unmap changed the kernel");

        // A 1 GiB page where the CPU has them, split twice by a 4 KiB change.
        let g1 = PageSize::Size1GiB.bytes();
        if crate::arch::cpu::features().huge_1g {
            kassert_eq!(map_page(base + g1, 0x4000_0000, PageSize::Size1GiB, data), Ok(()));
            kassert_eq!(lookup(base + g1 + 0x1234_5678).map(|t| t.page_size), Some(PageSize::Size1GiB));
            kassert_eq!(protect(base + g1 + m2 + 4096, 4096, read_only), Ok(()));
            kassert_eq!(lookup(base + g1 + m2 + 4096).map(|t| t.page_size), Some(PageSize::Size4KiB));
            kassert_eq!(lookup(base + g1).map(|t| t.page_size), Some(PageSize::Size2MiB));
            kassert_eq!(translate(base + g1 + 0x3fff_ffff), Some(0x7fff_ffff));
            kassert_eq!(unmap(base + g1, g1), Ok(()));
            kassert_eq!(translate(base + g1 + m2 + 4096), None);
        } else {
            kassert!(matches!(map_page(base + g1, 0x4000_0000, PageSize::Size1GiB, data),
                Err(MapError::Misaligned { .. })), "1 GiB page without pdpe1gb");
        }

        // Unmap everything: tables go back, and so does every frame they took.
        kassert_eq!(unmap(base, m2), Ok(()));
        kassert_eq!(unmap(base + 4 * m2, m2), Ok(()));
        kassert_eq!(translate(base), None);
        kassert_eq!(unmap(base, 4096), Err(MapError::NotMapped { virt: base }));
        kassert_eq!(table_frames(), tables_before);
        kassert_eq!(frame_stats().map_or(0, |s| s.free_frames), free_before);
        kassert_eq!(free_frames(run, 9), Ok(()));
        kassert_eq!(free_frames(single, 0), Ok(()));
        kassert_eq!(free_frames(single, 0), Err(crate::memory::buddy::FreeError::DoubleFree { addr: single }));
        Ok(())
    }
}

ktest! {
    fn address_spaces_share_the_kernel_half() -> TestResult {
        let tables_before = table_frames();
        let space = AddressSpace::new();
        kassert!(space.is_ok(), "{space:?}");
        let Ok(space) = space else { return Ok(()) };
        kassert_eq!(table_frames(), tables_before + 1);
        let text = a_text_address();
        kassert_eq!(space.translate(text).map(|t| t.phys), lookup(text).map(|t| t.phys));
        kassert_eq!(space.translate(0x1000), None);
        kassert_eq!(space.activate(), Ok(()));
        let active = crate::arch::paging::active_root().start_address().as_u64();
        // Still running, on the same stack and code, in the other address space.
        let rsp = crate::arch::cpu::stack_pointer();
        let (mapped_rsp, mapped_text) = (
            crate::arch::paging::translate_active(rsp).is_some(),
            crate::arch::paging::translate_active(text).is_some(),
        );
        kassert_eq!(activate_kernel(), Ok(()));
        kassert_eq!(active, space.root());
        kassert!(mapped_rsp && mapped_text, "kernel half missing in the new address space");
        space.destroy();
        kassert_eq!(table_frames(), tables_before);
        Ok(())
    }
}

ktest! {
    fn kernel_and_interrupt_stacks_are_named() -> TestResult {
        let (base, _) = stack_area().unwrap_or((0, 0));
        // The boot CPU's stack is the first in the area: its guard area starts the area.
        kassert_eq!(crate::memory::guard_page_owner(base), Some("boot CPU kernel stack"));
        kassert_eq!(
            crate::memory::guard_page_owner(base + crate::memory::GUARD_BYTES - 8),
            Some("boot CPU kernel stack")
        );
        let ist = crate::arch::gdt::ist_stacks();
        kassert!(ist.is_some(), "no IST stacks");
        let Some(ist) = ist else { return Ok(()) };
        for (stack, name) in [
            (ist.double_fault, "double-fault IST stack"),
            (ist.nmi, "NMI IST stack"),
            (ist.machine_check, "machine-check IST stack"),
        ] {
            kassert_eq!(crate::memory::guard_page_owner(stack.top - stack.size - 8), Some(name));
        }
        Ok(())
    }
}

ktest! {
    fn firmware_tables_below_1mib_map_read_only_even_in_usable_memory() -> TestResult {
        // Some BIOS maps call the EBDA usable; ACPI tables there must still be readable. A
        // usable frame below 1 MiB is never handed out, so a read-only window onto it is allowed,
        // a writable one is not.
        let map = &boot_info().memory_map;
        let low = map
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
            .find_map(|r| {
                let start = r.base.max(0x1000).next_multiple_of(4096);
                (start + 4096 <= r.end().min(crate::arch::paging::LOW_MEMORY_END)).then_some(start)
            });
        let Some(low) = low else {
            kassert!(false, "no usable page below 1 MiB in the map");
            return Ok(());
        };
        let ro = map_physical(low, 64, Cache::WriteBack, false);
        kassert!(ro.is_ok(), "map_physical read-only at {low:#x}: {ro:?}");
        let Ok(ro) = ro else { return Ok(()) };
        kassert_eq!(ro.check(64, false), Ok(ro.virt()));
        let rw = map_physical(low, 64, Cache::WriteBack, true);
        let Ok(rw) = rw else {
            kassert!(false, "map_physical writable at {low:#x}: {rw:?}");
            return Ok(());
        };
        kassert_eq!(
            rw.check(64, false),
            Err(crate::arch::paging::WindowError::KernelMemory { phys: low })
        );
        Ok(())
    }
}
