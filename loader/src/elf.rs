//! ELF64 kernel loading: validation, load planning, segment copying, relocation and KASLR slide.
//!
//! The rules are those of the protocol digest §4 (how Limine treats an ELF kernel):
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

use alloc::{string::String, vec::Vec};
use core::fmt;

#[cfg(test)]
mod tests;

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

/// Which relocation table an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocTable {
    /// `DT_RELA`.
    Rela,
    /// `DT_JMPREL` (PLT relocations).
    JmpRel,
    /// `DT_RELR`.
    Relr,
}

impl fmt::Display for RelocTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rela => "DT_RELA",
            Self::JmpRel => "DT_JMPREL",
            Self::Relr => "DT_RELR",
        })
    }
}

/// Why a kernel file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than an ELF header.
    Truncated {
        /// File length.
        len: usize,
    },
    /// No `\x7fELF` magic.
    NotElf,
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64 {
        /// The class byte.
        class: u8,
    },
    /// `EI_DATA` is not little-endian.
    NotLittleEndian {
        /// The data byte.
        data: u8,
    },
    /// `EI_VERSION` or `e_version` is not 1.
    BadVersion {
        /// The offending version.
        version: u32,
    },
    /// `e_machine` is not x86-64.
    WrongMachine {
        /// The machine number.
        machine: u16,
    },
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    UnsupportedType {
        /// The type number.
        e_type: u16,
    },
    /// `e_phentsize` is not 56.
    BadPhdrSize {
        /// The value found.
        size: u16,
    },
    /// The program header table does not fit in the file.
    PhdrTableOutOfFile {
        /// `e_phoff`.
        offset: u64,
        /// `e_phnum`.
        count: u16,
    },
    /// No `PT_LOAD` with `p_memsz > 0`.
    NoLoadSegments,
    /// A segment's file bytes are outside the file.
    SegmentOutOfFile {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
    },
    /// `p_filesz > p_memsz`.
    FileSizeExceedsMemSize {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// `p_vaddr + p_memsz` wraps around.
    SegmentAddressOverflow {
        /// Program header index.
        index: usize,
    },
    /// `p_align` is not 0, 1 or a power of two up to [`MAX_ALIGNMENT`].
    BadAlignment {
        /// Program header index.
        index: usize,
        /// `p_align`.
        align: u64,
    },
    /// Two `PT_LOAD`s overlap in virtual memory.
    OverlappingSegments {
        /// Program header index of the lower one.
        first: usize,
        /// Program header index of the higher one.
        second: usize,
    },
    /// Two `PT_LOAD`s with different permissions share a 4 KiB page.
    SharedPageMixedPermissions {
        /// Program header index of the lower one.
        first: usize,
        /// Its permissions.
        first_flags: SegmentFlags,
        /// Program header index of the higher one.
        second: usize,
        /// Its permissions.
        second_flags: SegmentFlags,
    },
    /// A non-relocatable kernel with a segment below [`KERNEL_FLOOR`].
    LowerHalfKernel {
        /// The lowest `p_vaddr`.
        vaddr: u64,
    },
    /// A relocatable kernel with segments both below and above [`KERNEL_FLOOR`].
    MixedLowHigh {
        /// A segment address below the floor.
        low: u64,
        /// A segment address above it.
        high: u64,
    },
    /// The image does not fit between [`KERNEL_FLOOR`] and [`ADDRESS_LIMIT`].
    ImageTooLarge {
        /// Lowest linked address.
        start: u64,
        /// Highest linked end address.
        end: u64,
    },
    /// `e_entry` is not inside an executable `PT_LOAD`.
    EntryNotInCode {
        /// `e_entry`.
        entry: u64,
    },
    /// `ET_DYN` without a (non-empty) `PT_DYNAMIC`.
    MissingDynamic,
    /// More than one `PT_DYNAMIC`.
    DuplicateDynamic,
    /// `PT_DYNAMIC` is outside the file.
    DynamicOutOfFile {
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
    },
    /// `DT_NEEDED`: the kernel wants shared libraries.
    NeedsSharedLibrary,
    /// A dynamic tag the loader relies on appears twice.
    DuplicateDynamicTag {
        /// Tag name.
        tag: &'static str,
    },
    /// `DT_PLTREL` is not `DT_RELA`.
    UnsupportedPltRel {
        /// The value.
        value: u64,
    },
    /// `DT_REL` relocations (without addends) are present.
    RelRelocations,
    /// An entry-size tag has the wrong value.
    BadEntrySize {
        /// Tag name.
        tag: &'static str,
        /// The value.
        value: u64,
        /// The only accepted value.
        expected: u64,
    },
    /// A table size is given without its address or vice versa.
    MissingDynamicTag {
        /// The missing tag.
        tag: &'static str,
        /// The tag that needs it.
        needed_by: &'static str,
    },
    /// A table size is not a multiple of its entry size.
    BadTableSize {
        /// Size tag name.
        tag: &'static str,
        /// The size.
        size: u64,
        /// Entry size.
        entry: u64,
    },
    /// A table's address range is not inside the file-backed part of one `PT_LOAD`.
    TableOutOfFile {
        /// Address tag name.
        tag: &'static str,
        /// Linked address.
        addr: u64,
        /// Size in bytes (0 when unknown).
        size: u64,
    },
    /// A relocation type the loader does not implement.
    UnsupportedRelocation {
        /// Table.
        table: RelocTable,
        /// Entry index.
        index: usize,
        /// `ELF64_R_TYPE`.
        kind: u32,
    },
    /// A relocation target is not 8 bytes inside the image.
    RelocationOutOfImage {
        /// Table.
        table: RelocTable,
        /// Entry index.
        index: usize,
        /// Linked target address.
        target: u64,
    },
    /// A relocation needs a symbol but there is no `DT_SYMTAB`.
    MissingSymbolTable {
        /// Table.
        table: RelocTable,
        /// Entry index.
        index: usize,
    },
    /// A symbol index past the end of the symbol table's segment.
    SymbolOutOfRange {
        /// Table.
        table: RelocTable,
        /// Entry index.
        index: usize,
        /// Symbol index.
        symbol: u32,
    },
    /// A relocation refers to an undefined, non-weak symbol.
    UndefinedSymbol {
        /// Table.
        table: RelocTable,
        /// Entry index.
        index: usize,
        /// Symbol index.
        symbol: u32,
        /// Symbol name when the string table has a printable one.
        name: Option<String>,
    },
    /// A `RELR` bitmap word without an address word before it.
    RelrBitmapFirst {
        /// Entry index.
        index: usize,
    },
    /// A `RELR` address computation wraps around.
    RelrOverflow {
        /// Entry index.
        index: usize,
    },
    /// `dest` is not [`KernelImage::image_size`] bytes.
    DestinationSize {
        /// Bytes needed.
        expected: u64,
        /// Bytes given.
        got: usize,
    },
    /// The slide is not valid for this image.
    InvalidSlide {
        /// The slide.
        slide: u64,
    },
}

