//! ELF64 kernel loading: validation, load planning, segment copying, relocation and KASLR slide.
//!
//! The rules are those of PROTOCOL.md's "Memory Layout at Entry" (a kernel lives at or above
//! `0xffffffff80000000`; a relocatable one may be moved, with KASLR) as Limine applies them to an
//! ELF kernel:
//!
//! 1. [`parse`] checks the whole file before anything is allocated: header, program headers,
//!    `PT_LOAD` layout (in the file, no overlap, no page shared by different permissions, top
//!    2 GiB), the entry point, and for a relocatable kernel (`ET_DYN` with `PT_DYNAMIC`) the
//!    dynamic table and every relocation (type, symbol, target). A [`KernelImage`] that parsed
//!    can only fail to load because of the caller's arguments.
//! 2. [`choose_slide`] picks the slide: 0 for a fixed kernel; for a relocatable one the base slide
//!    that moves a low-linked image to `0xffffffff80000000`, plus a random multiple of the
//!    alignment when KASLR is on.
//! 3. [`load`] fills the physically contiguous block that will be mapped at
//!    [`KernelImage::image_start`] + slide: zero it, copy the file-backed bytes, apply `RELA`,
//!    `JMPREL` and packed `RELR` relocations in place. The returned [`LoadedInfo`] has the entry
//!    point, the addresses for the Executable Address response and the segments to map.
//!
//! Image layout. The block covers `image_start..image_end`: the lowest `p_vaddr` rounded down
//! and the highest segment end rounded up to 4 KiB. Segment bytes sit at `vaddr - image_start`;
//! gaps between segments and `.bss` tails are zero. So that every exclusive end address fits in
//! a `u64`, the image must end at or below [`ADDRESS_LIMIT`] (the topmost page is never used).
//!
//! Relocation semantics (x86-64 psABI; `B` = slide, `A` = addend, `S` = symbol value):
//!
//! - `R_X86_64_NONE` is skipped; `RELATIVE` stores `B + A`; `64` stores `S + A`.
//! - `GLOB_DAT` and `JUMP_SLOT` store `S`, as the psABI defines them. musl adds `A` as well;
//!   linkers always write `A = 0` for these, so both readings agree on real files.
//! - `S` is `st_value + B` for a symbol defined in the image, `st_value` for an absolute
//!   (`SHN_ABS`) symbol, 0 for symbol index 0 and for an undefined weak symbol. An undefined
//!   non-weak symbol is refused, naming it.
//! - Packed `DT_RELR` adds `B` to each word it marks.
//! - Tables are read from the file, never from the image being patched. `RELA` and `JMPREL`
//!   may overlap (some linkers do that): their relocations store values, so applying one twice
//!   is harmless. `DT_JMPREL` without `DT_PLTREL` is taken as `RELA` (the only x86-64 form).
//! - Only `ET_DYN` files are relocated; the `PT_DYNAMIC` of an `ET_EXEC` file is ignored.
//!
//! All arithmetic on values from the file is checked; a malformed file gives an [`ElfError`],
//! never a panic. Relocated values themselves are computed modulo 2^64 (`wrapping_add`), which
//! is their defined meaning. Everything is read from the borrowed file bytes, never through
//! pointers, and there is no `unsafe`.
//!
//! Why not the `elf` crate: its `ElfBytes::minimal_parse` also requires a readable section
//! header table, which loading never uses, and reports every bounds problem as a generic
//! `ParseError`; the refusals above (not ELF vs truncated, the program header table or a segment
//! outside the file, dynamic tags and relocations by table and index) would stay hand-written,
//! and only the few little-endian readers in `read.rs` would go.

use alloc::vec::Vec;
use core::fmt;

mod dynamic;
mod error;
mod header;
mod load;
mod read;
mod reloc;
#[cfg(test)]
mod tests;

pub use error::{ElfError, RelocTable};
pub use header::parse;
pub use load::{choose_slide, load};

