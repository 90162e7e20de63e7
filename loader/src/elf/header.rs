//! [`parse`]: the ELF header, the program headers and the `PT_LOAD` layout.

use alloc::vec::Vec;

use super::dynamic::parse_dynamic;
use super::read::{align_down, align_up, to_usize, u8_at, u16_at, u32_at, u64_at};
use super::*;

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
