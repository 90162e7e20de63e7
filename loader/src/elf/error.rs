//! [`ElfError`]: why a kernel file was refused, with a message that says what to fix.

use alloc::string::String;
use core::fmt;

use super::*;

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
