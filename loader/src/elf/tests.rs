//! Host tests of ELF loading, built on a small ELF64 writer.

use super::*;
use alloc::{format, string::ToString, vec, vec::Vec};
use proptest::prelude::*;

// --- a small ELF64 writer ---------------------------------------------------------------------

const R: u32 = SegmentFlags::READ;
const W: u32 = SegmentFlags::WRITE;
const X: u32 = SegmentFlags::EXECUTE;

/// One `PT_LOAD`: `data` is the file-backed part, `memsz` at least its length.
#[derive(Debug, Clone)]
struct Seg {
    vaddr: u64,
    data: Vec<u8>,
    memsz: u64,
    flags: u32,
    align: u64,
}

fn seg(vaddr: u64, data: Vec<u8>, bss: u64, flags: u32) -> Seg {
    let memsz = data.len() as u64 + bss;
    Seg {
        vaddr,
        data,
        memsz,
        flags,
        align: 0x1000,
    }
}

/// A whole ELF file. Segment data goes at page-aligned file offsets congruent to the address.
#[derive(Debug, Clone)]
struct Elf {
    class: u8,
    data_encoding: u8,
    e_type: u16,
    machine: u16,
    entry: u64,
    segs: Vec<Seg>,
    /// `PT_DYNAMIC` as (segment index, offset inside it, size).
    dynamic: Option<(usize, u64, u64)>,
    /// Raw extra program headers (type, flags, offset, vaddr, filesz, memsz, align).
    extra: Vec<[u64; 7]>,
}

impl Elf {
    fn exec(entry: u64, segs: Vec<Seg>) -> Self {
        Self {
            class: 2,
            data_encoding: 1,
            e_type: ET_EXEC,
            machine: EM_X86_64,
            entry,
            segs,
            dynamic: None,
            extra: Vec::new(),
        }
    }

    /// File offset where each segment's data is placed.
    fn offsets(&self) -> Vec<u64> {
        let phnum = self.segs.len() + usize::from(self.dynamic.is_some()) + self.extra.len();
        let mut next = (64 + 56 * phnum as u64).next_multiple_of(0x1000);
        self.segs
            .iter()
            .map(|s| {
                let off = next + s.vaddr % 0x1000;
                next = (off + s.data.len() as u64).next_multiple_of(0x1000);
                off
            })
            .collect()
    }