/// Lowest address a kernel may occupy: the start of the top 2 GiB.
pub const KERNEL_FLOOR: u64 = 0xffff_ffff_8000_0000;
/// Exclusive upper bound of a loaded image (the topmost 4 KiB page stays unused).
pub const ADDRESS_LIMIT: u64 = 0xffff_ffff_ffff_f000;
/// Page size used for image rounding and the shared-page check.
pub const PAGE_SIZE: u64 = 4096;
/// Largest `p_align` accepted. Larger values cannot be satisfied by a physical allocator and
/// would keep the low-linked base slide from being a multiple of the alignment.
pub const MAX_ALIGNMENT: u64 = 1 << 30;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const DYN_SIZE: usize = 16;
const RELA_SIZE: u64 = 24;
const SYM_SIZE: u64 = 24;
const RELR_SIZE: u64 = 8;
const RELA_ENTRY: usize = 24;
const SYM_ENTRY: usize = 24;

const ET_REL: u16 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const ET_CORE: u16 = 4;
const EM_X86_64: u16 = 62;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;

const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_RELAENT: i64 = 9;
const DT_STRSZ: i64 = 10;
const DT_SYMENT: i64 = 11;
const DT_REL: i64 = 17;
const DT_RELSZ: i64 = 18;
const DT_PLTREL: i64 = 20;
const DT_JMPREL: i64 = 23;
const DT_RELRSZ: i64 = 35;
const DT_RELR: i64 = 36;
const DT_RELRENT: i64 = 37;

const R_X86_64_NONE: u32 = 0;
const R_X86_64_64: u32 = 1;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;
const R_X86_64_RELATIVE: u32 = 8;

const SHN_UNDEF: u16 = 0;
const SHN_ABS: u16 = 0xfff1;
const STB_WEAK: u8 = 2;

/// Permissions of a `PT_LOAD` (`p_flags` R/W/X bits; other bits are dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentFlags(u32);

impl SegmentFlags {
    /// `PF_X`.
    pub const EXECUTE: u32 = 1;
    /// `PF_W`.
    pub const WRITE: u32 = 2;
    /// `PF_R`.
    pub const READ: u32 = 4;

    /// Keeps the R/W/X bits of a `p_flags` value.
    pub const fn from_p_flags(p_flags: u32) -> Self {
        Self(p_flags & 7)
    }

    /// The R/W/X bits as in `p_flags`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// `PF_R` is set. (The protocol maps every segment readable regardless.)
    pub const fn readable(self) -> bool {
        self.0 & Self::READ != 0
    }

    /// `PF_W` is set.
    pub const fn writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }

    /// `PF_X` is set.
    pub const fn executable(self) -> bool {
        self.0 & Self::EXECUTE != 0
    }
}

impl fmt::Display for SegmentFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |set, c| if set { c } else { '-' };
        write!(
            f,
            "{}{}{}",
            bit(self.readable(), 'r'),
            bit(self.writable(), 'w'),
            bit(self.executable(), 'x')
        )
    }
}

