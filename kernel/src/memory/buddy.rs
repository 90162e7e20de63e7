//! Buddy frame allocator: blocks of 2^order frames (4 KiB .. 1 GiB), free lists kept inside
//! the free frames themselves.
//!
//! - **No heap, no per-frame state.** Each free block's first frame holds a four-word header
//!   (tag, next, prev, order): the doubly linked free list of its order. The allocator reaches frames
//!   through a [`FrameAccess`] (the HHDM in the kernel, a simulated memory in host tests), so
//!   this module needs no `unsafe` (see docs/architecture.md, "Unsafe").
//! - **O(log n) operations.** Allocation pops the smallest non-empty order and splits;
//!   freeing coalesces upwards, each step O(1) thanks to the doubly linked lists: at most
//!   [`ORDERS`] steps per call.
//! - **Double frees are refused.** Always when the block itself is still free; with full checks
//!   ([`BuddyAllocator::set_full_checks`], on in host tests, debug builds and test kernels)
//!   also when it has since been merged into a larger free block, at the price of one header
//!   read per order (which the host bench measures separately).
//! - **Initialisation costs per region, not per frame.** [`BuddyAllocator::add_map`] clips
//!   every region and frees it as at most 2 × [`ORDERS`] maximal aligned blocks; 16 GiB cost
//!   what 512 MiB costs, plus the range splitting.
//! - **A hostile map is clipped and counted, never trusted** ([`Clipped`]): zero lengths,
//!   unaligned edges, wrapping, anything beyond MAXPHYADDR, anything below 1 MiB (kept for AP
//!   trampolines; frame 0 is never handed out), overlaps between usable regions and usable
//!   memory that a non-usable region also claims.
//!
//! A block is known free when its header's tag (its address under a secret key, cleared
//! whenever it leaves a list) matches, its order word is the order asked about, and its list
//! neighbours (or the list head) point back at it; the buddy of a block is only looked at when
//! it lies wholly inside memory the allocator manages, so no access ever leaves managed RAM.

use crate::boot::info::{MemoryKind, MemoryRegion};

/// Size of one frame.
pub const FRAME_SIZE: u64 = 4096;
/// Largest order: 2^18 frames = 1 GiB.
pub const MAX_ORDER: usize = 18;
/// Number of orders (0 ..= [`MAX_ORDER`]).
pub const ORDERS: usize = MAX_ORDER + 1;
/// Nothing below this is ever handed out (real-mode trampolines need low memory).
pub const LOW_LIMIT: u64 = 0x10_0000;
/// Capacity of the list of managed ranges (adjacent ranges merge, so real maps need a few
/// dozen).
pub const MAX_RANGES: usize = 256;

/// End-of-list marker.
const NIL: u64 = u64::MAX;
/// Header words in a free block's first frame.
const TAG: usize = 0;
const NEXT: usize = 1;
const PREV: usize = 2;
const ORDER: usize = 3;

/// Word access to frames the allocator manages.
///
/// The allocator reads and writes only words 0..4 of frames inside ranges it was given
/// ([`BuddyAllocator::add_map`], [`BuddyAllocator::add_region`]), and only while they are free.
pub trait FrameAccess {
    /// Reads word `word` (8 bytes each) of the frame at physical address `frame`.
    fn read(&self, frame: u64, word: usize) -> u64;
    /// Writes word `word` of the frame at physical address `frame`.
    fn write(&mut self, frame: u64, word: usize, value: u64);
}

impl<T: FrameAccess + ?Sized> FrameAccess for &mut T {
    fn read(&self, frame: u64, word: usize) -> u64 {
        (**self).read(frame, word)
    }
    fn write(&mut self, frame: u64, word: usize, value: u64) {
        (**self).write(frame, word, value);
    }
}

/// Bytes of a block of `order`.
pub const fn block_size(order: usize) -> u64 {
    FRAME_SIZE << order
}