    fn build(&self) -> Vec<u8> {
        let offsets = self.offsets();
        let mut phdrs: Vec<[u64; 7]> = self
            .segs
            .iter()
            .zip(&offsets)
            .map(|(s, &off)| {
                [
                    1,
                    u64::from(s.flags),
                    off,
                    s.vaddr,
                    s.data.len() as u64,
                    s.memsz,
                    s.align,
                ]
            })
            .collect();
        if let Some((i, at, size)) = self.dynamic {
            phdrs.push([
                2,
                u64::from(R | W),
                offsets[i] + at,
                self.segs[i].vaddr + at,
                size,
                size,
                8,
            ]);
        }
        phdrs.extend(self.extra.iter().copied());

        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = self.class;
        f[5] = self.data_encoding;
        f[6] = 1;
        put16(&mut f, 16, self.e_type);
        put16(&mut f, 18, self.machine);
        put32(&mut f, 20, 1);
        put64(&mut f, 24, self.entry);
        put64(&mut f, 32, 64);
        put16(&mut f, 52, 64);
        put16(&mut f, 54, 56);
        put16(&mut f, 56, phdrs.len() as u16);
        for p in &phdrs {
            let mut h = [0u8; 56];
            put32(&mut h, 0, p[0] as u32);
            put32(&mut h, 4, p[1] as u32);
            put64(&mut h, 8, p[2]);
            put64(&mut h, 16, p[3]);
            put64(&mut h, 24, p[3]);
            put64(&mut h, 32, p[4]);
            put64(&mut h, 40, p[5]);
            put64(&mut h, 48, p[6]);
            f.extend_from_slice(&h);
        }
        for (s, &off) in self.segs.iter().zip(&offsets) {
            f.resize(off as usize, 0);
            f.extend_from_slice(&s.data);
        }
        f
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A RELA entry: target (as linked), type, symbol, addend.
#[derive(Debug, Clone, Copy)]
struct Rela(u64, u32, u32, i64);

/// A symbol: name, binding, section index (0 = undefined), value.
#[derive(Debug, Clone)]
struct Sym(&'static str, u8, u16, u64);

const GLOBAL: u8 = 1;
const WEAK: u8 = 2;
const DEFINED: u16 = 1;

// Layout of a PIE test kernel, relative to its link base.
const TEXT: u64 = 0x0000;
const RODATA: u64 = 0x1000;
const DATA: u64 = 0x3000;
/// Where `Pie::data` starts (after the dynamic array).
const USER: u64 = DATA + 0x200;
const ENTRY: u64 = TEXT + 0x10;

/// A position-independent kernel: text (r-x), rodata (r--, holds the tables), data (rw-, holds
/// `.dynamic`, `data` and a `.bss` tail).
#[derive(Debug, Clone)]
struct Pie {
    base: u64,
    rela: Vec<Rela>,
    jmprel: Vec<Rela>,
    relr: Vec<u64>,
    syms: Vec<Sym>,
    data: Vec<u8>,
    bss: u64,
    /// Replaces the generated dynamic array (before DT_NULL) when set.
    dynamic: Option<Vec<(i64, u64)>>,
    extra_dynamic: Vec<(i64, u64)>,
}

impl Pie {
    fn new(base: u64) -> Self {
        Self {
            base,
            rela: Vec::new(),
            jmprel: Vec::new(),
            relr: Vec::new(),
            syms: Vec::new(),
            data: vec![0; 0x400],
            bss: 0x1000,
            dynamic: None,
            extra_dynamic: Vec::new(),
        }
    }

    /// Linked address of an offset of the layout.
    fn at(&self, offset: u64) -> u64 {
        self.base + offset
    }

    /// Rodata bytes and the generated dynamic tags.
    fn tables(&self) -> (Vec<u8>, Vec<(i64, u64)>) {
        let mut ro = Vec::new();
        let mut tags = Vec::new();
        let rela_bytes = |list: &[Rela]| {
            let mut v = Vec::new();
            for r in list {
                v.extend_from_slice(&r.0.to_le_bytes());
                v.extend_from_slice(&((u64::from(r.2) << 32) | u64::from(r.1)).to_le_bytes());
                v.extend_from_slice(&r.3.to_le_bytes());
            }
            v
        };
        let place = |ro: &mut Vec<u8>, bytes: &[u8]| {
            let addr = self.at(RODATA) + ro.len() as u64;
            ro.extend_from_slice(bytes);
            ro.resize(ro.len().next_multiple_of(8), 0);
            addr
        };
        if !self.rela.is_empty() {
            let b = rela_bytes(&self.rela);
            tags.push((DT_RELA, place(&mut ro, &b)));
            tags.push((DT_RELASZ, b.len() as u64));
            tags.push((DT_RELAENT, 24));
        }
        if !self.jmprel.is_empty() {
            let b = rela_bytes(&self.jmprel);
            tags.push((DT_JMPREL, place(&mut ro, &b)));
            tags.push((DT_PLTRELSZ, b.len() as u64));
            tags.push((DT_PLTREL, DT_RELA as u64));
        }
        if !self.relr.is_empty() {
            let b: Vec<u8> = self.relr.iter().flat_map(|w| w.to_le_bytes()).collect();
            tags.push((DT_RELR, place(&mut ro, &b)));
            tags.push((DT_RELRSZ, b.len() as u64));
            tags.push((DT_RELRENT, 8));
        }
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for s in &self.syms {
            let name = strtab.len() as u32;
            strtab.extend_from_slice(s.0.as_bytes());
            strtab.push(0);
            let mut e = [0u8; 24];
            put32(&mut e, 0, name);
            e[4] = (s.1 << 4) | 1;
            put16(&mut e, 6, s.2);
            put64(&mut e, 8, s.3);
            symtab.extend_from_slice(&e);
        }
        tags.push((DT_SYMTAB, place(&mut ro, &symtab)));
        tags.push((DT_SYMENT, 24));
        tags.push((DT_STRTAB, place(&mut ro, &strtab)));
        tags.push((DT_STRSZ, strtab.len() as u64));
        assert!(ro.len() <= 0x2000, "test tables too large");
        (ro, tags)
    }

    fn elf(&self) -> Elf {
        let (ro, generated) = self.tables();
        let mut tags = self.dynamic.clone().unwrap_or(generated);
        tags.extend(self.extra_dynamic.iter().copied());
        tags.push((DT_NULL, 0));
        let mut data = Vec::new();
        for (t, v) in &tags {
            data.extend_from_slice(&t.to_le_bytes());
            data.extend_from_slice(&v.to_le_bytes());
        }
        let dyn_size = data.len() as u64;
        assert!(dyn_size <= USER - DATA, "too many dynamic tags");
        data.resize((USER - DATA) as usize, 0);
        data.extend_from_slice(&self.data);
        let text: Vec<u8> = (0..0x1000u32).map(|i| (i % 251) as u8).collect();
        let mut elf = Elf::exec(
            self.at(ENTRY),
            vec![
                seg(self.at(TEXT), text, 0, R | X),
                seg(self.at(RODATA), ro, 0, R),
                seg(self.at(DATA), data, self.bss, R | W),
            ],
        );
        elf.e_type = ET_DYN;
        elf.dynamic = Some((2, 0, dyn_size));
        elf
    }

    fn build(&self) -> Vec<u8> {
        self.elf().build()
    }
}

/// Parses, loads with `slide` into a buffer pre-filled with garbage, and returns both.
fn load_with(file: &[u8], slide: u64) -> (LoadedInfo, Vec<u8>) {
    let image = parse(file).unwrap_or_else(|e| panic!("parse: {e}"));
    let mut dest = vec![0xa5u8; image.image_size() as usize];
    let info = load(&image, slide, &mut dest).unwrap_or_else(|e| panic!("load: {e}"));
    (info, dest)
}

/// The 8-byte word at linked address `vaddr` of a loaded block starting at `image_start`.
fn word(dest: &[u8], image_start: u64, vaddr: u64) -> u64 {
    let at = (vaddr - image_start) as usize;
    u64::from_le_bytes(dest[at..at + 8].try_into().unwrap())
}

fn parse_err(file: &[u8]) -> ElfError {
    match parse(file) {
        Ok(image) => panic!("expected an error, got {image:?}"),
        Err(e) => e,
    }
}

const F: u64 = KERNEL_FLOOR;

/// A typical fixed kernel: text r-x, rodata r--, data rw- with .bss.
fn exec_kernel() -> Elf {
    Elf::exec(
        F + 0x20,
        vec![
            seg(F, vec![0xcc; 0x1000], 0, R | X),
            seg(F + 0x1000, b"rodata!".to_vec(), 0, R),
            seg(F + 0x2000, vec![7; 0x100], 0x2f00, R | W),
        ],
    )
}

// --- accepted files ---------------------------------------------------------------------------

#[test]
fn fixed_kernel_loads_bytes_and_zeroes_bss() {
    let file = exec_kernel().build();
    let image = parse(&file).unwrap();
    assert!(!image.is_relocatable());
    assert_eq!(image.min_vaddr(), F);
    assert_eq!(image.max_vaddr(), F + 0x5000);
    assert_eq!(image.image_start(), F);
    assert_eq!(image.image_size(), 0x5000);
    assert_eq!(image.alignment(), 0x1000);
    assert_eq!(image.entry(), F + 0x20);
    assert_eq!(image.file_backed_end(), F + 0x2100);
    assert_eq!(image.scan_len(), 0x2100);
    assert_eq!(image.base_slide(), 0);
    assert_eq!(image.segments().len(), 3);
    assert_eq!(choose_slide(&image, 12345, true), 0);
    assert_eq!(choose_slide(&image, 0, false), 0);

    let (info, dest) = load_with(&file, 0);
    assert_eq!(info.entry, F + 0x20);
    assert_eq!(info.image_start, F);
    assert_eq!(info.virtual_base, F);
    assert_eq!(info.image_size, 0x5000);
    assert_eq!(info.relocations, 0);
    assert!(dest[..0x1000].iter().all(|&b| b == 0xcc));
    assert_eq!(&dest[0x1000..0x1007], b"rodata!");
    assert!(
        dest[0x1007..0x2000].iter().all(|&b| b == 0),
        "rodata tail zeroed"
    );
    assert!(dest[0x2000..0x2100].iter().all(|&b| b == 7));
    assert!(dest[0x2100..].iter().all(|&b| b == 0), ".bss zeroed");
    let flags: Vec<_> = info.segments.iter().map(|s| s.flags.to_string()).collect();
    assert_eq!(flags, ["r-x", "r--", "rw-"]);
    let s = info.segments[2];
    assert_eq!(
        (s.vaddr, s.memsz, s.image_offset),
        (F + 0x2000, 0x3000, 0x2000)
    );
    assert_eq!((s.page_start, s.page_end), (F + 0x2000, F + 0x5000));
}

#[test]
fn unaligned_first_segment_and_gaps() {
    let elf = Elf::exec(
        F + 0x40,
        vec![
            seg(F + 0x40, vec![1; 0x10], 0, R | X),
            seg(F + 0x10000, vec![2; 8], 0x10, R | W),
        ],
    );
    let file = elf.build();
    let image = parse(&file).unwrap();
    assert_eq!(image.min_vaddr(), F + 0x40);
    assert_eq!(image.image_start(), F);
    assert_eq!(image.image_size(), 0x11000);
    let (info, dest) = load_with(&file, 0);
    assert_eq!(info.virtual_base, F + 0x40);
    assert_eq!(info.image_start, F);
    assert!(dest[..0x40].iter().all(|&b| b == 0));
    assert!(dest[0x40..0x50].iter().all(|&b| b == 1));
    assert!(dest[0x50..0x10000].iter().all(|&b| b == 0), "gap zeroed");
    assert!(dest[0x10000..0x10008].iter().all(|&b| b == 2));
    assert_eq!(info.segments[0].page_start, F);
    assert_eq!(info.segments[0].page_end, F + 0x1000);
}

#[test]
fn empty_and_non_load_headers_are_ignored() {
    let mut elf = exec_kernel();
    // PT_LOAD with memsz 0 pointing far outside the file, a PT_NOTE and a PT_GNU_STACK.
    elf.extra
        .push([1, u64::from(R), 0xffff_0000, 0x1000, 0, 0, 0x1000]);
    elf.extra.push([4, 0, 0xffff_0000, 0, 0x10, 0x10, 4]);
    elf.extra
        .push([0x6474_e551, u64::from(R | W), 0, 0, 0, 0, 16]);
    let file = elf.build();
    let image = parse(&file).unwrap();
    assert_eq!(image.segments().len(), 3);
}

#[test]
fn same_permission_segments_may_share_a_page() {
    let elf = Elf::exec(
        F,
        vec![
            seg(F, vec![0x90; 0x800], 0, R | X),
            seg(F + 0x800, vec![0x90; 0x100], 0, R | X),
        ],
    );
    assert!(parse(&elf.build()).is_ok());
}

#[test]
fn bss_only_last_segment_ends_the_scan_at_its_start() {
    let mut elf = exec_kernel();
    elf.segs.push(seg(F + 0x5000, Vec::new(), 0x3000, R | W));
    let file = elf.build();
    let image = parse(&file).unwrap();
    assert_eq!(image.file_backed_end(), F + 0x5000);
    assert_eq!(image.image_size(), 0x8000);
}

#[test]
fn relative_relocations_with_and_without_slide() {
    let mut pie = Pie::new(F);
    let target = pie.at(USER);
    pie.rela.push(Rela(target, 8, 0, (F + 0x123) as i64));
    pie.rela.push(Rela(target + 8, 0, 0, 0)); // R_X86_64_NONE: ignored
    let file = pie.build();
    let image = parse(&file).unwrap();
    assert!(image.is_relocatable());
    assert_eq!(image.base_slide(), 0);
    assert_eq!(image.relocation_count(), 1);

    let (info, dest) = load_with(&file, 0);
    assert_eq!(word(&dest, F, target), F + 0x123);
    assert_eq!(word(&dest, F, target + 8), 0);
    assert_eq!(info.relocations, 1);

    let slide = 0x20_0000;
    let (info, dest) = load_with(&file, slide);
    assert_eq!(word(&dest, F, target), F + 0x123 + slide);
    assert_eq!(info.entry, F + ENTRY + slide);
    assert_eq!(info.image_start, F + slide);
    assert_eq!(info.segments[2].vaddr, F + DATA + slide);
}

#[test]
fn symbolic_relocations() {
    let mut pie = Pie::new(F);
    let t = pie.at(USER);
    pie.syms = vec![
        Sym("defined", GLOBAL, DEFINED, F + 0x40),
        Sym("absolute", GLOBAL, SHN_ABS, 0x1234),
        Sym("gotsym", GLOBAL, DEFINED, F + 0x3300),
        Sym("pltsym", GLOBAL, DEFINED, F + 0x80),
    ];
    pie.rela = vec![
        Rela(t, R_X86_64_64, 1, 8),
        Rela(t + 8, R_X86_64_64, 2, 4),
        Rela(t + 16, R_X86_64_64, 0, 0x77), // symbol 0: S = 0
        Rela(t + 24, R_X86_64_GLOB_DAT, 3, 0x1000), // addend ignored (psABI: S)
    ];
    pie.jmprel = vec![Rela(t + 32, R_X86_64_JUMP_SLOT, 4, 0)];
    let file = pie.build();
    for slide in [0, 0x4000_0000] {
        let (info, dest) = load_with(&file, slide);
        let w = |a| word(&dest, F, a);
        assert_eq!(w(t), F + 0x48 + slide, "S + A");
        assert_eq!(w(t + 8), 0x1238, "absolute symbols do not slide");
        assert_eq!(w(t + 16), 0x77);
        assert_eq!(w(t + 24), F + 0x3300 + slide, "GLOB_DAT");
        assert_eq!(w(t + 32), F + 0x80 + slide, "JUMP_SLOT");
        assert_eq!(info.relocations, 5);
    }
}

#[test]
fn weak_undefined_symbols_are_zero() {
    let mut pie = Pie::new(F);
    let t = pie.at(USER);
    pie.syms = vec![Sym("maybe", WEAK, SHN_UNDEF, 0)];
    pie.rela = vec![
        Rela(t, R_X86_64_64, 1, 16),
        Rela(t + 8, R_X86_64_GLOB_DAT, 1, 0),
    ];
    let (_, dest) = load_with(&pie.build(), 0x1000);
    assert_eq!(word(&dest, F, t), 16);
    assert_eq!(word(&dest, F, t + 8), 0);
}

#[test]
fn strong_undefined_symbols_are_refused() {
    let mut pie = Pie::new(F);
    pie.syms = vec![Sym("needed_thing", GLOBAL, SHN_UNDEF, 0)];
    pie.rela = vec![Rela(pie.at(USER), R_X86_64_GLOB_DAT, 1, 0)];
    let e = parse_err(&pie.build());
    assert_eq!(
        e,
        ElfError::UndefinedSymbol {
            table: RelocTable::Rela,
            index: 0,
            symbol: 1,
            name: Some("needed_thing".to_string())
        }
    );
    assert_eq!(
        e.to_string(),
        "DT_RELA entry 0: symbol `needed_thing` is undefined (only weak symbols may be undefined)"
    );
}

#[test]
fn relr_bitmaps() {
    let mut pie = Pie::new(F);
    let start = pie.at(USER);
    // Words 0..=200 of the data hold their own index plus the link base.
    pie.data = (0..201u64).flat_map(|i| (F + i).to_le_bytes()).collect();
    pie.relr = vec![
        start,                    // word 0
        (0x5555 << 1) | 1,        // words 1, 3, 5, ..., 15 (bits 0,2,4,...)
        u64::MAX,                 // all 63 bits: words 64..=126
        start + 150 * 8,          // word 150
        (1 << 1) | (1 << 63) | 1, // bitmap bits 0 and 62: words 151 and 213
    ];
    // Keep word 213 inside the data.
    pie.data.resize(214 * 8, 0);
    let file = pie.build();
    let slide = 0x60_0000;
    let (info, dest) = load_with(&file, slide);
    let mut expected = vec![false; 214];
    expected[0] = true;
    for i in (1..16).step_by(2) {
        expected[i] = true;
    }
    for e in expected.iter_mut().take(127).skip(64) {
        *e = true;
    }
    expected[150] = true;
    expected[151] = true;
    expected[213] = true;
    let original = |i: usize| if i <= 200 { F + i as u64 } else { 0 };
    for (i, &patched) in expected.iter().enumerate() {
        let got = word(&dest, F, start + 8 * i as u64);
        let want = original(i) + if patched { slide } else { 0 };
        assert_eq!(got, want, "word {i}");
    }
    assert_eq!(info.relocations, expected.iter().filter(|&&p| p).count());
}

#[test]
fn relr_bitmap_without_address_is_refused() {
    let mut pie = Pie::new(F);
    pie.relr = vec![0b11];
    assert_eq!(
        parse_err(&pie.build()),
        ElfError::RelrBitmapFirst { index: 0 }
    );
}

#[test]
fn low_linked_relocatable_is_slid_into_the_top_2_gib() {
    let mut pie = Pie::new(0);
    pie.rela = vec![Rela(USER, R_X86_64_RELATIVE, 0, 0x10)];
    pie.relr = vec![USER + 8];
    pie.data[8..16].copy_from_slice(&0x20u64.to_le_bytes());
    let file = pie.build();
    let image = parse(&file).unwrap();
    assert_eq!(image.base_slide(), F);
    let slide = choose_slide(&image, 99, false);
    assert_eq!(slide, F);
    let (info, dest) = load_with(&file, slide);
    assert_eq!(info.entry, F + ENTRY);
    assert_eq!(info.image_start, F);
    assert_eq!(word(&dest, 0, USER), F + 0x10);
    assert_eq!(word(&dest, 0, USER + 8), F + 0x20);
    // Loading a low-linked image without its base slide would put it in the lower half.
    let mut dest = vec![0; image.image_size() as usize];
    assert_eq!(
        load(&image, 0, &mut dest),
        Err(ElfError::InvalidSlide { slide: 0 })
    );
}

#[test]
fn kaslr_slides_are_aligned_and_in_range() {
    for base in [0, F, F + 0x40_0000] {
        let mut pie = Pie::new(base);
        pie.rela = vec![Rela(
            pie.at(USER),
            R_X86_64_RELATIVE,
            0,
            pie.at(USER) as i64,
        )];
        let mut elf = pie.elf();
        elf.segs[0].align = 0x20_0000;
        let file = elf.build();
        let image = parse(&file).unwrap();
        assert_eq!(image.alignment(), 0x20_0000);
        let mut randoms = vec![0, 1, 2, u64::MAX, u64::MAX - 1, 1 << 63, 0x1234_5678];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            randoms.push(x);
        }
        let mut distinct = std::collections::BTreeSet::new();
        for r in randoms {
            let slide = choose_slide(&image, r, true);
            assert_eq!(slide % image.alignment(), 0, "base {base:#x} random {r:#x}");
            let start = image.image_start() + slide;
            let end = start + image.image_size();
            assert!(start >= F && end <= ADDRESS_LIMIT, "{start:#x}..{end:#x}");
            distinct.insert(slide);
        }
        assert!(
            distinct.len() > 500,
            "only {} distinct slides",
            distinct.len()
        );
        // Every chosen slide loads.
        let (info, dest) = load_with(&file, choose_slide(&image, u64::MAX, true));
        assert_eq!(word(&dest, base, pie.at(USER)), pie.at(USER) + info.slide);
    }
}

#[test]
fn kaslr_uses_the_whole_range() {
    let pie = Pie::new(F);
    let file = pie.build();
    let image = parse(&file).unwrap();
    let count = (ADDRESS_LIMIT - (F + image.image_size())) / 0x1000 + 1;
    assert_eq!(choose_slide(&image, 0, true), 0);
    assert_eq!(choose_slide(&image, count, true), 0);
    let top = choose_slide(&image, count - 1, true);
    assert_eq!(F + top + image.image_size(), ADDRESS_LIMIT);
    let (info, _) = load_with(&file, top);
    assert_eq!(info.image_start + info.image_size, ADDRESS_LIMIT);
}

// --- refusals ---------------------------------------------------------------------------------

#[test]
fn not_elf() {
    assert_eq!(parse_err(b""), ElfError::Truncated { len: 0 });
    assert_eq!(parse_err(b"MZ\x90\x00"), ElfError::NotElf);
    assert_eq!(parse_err(&[b'#'; 100]), ElfError::NotElf);
    assert_eq!(parse_err(b"\x7fEL"), ElfError::Truncated { len: 3 });
}

#[test]
fn truncated_header() {
    let file = exec_kernel().build();
    for len in [4, 20, 63] {
        assert_eq!(parse_err(&file[..len]), ElfError::Truncated { len });
    }
}

#[test]
fn wrong_identification() {
    let mut elf = exec_kernel();
    elf.class = 1;
    assert_eq!(parse_err(&elf.build()), ElfError::NotElf64 { class: 1 });
    let mut elf = exec_kernel();
    elf.data_encoding = 2;
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::NotLittleEndian { data: 2 }
    );
    let mut elf = exec_kernel();
    elf.machine = 183; // aarch64
    let e = parse_err(&elf.build());
    assert_eq!(e, ElfError::WrongMachine { machine: 183 });
    assert!(e.to_string().contains("not x86-64"));
    let mut file = exec_kernel().build();
    file[6] = 0;
    assert_eq!(parse_err(&file), ElfError::BadVersion { version: 0 });
    let mut file = exec_kernel().build();
    put32(&mut file, 20, 2);
    assert_eq!(parse_err(&file), ElfError::BadVersion { version: 2 });
}

#[test]
fn wrong_types() {
    for (t, hint) in [
        (ET_REL, "link it first"),
        (ET_CORE, "core dump"),
        (0, "neither"),
    ] {
        let mut elf = exec_kernel();
        elf.e_type = t;
        let e = parse_err(&elf.build());
        assert_eq!(e, ElfError::UnsupportedType { e_type: t });
        assert!(e.to_string().contains(hint), "{e}");
    }
}

#[test]
fn bad_program_header_table() {
    let file = exec_kernel().build();
    let mut f = file.clone();
    put16(&mut f, 54, 64);
    assert_eq!(parse_err(&f), ElfError::BadPhdrSize { size: 64 });
    // Table truncated: cut the file inside the program headers.
    let cut = &file[..64 + 56 + 20];
    assert!(matches!(
        parse_err(cut),
        ElfError::PhdrTableOutOfFile { count: 3, .. }
    ));
    let mut f = file.clone();
    put64(&mut f, 32, u64::MAX - 10);
    assert!(matches!(parse_err(&f), ElfError::PhdrTableOutOfFile { .. }));
    let mut f = file.clone();
    put16(&mut f, 56, u16::MAX);
    assert!(matches!(parse_err(&f), ElfError::PhdrTableOutOfFile { .. }));
    let mut f = file;
    put16(&mut f, 56, 0);
    assert_eq!(parse_err(&f), ElfError::NoLoadSegments);
}

#[test]
fn no_load_segments() {
    let mut elf = Elf::exec(F, Vec::new());
    elf.extra.push([4, 0, 0, 0, 0, 0, 0]);
    assert_eq!(parse_err(&elf.build()), ElfError::NoLoadSegments);
}

#[test]
fn truncated_segment_data() {
    let file = exec_kernel().build();
    let cut = &file[..file.len() - 1];
    assert!(matches!(
        parse_err(cut),
        ElfError::SegmentOutOfFile { index: 2, .. }
    ));
    let mut elf = exec_kernel();
    elf.extra
        .push([1, u64::from(R), u64::MAX, F + 0x10000, 2, 2, 0]);
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::SegmentOutOfFile { index: 3, .. }
    ));
}

