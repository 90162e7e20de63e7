//! After `ExitBootServices`: the memory-map responses, the response pointers, the page tables
//! and the hand-off arguments.

use alloc::vec::Vec;
use core::mem::size_of;

use super::responses::{Full, MEMMAP_CAPACITY};
use super::{FinalMap, FinishError, HHDM_OFFSET, PAGE_SIZE, Pages, Prepared, hhdm};
use crate::memmap::{self, Overlay};
use crate::paging::{Cache, MapFlags, PageTableBuilder, PhysMemory};
use crate::protocol as p;

/// Everything the hand-off trampoline needs, read into registers before the address space
/// changes. The layout is fixed: the trampoline reads the fields by offset.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffArgs {
    /// Physical address of the new PML4.
    pub cr3: u64,
    /// HHDM offset.
    pub hhdm: u64,
    /// HHDM address of the 10-byte GDTR image.
    pub gdtr: u64,
    /// HHDM address of the top of the kernel stack (16-byte aligned).
    pub stack_top: u64,
    /// Kernel entry point.
    pub entry: u64,
    /// HHDM address of the PML4.
    pub pml4: u64,
    /// EFER value to install (LME, LMA, and NXE when supported).
    pub efer: u64,
}

/// EFER.LME, EFER.LMA and EFER.NXE.
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

impl From<Full> for FinishError {
    fn from(_: Full) -> Self {
        Self::ResponsesFull
    }
}

/// Page-table pages reserved before `ExitBootServices`, handed out in order.
///
/// Reads and writes outside the pool read 0 and are ignored (see [`PhysMemory`]); the builder
/// only touches pages it was given.
#[derive(Debug)]
struct Pool<'a, P: Pages> {
    pages: &'a mut P,
    next: usize,
}

impl<P: Pages> Pool<'_, P> {
    fn offset(&self, phys: u64) -> Option<usize> {
        let offset = usize::try_from(phys.checked_sub(self.pages.phys())?).ok()?;
        (offset.checked_add(8)? <= self.pages.bytes().len()).then_some(offset)
    }
}

impl<P: Pages> PhysMemory for Pool<'_, P> {
    fn alloc_zeroed_page(&mut self) -> Option<u64> {
        let start = self.next;
        let end = start.checked_add(PAGE_SIZE)?;
        self.pages.bytes_mut().get_mut(start..end)?.fill(0);
        self.next = end;
        Some(self.pages.phys() + start as u64)
    }

    fn read_u64(&self, phys: u64) -> u64 {
        self.offset(phys)
            .and_then(|o| p::read_u64(self.pages.bytes(), o))
            .unwrap_or(0)
    }

    fn write_u64(&mut self, phys: u64, value: u64) {
        if let Some(o) = self.offset(phys) {
            let _ = p::write_u64(self.pages.bytes_mut(), o, value);
        }
    }
}