/// Name of an x86-64 relocation type, for messages.
fn relocation_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        0 => "R_X86_64_NONE",
        1 => "R_X86_64_64",
        2 => "R_X86_64_PC32",
        3 => "R_X86_64_GOT32",
        4 => "R_X86_64_PLT32",
        5 => "R_X86_64_COPY",
        6 => "R_X86_64_GLOB_DAT",
        7 => "R_X86_64_JUMP_SLOT",
        8 => "R_X86_64_RELATIVE",
        9 => "R_X86_64_GOTPCREL",
        10 => "R_X86_64_32",
        11 => "R_X86_64_32S",
        16 => "R_X86_64_DTPMOD64",
        17 => "R_X86_64_DTPOFF64",
        18 => "R_X86_64_TPOFF64",
        24 => "R_X86_64_PC64",
        36 => "R_X86_64_TLSDESC",
        37 => "R_X86_64_IRELATIVE",
        _ => return None,
    })
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => write!(
                f,
                "file is {len} bytes, too short for an ELF header; is kernel_path the kernel binary?"
            ),
            Self::NotElf => f.write_str(
                "not an ELF file (no \\x7fELF magic); is kernel_path the kernel binary?",
            ),
            Self::NotElf64 { class } => {
                write!(f, "ELF class {class} is not ELF64; build a 64-bit kernel")
            }
            Self::NotLittleEndian { data } => {
                write!(f, "ELF data encoding {data} is not little-endian")
            }
            Self::BadVersion { version } => {
                write!(f, "ELF version {version} is not 1 (EV_CURRENT)")
            }
            Self::WrongMachine { machine } => write!(
                f,
                "kernel is built for ELF machine {machine}, not x86-64 (62)"
            ),
            Self::UnsupportedType { e_type } => match *e_type {
                ET_REL => f.write_str(
                    "file is a relocatable object (ET_REL), not a linked kernel; link it first",
                ),
                ET_CORE => f.write_str("file is a core dump (ET_CORE), not a kernel"),
                t => write!(f, "ELF type {t} is neither ET_EXEC nor ET_DYN"),
            },
            Self::BadPhdrSize { size } => write!(
                f,
                "program header entry size is {size}, expected 56 for ELF64"
            ),
            Self::PhdrTableOutOfFile { offset, count } => write!(
                f,
                "program header table ({count} entries at file offset {offset:#x}) runs past the \
                 end of the file; the file may be truncated"
            ),
            Self::NoLoadSegments => f.write_str("kernel has no PT_LOAD segment with memory size"),
            Self::SegmentOutOfFile {
                index,
                offset,
                filesz,
            } => write!(
                f,
                "PT_LOAD #{index} ({filesz:#x} bytes at file offset {offset:#x}) runs past the end \
                 of the file; the file may be truncated"
            ),
            Self::FileSizeExceedsMemSize {
                index,
                filesz,
                memsz,
            } => write!(
                f,
                "PT_LOAD #{index} has file size {filesz:#x} larger than its memory size {memsz:#x}"
            ),
            Self::SegmentAddressOverflow { index } => {
                write!(
                    f,
                    "PT_LOAD #{index} wraps around the end of the address space"
                )
            }
            Self::BadAlignment { index, align } => write!(
                f,
                "PT_LOAD #{index} has alignment {align:#x}; expected 0, 1 or a power of two up \
                 to 1 GiB"
            ),
            Self::OverlappingSegments { first, second } => {
                write!(
                    f,
                    "PT_LOAD #{first} and #{second} overlap in virtual memory"
                )
            }
            Self::SharedPageMixedPermissions {
                first,
                first_flags,
                second,
                second_flags,
            } => write!(
                f,
                "PT_LOAD #{first} ({first_flags}) and #{second} ({second_flags}) share a 4 KiB page \
                 but have different permissions; page-align the segments in the linker script"
            ),
            Self::LowerHalfKernel { vaddr } => write!(
                f,
                "kernel is linked at {vaddr:#x}, below {KERNEL_FLOOR:#x}; link it in the top \
                 2 GiB or as a position-independent executable"
            ),
            Self::MixedLowHigh { low, high } => write!(
                f,
                "relocatable kernel has segments both below ({low:#x}) and above ({high:#x}) \
                 {KERNEL_FLOOR:#x}; link it entirely low or entirely high"
            ),
            Self::ImageTooLarge { start, end } => write!(
                f,
                "kernel image {start:#x}..{end:#x} does not fit in the top 2 GiB \
                 ({KERNEL_FLOOR:#x}..{ADDRESS_LIMIT:#x})"
            ),
            Self::EntryNotInCode { entry } => write!(
                f,
                "entry point {entry:#x} is not inside an executable PT_LOAD segment"
            ),
            Self::MissingDynamic => f.write_str(
                "ET_DYN (position-independent) kernel has no PT_DYNAMIC segment, so it cannot be \
                 relocated; keep .dynamic in the link",
            ),
            Self::DuplicateDynamic => f.write_str("kernel has more than one PT_DYNAMIC segment"),
            Self::DynamicOutOfFile { offset, filesz } => write!(
                f,
                "PT_DYNAMIC ({filesz:#x} bytes at file offset {offset:#x}) runs past the end of \
                 the file"
            ),
            Self::NeedsSharedLibrary => {
                f.write_str("kernel needs shared libraries (DT_NEEDED); link it statically")
            }
            Self::DuplicateDynamicTag { tag } => write!(f, "dynamic tag {tag} appears twice"),
            Self::UnsupportedPltRel { value } => write!(
                f,
                "DT_PLTREL is {value}, but only DT_RELA (7) is supported on x86-64"
            ),
            Self::RelRelocations => f.write_str(
                "kernel has DT_REL relocations (without addends), which x86-64 does not use",
            ),
            Self::BadEntrySize {
                tag,
                value,
                expected,
            } => write!(f, "{tag} is {value}, expected {expected}"),
            Self::MissingDynamicTag { tag, needed_by } => {
                write!(f, "dynamic table has {needed_by} but no {tag}")
            }
            Self::BadTableSize { tag, size, entry } => write!(
                f,
                "{tag} is {size}, not a multiple of the {entry}-byte entry size"
            ),
            Self::TableOutOfFile { tag, addr, size } => write!(
                f,
                "{tag} table at {addr:#x} ({size:#x} bytes) is not inside the file-backed part \
                 of a PT_LOAD segment"
            ),
            Self::UnsupportedRelocation { table, index, kind } => {
                write!(f, "{table} entry {index}: relocation type {kind}")?;
                if let Some(name) = relocation_name(*kind) {
                    write!(f, " ({name})")?;
                }
                f.write_str(" is not supported by the loader")
            }
            Self::RelocationOutOfImage {
                table,
                index,
                target,
            } => write!(
                f,
                "{table} entry {index}: relocation target {target:#x} is not 8 bytes inside the \
                 kernel image"
            ),
            Self::MissingSymbolTable { table, index } => write!(
                f,
                "{table} entry {index}: relocation needs a symbol but there is no DT_SYMTAB"
            ),
            Self::SymbolOutOfRange {
                table,
                index,
                symbol,
            } => write!(
                f,
                "{table} entry {index}: symbol index {symbol} is past the end of the symbol table"
            ),
            Self::UndefinedSymbol {
                table,
                index,
                symbol,
                name,
            } => {
                write!(f, "{table} entry {index}: symbol ")?;
                match name {
                    Some(name) => write!(f, "`{name}`")?,
                    None => write!(f, "#{symbol}")?,
                }
                f.write_str(" is undefined (only weak symbols may be undefined)")
            }
            Self::RelrBitmapFirst { index } => write!(
                f,
                "DT_RELR entry {index}: bitmap word without an address word before it"
            ),
            Self::RelrOverflow { index } => {
                write!(f, "DT_RELR entry {index}: address wraps around")
            }
            Self::DestinationSize { expected, got } => write!(
                f,
                "load buffer is {got:#x} bytes but the image needs {expected:#x}"
            ),
            Self::InvalidSlide { slide } => write!(
                f,
                "slide {slide:#x} is not valid for this kernel (it must be 0 for a fixed kernel, \
                 page-aligned and keep the image in the top 2 GiB)"
            ),
        }
    }
}