#[test]
fn file_size_larger_than_memory_size() {
    let mut elf = exec_kernel();
    elf.segs[1].memsz = 3;
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::FileSizeExceedsMemSize {
            index: 1,
            filesz: 7,
            memsz: 3
        }
    );
}

#[test]
fn address_overflow_and_alignment() {
    let mut elf = exec_kernel();
    elf.segs.push(seg(u64::MAX - 0x10, Vec::new(), 0x20, R | W));
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::SegmentAddressOverflow { index: 3 }
    );
    // Ending exactly at 2^64 does not fit either (the top page stays free).
    let mut elf = exec_kernel();
    elf.segs
        .push(seg(0xffff_ffff_ffff_f000, Vec::new(), 0x1000, R | W));
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::SegmentAddressOverflow { .. }
    ));
    // Ending at ADDRESS_LIMIT is fine; a byte more rounds up past 2^64.
    let mut elf = exec_kernel();
    elf.segs
        .push(seg(0xffff_ffff_ffff_e000, Vec::new(), 0x1000, R | W));
    assert_eq!(parse(&elf.build()).unwrap().max_vaddr(), ADDRESS_LIMIT);
    let mut elf = exec_kernel();
    elf.segs.push(seg(ADDRESS_LIMIT, Vec::new(), 1, R | W));
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::ImageTooLarge { .. }
    ));
    for align in [3, 0x3000, 1 << 31] {
        let mut elf = exec_kernel();
        elf.segs[1].align = align;
        assert_eq!(
            parse_err(&elf.build()),
            ElfError::BadAlignment { index: 1, align }
        );
    }
    for align in [0, 1, 8, 0x20_0000, MAX_ALIGNMENT] {
        let mut elf = exec_kernel();
        elf.segs[1].align = align;
        let file = elf.build();
        let image = parse(&file).unwrap();
        assert_eq!(image.alignment(), align.max(0x1000));
    }
}

