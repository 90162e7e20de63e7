//! The higher-half direct map of physical memory, and how many table frames mappings need.

use crate::entry::{MapFlags, PAGE_SIZE_1G, PAGE_SIZE_2M, PAGE_SIZE_4K, PHYS_LIMIT};
use crate::error::MapError;
use crate::flush::Flush;
use crate::memory::{FrameSource, PhysMemory};
use crate::tables::PageTables;

impl PageTables {
    /// Maps every physical range `[start, end)` of `ranges` at `offset + start`, with `flags`
    /// and never executable.
    ///
    /// Ranges are widened to whole 4 KiB pages and clipped at 2^52; empty ones are skipped;
    /// they may overlap or touch (overlaps agree, since the HHDM sends every address to itself
    /// minus `offset`). Each range gets 1 GiB pages where [`Features::huge_1g`] and alignment
    /// allow, 2 MiB pages otherwise, and 4 KiB pages only at unaligned edges.
    ///
    /// [`Features::huge_1g`]: crate::Features::huge_1g
    ///
    /// # Errors
    ///
    /// As for [`PageTables::map`]; [`MapError::AlreadyMapped`] when something else already
    /// sits in the way, [`MapError::NonCanonical`] when `offset + end` leaves the higher half.
    pub fn map_hhdm<E, I>(
        &mut self,
        env: &mut E,
        offset: u64,
        ranges: I,
        flags: MapFlags,
    ) -> Result<Flush, MapError>
    where
        E: PhysMemory + FrameSource + ?Sized,
        I: IntoIterator<Item = (u64, u64)>,
    {
        let flags = MapFlags {
            no_execute: true,
            ..flags
        };
        let mut flush = Flush::none();
        for (start, end) in ranges {
            let start = start & !(PAGE_SIZE_4K - 1);
            let end = end
                .min(PHYS_LIMIT)
                .checked_next_multiple_of(PAGE_SIZE_4K)
                .unwrap_or(PHYS_LIMIT);
            if end <= start {
                continue;
            }
            let len = end - start;
            let virt = offset
                .checked_add(start)
                .ok_or(MapError::NonCanonical { virt: offset, len })?;
            flush = flush.merge(self.map(env, virt, start, len, flags)?);
        }
        Ok(flush)
    }
}

/// A range to be mapped, for [`table_frames_upper_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Virtual start.
    pub virt: u64,
    /// Physical start.
    pub phys: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Number of `size`-aligned windows `[virt, virt + len)` touches.
fn windows(virt: u64, len: u64, size: u64) -> u64 {
    if len == 0 {
        return 0;
    }
    let last = virt.saturating_add(len - 1);
    last / size - virt / size + 1
}

/// An upper bound on the table frames (PML4 included) that [`PageTables::map`] needs for
/// `mappings` in an empty hierarchy, so a pool can be sized before mapping.
///
/// Per range it counts one PDPT per 512 GiB window, and PD and PT frames only where the greedy
/// split can put 2 MiB or 4 KiB leaves: everywhere if the virtual and physical addresses are
/// not congruent modulo the larger size (or, for PDs, without `huge_1g`), else only the
/// unaligned head and tail (at most two). Ranges sharing tables are counted twice, which only
/// loosens the bound.
pub fn table_frames_upper_bound(mappings: &[Mapping], huge_1g: bool) -> u64 {
    let mut frames: u64 = 1; // PML4
    for m in mappings {
        let diff = m.virt ^ m.phys;
        let huge_2m = diff.is_multiple_of(PAGE_SIZE_2M);
        let huge_1g = huge_1g && diff.is_multiple_of(PAGE_SIZE_1G);
        let pdpts = windows(m.virt, m.len, 1 << 39);
        let pd_windows = windows(m.virt, m.len, PAGE_SIZE_1G);
        let pt_windows = windows(m.virt, m.len, PAGE_SIZE_2M);
        let pds = if huge_1g {
            pd_windows.min(2)
        } else {
            pd_windows
        };
        let pts = if huge_2m {
            pt_windows.min(2)
        } else {
            pt_windows
        };
        frames = frames
            .saturating_add(pdpts)
            .saturating_add(pds)
            .saturating_add(pts);
    }
    frames
}