/// What the allocator left out of the ranges it was given, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clipped {
    /// Regions of zero length (or with nothing left after rounding to whole frames).
    pub empty_regions: u64,
    /// Regions whose end wrapped past 2^64.
    pub wrapping_regions: u64,
    /// Bytes below [`LOW_LIMIT`].
    pub below_1mib: u64,
    /// Bytes at or beyond the physical address limit (MAXPHYADDR).
    pub beyond_limit: u64,
    /// Bytes of partial frames at unaligned edges.
    pub unaligned: u64,
    /// Bytes already managed (an overlapping usable region, or a region added twice).
    pub overlapping: u64,
    /// Bytes that a non-usable region of the same map also claims.
    pub claimed_by_other: u64,
    /// Bytes dropped because the list of managed ranges was full.
    pub no_room: u64,
}

impl Clipped {
    /// Whether anything at all was clipped.
    pub fn any(&self) -> bool {
        *self != Clipped::default()
    }
}

/// Non-usable memory of the map, in bytes, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reserved {
    by_kind: [u64; 9],
}

impl Reserved {
    const KINDS: [MemoryKind; 9] = [
        MemoryKind::Reserved,
        MemoryKind::AcpiReclaimable,
        MemoryKind::AcpiNvs,
        MemoryKind::BadMemory,
        MemoryKind::BootloaderReclaimable,
        MemoryKind::ExecutableAndModules,
        MemoryKind::Framebuffer,
        MemoryKind::ReservedMapped,
        MemoryKind::Unknown(0),
    ];

    fn slot(kind: MemoryKind) -> Option<usize> {
        match kind {
            MemoryKind::Usable => None,
            MemoryKind::Unknown(_) => Some(8),
            k => Self::KINDS.iter().position(|x| *x == k),
        }
    }

    /// Bytes of `kind` (every unknown type counts as one).
    pub fn bytes(&self, kind: MemoryKind) -> u64 {
        Self::slot(kind).map_or(0, |i| self.by_kind[i])
    }

    /// Every non-usable kind with its bytes (unknown types as `Unknown(0)`).
    pub fn iter(&self) -> impl Iterator<Item = (MemoryKind, u64)> + '_ {
        Self::KINDS
            .iter()
            .copied()
            .zip(self.by_kind.iter().copied())
    }
}

/// A snapshot of the allocator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Frames managed (free or handed out).
    pub total_frames: u64,
    /// Frames free.
    pub free_frames: u64,
    /// Free blocks per order.
    pub free_blocks: [u64; ORDERS],
    /// Non-usable memory of the maps given, by type.
    pub reserved: Reserved,
    /// What was clipped from the ranges given.
    pub clipped: Clipped,
}

/// Why a free was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeError {
    /// The address is not aligned to the block size, the order is above [`MAX_ORDER`], or the
    /// count is zero.
    Misaligned {
        /// The address given.
        addr: u64,
        /// The order given.
        order: usize,
    },
    /// The block is not wholly inside memory this allocator manages.
    NotManaged {
        /// The address given.
        addr: u64,
    },
    /// The block (or a block containing it) is already free.
    DoubleFree {
        /// The address given.
        addr: u64,
    },
}

impl core::fmt::Display for FreeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            FreeError::Misaligned { addr, order } => write!(
                f,
                "cannot free {addr:#x} as an order-{order} block: misaligned, order above \
                 {MAX_ORDER} or empty run"
            ),
            FreeError::NotManaged { addr } => {
                write!(f, "{addr:#x} is not memory the frame allocator manages")
            }
            FreeError::DoubleFree { addr } => write!(f, "double free of frame {addr:#x}"),
        }
    }
}

impl core::error::Error for FreeError {}

/// The largest order of an aligned block starting at `at` that fits before `end`.
fn max_block(at: u64, end: u64) -> usize {
    let mut order = MAX_ORDER;
    while !at.is_multiple_of(block_size(order)) || at + block_size(order) > end {
        order -= 1;
    }
    order
}

/// One bit-mixing step (the SplitMix64 finaliser).
const fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The buddy allocator over a [`FrameAccess`].
#[derive(Debug)]
pub struct BuddyAllocator<A> {
    access: A,
    heads: [u64; ORDERS],
    free_blocks: [u64; ORDERS],
    key: u64,
    limit: u64,
    total_frames: u64,
    free_frames: u64,
    reserved: Reserved,
    clipped: Clipped,
    /// Managed ranges `[start, end)`, sorted, disjoint and never adjacent (adjacent ones merge).
    ranges: heapless::Vec<(u64, u64), MAX_RANGES>,
    /// Index of the range found last.
    hint: usize,
    /// Whether frees look for a free block containing the block (not only the block itself).
    full_checks: bool,
}