#[test]
fn overlapping_segments() {
    let mut elf = exec_kernel();
    elf.segs.push(seg(F + 0x800, vec![1; 0x10], 0, R | X));
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::OverlappingSegments {
            first: 0,
            second: 3
        }
    );
    // .bss of one segment overlapping the next.
    let mut elf = exec_kernel();
    elf.segs[1].memsz = 0x1800;
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::OverlappingSegments { .. }
    ));
}

#[test]
fn mixed_permissions_in_one_page() {
    let elf = Elf::exec(
        F,
        vec![
            seg(F, vec![0x90; 0x800], 0, R | X),
            seg(F + 0x800, vec![0; 0x100], 0, R | W),
        ],
    );
    let e = parse_err(&elf.build());
    assert_eq!(
        e,
        ElfError::SharedPageMixedPermissions {
            first: 0,
            first_flags: SegmentFlags::from_p_flags(R | X),
            second: 1,
            second_flags: SegmentFlags::from_p_flags(R | W),
        }
    );
    assert!(e.to_string().contains("(r-x) and #1 (rw-)"), "{e}");
    // A segment ending exactly on a page boundary does not share it.
    let elf = Elf::exec(
        F,
        vec![
            seg(F, vec![0x90; 0x1000], 0, R | X),
            seg(F + 0x1000, vec![0; 0x100], 0, R | W),
        ],
    );
    assert!(parse(&elf.build()).is_ok());
}

