//! `PT_DYNAMIC`: the tags the loader relies on, resolved to file ranges of the tables.

use super::read::{to_usize, u64_at};
use super::*;

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

pub(super) fn parse_dynamic(
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