impl core::error::Error for ElfError {}

// --- little-endian readers; `None` when out of bounds -------------------------------------

fn bytes<const N: usize>(data: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    data.get(offset..end)?.try_into().ok()
}

fn u8_at(data: &[u8], offset: usize) -> Option<u8> {
    data.get(offset).copied()
}

fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    bytes(data, offset).map(u16::from_le_bytes)
}

fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    bytes(data, offset).map(u32::from_le_bytes)
}

fn u64_at(data: &[u8], offset: usize) -> Option<u64> {
    bytes(data, offset).map(u64::from_le_bytes)
}

const fn align_down(value: u64, align: u64) -> u64 {
    // `align` is a power of two at every call site.
    value & !(align.wrapping_sub(1))
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    value
        .checked_add(align.checked_sub(1)?)
        .map(|v| align_down(v, align))
}

fn to_usize(value: u64) -> Option<usize> {
    usize::try_from(value).ok()
}

/// A program header's fields.
#[derive(Debug, Clone, Copy)]
struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn read_phdr(file: &[u8], at: usize) -> Option<Phdr> {
    Some(Phdr {
        p_type: u32_at(file, at)?,
        flags: u32_at(file, at.checked_add(4)?)?,
        offset: u64_at(file, at.checked_add(8)?)?,
        vaddr: u64_at(file, at.checked_add(16)?)?,
        filesz: u64_at(file, at.checked_add(32)?)?,
        memsz: u64_at(file, at.checked_add(40)?)?,
        align: u64_at(file, at.checked_add(48)?)?,
    })
}