#[test]
fn lower_half_fixed_kernel() {
    let elf = Elf::exec(0x20_0000, vec![seg(0x20_0000, vec![0x90; 16], 0, R | X)]);
    let e = parse_err(&elf.build());
    assert_eq!(e, ElfError::LowerHalfKernel { vaddr: 0x20_0000 });
    assert!(e.to_string().contains("top 2 GiB"));
    // One low segment is enough to refuse.
    let mut elf = exec_kernel();
    elf.segs.push(seg(0x1000, vec![0; 8], 0, R));
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::LowerHalfKernel { vaddr: 0x1000 }
    ));
}

#[test]
fn mixed_low_high_relocatable() {
    let mut elf = Pie::new(F).elf();
    elf.segs.push(seg(0x1000, vec![0; 8], 0, R));
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::MixedLowHigh {
            low: 0x1000,
            high: F
        }
    );
}

#[test]
fn low_relocatable_too_large() {
    let mut elf = Pie::new(0).elf();
    elf.segs.push(seg(0x8000_0000, Vec::new(), 0x1000, R | W));
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::ImageTooLarge { .. }
    ));
}

#[test]
fn entry_outside_code() {
    let mut elf = exec_kernel();
    elf.entry = F + 0x2010; // in rw- data
    assert_eq!(
        parse_err(&elf.build()),
        ElfError::EntryNotInCode { entry: F + 0x2010 }
    );
    elf.entry = F + 0x9000; // nowhere
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::EntryNotInCode { .. }
    ));
    elf.entry = 0;
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::EntryNotInCode { .. }
    ));
}

