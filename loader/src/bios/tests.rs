//! E820 conversion (with hostile maps), module lookup, RSDP/SMBIOS scans, the page allocator.

use alloc::vec::Vec;

use super::*;
use crate::memmap::{LimineEntry, build_with, validate};
use crate::multiboot::tests::Mem;
use crate::protocol::MEMMAP_EXECUTABLE_AND_MODULES;

fn e(base: u64, length: u64, ty: u32) -> E820Entry {
    E820Entry { base, length, ty }
}

fn entry(base: u64, length: u64, ty: u64) -> LimineEntry {
    LimineEntry { base, length, ty }
}

#[test]
fn e820_types() {
    assert_eq!(limine_type(1), MEMMAP_USABLE);
    assert_eq!(limine_type(2), MEMMAP_RESERVED);
    assert_eq!(limine_type(3), MEMMAP_ACPI_RECLAIMABLE);
    assert_eq!(limine_type(4), MEMMAP_ACPI_NVS);
    assert_eq!(limine_type(5), MEMMAP_BAD_MEMORY);
    for other in [0, 6, 7, 12, 0xf000_0000, u32::MAX] {
        assert_eq!(limine_type(other), MEMMAP_RESERVED, "type {other}");
    }
}

/// SeaBIOS's map for 512 MiB on q35, in QEMU's order.
fn seabios_512m() -> Vec<E820Entry> {
    alloc::vec![
        e(0, 0x9fc00, 1),
        e(0x9fc00, 0x400, 2),
        e(0xf0000, 0x10000, 2),
        e(0x10_0000, 0x1fee_0000, 1),
        e(0x1ffe_0000, 0x2_0000, 2),
        e(0xb000_0000, 0x1000_0000, 2),
        e(0xfed1_c000, 0x4000, 2),
        e(0xfffc_0000, 0x4_0000, 2),
    ]
}

#[test]
fn seabios_map_converts_exactly() {
    let typed = limine_regions(&seabios_512m());
    let map = build_with(&[], &typed, &[], 6).unwrap();
    validate(&map, 6).unwrap();
    assert_eq!(map[0], entry(0, 0x9f000, MEMMAP_USABLE));
    // Non-free types keep their byte bounds.
    assert_eq!(map[1], entry(0x9fc00, 0x400, MEMMAP_RESERVED));
    assert_eq!(map[3], entry(0x10_0000, 0x1fee_0000, MEMMAP_USABLE));
    assert_eq!(map.len(), 8);
}

#[test]
fn hostile_e820_maps() {
    // Zero lengths, an end past 2^64, overlaps of usable with reserved, unsorted order.
    let raw = alloc::vec![
        e(0x10_0000, 0, 1),
        e(0x20_0000, 0x10_0000, 1),
        e(0x10_0000, 0x10_0000, 1),
        e(0x28_0000, 0x1000, 2),
        e(0x1_0000_0000, u64::MAX, 1),
        e(u64::MAX, u64::MAX, 2),
        e(0x30_0000, 0x800, 1),
        e(0x10_0000, 0x30_0000, 5),
        e(0x10_0000, 0x30_0000, 1),
    ];
    let typed = limine_regions(&raw);
    assert!(
        typed
            .iter()
            .all(|t| t.length > 0 && t.base.checked_add(t.length).is_some())
    );
    assert!(!typed.iter().any(|t| t.base == 0x10_0000 && t.length == 0));
    let map = build_with(&[], &typed, &[], 6).unwrap();
    validate(&map, 6).unwrap();
    // Bad memory wins over the usable overlaps; the huge region is cut at 2^64.
    assert_eq!(map[0], entry(0x10_0000, 0x30_0000, MEMMAP_BAD_MEMORY));
    let last = map.last().unwrap();
    assert_eq!(last.base.checked_add(last.length), Some(!0xfff));
    // The usable sliver of 0x800 bytes at 0x30_0000 is inside the bad range: gone.
    assert!(
        !map.iter()
            .any(|m| m.ty == MEMMAP_USABLE && m.base < 0x40_0000)
    );
}