/// Validates a kernel file. See the module documentation for the checks.
///
/// # Errors
///
/// The first problem found, as an [`ElfError`] whose message says what to fix.
pub fn parse(file: &[u8]) -> Result<KernelImage<'_>, ElfError> {
    // A short file that does not even start like ELF is "not ELF", not "truncated".
    let magic = b"\x7fELF".as_slice();
    let prefix = file.len().min(magic.len());
    if file.get(..prefix) != magic.get(..prefix) {
        return Err(ElfError::NotElf);
    }
    if file.len() < EHDR_SIZE {
        return Err(ElfError::Truncated { len: file.len() });
    }
    let header = |offset| u16_at(file, offset).ok_or(ElfError::Truncated { len: file.len() });
    let class = u8_at(file, 4).unwrap_or(0);
    if class != 2 {
        return Err(ElfError::NotElf64 { class });
    }
    let data = u8_at(file, 5).unwrap_or(0);
    if data != 1 {
        return Err(ElfError::NotLittleEndian { data });
    }
    let ident_version = u8_at(file, 6).unwrap_or(0);
    if ident_version != 1 {
        return Err(ElfError::BadVersion {
            version: u32::from(ident_version),
        });
    }
    let e_type = header(16)?;
    let machine = header(18)?;
    let version = u32_at(file, 20).unwrap_or(0);
    let entry = u64_at(file, 24).unwrap_or(0);
    let phoff = u64_at(file, 32).unwrap_or(0);
    let phentsize = header(54)?;
    let phnum = header(56)?;
    if machine != EM_X86_64 {
        return Err(ElfError::WrongMachine { machine });
    }
    if version != 1 {
        return Err(ElfError::BadVersion { version });
    }
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Err(ElfError::UnsupportedType { e_type });
    }
    if phnum == 0 {
        return Err(ElfError::NoLoadSegments);
    }
    if usize::from(phentsize) != PHDR_SIZE {
        return Err(ElfError::BadPhdrSize { size: phentsize });
    }
    let table_out = ElfError::PhdrTableOutOfFile {
        offset: phoff,
        count: phnum,
    };
    let phoff_usize = to_usize(phoff).ok_or(table_out.clone())?;
    let table_end = usize::from(phnum)
        .checked_mul(PHDR_SIZE)
        .and_then(|len| phoff_usize.checked_add(len))
        .ok_or(table_out.clone())?;
    if table_end > file.len() {
        return Err(table_out);
    }

    let mut segments = Vec::new();
    let mut dynamic_phdr: Option<(u64, u64)> = None;
    for index in 0..usize::from(phnum) {
        let at = index
            .checked_mul(PHDR_SIZE)
            .and_then(|o| o.checked_add(phoff_usize))
            .ok_or(table_out.clone())?;
        let ph = read_phdr(file, at).ok_or(table_out.clone())?;
        match ph.p_type {
            PT_LOAD if ph.memsz > 0 => segments.push(check_load(file, index, &ph)?),
            PT_DYNAMIC => {
                if dynamic_phdr.is_some() {
                    return Err(ElfError::DuplicateDynamic);
                }
                dynamic_phdr = Some((ph.offset, ph.filesz));
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegments);
    }
    segments.sort_by_key(|s| s.vaddr);
    check_layout(&segments)?;

    let first = segments.first().ok_or(ElfError::NoLoadSegments)?;
    let last = segments.last().ok_or(ElfError::NoLoadSegments)?;
    let min_vaddr = first.vaddr;
    // Sorted and non-overlapping, so the last segment ends highest.
    let max_vaddr = last.end();
    let file_backed_end = last
        .vaddr
        .checked_add(last.filesz)
        .ok_or(ElfError::SegmentAddressOverflow { index: last.index })?;

    let relocatable = e_type == ET_DYN;
    let low = segments.iter().find(|s| s.vaddr < KERNEL_FLOOR);
    let high = segments.iter().find(|s| s.vaddr >= KERNEL_FLOOR);
    let alignment = segments.iter().map(|s| s.align).fold(PAGE_SIZE, u64::max);
    let too_large = ElfError::ImageTooLarge {
        start: min_vaddr,
        end: max_vaddr,
    };
    let base_slide = match (relocatable, low, high) {
        (false, Some(_), _) => return Err(ElfError::LowerHalfKernel { vaddr: min_vaddr }),
        (true, Some(l), Some(h)) => {
            return Err(ElfError::MixedLowHigh {
                low: l.vaddr,
                high: h.vaddr,
            });
        }
        (true, Some(_), None) => KERNEL_FLOOR
            .checked_sub(align_down(min_vaddr, alignment))
            .ok_or(too_large.clone())?,
        _ => 0,
    };
    let image_start = align_down(min_vaddr, PAGE_SIZE);
    let image_end = align_up(max_vaddr, PAGE_SIZE).ok_or(too_large.clone())?;
    if image_end
        .checked_add(base_slide)
        .is_none_or(|end| end > ADDRESS_LIMIT)
    {
        return Err(too_large);
    }
    if to_usize(image_end.wrapping_sub(image_start)).is_none() {
        return Err(too_large);
    }

    if !segments
        .iter()
        .any(|s| s.flags.executable() && s.vaddr <= entry && entry < s.end())
    {
        return Err(ElfError::EntryNotInCode { entry });
    }

    let mut image = KernelImage {
        file,
        segments,
        entry,
        min_vaddr,
        max_vaddr,
        image_start,
        image_end,
        alignment,
        relocatable,
        base_slide,
        file_backed_end,
        dynamic: Dynamic::default(),
        relocation_count: 0,
    };
    if relocatable {
        let (offset, filesz) = dynamic_phdr
            .filter(|&(_, filesz)| filesz > 0)
            .ok_or(ElfError::MissingDynamic)?;
        image.dynamic = parse_dynamic(file, &image.segments, offset, filesz)?;
        // Dry run: every relocation is checked now, so `load` cannot fail on the file.
        image.relocation_count = image.walk_relocations(base_slide, |_, _| Ok(()))?;
    }
    Ok(image)
}