#[test]
fn et_dyn_needs_dynamic() {
    let mut elf = Pie::new(F).elf();
    elf.dynamic = None;
    let e = parse_err(&elf.build());
    assert_eq!(e, ElfError::MissingDynamic);
    assert!(e.to_string().contains("PT_DYNAMIC"));
    let mut elf = Pie::new(F).elf();
    elf.dynamic = Some((2, 0, 0));
    assert_eq!(parse_err(&elf.build()), ElfError::MissingDynamic);
    let mut elf = Pie::new(F).elf();
    elf.extra.push([2, 6, 0, 0, 16, 16, 8]);
    assert_eq!(parse_err(&elf.build()), ElfError::DuplicateDynamic);
    let mut elf = Pie::new(F).elf();
    elf.dynamic = None;
    elf.extra.push([2, 6, 0x10_0000, 0, 16, 16, 8]);
    assert!(matches!(
        parse_err(&elf.build()),
        ElfError::DynamicOutOfFile { .. }
    ));
}

#[test]
fn dynamic_table_refusals() {
    let refused = |extra: Vec<(i64, u64)>| {
        let mut pie = Pie::new(F);
        pie.extra_dynamic = extra;
        parse_err(&pie.build())
    };
    assert_eq!(refused(vec![(DT_NEEDED, 1)]), ElfError::NeedsSharedLibrary);
    assert_eq!(
        refused(vec![(DT_REL, F + RODATA)]),
        ElfError::RelRelocations
    );
    assert_eq!(refused(vec![(DT_RELSZ, 16)]), ElfError::RelRelocations);
    assert_eq!(
        refused(vec![(DT_PLTREL, 17)]),
        ElfError::UnsupportedPltRel { value: 17 }
    );
    assert_eq!(
        refused(vec![(DT_RELAENT, 16)]),
        ElfError::BadEntrySize {
            tag: "DT_RELAENT",
            value: 16,
            expected: 24
        }
    );
    assert!(matches!(
        refused(vec![(DT_RELRENT, 4)]),
        ElfError::BadEntrySize {
            tag: "DT_RELRENT",
            ..
        }
    ));
    assert_eq!(
        refused(vec![(DT_SYMENT, 16)]),
        ElfError::DuplicateDynamicTag { tag: "DT_SYMENT" }
    );
    assert_eq!(
        refused(vec![(DT_RELA, F + RODATA)]),
        ElfError::MissingDynamicTag {
            tag: "DT_RELASZ",
            needed_by: "DT_RELA"
        }
    );
    assert_eq!(
        refused(vec![(DT_RELRSZ, 8)]),
        ElfError::MissingDynamicTag {
            tag: "DT_RELR",
            needed_by: "DT_RELRSZ"
        }
    );
    assert_eq!(
        refused(vec![(DT_RELA, F + RODATA), (DT_RELASZ, 25)]),
        ElfError::BadTableSize {
            tag: "DT_RELASZ",
            size: 25,
            entry: 24
        }
    );
    // A table in the .bss part (not file-backed) or outside every segment.
    for addr in [F + DATA + 0x1000, 0x1000] {
        assert_eq!(
            refused(vec![(DT_RELA, addr), (DT_RELASZ, 24)]),
            ElfError::TableOutOfFile {
                tag: "DT_RELA",
                addr,
                size: 24
            }
        );
    }
    // A table running past the end of its segment's file bytes.
    let e = refused(vec![(DT_JMPREL, F + RODATA), (DT_PLTRELSZ, 24 * 1000)]);
    assert!(
        matches!(
            e,
            ElfError::TableOutOfFile {
                tag: "DT_JMPREL",
                ..
            }
        ),
        "{e}"
    );
    // Huge sizes must not overflow.
    let e = refused(vec![(DT_RELR, F + RODATA), (DT_RELRSZ, u64::MAX - 7)]);
    assert!(matches!(e, ElfError::TableOutOfFile { .. }), "{e}");
}