#[test]
fn loader_ranges_become_reclaimable_and_the_kernel_executable() {
    let mut typed = limine_regions(&seabios_512m());
    typed.extend(reclaimable(&[(0x10_0000, 0x10_8123), (0x9000, 0x9074)]));
    let overlay = crate::memmap::Overlay::executable(0x40_0000, 0x20_0000);
    let map = build_with(&[], &typed, &[overlay], 6).unwrap();
    validate(&map, 6).unwrap();
    assert!(map.contains(&entry(0x9000, 0x1000, MEMMAP_BOOTLOADER_RECLAIMABLE)));
    assert!(map.contains(&entry(0x10_0000, 0x9000, MEMMAP_BOOTLOADER_RECLAIMABLE)));
    assert!(map.contains(&entry(0x40_0000, 0x20_0000, MEMMAP_EXECUTABLE_AND_MODULES)));
    // Rounding out never makes reserved memory reclaimable.
    let r = reclaimable(&[(0x9fb00, 0x9fd00)]);
    let mut typed = limine_regions(&seabios_512m());
    typed.extend(r);
    let map = build_with(&[], &typed, &[], 6).unwrap();
    assert!(map.contains(&entry(0x9fc00, 0x400, MEMMAP_RESERVED)));
    assert!(reclaimable(&[(5, 5), (9, 3)]).is_empty());
    assert_eq!(reclaimable(&[(u64::MAX - 5, u64::MAX)])[0].base, !0xfff);
}

fn module(start: u64, end: u64, cmdline: &str) -> Module {
    Module {
        start,
        end,
        cmdline: cmdline.into(),
    }
}

#[test]
fn modules_by_configuration_path() {
    let mods = [
        module(0x1000, 0x2000, "build/test/x/limine.conf /boot/limine.conf"),
        module(0x3000, 0x4000, "/boot/kernel"),
        module(0x5000, 0x6000, "kernel2"),
        module(0x7000, 0x8000, ""),
    ];
    assert_eq!(
        find_module(&mods, "/boot/limine.conf").map(|m| m.start),
        Some(0x1000)
    );
    assert_eq!(
        find_module(&mods, "boot():/boot/kernel").map(|m| m.start),
        Some(0x3000)
    );
    assert_eq!(
        find_module(&mods, "/kernel2").map(|m| m.start),
        Some(0x5000)
    );
    assert_eq!(find_module(&mods, "/limine.conf"), None);
    assert_eq!(find_module(&mods, ""), None);
    assert_eq!(find_module(&mods, "/"), None);
    assert_eq!(find_module(&[], "/boot/kernel"), None);
}

fn rsdp(rev: u8, xsdt: u64) -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(rev);
    r.extend_from_slice(&0x7fe_0000u32.to_le_bytes());
    if rev >= 2 {
        r.extend_from_slice(&36u32.to_le_bytes());
        r.extend_from_slice(&xsdt.to_le_bytes());
        r.extend_from_slice(&[0; 4]);
    }
    let s = r[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b));
    r[8] = 0u8.wrapping_sub(s);
    if rev >= 2 {
        let s = r.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        r[32] = 0u8.wrapping_sub(s);
    }
    r
}

/// Low memory with a BDA pointing at an EBDA at 0x9fc00 and the BIOS area 0xe0000-0xfffff.
fn low_memory() -> Mem {
    let mut mem = Mem::default();
    let mut bda = alloc::vec![0u8; 0x100];
    bda[0x0e..0x10].copy_from_slice(&0x9fc0u16.to_le_bytes());
    mem.put(0x400, &bda);
    mem.put(0x9fc00, &[0u8; 0x400]);
    mem.put(0xe0000, &alloc::vec![0u8; 0x20000]);
    mem
}