impl<A: FrameAccess> BuddyAllocator<A> {
    /// An empty allocator.
    ///
    /// `phys_bits` is the CPU's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]; capped at 52): nothing
    /// at or above `2^phys_bits` is ever managed. `key` seeds the free-block tags (the kernel
    /// passes something unpredictable, such as RDRAND or the TSC), so data that happens to sit
    /// in an allocated frame is not mistaken for a free-list header.
    pub fn new(access: A, phys_bits: u8, key: u64) -> Self {
        let bits = u32::from(phys_bits.clamp(32, 52));
        BuddyAllocator {
            access,
            heads: [NIL; ORDERS],
            free_blocks: [0; ORDERS],
            key: mix(key ^ 0x6275_6464_795f_6b65) | 1,
            limit: 1 << bits,
            total_frames: 0,
            free_frames: 0,
            reserved: Reserved::default(),
            clipped: Clipped::default(),
            ranges: heapless::Vec::new(),
            hint: 0,
            full_checks: cfg!(any(test, debug_assertions, feature = "ktest")),
        }
    }

    /// Whether frees also refuse a block inside a larger free block (a double free after the
    /// first free was merged): one header read per order on every free. Off by default in
    /// production kernels, where a free checks the block itself only.
    pub fn set_full_checks(&mut self, on: bool) {
        self.full_checks = on;
    }

    /// Whether full free checks are on.
    pub fn full_checks(&self) -> bool {
        self.full_checks
    }

    /// Whether freeing the block of `order` at `addr` in `range` would be a double free.
    fn already_free(&self, addr: u64, order: usize, range: (u64, u64)) -> bool {
        if self.full_checks {
            self.inside_free_block(addr, order, range)
        } else {
            self.tagged_order(addr)
                .is_some_and(|o| self.linked(addr, o))
        }
    }

    /// The frame access (for tests and for the owner's own use of free-frame memory).
    pub fn access(&self) -> &A {
        &self.access
    }

    /// Mutable frame access.
    pub fn access_mut(&mut self) -> &mut A {
        &mut self.access
    }

    /// Adds the usable regions of a memory map, and counts the others by type.
    ///
    /// Usable memory that a non-usable region of the same map also covers is left out (the
    /// stricter claim wins). Cost: O(regions²) comparisons in the worst (hostile) case, O(1)
    /// list operations per aligned block; nothing per frame.
    pub fn add_map(&mut self, regions: &[MemoryRegion]) {
        for r in regions {
            if r.kind != MemoryKind::Usable
                && let Some(i) = Reserved::slot(r.kind)
            {
                self.reserved.by_kind[i] = self.reserved.by_kind[i].saturating_add(r.length);
            }
        }
        for r in regions.iter().filter(|r| r.kind == MemoryKind::Usable) {
            let Some((start, end)) = self.clip(r.base, r.length) else {
                continue;
            };
            // Walk through the other claims on [start, end) in address order.
            let mut at = start;
            while at < end {
                let hole = regions
                    .iter()
                    .filter(|o| o.kind != MemoryKind::Usable && o.length > 0)
                    .filter(|o| o.base < end && o.end() > at)
                    .min_by_key(|o| o.base);
                let Some(hole) = hole else {
                    self.add_clipped(at, end);
                    break;
                };
                let hole_start = (hole.base & !(FRAME_SIZE - 1)).max(at);
                let hole_end = hole
                    .end()
                    .checked_next_multiple_of(FRAME_SIZE)
                    .unwrap_or(end)
                    .min(end);
                if hole_start > at {
                    self.add_clipped(at, hole_start);
                }
                self.clipped.claimed_by_other += hole_end - hole_start;
                at = hole_end;
            }
        }
    }

    /// Adds `[base, base + length)` (for memory reclaimed later, such as bootloader-reclaimable
    /// regions), clipped like a map region. Returns the bytes actually added.
    pub fn add_region(&mut self, base: u64, length: u64) -> u64 {
        let before = self.total_frames;
        if let Some((start, end)) = self.clip(base, length) {
            self.add_clipped(start, end);
        }
        (self.total_frames - before) * FRAME_SIZE
    }