/// Checks one counted `PT_LOAD` on its own.
fn check_load(file: &[u8], index: usize, ph: &Phdr) -> Result<Segment, ElfError> {
    if ph.filesz > ph.memsz {
        return Err(ElfError::FileSizeExceedsMemSize {
            index,
            filesz: ph.filesz,
            memsz: ph.memsz,
        });
    }
    let in_file = ph
        .offset
        .checked_add(ph.filesz)
        .and_then(to_usize)
        .is_some_and(|end| end <= file.len());
    if !in_file {
        return Err(ElfError::SegmentOutOfFile {
            index,
            offset: ph.offset,
            filesz: ph.filesz,
        });
    }
    if ph.vaddr.checked_add(ph.memsz).is_none() {
        return Err(ElfError::SegmentAddressOverflow { index });
    }
    if ph.align > 1 && (!ph.align.is_power_of_two() || ph.align > MAX_ALIGNMENT) {
        return Err(ElfError::BadAlignment {
            index,
            align: ph.align,
        });
    }
    Ok(Segment {
        index,
        vaddr: ph.vaddr,
        memsz: ph.memsz,
        file_offset: ph.offset,
        filesz: ph.filesz,
        flags: SegmentFlags::from_p_flags(ph.flags),
        align: ph.align,
    })
}

/// Checks neighbouring segments (sorted by address) for overlap and mixed-permission pages.
fn check_layout(segments: &[Segment]) -> Result<(), ElfError> {
    for pair in segments.windows(2) {
        let [a, b] = pair else { continue };
        if b.vaddr < a.end() {
            return Err(ElfError::OverlappingSegments {
                first: a.index,
                second: b.index,
            });
        }
        // `a.end() - 1` is a's last byte; sharing a page means b starts in that page.
        let a_last_page = align_down(a.end().wrapping_sub(1), PAGE_SIZE);
        if align_down(b.vaddr, PAGE_SIZE) == a_last_page && a.flags != b.flags {
            return Err(ElfError::SharedPageMixedPermissions {
                first: a.index,
                first_flags: a.flags,
                second: b.index,
                second_flags: b.flags,
            });
        }
    }
    Ok(())
}

/// Finds the file range of `size` bytes at linked address `addr` through the `PT_LOAD` whose
/// file-backed part contains it. With `size == None` the range runs to that part's end.
fn resolve(
    segments: &[Segment],
    tag: &'static str,
    addr: u64,
    size: Option<u64>,
) -> Result<Table, ElfError> {
    let out = ElfError::TableOutOfFile {
        tag,
        addr,
        size: size.unwrap_or(0),
    };
    for s in segments {
        let Some(file_end) = s.vaddr.checked_add(s.filesz) else {
            continue;
        };
        if addr < s.vaddr || addr >= file_end {
            continue;
        }
        let available = file_end.wrapping_sub(addr);
        let len = match size {
            Some(size) if size > available => return Err(out),
            Some(size) => size,
            None => available,
        };
        let offset = s
            .file_offset
            .checked_add(addr.wrapping_sub(s.vaddr))
            .and_then(to_usize)
            .ok_or(out.clone())?;
        let len = to_usize(len).ok_or(out.clone())?;
        return Ok(Table { offset, len });
    }
    // An empty table needs no bytes, wherever it claims to be.
    if size == Some(0) {
        return Ok(Table { offset: 0, len: 0 });
    }
    Err(out)
}

/// The dynamic tags the loader reads, each at most once.
#[derive(Debug, Default)]
struct Tags {
    values: [Option<u64>; 14],
}

