//! The relocation walk: `RELA`, `JMPREL` and packed `RELR`, checked in [`super::parse`]'s dry
//! run and applied by [`super::load`].

use alloc::string::String;

use super::read::{to_usize, u8_at, u16_at, u32_at, u64_at};
use super::*;

/// One patch of an 8-byte word at an offset of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fixup {
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
    pub(super) fn walk_relocations<F>(&self, slide: u64, mut apply: F) -> Result<usize, ElfError>
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