    /// Rounds a region inward to whole frames inside `[LOW_LIMIT, limit)`, counting what goes.
    fn clip(&mut self, base: u64, length: u64) -> Option<(u64, u64)> {
        if length == 0 {
            self.clipped.empty_regions += 1;
            return None;
        }
        let end = match base.checked_add(length) {
            Some(e) => e,
            None => {
                self.clipped.wrapping_regions += 1;
                u64::MAX
            }
        };
        let mut start = base;
        if start < LOW_LIMIT {
            self.clipped.below_1mib += end.min(LOW_LIMIT) - start;
            start = LOW_LIMIT;
        }
        let mut end = end;
        if end > self.limit {
            self.clipped.beyond_limit += end - start.max(self.limit);
            end = self.limit;
        }
        if start >= end {
            self.clipped.empty_regions += 1;
            return None;
        }
        let s = start.next_multiple_of(FRAME_SIZE);
        let e = end & !(FRAME_SIZE - 1);
        if s >= e {
            self.clipped.unaligned += end - start;
            self.clipped.empty_regions += 1;
            return None;
        }
        self.clipped.unaligned += (s - start) + (end - e);
        Some((s, e))
    }

    /// Adds the frame-aligned `[start, end)` minus what is already managed.
    fn add_clipped(&mut self, start: u64, end: u64) {
        let mut at = start;
        while at < end {
            // The first managed range ending after `at`.
            let i = self.ranges.partition_point(|r| r.1 <= at);
            match self.ranges.get(i).copied() {
                Some((rs, re)) if rs <= at => {
                    let skip = re.min(end);
                    self.clipped.overlapping += skip - at;
                    at = skip;
                }
                next => {
                    let piece_end = next.map_or(end, |(rs, _)| rs.min(end));
                    if self.insert_range(i, at, piece_end) {
                        self.total_frames += (piece_end - at) / FRAME_SIZE;
                        self.free_range(at, piece_end);
                    } else {
                        self.clipped.no_room += piece_end - at;
                    }
                    at = piece_end;
                }
            }
        }
    }