const TAG_NAMES: [(i64, &str); 14] = [
    (DT_PLTRELSZ, "DT_PLTRELSZ"),
    (DT_STRTAB, "DT_STRTAB"),
    (DT_SYMTAB, "DT_SYMTAB"),
    (DT_RELA, "DT_RELA"),
    (DT_RELASZ, "DT_RELASZ"),
    (DT_RELAENT, "DT_RELAENT"),
    (DT_STRSZ, "DT_STRSZ"),
    (DT_SYMENT, "DT_SYMENT"),
    (DT_PLTREL, "DT_PLTREL"),
    (DT_JMPREL, "DT_JMPREL"),
    (DT_RELRSZ, "DT_RELRSZ"),
    (DT_RELR, "DT_RELR"),
    (DT_RELRENT, "DT_RELRENT"),
    (DT_RELSZ, "DT_RELSZ"),
];

impl Tags {
    fn get(&self, tag: i64) -> Option<u64> {
        let i = TAG_NAMES.iter().position(|&(t, _)| t == tag)?;
        self.values.get(i).copied().flatten()
    }
}

fn tag_name(tag: i64) -> &'static str {
    TAG_NAMES
        .iter()
        .find(|&&(t, _)| t == tag)
        .map_or("?", |&(_, n)| n)
}

fn parse_dynamic(
    file: &[u8],
    segments: &[Segment],
    offset: u64,
    filesz: u64,
) -> Result<Dynamic, ElfError> {
    let out = ElfError::DynamicOutOfFile { offset, filesz };
    let start = to_usize(offset).ok_or(out.clone())?;
    let end = offset
        .checked_add(filesz)
        .and_then(to_usize)
        .ok_or(out.clone())?;
    let region = file.get(start..end).ok_or(out)?;

    let mut tags = Tags::default();
    for entry in region.chunks_exact(DYN_SIZE) {
        let tag = u64_at(entry, 0).map_or(DT_NULL, |t| t as i64);
        let value = u64_at(entry, 8).unwrap_or(0);
        match tag {
            DT_NULL => break,
            DT_NEEDED => return Err(ElfError::NeedsSharedLibrary),
            DT_REL => return Err(ElfError::RelRelocations),
            _ => {}
        }
        if let Some(slot) = TAG_NAMES
            .iter()
            .position(|&(t, _)| t == tag)
            .and_then(|i| tags.values.get_mut(i))
        {
            if slot.is_some() {
                return Err(ElfError::DuplicateDynamicTag { tag: tag_name(tag) });
            }
            *slot = Some(value);
        }
    }

    if tags.get(DT_RELSZ).is_some_and(|size| size > 0) {
        return Err(ElfError::RelRelocations);
    }
    if let Some(value) = tags.get(DT_PLTREL)
        && value != DT_RELA as u64
    {
        return Err(ElfError::UnsupportedPltRel { value });
    }
    for (tag, expected) in [
        (DT_RELAENT, RELA_SIZE),
        (DT_RELRENT, RELR_SIZE),
        (DT_SYMENT, SYM_SIZE),
    ] {
        if let Some(value) = tags.get(tag)
            && value != expected
        {
            return Err(ElfError::BadEntrySize {
                tag: tag_name(tag),
                value,
                expected,
            });
        }
    }

    let table = |addr_tag: i64, size_tag: i64, entry: u64| -> Result<Option<Table>, ElfError> {
        match (tags.get(addr_tag), tags.get(size_tag)) {
            (None, None) => Ok(None),
            (None, Some(0)) => Ok(None),
            (None, Some(_)) => Err(ElfError::MissingDynamicTag {
                tag: tag_name(addr_tag),
                needed_by: tag_name(size_tag),
            }),
            (Some(_), None) => Err(ElfError::MissingDynamicTag {
                tag: tag_name(size_tag),
                needed_by: tag_name(addr_tag),
            }),
            (Some(addr), Some(size)) => {
                if size % entry != 0 {
                    return Err(ElfError::BadTableSize {
                        tag: tag_name(size_tag),
                        size,
                        entry,
                    });
                }
                resolve(segments, tag_name(addr_tag), addr, Some(size)).map(Some)
            }
        }
    };
    let rela = table(DT_RELA, DT_RELASZ, RELA_SIZE)?;
    let jmprel = table(DT_JMPREL, DT_PLTRELSZ, RELA_SIZE)?;
    let relr = table(DT_RELR, DT_RELRSZ, RELR_SIZE)?;
    let symtab = tags
        .get(DT_SYMTAB)
        .map(|addr| resolve(segments, "DT_SYMTAB", addr, None))
        .transpose()?;
    // The string table only names symbols in messages, so problems with it are not errors.
    let strtab = tags.get(DT_STRTAB).and_then(|addr| {
        let table = resolve(segments, "DT_STRTAB", addr, None).ok()?;
        let len = tags
            .get(DT_STRSZ)
            .and_then(to_usize)
            .map_or(table.len, |n| n.min(table.len));
        Some(Table {
            offset: table.offset,
            len,
        })
    });
    Ok(Dynamic {
        rela,
        jmprel,
        relr,
        symtab,
        strtab,
    })
}

/// One patch of an 8-byte word at an offset of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixup {
    /// Store this value.
    Write(u64),
    /// Add the slide to the value already there (`RELR`).
    AddSlide,
}