fn poke(mem: &mut Mem, at: u64, bytes: &[u8]) {
    for (base, data) in &mut mem.0 {
        if let Some(off) = at.checked_sub(*base).map(|o| o as usize)
            && off + bytes.len() <= data.len()
        {
            data[off..off + bytes.len()].copy_from_slice(bytes);
            return;
        }
    }
    panic!("no block for {at:#x}");
}

#[test]
fn rsdp_checksums() {
    assert!(rsdp_valid(&rsdp(0, 0)));
    assert!(rsdp_valid(&rsdp(2, 0x7fe_1000)));
    let mut bad = rsdp(2, 0x7fe_1000);
    bad[30] ^= 1; // extended checksum broken
    assert!(!rsdp_valid(&bad));
    let mut bad = rsdp(0, 0);
    bad[12] ^= 1;
    assert!(!rsdp_valid(&bad));
    assert!(!rsdp_valid(b"RSD PTR"));
    let mut long = rsdp(2, 0);
    long[20..24].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
    assert!(!rsdp_valid(&long));
}

#[test]
fn rsdp_found_in_the_ebda_then_the_bios_area() {
    let mut mem = low_memory();
    assert_eq!(find_rsdp(&mem), None);
    // A broken candidate first, a good one later in the BIOS area.
    let mut broken = rsdp(0, 0);
    broken[9] ^= 0xff;
    poke(&mut mem, 0xe0100, &broken);
    poke(&mut mem, 0xf5a40, &rsdp(2, 0x7fe_1000));
    assert_eq!(find_rsdp(&mem), Some(0xf5a40));
    // Misaligned copies are not found.
    let mut mem2 = low_memory();
    poke(&mut mem2, 0xf5a48, &rsdp(0, 0));
    assert_eq!(find_rsdp(&mem2), None);
    // The EBDA is searched first.
    poke(&mut mem, 0x9fc20, &rsdp(0, 0));
    assert_eq!(find_rsdp(&mem), Some(0x9fc20));
    // A BDA pointing nowhere sensible is ignored.
    let mut mem3 = low_memory();
    poke(&mut mem3, 0x40e, &0xffffu16.to_le_bytes());
    assert_eq!(rsdp_scan_areas(&mem3), [(0xe0000, 0x10_0000)]);
    // The very end of the area: an RSDP in the last 20 bytes still fits.
    let mut mem4 = low_memory();
    poke(&mut mem4, 0xfffe0, &rsdp(0, 0));
    assert_eq!(find_rsdp(&mem4), Some(0xfffe0));
}

#[test]
fn rsdp_copy_resolved_to_the_firmware_table() {
    let mut mem = low_memory();
    poke(&mut mem, 0xf5a40, &rsdp(2, 0x7fe_1000));
    mem.put(0x10010, &rsdp(2, 0x7fe_1000));
    assert_eq!(choose_rsdp(&mem, Some(0x10010)), Some(0xf5a40));
    // A copy that differs from what the scan finds stays the copy.
    mem.0.retain(|(b, _)| *b != 0x10010);
    mem.put(0x10010, &rsdp(2, 0x7fe_2000));
    assert_eq!(choose_rsdp(&mem, Some(0x10010)), Some(0x10010));
    // No scan hit: the copy.
    let mut only_copy = Mem::default();
    only_copy.put(0x10010, &rsdp(0, 0));
    assert_eq!(choose_rsdp(&only_copy, Some(0x10010)), Some(0x10010));
    // A broken copy: the scan's result, or nothing.
    let mut broken = Mem::default();
    broken.put(0x10010, &[0u8; 36]);
    assert_eq!(choose_rsdp(&broken, Some(0x10010)), None);
    assert_eq!(choose_rsdp(&mem, None), Some(0xf5a40));
}