#[test]
fn empty_tables_and_no_relocations_are_fine() {
    let mut pie = Pie::new(F);
    pie.dynamic = Some(vec![(DT_RELA, 0), (DT_RELASZ, 0), (DT_RELAENT, 24)]);
    let file = pie.build();
    let image = parse(&file).unwrap();
    assert_eq!(image.relocation_count(), 0);
    assert_eq!(choose_slide(&image, 5, false), 0);
}

#[test]
fn symbol_problems() {
    let mut pie = Pie::new(F);
    pie.rela = vec![Rela(pie.at(USER), R_X86_64_64, 40, 0)];
    assert!(matches!(
        parse_err(&pie.build()),
        ElfError::SymbolOutOfRange { symbol: 40, .. }
    ));
    let mut pie = Pie::new(F);
    pie.rela = vec![Rela(pie.at(USER), R_X86_64_64, u32::MAX, 0)];
    assert!(matches!(
        parse_err(&pie.build()),
        ElfError::SymbolOutOfRange { .. }
    ));
    let mut pie = Pie::new(F);
    pie.rela = vec![Rela(pie.at(USER), R_X86_64_64, 1, 0)];
    let (_, tags) = pie.tables();
    pie.dynamic = Some(tags.into_iter().filter(|(t, _)| *t != DT_SYMTAB).collect());
    assert_eq!(
        parse_err(&pie.build()),
        ElfError::MissingSymbolTable {
            table: RelocTable::Rela,
            index: 0
        }
    );
    // A bad name offset still reports the undefined symbol, just without a name.
    let mut pie = Pie::new(F);
    pie.syms = vec![Sym("x", GLOBAL, SHN_UNDEF, 0)];
    pie.rela = vec![Rela(pie.at(USER), R_X86_64_64, 1, 0)];
    let mut file = pie.build();
    // Corrupt st_name of symbol 1 (the symbol table follows the RELA table in rodata).
    let image_rodata = Elf::offsets(&pie.elf())[1] as usize;
    let symtab = image_rodata + 24;
    put32(&mut file, symtab + 24, 0xffff);
    assert!(matches!(
        parse_err(&file),
        ElfError::UndefinedSymbol { name: None, .. }
    ));
}

#[test]
fn unsupported_relocation_types() {
    for (kind, name) in [(37, "R_X86_64_IRELATIVE"), (5, "R_X86_64_COPY"), (999, "")] {
        let mut pie = Pie::new(F);
        pie.jmprel = vec![Rela(pie.at(USER), kind, 0, 0)];
        let e = parse_err(&pie.build());
        assert_eq!(
            e,
            ElfError::UnsupportedRelocation {
                table: RelocTable::JmpRel,
                index: 0,
                kind
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("type {kind}")) && msg.contains(name),
            "{msg}"
        );
    }
}

#[test]
fn relocation_targets_outside_the_image() {
    let pie = Pie::new(F);
    let end = pie.at(DATA) + 0x200 + 0x400 + 0x1000; // data + bss end
    for target in [0, F - 8, end - 7, end, u64::MAX - 3] {
        let mut p = pie.clone();
        p.rela = vec![Rela(target, R_X86_64_RELATIVE, 0, 0)];
        assert_eq!(
            parse_err(&p.build()),
            ElfError::RelocationOutOfImage {
                table: RelocTable::Rela,
                index: 0,
                target
            },
            "{target:#x}"
        );
    }
    // The last whole word of .bss is fine.
    let mut p = pie.clone();
    p.rela = vec![Rela(end - 8, R_X86_64_RELATIVE, 0, 1)];
    let (_, dest) = load_with(&p.build(), 0);
    assert_eq!(word(&dest, F, end - 8), 1);
    // RELR targets are checked the same way, including bitmap bits.
    let mut p = pie.clone();
    p.relr = vec![end - 16, 0b101];
    assert!(matches!(
        parse_err(&p.build()),
        ElfError::RelocationOutOfImage {
            table: RelocTable::Relr,
            index: 1,
            ..
        }
    ));
    let mut p = pie;
    p.relr = vec![u64::MAX - 7, 0b11];
    assert!(parse(&p.build()).is_err());
}

#[test]
fn load_argument_checks() {
    let file = exec_kernel().build();
    let image = parse(&file).unwrap();
    let mut small = vec![0; 0x1000];
    assert_eq!(
        load(&image, 0, &mut small),
        Err(ElfError::DestinationSize {
            expected: 0x5000,
            got: 0x1000
        })
    );
    let mut dest = vec![0; 0x5000];
    assert_eq!(
        load(&image, 0x1000, &mut dest),
        Err(ElfError::InvalidSlide { slide: 0x1000 })
    );
    let file = Pie::new(F).build();
    let image = parse(&file).unwrap();
    let mut dest = vec![0; image.image_size() as usize];
    for slide in [0x10, u64::MAX - 0xfff, ADDRESS_LIMIT - F] {
        assert_eq!(
            load(&image, slide, &mut dest),
            Err(ElfError::InvalidSlide { slide })
        );
    }
}

