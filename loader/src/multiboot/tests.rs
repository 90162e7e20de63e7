//! Multiboot 1 and 2 information parsing over simulated memory, including hostile input.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

/// Sparse physical memory: blocks of bytes at addresses.
#[derive(Default)]
pub struct Mem(pub Vec<(u64, Vec<u8>)>);

impl Mem {
    pub fn put(&mut self, at: u64, bytes: &[u8]) {
        self.0.push((at, bytes.to_vec()));
    }
}

impl PhysRead for Mem {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.0.iter().find_map(|(base, data)| {
            let off = usize::try_from(addr.checked_sub(*base)?).ok()?;
            data.get(off..off.checked_add(len)?)
        })
    }
}

fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A Multiboot 1 structure as QEMU builds it: info at 0x9000, module list at 0x9100, strings
/// at 0x9200.., memory map at 0x9400.
fn mb1(mmap: &[(u64, u64, u32)], modules: &[(u32, u32, &str)]) -> Mem {
    let mut mem = Mem::default();
    let mut info = alloc::vec![0u8; INFO1_SIZE];
    let flags: u32 = 1 | (1 << 3) | (1 << 6) | (1 << 9);
    info[0..4].copy_from_slice(&flags.to_le_bytes());
    info[4..8].copy_from_slice(&639u32.to_le_bytes());
    info[8..12].copy_from_slice(&(511 * 1024u32).to_le_bytes());
    info[20..24].copy_from_slice(&(modules.len() as u32).to_le_bytes());
    info[24..28].copy_from_slice(&0x9100u32.to_le_bytes());
    let mut map = Vec::new();
    for &(base, len, ty) in mmap {
        le32(&mut map, 20);
        le64(&mut map, base);
        le64(&mut map, len);
        le32(&mut map, ty);
    }
    info[44..48].copy_from_slice(&(map.len() as u32).to_le_bytes());
    info[48..52].copy_from_slice(&0x9400u32.to_le_bytes());
    info[64..68].copy_from_slice(&0x9380u32.to_le_bytes());
    mem.put(0x9000, &info);
    let mut list = Vec::new();
    let mut strings = Vec::new();
    for (i, &(start, end, name)) in modules.iter().enumerate() {
        le32(&mut list, start);
        le32(&mut list, end);
        le32(&mut list, 0x9200 + (i as u32) * 0x40);
        le32(&mut list, 0);
        let mut s = name.as_bytes().to_vec();
        s.resize(0x40, 0);
        strings.extend(s);
    }
    mem.put(0x9100, &list);
    mem.put(0x9200, &strings);
    mem.put(0x9380, b"qemu\0");
    mem.put(0x9400, &map);
    mem
}

#[test]
fn multiboot1_as_qemu_passes_it() {
    let mem = mb1(
        &[
            (0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0x10_0000, 0x1ff0_0000, 1),
        ],
        &[
            (0x20_0000, 0x20_0100, "build/limine.conf /boot/limine.conf"),
            (0x20_1000, 0x40_0000, "build/kernel.elf /boot/kernel"),
        ],
    );
    let info = parse(MULTIBOOT1_MAGIC, 0x9000, &mem).unwrap();
    assert_eq!(info.version, Version::One);
    assert_eq!(info.memory.len(), 3);
    assert_eq!(
        info.memory[2],
        E820Entry {
            base: 0x10_0000,
            length: 0x1ff0_0000,
            ty: 1
        }
    );
    assert_eq!(info.basic_memory, Some((639, 511 * 1024)));
    assert_eq!(info.modules.len(), 2);
    assert_eq!(info.modules[0].name(), "/boot/limine.conf");
    assert_eq!(info.modules[1].name(), "/boot/kernel");
    assert_eq!(info.modules[1].len(), 0x1f_f000);
    assert_eq!(info.bootloader.as_deref(), Some("qemu"));
    assert_eq!(info.rsdp_copy, None);
    // The info, the module list, both strings, the loader name and the map.
    assert!(
        info.footprint
            .contains(&(0x9000, 0x9000 + INFO1_SIZE as u64))
    );
    assert!(info.footprint.contains(&(0x9100, 0x9120)));
    assert!(info.footprint.contains(&(0x9400, 0x9400 + 72)));
    assert!(info.footprint.iter().any(|&(s, _)| s == 0x9240));
}