#[test]
fn smbios_entry_points() {
    let mut mem = low_memory();
    assert_eq!(find_smbios(&mem), (None, None));
    let mut sm = alloc::vec![0u8; 0x1f];
    sm[..4].copy_from_slice(b"_SM_");
    sm[5] = 0x1f;
    let s = sm.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    sm[4] = 0u8.wrapping_sub(s);
    poke(&mut mem, 0xf0b00, &sm);
    let mut sm3 = alloc::vec![0u8; 0x18];
    sm3[..5].copy_from_slice(b"_SM3_");
    sm3[6] = 0x18;
    let s = sm3.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    sm3[5] = 0u8.wrapping_sub(s);
    poke(&mut mem, 0xf0c00, &sm3);
    assert_eq!(find_smbios(&mem), (Some(0xf0b00), Some(0xf0c00)));
    sm[10] ^= 1;
    poke(&mut mem, 0xf0b00, &sm);
    assert_eq!(find_smbios(&mem).0, None);
}

#[test]
fn allocator_avoids_the_image_modules_and_info() {
    let map = limine_regions(&seabios_512m());
    let avoid = [
        (0x10_0000, 0x11_1345),     // the loader image
        (0x11_3000, 0x31_0000),     // a module
        (0x1ffd_ff00, 0x1ffe_0000), // info at the top
        (0x9000, 0x9100),           // info below 1 MiB (below the floor anyway)
    ];
    let mut a = PageAllocator::new(&map, &avoid);
    assert_eq!(a.free()[0], (0x11_2000, 0x11_3000));
    // Top-down: the highest usable page, below the info.
    let first = a.allocate(1, 1).unwrap();
    assert_eq!(first, 0x1ffd_e000);
    let second = a.allocate(0x2000, PAGE).unwrap();
    assert_eq!(second, 0x1ffd_c000);
    // 2 MiB alignment leaves the gap above free for later small allocations.
    let big = a.allocate(0x30_0000, 0x20_0000).unwrap();
    assert_eq!(big, 0x1fc0_0000);
    let small = a.allocate(0x1000, PAGE).unwrap();
    assert_eq!(small, 0x1ffd_b000);
    // The top allocations merged; everything within the usable map and away from `avoid`.
    assert_eq!(
        a.used(),
        [(0x1fc0_0000, 0x1ff0_0000), (0x1ffd_b000, 0x1ffd_f000)]
    );
    for &(s, e) in a.used() {
        for &(x, y) in &avoid {
            assert!(
                e <= (x & !0xfff) || s >= y.next_multiple_of(0x1000),
                "{s:#x}..{e:#x}"
            );
        }
        assert!(s >= ALLOC_FLOOR && e <= ALLOC_CEILING);
    }
    // The one-page hole between the image and the module is used once nothing else fits.
    let mut b = PageAllocator::new(&map, &avoid);
    let all = b.free().iter().map(|r| r.1 - r.0).max().unwrap();
    assert!(b.allocate(all, PAGE).is_some());
    // Impossible requests.
    assert_eq!(a.allocate(1 << 40, PAGE), None);
    assert_eq!(a.allocate(0x1000, 3 * PAGE), None);
    assert_eq!(a.allocate(u64::MAX, PAGE), None);
}

#[test]
fn allocator_over_hostile_maps() {
    // Reserved overlapping usable is never handed out, nor memory above 4 GiB.
    let map = limine_regions(&[
        e(0x10_0000, 0x100_0000, 1),
        e(0x20_0000, 0x10_0000, 2),
        e(0xffff_f000, 0x10_0000, 1),
        e(0x1_0000_0000, 0x1000_0000, 1),
    ]);
    let mut a = PageAllocator::new(&map, &[]);
    let mut got = Vec::new();
    while let Some(p) = a.allocate(0x1000, PAGE) {
        got.push(p);
        assert!(got.len() < 0x2000, "runaway");
    }
    assert!(got.iter().all(|&p| !(0x20_0000..0x30_0000).contains(&p)));
    assert!(got.iter().all(|&p| p + 0x1000 <= ALLOC_CEILING));
    assert!(got.contains(&0xffff_f000));
    assert_eq!(got.len(), (0x100_0000 - 0x10_0000) / 0x1000 + 1);
    // An empty map gives nothing.
    assert_eq!(PageAllocator::new(&[], &[]).allocate(1, 1), None);
}