#[test]
fn every_error_has_a_one_line_message() {
    let samples = [
        ElfError::Truncated { len: 3 },
        ElfError::NotElf,
        ElfError::NoLoadSegments,
        ElfError::LowerHalfKernel { vaddr: 0x1000 },
        ElfError::ImageTooLarge { start: 0, end: 1 },
        ElfError::RelrOverflow { index: 2 },
        ElfError::UndefinedSymbol {
            table: RelocTable::JmpRel,
            index: 1,
            symbol: 3,
            name: None,
        },
    ];
    for e in samples {
        let msg = e.to_string();
        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
    }
}

// --- robustness -------------------------------------------------------------------------------

/// A relocatable kernel using every table, for mutation tests.
fn rich_pie() -> Vec<u8> {
    let mut pie = Pie::new(F);
    let t = pie.at(USER);
    pie.syms = vec![
        Sym("a", GLOBAL, DEFINED, F + 0x10),
        Sym("w", WEAK, SHN_UNDEF, 0),
    ];
    pie.rela = vec![
        Rela(t, R_X86_64_RELATIVE, 0, 5),
        Rela(t + 8, R_X86_64_64, 1, 1),
        Rela(t + 16, R_X86_64_GLOB_DAT, 2, 0),
    ];
    pie.jmprel = vec![Rela(t + 24, R_X86_64_JUMP_SLOT, 1, 0)];
    pie.relr = vec![t + 32, 0xff];
    pie.elf().build()
}

fn parse_and_load(file: &[u8], random: u64, kaslr: bool) {
    let Ok(image) = parse(file) else { return };
    let slide = choose_slide(&image, random, kaslr);
    let Ok(size) = usize::try_from(image.image_size()) else {
        return;
    };
    if size > 64 << 20 {
        return;
    }
    let mut dest = vec![0u8; size];
    // A file that parsed may still be refused only for the arguments, never panic.
    if let Err(e) = load(&image, slide, &mut dest) {
        let _ = e.to_string();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_images_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        truncate in prop::option::of(any::<prop::sample::Index>()),
        random in any::<u64>(),
        kaslr in any::<bool>(),
        which in 0..2u8,
    ) {
        let mut file = if which == 0 { rich_pie() } else { exec_kernel().build() };
        for (at, value) in flips {
            let i = at.index(file.len());
            file[i] = value;
        }
        if let Some(cut) = truncate {
            file.truncate(cut.index(file.len() + 1));
        }
        parse_and_load(&file, random, kaslr);
    }

    #[test]
    fn mutated_headers_never_panic(
        // Flip bytes in the headers and tables, where the interesting fields are.
        flips in prop::collection::vec((0usize..0x400, any::<u64>()), 1..6),
        random in any::<u64>(),
    ) {
        let mut file = rich_pie();
        let rodata = 0x2000; // file offset of the rodata segment in `rich_pie`
        for (at, value) in flips {
            let at = if at < 0x200 { at } else { rodata + at - 0x200 };
            let end = (at + 8).min(file.len());
            let bytes = value.to_le_bytes();
            file[at..end].copy_from_slice(&bytes[..end - at]);
        }
        parse_and_load(&file, random, true);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut file = b"\x7fELF\x02\x01\x01".to_vec();
        file.extend_from_slice(&bytes);
        parse_and_load(&file, 0, true);
        parse_and_load(&bytes, 0, false);
    }
}

#[test]
fn rich_pie_layout_is_as_the_mutation_test_assumes() {
    let file = rich_pie();
    let image = parse(&file).unwrap();
    assert_eq!(image.segments()[1].file_offset, 0x2000);
    assert_eq!(image.relocation_count(), 4 + 1 + 7);
}

// --- the real kernel --------------------------------------------------------------------------

/// Parses and loads the workspace's kernel if it has been built:
/// `cargo build --release -p kernel --target x86_64-unknown-none` (or set `LOADER_TEST_KERNEL`).
#[test]
fn real_kernel_if_built() {
    let mut candidates = Vec::new();
    if let Ok(path) = std::env::var("LOADER_TEST_KERNEL") {
        candidates.push(std::path::PathBuf::from(path));
    }
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut target_dirs = vec![workspace.join("target")];
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        target_dirs.insert(0, dir.into());
    }
    for dir in target_dirs {
        for profile in ["release", "debug"] {
            candidates.push(dir.join("x86_64-unknown-none").join(profile).join("kernel"));
        }
    }
    let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
        std::eprintln!("real_kernel_if_built: no kernel binary found, skipped");
        return;
    };
    let file = std::fs::read(&path).unwrap();
    let image = parse(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::eprintln!("real kernel {}: {image:?}", path.display());
    assert!(image.min_vaddr() >= KERNEL_FLOOR || image.is_relocatable());
    let mut unslid = vec![0u8; image.image_size() as usize];
    load(&image, choose_slide(&image, 0, false), &mut unslid).unwrap();
    for kaslr in [false, true] {
        let slide = choose_slide(&image, 0x0123_4567_89ab_cdef, kaslr);
        let mut dest = vec![0u8; image.image_size() as usize];
        let info = load(&image, slide, &mut dest).unwrap();
        assert_eq!(info.entry, image.entry() + slide);
        assert!(info.image_start >= KERNEL_FLOOR);
        assert!(info.scan_len <= info.image_size);
        // The Limine request start marker must be in the scanned, file-backed part.
        let marker = 0xf6b8_f4b3_9de7_d1ae_u64.to_le_bytes();
        let scanned = &dest[..info.scan_len as usize];
        let has_marker = scanned.chunks_exact(8).any(|w| w == marker);
        // Relocated words differ from the unslid load by exactly the extra slide; nothing else
        // differs.
        let extra = slide.wrapping_sub(choose_slide(&image, 0, false));
        let mut changed = 0;
        for (a, b) in unslid.chunks_exact(8).zip(dest.chunks_exact(8)) {
            let (a, b) = (word(a, 0, 0), word(b, 0, 0));
            if a != b {
                assert_eq!(b, a.wrapping_add(extra));
                changed += 1;
            }
        }
        assert!(changed <= info.relocations);
        assert_eq!(unslid.len() % 8, 0);
        std::eprintln!(
            "kaslr {kaslr}: slide {slide:#x}, {} relocations ({changed} words changed), start \
             marker found: {has_marker}",
            info.relocations
        );
    }
}