    /// Records `[start, end)` (disjoint from every range) at position `i`, merging with
    /// neighbours. `false` when the list is full.
    fn insert_range(&mut self, i: usize, start: u64, end: u64) -> bool {
        let joins_prev = i > 0 && self.ranges[i - 1].1 == start;
        let joins_next = self.ranges.get(i).is_some_and(|r| r.0 == end);
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i - 1].1 = self.ranges[i].1;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i - 1].1 = end,
            (false, true) => self.ranges[i].0 = start,
            (false, false) => return self.ranges.insert(i, (start, end)).is_ok(),
        }
        true
    }

    /// Whether `[addr, addr + len)` lies inside one managed range.
    fn managed(&self, addr: u64, len: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 <= addr);
        self.ranges
            .get(i)
            .is_some_and(|&(s, e)| s <= addr && addr.checked_add(len).is_some_and(|x| x <= e))
    }

    /// Frees the frame-aligned, managed `[start, end)` as maximal aligned blocks.
    fn free_range(&mut self, start: u64, end: u64) {
        let Some(range) = self.range_of(start) else {
            return; // unreachable: callers pass managed memory
        };
        let mut at = start;
        while at < end {
            let order = max_block(at, end);
            self.release(at, order, range);
            at += block_size(order);
        }
    }

    /// The tag of a free block at `addr`: never 0 (frames are 4 KiB aligned and the key's low
    /// bit is set), so a cleared header never matches.
    const fn tag(&self, addr: u64) -> u64 {
        addr ^ self.key
    }

    /// The managed range holding `addr`, if any (the last one found is tried first).
    fn range_of(&mut self, addr: u64) -> Option<(u64, u64)> {
        if let Some(&(s, e)) = self.ranges.get(self.hint)
            && s <= addr
            && addr < e
        {
            return Some((s, e));
        }
        let i = self.ranges.partition_point(|r| r.1 <= addr);
        let &(s, e) = self.ranges.get(i)?;
        if s > addr {
            return None;
        }
        self.hint = i;
        Some((s, e))
    }

    fn push(&mut self, addr: u64, order: usize) {
        let head = self.heads[order];
        self.access.write(addr, TAG, self.tag(addr));
        self.access.write(addr, NEXT, head);
        self.access.write(addr, PREV, NIL);
        self.access.write(addr, ORDER, order as u64);
        if head != NIL {
            self.access.write(head, PREV, addr);
        }
        self.heads[order] = addr;
        self.free_blocks[order] += 1;
    }

    fn unlink(&mut self, addr: u64, order: usize) {
        let next = self.access.read(addr, NEXT);
        let prev = self.access.read(addr, PREV);
        if prev == NIL {
            self.heads[order] = next;
        } else {
            self.access.write(prev, NEXT, next);
        }
        if next != NIL {
            self.access.write(next, PREV, prev);
        }
        self.access.write(addr, TAG, 0);
        self.free_blocks[order] -= 1;
    }

    /// Whether the managed block at `addr` heads a free block (its tag matches): then its
    /// order, if the header is genuine.
    fn tagged_order(&self, addr: u64) -> Option<usize> {
        if self.access.read(addr, TAG) != self.tag(addr) {
            return None;
        }
        usize::try_from(self.access.read(addr, ORDER))
            .ok()
            .filter(|&o| o <= MAX_ORDER)
    }

    /// Whether the free-list header at `addr` claiming `order` is linked in: its predecessor
    /// (or the list head) points at it. A stale copy of a header fails this, because taking a
    /// block off a list always re-points its predecessor (or the head).
    fn linked(&self, addr: u64, order: usize) -> bool {
        let prev = self.access.read(addr, PREV);
        if prev == NIL {
            return self.heads[order] == addr;
        }
        self.managed(prev, block_size(order))
            && self.access.read(prev, TAG) == self.tag(prev)
            && self.access.read(prev, ORDER) == order as u64
            && self.access.read(prev, NEXT) == addr
    }

    /// Whether the managed block at `addr` is on the free list of `order`.
    fn is_free(&self, addr: u64, order: usize) -> bool {
        self.tagged_order(addr) == Some(order) && self.linked(addr, order)
    }

    /// Whether a free block contains the block of `order` at `addr` (or its start), which
    /// lies in the managed range `range`. Reads one header word per distinct candidate start.
    fn inside_free_block(&self, addr: u64, order: usize, range: (u64, u64)) -> bool {
        let mut last = NIL;
        for k in order..ORDERS {
            let start = addr & !(block_size(k) - 1);
            if start == last {
                continue;
            }
            if start < range.0 {
                break; // larger candidates start even lower: not managed
            }
            last = start;
            // A genuine free block starting here overlaps the block (it starts at or below
            // `addr`): a double free, whole or partial.
            if let Some(o) = self.tagged_order(start)
                && start.is_multiple_of(block_size(o))
                && addr < start + block_size(o)
                && start + block_size(o) <= range.1
                && self.linked(start, o)
            {
                return true;
            }
        }
        false
    }

    /// Puts an aligned block back, coalescing with free buddies; `range` is the managed range
    /// holding it.
    fn release(&mut self, addr: u64, order: usize, range: (u64, u64)) {
        let (mut addr, mut order) = (addr, order);
        self.free_frames += 1 << order;
        while order < MAX_ORDER {
            let buddy = addr ^ block_size(order);
            // Buddies are adjacent, so a managed buddy lies in the same range.
            if buddy < range.0 || buddy + block_size(order) > range.1 || !self.is_free(buddy, order)
            {
                break;
            }
            self.unlink(buddy, order);
            addr = addr.min(buddy);
            order += 1;
        }
        self.push(addr, order);
    }

    /// One free frame, or `None` when none is left.
    pub fn allocate(&mut self) -> Option<u64> {
        self.allocate_order(0)
    }

    /// A block of 2^`order` contiguous frames aligned to its size, or `None`.
    pub fn allocate_order(&mut self, order: usize) -> Option<u64> {
        if order > MAX_ORDER {
            return None;
        }
        let mut k = (order..ORDERS).find(|&k| self.heads[k] != NIL)?;
        let addr = self.heads[k];
        self.unlink(addr, k);
        while k > order {
            k -= 1;
            self.push(addr + block_size(k), k);
        }
        self.free_frames -= 1 << order;
        Some(addr)
    }

    /// `count` contiguous frames, aligned to `count` rounded up to a power of two (at most
    /// 1 GiB), or `None`. The frames beyond `count` go straight back.
    pub fn allocate_run(&mut self, count: u64) -> Option<u64> {
        if count == 0 || count > 1 << MAX_ORDER {
            return None;
        }
        let order = count.next_power_of_two().trailing_zeros() as usize;
        let addr = self.allocate_order(order)?;
        let end = addr + count * FRAME_SIZE;
        let block_end = addr + block_size(order);
        if end < block_end {
            self.free_range(end, block_end);
        }
        Some(addr)
    }

    /// Frees a block from [`BuddyAllocator::allocate_order`] (order 0: a single frame).
    ///
    /// # Errors
    ///
    /// [`FreeError`]: misaligned, not managed, or already free (the block itself, a free block
    /// starting where it starts, or, with full checks, any free block containing it); nothing
    /// changes then.
    pub fn free_order(&mut self, addr: u64, order: usize) -> Result<(), FreeError> {
        if order > MAX_ORDER || !addr.is_multiple_of(block_size(order)) {
            return Err(FreeError::Misaligned { addr, order });
        }
        let range = self
            .range_of(addr)
            .filter(|r| addr + block_size(order) <= r.1)
            .ok_or(FreeError::NotManaged { addr })?;
        // The block, or a free block containing it, on a list: a double free.
        if self.already_free(addr, order, range) {
            return Err(FreeError::DoubleFree { addr });
        }
        self.release(addr, order, range);
        Ok(())
    }

    /// Frees a single frame.
    ///
    /// # Errors
    ///
    /// As for [`BuddyAllocator::free_order`].
    pub fn free(&mut self, addr: u64) -> Result<(), FreeError> {
        self.free_order(addr, 0)
    }

    /// Frees a run from [`BuddyAllocator::allocate_run`] (or any run of handed-out frames).
    ///
    /// # Errors
    ///
    /// As for [`BuddyAllocator::free_order`], checked for every block of the run before any is
    /// freed.
    pub fn free_run(&mut self, addr: u64, count: u64) -> Result<(), FreeError> {
        let len = count
            .checked_mul(FRAME_SIZE)
            .filter(|&l| l > 0 && addr.is_multiple_of(FRAME_SIZE))
            .ok_or(FreeError::Misaligned { addr, order: 0 })?;
        let range = self
            .range_of(addr)
            .filter(|r| addr.checked_add(len).is_some_and(|e| e <= r.1))
            .ok_or(FreeError::NotManaged { addr })?;
        let end = addr + len;
        for pass in [false, true] {
            let mut at = addr;
            while at < end {
                let order = max_block(at, end);
                if pass {
                    self.release(at, order, range);
                } else if self.already_free(at, order, range) {
                    return Err(FreeError::DoubleFree { addr: at });
                }
                at += block_size(order);
            }
        }
        Ok(())
    }

    /// The current statistics.
    pub fn stats(&self) -> Stats {
        Stats {
            total_frames: self.total_frames,
            free_frames: self.free_frames,
            free_blocks: self.free_blocks,
            reserved: self.reserved,
            clipped: self.clipped,
        }
    }

    /// Frames free.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Whether the frame containing `addr` is managed and free (part of a free block of any
    /// order).
    pub fn frame_is_free(&self, addr: u64) -> bool {
        let addr = addr & !(FRAME_SIZE - 1);
        let i = self.ranges.partition_point(|r| r.1 <= addr);
        match self.ranges.get(i) {
            Some(&(s, e)) if s <= addr => self.inside_free_block(addr, 0, (s, e)),
            _ => false,
        }
    }

    /// The managed ranges, sorted.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// The free blocks of `order`, in list order (walks the list: for tests and reports).
    pub fn free_list(&self, order: usize) -> impl Iterator<Item = u64> + '_ {
        let mut at = self.heads.get(order).copied().unwrap_or(NIL);
        core::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let here = at;
            at = self.access.read(here, NEXT);
            Some(here)
        })
    }
}

#[cfg(test)]
mod tests;
