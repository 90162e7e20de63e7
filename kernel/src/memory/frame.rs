//! Early physical frame allocator: hands out 4 KiB frames from the usable regions of the memory
//! map, in address order, and never frees.
//!
//! It serves the kernel until the full frame allocator (with freeing and bootloader-reclaimable
//! memory) takes over. It skips everything below 1 MiB (kept for real-mode trampolines and
//! because revision 3 may report page 0 as usable) and rounds regions inward to whole frames,
//! whatever a hostile map says.

use crate::boot::info::{MemoryKind, MemoryRegion, PAGE_SIZE};

/// Lowest physical address the allocator hands out.
pub const LOW_LIMIT: u64 = 0x10_0000;

/// Bump allocator over the usable regions of a memory map.
#[derive(Debug)]
pub struct EarlyFrames<'a> {
    regions: &'a [MemoryRegion],
    index: usize,
    next: u64,
    allocated: u64,
}

impl<'a> EarlyFrames<'a> {
    /// Allocates from the [`MemoryKind::Usable`] entries of `regions`.
    pub const fn new(regions: &'a [MemoryRegion]) -> Self {
        Self {
            regions,
            index: 0,
            next: 0,
            allocated: 0,
        }
    }

    /// Number of frames handed out so far.
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// The next free frame's physical address, or `None` when usable memory is exhausted.
    pub fn allocate(&mut self) -> Option<u64> {
        while let Some(r) = self.regions.get(self.index) {
            if r.kind == MemoryKind::Usable {
                let start = r.base.max(LOW_LIMIT).checked_next_multiple_of(PAGE_SIZE)?;
                let end = r.end() & !(PAGE_SIZE - 1);
                let frame = self.next.max(start);
                if frame.checked_add(PAGE_SIZE).is_some_and(|e| e <= end) {
                    self.next = frame + PAGE_SIZE;
                    self.allocated += 1;
                    return Some(frame);
                }
            }
            self.index += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: u64, length: u64, kind: MemoryKind) -> MemoryRegion {
        MemoryRegion { base, length, kind }
    }

    #[test]
    fn hands_out_usable_frames_in_order() {
        let map = [
            r(0, 0x9f000, MemoryKind::Usable),
            r(0x100000, 0x2000, MemoryKind::Usable),
            r(0x102000, 0x1000, MemoryKind::Reserved),
            r(0x200000, 0x1000, MemoryKind::Usable),
        ];
        let mut f = EarlyFrames::new(&map);
        assert_eq!(f.allocate(), Some(0x100000));
        assert_eq!(f.allocate(), Some(0x101000));
        assert_eq!(f.allocate(), Some(0x200000));
        assert_eq!(f.allocate(), None);
        assert_eq!(f.allocated(), 3);
    }

    #[test]
    fn hostile_maps_yield_only_whole_usable_frames() {
        let map = [
            r(0x100800, 0x1000, MemoryKind::Usable), // no whole frame inside
            r(0x200123, 0x2000, MemoryKind::Usable), // one whole frame: 0x201000
            r(u64::MAX - 0xfff, 0x1000, MemoryKind::Usable), // at the very top
            r(0x300000, 0x1000, MemoryKind::BootloaderReclaimable),
        ];
        let mut f = EarlyFrames::new(&map);
        assert_eq!(f.allocate(), Some(0x201000));
        assert_eq!(f.allocate(), None);
    }
}