impl KernelImage<'_> {
    fn table(&self, table: Option<Table>) -> &[u8] {
        table
            .and_then(|t| {
                let end = t.offset.checked_add(t.len)?;
                self.file.get(t.offset..end)
            })
            .unwrap_or(&[])
    }

    /// Block offset of an 8-byte relocation target, if it lies inside the image.
    fn target_offset(&self, target: u64) -> Option<usize> {
        let end = target.checked_add(8)?;
        if target < self.min_vaddr || end > self.max_vaddr {
            return None;
        }
        to_usize(target.wrapping_sub(self.image_start))
    }

    /// Calls `apply` for every relocation with its block offset and patch, after checking it.
    /// Returns how many patches there were.
    fn walk_relocations<F>(&self, slide: u64, mut apply: F) -> Result<usize, ElfError>
    where
        F: FnMut(usize, Fixup) -> Result<(), ElfError>,
    {
        let mut count = 0usize;
        for (table, bytes) in [
            (RelocTable::Rela, self.table(self.dynamic.rela)),
            (RelocTable::JmpRel, self.table(self.dynamic.jmprel)),
        ] {
            for (index, entry) in bytes.chunks_exact(RELA_ENTRY).enumerate() {
                let r_offset = u64_at(entry, 0).unwrap_or(0);
                let r_info = u64_at(entry, 8).unwrap_or(0);
                let addend = u64_at(entry, 16).unwrap_or(0);
                let kind = (r_info & 0xffff_ffff) as u32;
                let symbol = (r_info >> 32) as u32;
                let value = match kind {
                    R_X86_64_NONE => continue,
                    // B + A (B = slide, as the linked base is accounted for in A).
                    R_X86_64_RELATIVE => slide.wrapping_add(addend),
                    // S + A.
                    R_X86_64_64 => self
                        .symbol_value(table, index, symbol, slide)?
                        .wrapping_add(addend),
                    // S, as the x86-64 psABI defines them (linkers emit A = 0 here).
                    R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT => {
                        self.symbol_value(table, index, symbol, slide)?
                    }
                    _ => return Err(ElfError::UnsupportedRelocation { table, index, kind }),
                };
                let offset =
                    self.target_offset(r_offset)
                        .ok_or(ElfError::RelocationOutOfImage {
                            table,
                            index,
                            target: r_offset,
                        })?;
                apply(offset, Fixup::Write(value))?;
                count = count.saturating_add(1);
            }
        }

        // Packed relative relocations: an even word is an address to patch; an odd word is a
        // bitmap whose bits 1..=63 mark the 63 words following the previous position.
        let mut next: Option<u64> = None;
        let mut overflowed = false;
        let table = RelocTable::Relr;
        let relr = self.table(self.dynamic.relr);
        for (index, word) in relr.chunks_exact(8).enumerate() {
            let word = u64_at(word, 0).unwrap_or(0);
            let mut patch = |target: u64| -> Result<(), ElfError> {
                let offset = self
                    .target_offset(target)
                    .ok_or(ElfError::RelocationOutOfImage {
                        table,
                        index,
                        target,
                    })?;
                count = count.saturating_add(1);
                apply(offset, Fixup::AddSlide)
            };
            let base = if word & 1 == 0 {
                patch(word)?;
                word.checked_add(8)
            } else {
                if overflowed {
                    return Err(ElfError::RelrOverflow { index });
                }
                let base = next.ok_or(ElfError::RelrBitmapFirst { index })?;
                for bit in 0..63u64 {
                    if (word >> 1) >> bit & 1 != 0 {
                        let target = base
                            .checked_add(bit * 8)
                            .ok_or(ElfError::RelrOverflow { index })?;
                        patch(target)?;
                    }
                }
                base.checked_add(63 * 8)
            };
            // Running past 2^64 only matters if a bitmap word follows.
            overflowed = base.is_none();
            next = base;
        }
        Ok(count)
    }

    /// `S` for a relocation: 0 for symbol 0 and weak undefined symbols, `st_value` for absolute
    /// symbols, `st_value + slide` for symbols defined in the image.
    fn symbol_value(
        &self,
        table: RelocTable,
        index: usize,
        symbol: u32,
        slide: u64,
    ) -> Result<u64, ElfError> {
        if symbol == 0 {
            return Ok(0);
        }
        let symtab = self
            .dynamic
            .symtab
            .ok_or(ElfError::MissingSymbolTable { table, index })?;
        let symtab = self.table(Some(symtab));
        let out = ElfError::SymbolOutOfRange {
            table,
            index,
            symbol,
        };
        let at = to_usize(u64::from(symbol).saturating_mul(SYM_SIZE)).ok_or(out.clone())?;
        let sym = symtab
            .get(at..)
            .and_then(|s| s.get(..SYM_ENTRY))
            .ok_or(out.clone())?;
        let name = u32_at(sym, 0).ok_or(out.clone())?;
        let info = u8_at(sym, 4).ok_or(out.clone())?;
        let shndx = u16_at(sym, 6).ok_or(out.clone())?;
        let value = u64_at(sym, 8).ok_or(out)?;
        match shndx {
            SHN_UNDEF if info >> 4 == STB_WEAK => Ok(0),
            SHN_UNDEF => Err(ElfError::UndefinedSymbol {
                table,
                index,
                symbol,
                name: self.symbol_name(name),
            }),
            SHN_ABS => Ok(value),
            _ => Ok(value.wrapping_add(slide)),
        }
    }

    /// The symbol's name if the string table has a printable one (shortened to 64 bytes).
    fn symbol_name(&self, offset: u32) -> Option<String> {
        let strtab = self.table(self.dynamic.strtab);
        let tail = strtab.get(to_usize(u64::from(offset))?..)?;
        let len = tail.iter().position(|&b| b == 0)?;
        let name = tail.get(..len.min(64))?;
        if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        core::str::from_utf8(name).ok().map(String::from)
    }
}