impl<P: Pages> Prepared<P> {
    /// After `ExitBootServices`: converts `map` to the Limine memory map, answers the memory-map
    /// requests, publishes every response pointer in the kernel image, builds the page tables
    /// (HHDM, kernel segments with their own permissions, the hand-off code identity-mapped)
    /// and returns the hand-off arguments.
    ///
    /// # Errors
    ///
    /// A [`FinishError`]: the machine cannot be handed to the kernel and must be halted.
    pub fn finish(mut self, map: &FinalMap) -> Result<HandoffArgs, FinishError> {
        let rev = self.revision;
        let mut overlays = Vec::new();
        overlays.push(Overlay::executable(self.kernel.phys(), self.image_size));
        if let Some((base, len)) = self.framebuffer {
            overlays.push(Overlay::framebuffer(base, len));
        }
        let entries = memmap::build_with(&map.regions, &map.typed, &overlays, rev)
            .map_err(FinishError::Memmap)?;
        memmap::validate(&entries, rev).map_err(FinishError::MemmapSelfCheck)?;
        if entries.len() > MEMMAP_CAPACITY {
            return Err(FinishError::MemmapTooLarge {
                entries: entries.len(),
                capacity: MEMMAP_CAPACITY,
            });
        }

        if let Some(req) = self.memmap_request {
            for (i, e) in entries.iter().enumerate() {
                let at = self.memmap_entries + (i * size_of::<p::MemmapEntry>()) as u64;
                let entry = p::MemmapEntry {
                    base: e.base,
                    length: e.length,
                    ty: e.ty,
                };
                self.arena.write(at, &entry);
                self.arena
                    .write_u64(self.memmap_pointers + i as u64 * 8, hhdm(at));
            }
            let resp = self.arena.put(&p::MemmapResponse {
                revision: 0,
                entry_count: entries.len() as u64,
                entries: hhdm(self.memmap_pointers),
            })?;
            self.answers.push((req.response_offset(), hhdm(resp)));
        }
        if let Some(req) = self.efi_memmap_request.filter(|_| map.raw.size > 0) {
            let resp = self.arena.put(&p::EfiMemmapResponse {
                revision: 0,
                memmap: hhdm(map.raw.phys),
                memmap_size: map.raw.size,
                desc_size: map.raw.desc_size,
                desc_version: u64::from(map.raw.desc_version),
            })?;
            self.answers.push((req.response_offset(), hhdm(resp)));
        }

        // Every answer is in place: publish the response pointers.
        for (offset, value) in &self.answers {
            p::write_u64(self.kernel.bytes_mut(), *offset, *value)
                .map_err(FinishError::ResponsePointer)?;
        }

        let kernel_phys = self.kernel.phys();
        let pool = Pool {
            pages: &mut self.pool,
            next: 0,
        };
        let mut tables = PageTableBuilder::new(pool, self.nx)
            .map(|b| b.with_1g_pages(self.huge_1g))
            .map_err(FinishError::PageTables)?;
        for (start, end, cache) in hhdm_ranges(&entries, rev) {
            let flags = MapFlags {
                cache,
                ..MapFlags::HHDM
            };
            tables
                .map(hhdm(start), start, end - start, flags)
                .map_err(|error| FinishError::Hhdm { start, end, error })?;
        }
        for s in &self.segments {
            let phys = kernel_phys + (s.page_start - self.image_start);
            let flags = MapFlags::kernel_segment(s.flags.writable(), s.flags.executable());
            tables
                .map(s.page_start, phys, s.page_end - s.page_start, flags)
                .map_err(|error| FinishError::KernelSegment {
                    at: s.page_start,
                    error,
                })?;
        }
        let (code, code_len) = self.handoff_code;
        tables
            .map(
                code,
                code,
                code_len,
                MapFlags {
                    cache: Cache::WriteBack,
                    ..MapFlags::HHDM
                },
            )
            .map_err(FinishError::Trampoline)?;
        let pml4 = tables.pml4_phys();
        let stack_top = self.stack.phys() + self.stack.bytes().len() as u64;
        Ok(HandoffArgs {
            cr3: pml4,
            hhdm: HHDM_OFFSET,
            gdtr: hhdm(self.gdtr),
            stack_top: hhdm(stack_top),
            entry: self.entry,
            pml4: hhdm(pml4),
            efer: EFER_LME | EFER_LMA | if self.nx { EFER_NXE } else { 0 },
        })
    }
}

/// The HHDM ranges for `entries` under `revision`: page-rounded, merged, the framebuffer's
/// range write-combining and everything else write-back. Ranges never overlap.
pub(super) fn hhdm_ranges(entries: &[p::MemmapEntry], revision: u64) -> Vec<(u64, u64, Cache)> {
    let mut ranges: Vec<(u64, u64, Cache)> = entries
        .iter()
        .filter(|e| p::hhdm_covers(e.ty, revision) && e.length > 0)
        .map(|e| {
            let start = e.base & !0xfff;
            let end = e.base.saturating_add(e.length).next_multiple_of(4096);
            let cache = if e.ty == p::MEMMAP_FRAMEBUFFER {
                Cache::WriteCombining
            } else {
                Cache::WriteBack
            };
            (start, end, cache)
        })
        .collect();
    ranges.sort_by_key(|r| r.0);
    let mut out: Vec<(u64, u64, Cache)> = Vec::with_capacity(ranges.len());
    for (start, end, cache) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 && cache == last.2 => last.1 = last.1.max(end),
            Some(last) if start < last.1 => {
                // Different cache types meeting inside a page: the framebuffer keeps its pages.
                if cache == Cache::WriteCombining {
                    last.1 = start;
                    out.push((start, end, cache));
                } else if end > last.1 {
                    let s = last.1;
                    out.push((s, end, cache));
                }
            }
            _ => out.push((start, end, cache)),
        }
    }
    out.retain(|r| r.1 > r.0);
    out
}