/// A `PT_LOAD` with `p_memsz > 0`, addresses as linked (unslid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Index of the program header, for messages.
    pub index: usize,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_memsz` (> 0).
    pub memsz: u64,
    /// `p_offset`.
    pub file_offset: u64,
    /// `p_filesz` (<= `memsz`).
    pub filesz: u64,
    /// Permissions.
    pub flags: SegmentFlags,
    /// `p_align` (0, 1 or a power of two up to [`MAX_ALIGNMENT`]).
    pub align: u64,
}

impl Segment {
    /// `vaddr + memsz` (checked at parse time).
    pub const fn end(&self) -> u64 {
        self.vaddr.wrapping_add(self.memsz)
    }
}

/// A byte range of the file holding a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Table {
    offset: usize,
    len: usize,
}

/// The relocation-related parts of `PT_DYNAMIC`, resolved to file ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dynamic {
    rela: Option<Table>,
    jmprel: Option<Table>,
    relr: Option<Table>,
    /// From `DT_SYMTAB` to the end of its segment's file-backed bytes (no size tag exists).
    symtab: Option<Table>,
    /// `DT_STRTAB`, bounded by `DT_STRSZ` or its segment; only used to name symbols in errors.
    strtab: Option<Table>,
}

/// A validated kernel file, ready for [`choose_slide`] and [`load`].
#[derive(Clone, PartialEq, Eq)]
pub struct KernelImage<'a> {
    file: &'a [u8],
    segments: Vec<Segment>,
    entry: u64,
    min_vaddr: u64,
    max_vaddr: u64,
    image_start: u64,
    image_end: u64,
    alignment: u64,
    relocatable: bool,
    base_slide: u64,
    file_backed_end: u64,
    dynamic: Dynamic,
    relocation_count: usize,
}

impl fmt::Debug for KernelImage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelImage")
            .field("file_len", &self.file.len())
            .field("segments", &self.segments)
            .field("entry", &format_args!("{:#x}", self.entry))
            .field("min_vaddr", &format_args!("{:#x}", self.min_vaddr))
            .field("max_vaddr", &format_args!("{:#x}", self.max_vaddr))
            .field("alignment", &format_args!("{:#x}", self.alignment))
            .field("relocatable", &self.relocatable)
            .field("base_slide", &format_args!("{:#x}", self.base_slide))
            .field("relocation_count", &self.relocation_count)
            .finish_non_exhaustive()
    }
}

impl KernelImage<'_> {
    /// Lowest `p_vaddr` of the counted `PT_LOAD`s (as linked).
    pub const fn min_vaddr(&self) -> u64 {
        self.min_vaddr
    }

    /// Highest `p_vaddr + p_memsz` (exclusive, as linked).
    pub const fn max_vaddr(&self) -> u64 {
        self.max_vaddr
    }

    /// `min_vaddr` rounded down to 4 KiB: the linked address of the first byte of the block.
    pub const fn image_start(&self) -> u64 {
        self.image_start
    }

    /// Bytes of the physically contiguous block: `max_vaddr` rounded up to 4 KiB minus
    /// [`Self::image_start`] (equal to `max - min` rounded up when `min_vaddr` is page-aligned).
    pub const fn image_size(&self) -> u64 {
        self.image_end.wrapping_sub(self.image_start)
    }

    /// Physical alignment of the block: the largest `p_align`, at least 4 KiB.
    pub const fn alignment(&self) -> u64 {
        self.alignment
    }

    /// `ET_DYN` with a non-empty `PT_DYNAMIC`: relocations are applied and the image may slide.
    pub const fn is_relocatable(&self) -> bool {
        self.relocatable
    }

    /// The slide that moves a low-linked relocatable image into the top 2 GiB, 0 otherwise.
    /// It is `KERNEL_FLOOR - min_vaddr` with `min_vaddr` rounded down to [`Self::alignment`].
    pub const fn base_slide(&self) -> u64 {
        self.base_slide
    }

    /// `e_entry` as linked (unslid).
    pub const fn entry(&self) -> u64 {
        self.entry
    }

    /// The counted `PT_LOAD`s, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Linked address where the file-backed part ends: `p_vaddr + p_filesz` of the highest
    /// `PT_LOAD`, i.e. the image without the zero-filled tail of its last segment.
    pub const fn file_backed_end(&self) -> u64 {
        self.file_backed_end
    }

    /// How many bytes from the start of the block the Limine request scan covers
    /// (`file_backed_end - image_start`).
    pub const fn scan_len(&self) -> u64 {
        self.file_backed_end.wrapping_sub(self.image_start)
    }

    /// Number of relocations [`load`] applies (`RELA` + `JMPREL` entries + `RELR` words patched).
    pub const fn relocation_count(&self) -> usize {
        self.relocation_count
    }
}

/// A segment as mapped after [`load`], with the slide applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedSegment {
    /// Slid `p_vaddr`.
    pub vaddr: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// Offset of `vaddr` inside the block.
    pub image_offset: u64,
    /// Permissions.
    pub flags: SegmentFlags,
    /// `vaddr` rounded down to 4 KiB.
    pub page_start: u64,
    /// `vaddr + memsz` rounded up to 4 KiB (exclusive). Pages of segments with different
    /// permissions never overlap: [`parse`] refuses that.
    pub page_end: u64,
}

/// What the caller needs after [`load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedInfo {
    /// The slide applied.
    pub slide: u64,
    /// `e_entry + slide`.
    pub entry: u64,
    /// Virtual address of the block's first byte (4 KiB aligned).
    pub image_start: u64,
    /// `min_vaddr + slide`: `virtual_base` of the Executable Address response. The physical
    /// base is the block's address plus `virtual_base - image_start`.
    pub virtual_base: u64,
    /// Bytes of the block.
    pub image_size: u64,
    /// Bytes from the block's start that the request scan covers (file-backed part).
    pub scan_len: u64,
    /// The segments to map, slid, in address order.
    pub segments: Vec<LoadedSegment>,
    /// Relocations applied.
    pub relocations: usize,
}