#[test]
fn multiboot1_without_a_map_uses_basic_memory() {
    let mut mem = mb1(&[], &[]);
    // Clear the mmap flag.
    mem.0[0].1[0] = 1 | (1 << 3);
    let info = parse(MULTIBOOT1_MAGIC, 0x9000, &mem).unwrap();
    assert!(info.memory.is_empty());
    let basic = info.memory_or_basic();
    assert_eq!(basic.len(), 2);
    assert_eq!(basic[0].length, 639 * 1024);
    assert_eq!(basic[1].base, 0x10_0000);
    assert_eq!(basic[1].length, 511 * 1024 * 1024);
}

#[test]
fn multiboot1_hostile_input() {
    // Unknown magic.
    assert_eq!(
        parse(0x1234, 0x9000, &Mem::default()),
        Err(MultibootError::UnknownMagic(0x1234))
    );
    // Info outside memory.
    assert!(matches!(
        parse(MULTIBOOT1_MAGIC, 0x9000, &Mem::default()),
        Err(MultibootError::Unreadable { .. })
    ));
    // A map entry with size 0 would loop forever: refused.
    let mut mem = mb1(&[(0, 0x1000, 1)], &[]);
    let map = &mut mem.0.last_mut().unwrap().1;
    map[0..4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        parse(MULTIBOOT1_MAGIC, 0x9000, &mem),
        Err(MultibootError::BadSize { .. })
    ));
    // A module ending before it starts.
    let mem = mb1(&[], &[(0x3000, 0x2000, "x")]);
    assert_eq!(
        parse(MULTIBOOT1_MAGIC, 0x9000, &mem),
        Err(MultibootError::BadModule { index: 0 })
    );
    // A huge module count.
    let mut mem = mb1(&[], &[]);
    mem.0[0].1[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        parse(MULTIBOOT1_MAGIC, 0x9000, &mem),
        Err(MultibootError::TooMany("modules"))
    );
    // A string without a terminator is cut, not read forever.
    let mut mem = mb1(&[], &[(0x1000, 0x2000, "n")]);
    let list = mem.0.iter_mut().find(|(b, _)| *b == 0x9100).unwrap();
    list.1[8..12].copy_from_slice(&0x5_0000u32.to_le_bytes());
    mem.put(0x5_0000, &[b'a'; MAX_STRING + 100]);
    let info = parse(MULTIBOOT1_MAGIC, 0x9000, &mem).unwrap();
    assert_eq!(info.modules[0].cmdline.len(), MAX_STRING);
}

/// A Multiboot 2 structure at 0x10000 with these tags (type, body).
fn mb2(tags: &[(u32, Vec<u8>)]) -> Mem {
    let mut v = alloc::vec![0u8; 8];
    for (ty, body) in tags {
        le32(&mut v, *ty);
        le32(&mut v, 8 + body.len() as u32);
        v.extend_from_slice(body);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
    }
    le32(&mut v, 0);
    le32(&mut v, 8);
    let total = v.len() as u32;
    v[0..4].copy_from_slice(&total.to_le_bytes());
    let mut mem = Mem::default();
    mem.put(0x10000, &v);
    mem
}

fn module_tag(start: u32, end: u32, name: &str) -> (u32, Vec<u8>) {
    let mut b = Vec::new();
    le32(&mut b, start);
    le32(&mut b, end);
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    (3, b)
}

fn mmap_tag(entries: &[(u64, u64, u32)]) -> (u32, Vec<u8>) {
    let mut b = Vec::new();
    le32(&mut b, 24);
    le32(&mut b, 0);
    for &(base, len, ty) in entries {
        le64(&mut b, base);
        le64(&mut b, len);
        le32(&mut b, ty);
        le32(&mut b, 0);
    }
    (6, b)
}

fn rsdp_v1() -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(0);
    le32(&mut r, 0x7fe_0000);
    let s = r.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    r[8] = 0u8.wrapping_sub(s);
    r
}