/// Picks the slide for `image`.
///
/// - Fixed (`ET_EXEC`) kernels: 0.
/// - Relocatable kernels: [`KernelImage::base_slide`], plus with `kaslr` a multiple of
///   [`KernelImage::alignment`] chosen from `random` among all positions that keep the image
///   inside `[KERNEL_FLOOR, ADDRESS_LIMIT)`. The image only moves up from its base position.
///
/// The position is `random % count`. `count` is at most 2^19 (2 GiB / 4 KiB), so the modulo
/// bias is below 2^-44: negligible. The result is deterministic in `random` so it can be tested.
pub fn choose_slide(image: &KernelImage<'_>, random: u64, kaslr: bool) -> u64 {
    if !image.relocatable {
        return 0;
    }
    let base = image.base_slide;
    if !kaslr {
        return base;
    }
    // `parse` guarantees image_end + base <= ADDRESS_LIMIT and a power-of-two alignment.
    let Some(room) = image
        .image_end
        .checked_add(base)
        .and_then(|end| ADDRESS_LIMIT.checked_sub(end))
    else {
        return base;
    };
    let Some(count) = (room / image.alignment.max(1)).checked_add(1) else {
        return base;
    };
    (random % count)
        .checked_mul(image.alignment)
        .and_then(|extra| base.checked_add(extra))
        .unwrap_or(base)
}

/// Fills `dest`, the block that will be mapped at `image.image_start() + slide`: zeroes it,
/// copies every segment's file bytes and applies the relocations for `slide`.
///
/// # Errors
///
/// [`ElfError::DestinationSize`] if `dest` is not [`KernelImage::image_size`] bytes;
/// [`ElfError::InvalidSlide`] if `slide` is nonzero for a fixed kernel, not page-aligned, or
/// moves the image outside `[KERNEL_FLOOR, ADDRESS_LIMIT)`. Problems in the file itself were
/// already reported by [`parse`].
pub fn load(image: &KernelImage<'_>, slide: u64, dest: &mut [u8]) -> Result<LoadedInfo, ElfError> {
    let image_size = image.image_size();
    if to_usize(image_size) != Some(dest.len()) {
        return Err(ElfError::DestinationSize {
            expected: image_size,
            got: dest.len(),
        });
    }
    let bad_slide = ElfError::InvalidSlide { slide };
    if !image.relocatable && slide != 0 {
        return Err(bad_slide);
    }
    let start = image
        .image_start
        .checked_add(slide)
        .ok_or(bad_slide.clone())?;
    let end = image
        .image_end
        .checked_add(slide)
        .ok_or(bad_slide.clone())?;
    if !slide.is_multiple_of(PAGE_SIZE) || start < KERNEL_FLOOR || end > ADDRESS_LIMIT {
        return Err(bad_slide);
    }

    dest.fill(0);
    let mut segments = Vec::with_capacity(image.segments.len());
    for s in &image.segments {
        let broken = ElfError::SegmentOutOfFile {
            index: s.index,
            offset: s.file_offset,
            filesz: s.filesz,
        };
        let image_offset = s.vaddr.wrapping_sub(image.image_start);
        let src_start = to_usize(s.file_offset).ok_or(broken.clone())?;
        let src_end = to_usize(s.file_offset.wrapping_add(s.filesz)).ok_or(broken.clone())?;
        let dst_start = to_usize(image_offset).ok_or(broken.clone())?;
        let len = src_end.checked_sub(src_start).ok_or(broken.clone())?;
        let dst_end = dst_start.checked_add(len).ok_or(broken.clone())?;
        let src = image.file.get(src_start..src_end).ok_or(broken.clone())?;
        dest.get_mut(dst_start..dst_end)
            .ok_or(broken)?
            .copy_from_slice(src);
        // In range: parse checked vaddr + memsz, and the slid image ends below ADDRESS_LIMIT.
        let vaddr = s.vaddr.wrapping_add(slide);
        segments.push(LoadedSegment {
            vaddr,
            memsz: s.memsz,
            image_offset,
            flags: s.flags,
            page_start: align_down(vaddr, PAGE_SIZE),
            page_end: align_up(vaddr.wrapping_add(s.memsz), PAGE_SIZE).unwrap_or(end),
        });
    }

    let relocations = if image.relocatable {
        image.walk_relocations(slide, |offset, fixup| {
            let out = ElfError::RelocationOutOfImage {
                table: RelocTable::Rela,
                index: 0,
                target: image.image_start.wrapping_add(offset as u64),
            };
            let word: &mut [u8; 8] = offset
                .checked_add(8)
                .and_then(|e| dest.get_mut(offset..e))
                .and_then(|w| w.try_into().ok())
                .ok_or(out)?;
            let value = match fixup {
                Fixup::Write(value) => value,
                Fixup::AddSlide => u64::from_le_bytes(*word).wrapping_add(slide),
            };
            *word = value.to_le_bytes();
            Ok(())
        })?
    } else {
        0
    };

    Ok(LoadedInfo {
        slide,
        entry: image.entry.wrapping_add(slide),
        image_start: start,
        virtual_base: image.min_vaddr.wrapping_add(slide),
        image_size,
        scan_len: image.scan_len(),
        segments,
        relocations,
    })
}
