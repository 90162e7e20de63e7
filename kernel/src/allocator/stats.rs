//! Allocator figures readable by code ([`Stats`]) and the report printed when a request fails
//! ([`FailureReport`]). Both are plain `Copy` values: taking or printing one never allocates,
//! so the kernel can print a report on the way to the alloc-error panic.

use core::alloc::Layout;
use core::fmt;

/// Number of size classes of the fixed-size-block design (8, 16, .., 2048 bytes).
pub const CLASS_COUNT: usize = 9;

/// Block size of class `index` of the fixed-size-block design.
pub const fn class_size(index: usize) -> usize {
    8 << index
}

/// What a design reports about its region and free space ([`super::Heap::shape`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapShape {
    /// Bytes the heap manages (its region, less any unusable rounding at the edges).
    pub heap_size: usize,
    /// Bytes it could still hand out (free blocks, or what is left above a bump pointer).
    pub free_bytes: usize,
    /// Length of the general free list (the fallback's, for the fixed-size-block design).
    pub free_blocks: usize,
    /// The largest single free block.
    pub largest_free: usize,
    /// Free blocks waiting in each size class (fixed-size-block design only).
    pub class_free_blocks: Option<[usize; CLASS_COUNT]>,
}

/// An allocator's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes managed.
    pub heap_size: usize,
    /// Bytes in live allocations, as requested (rounding and headers not included).
    pub in_use: usize,
    /// The highest `in_use` so far.
    pub peak_in_use: usize,
    /// Live allocations.
    pub live: usize,
    /// Successful allocations so far (a reallocation that moves counts as one).
    pub allocations: u64,
    /// Requests that failed.
    pub failures: u64,
    /// How many times memory was appended to the region.
    pub growths: u64,
    /// Bytes that could still be handed out.
    pub free_bytes: usize,
    /// Length of the general free list.
    pub free_blocks: usize,
    /// The largest single free block.
    pub largest_free: usize,
    /// Free blocks per size class (fixed-size-block design only).
    pub class_free_blocks: Option<[usize; CLASS_COUNT]>,
}

impl Stats {
    /// Combines a design's [`HeapShape`] with the wrapper's counters.
    pub fn new(
        shape: HeapShape,
        in_use: usize,
        peak_in_use: usize,
        live: usize,
        allocations: u64,
        failures: u64,
        growths: u64,
    ) -> Self {
        Self {
            heap_size: shape.heap_size,
            in_use,
            peak_in_use,
            live,
            allocations,
            failures,
            growths,
            free_bytes: shape.free_bytes,
            free_blocks: shape.free_blocks,
            largest_free: shape.largest_free,
            class_free_blocks: shape.class_free_blocks,
        }
    }

    /// External fragmentation in percent: the share of free bytes outside the largest free
    /// block (0 when all free space is one block, or there is none).
    pub fn fragmentation_percent(&self) -> u32 {
        if self.free_bytes == 0 {
            return 0;
        }
        let outside = self.free_bytes.saturating_sub(self.largest_free) as u128;
        (outside * 100 / self.free_bytes as u128) as u32
    }
}

impl fmt::Display for Stats {
    /// Three or four lines: size and use, free space, and (fixed-size blocks) the class lists.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "heap {} bytes (grown {} times), in use {} bytes in {} allocations (peak {})",
            self.heap_size, self.growths, self.in_use, self.live, self.peak_in_use
        )?;
        writeln!(
            f,
            "free {} bytes, free-list length {}, largest free block {} bytes, fragmentation {}%",
            self.free_bytes,
            self.free_blocks,
            self.largest_free,
            self.fragmentation_percent()
        )?;
        write!(
            f,
            "{} allocations so far, {} failed",
            self.allocations, self.failures
        )?;
        if let Some(classes) = self.class_free_blocks {
            write!(f, "\nfree blocks per class:")?;
            for (i, n) in classes.iter().enumerate() {
                write!(f, " {}:{}", class_size(i), n)?;
            }
        }
        Ok(())
    }
}

/// A request that failed, with the figures of the allocator when it did. Printed by the kernel
/// before the alloc-error panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureReport {
    /// The design's name ([`super::Heap::NAME`], or `talc`).
    pub allocator: &'static str,
    /// What was requested.
    pub layout: Layout,
    /// The allocator's figures at the failure.
    pub stats: Stats,
}

impl FailureReport {
    /// A report of `layout` failing in `allocator`.
    pub fn new(allocator: &'static str, layout: Layout, stats: Stats) -> Self {
        Self {
            allocator,
            layout,
            stats,
        }
    }
}

impl fmt::Display for FailureReport {
    /// One line naming the request, then the figures, every line starting with `heap: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "heap: {} allocator cannot allocate {} bytes aligned to {}",
            self.allocator,
            self.layout.size(),
            self.layout.align()
        )?;
        let mut out = Prefixed {
            out: f,
            line_start: true,
        };
        fmt::Write::write_fmt(&mut out, format_args!("{}", self.stats))
    }
}

/// Writes through to `out`, starting every line with `heap: `.
struct Prefixed<'a, 'b> {
    out: &'a mut fmt::Formatter<'b>,
    line_start: bool,
}

impl fmt::Write for Prefixed<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.line_start {
                self.out.write_str("heap: ")?;
            }
            self.out.write_str(piece)?;
            self.line_start = piece.ends_with('\n');
        }
        Ok(())
    }
}