#[test]
fn multiboot2_as_grub_passes_it() {
    let mem = mb2(&[
        (1, b"\0".to_vec()),
        (2, b"GRUB 2.12\0".to_vec()),
        module_tag(0x20_0000, 0x40_0000, "/boot/kernel"),
        module_tag(0x40_1000, 0x40_1080, "/boot/limine.conf"),
        (4, {
            let mut b = Vec::new();
            le32(&mut b, 639);
            le32(&mut b, 1000);
            b
        }),
        mmap_tag(&[
            (0, 0x9fc00, 1),
            (0x10_0000, 0x1000_0000, 1),
            (0xfffc_0000, 0x4_0000, 2),
        ]),
        (14, rsdp_v1()),
        (99, alloc::vec![1, 2, 3]),
    ]);
    let info = parse(MULTIBOOT2_MAGIC, 0x10000, &mem).unwrap();
    assert_eq!(info.version, Version::Two);
    assert_eq!(info.bootloader.as_deref(), Some("GRUB 2.12"));
    assert_eq!(info.cmdline.as_deref(), Some(""));
    assert_eq!(
        info.modules.iter().map(Module::name).collect::<Vec<_>>(),
        ["/boot/kernel", "/boot/limine.conf"]
    );
    assert_eq!(info.memory.len(), 3);
    assert_eq!(info.memory[2].ty, 2);
    assert_eq!(info.basic_memory, Some((639, 1000)));
    let rsdp = info.rsdp_copy.unwrap();
    assert_eq!(mem.read(rsdp, 8), Some(&b"RSD PTR "[..]));
    let total = u64::from(u32::from_le_bytes(mem.0[0].1[0..4].try_into().unwrap()));
    assert_eq!(info.footprint, [(0x10000, 0x10000 + total)]);
}

#[test]
fn multiboot2_prefers_the_acpi2_rsdp() {
    let mut v2 = rsdp_v1();
    v2.resize(36, 0);
    let mem = mb2(&[(15, v2), (14, rsdp_v1())]);
    let info = parse(MULTIBOOT2_MAGIC, 0x10000, &mem).unwrap();
    // The ACPI 2.0 tag comes first: its body is at 0x10000 + 8 + 8.
    assert_eq!(info.rsdp_copy, Some(0x10010));
}

#[test]
fn multiboot2_hostile_input() {
    // Total size too small or too large.
    let mut mem = mb2(&[]);
    mem.0[0].1[0..4].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(
        parse(MULTIBOOT2_MAGIC, 0x10000, &mem),
        Err(MultibootError::BadSize { .. })
    ));
    let mut mem = mb2(&[]);
    mem.0[0].1[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse(MULTIBOOT2_MAGIC, 0x10000, &mem).is_err());
    // A tag claiming more bytes than the structure has.
    let mut mem = mb2(&[(1, b"x\0".to_vec())]);
    mem.0[0].1[12..16].copy_from_slice(&0x1000u32.to_le_bytes());
    assert!(matches!(
        parse(MULTIBOOT2_MAGIC, 0x10000, &mem),
        Err(MultibootError::BadSize { what: "tag", .. })
    ));
    // A tag of size 0 (would never advance).
    let mut mem = mb2(&[(1, b"x\0".to_vec())]);
    mem.0[0].1[12..16].copy_from_slice(&0u32.to_le_bytes());
    assert!(parse(MULTIBOOT2_MAGIC, 0x10000, &mem).is_err());
    // A memory map with a tiny entry size.
    let (ty, mut body) = mmap_tag(&[(0, 0x1000, 1)]);
    body[0..4].copy_from_slice(&4u32.to_le_bytes());
    assert!(parse(MULTIBOOT2_MAGIC, 0x10000, &mb2(&[(ty, body)])).is_err());
    // A module tag too short for its addresses.
    assert!(parse(MULTIBOOT2_MAGIC, 0x10000, &mb2(&[(3, alloc::vec![0; 4])])).is_err());
    // No end tag: the walk stops at the structure's end.
    let mut mem = mb2(&[module_tag(0x1000, 0x2000, "a")]);
    let len = mem.0[0].1.len();
    mem.0[0].1.truncate(len - 8);
    let total = (len - 8) as u32;
    mem.0[0].1[0..4].copy_from_slice(&total.to_le_bytes());
    let info = parse(MULTIBOOT2_MAGIC, 0x10000, &mem).unwrap();
    assert_eq!(info.modules.len(), 1);
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..2000 {
        let len = (next() % 512) as usize + 8;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 {
            let total = (next() % 600) as u32;
            bytes[0..4].copy_from_slice(&total.to_le_bytes());
        }
        let mut mem = Mem::default();
        mem.put(0x1000, &bytes);
        let _ = parse(MULTIBOOT2_MAGIC, 0x1000, &mem);
        let _ = parse(MULTIBOOT1_MAGIC, 0x1000, &mem);
    }
    let _: String = String::new();
}
