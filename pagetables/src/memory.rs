//! The physical-memory interface the tables are edited through.
//!
//! The crate never dereferences an address: it asks a [`PhysMemory`] to read or write entry
//! `index` of the table in a frame, and a [`FrameSource`] for frames to hold new tables and to
//! take back emptied ones. The kernel implements them over the HHDM, the loader over
//! identity-mapped firmware pages, and the host tests over a simulated RAM.

use x86_64::structures::paging::PhysFrame;

use crate::entry::ENTRIES;

/// Entry access to page tables in physical memory.
///
/// The tables call these only with `index < 512`, on frames reachable from the root they were
/// given (or frames their [`FrameSource`] handed out). An implementation over raw memory should
/// still check that a frame is RAM it may touch (ignoring writes and reading 0 otherwise),
/// because a walk of foreign tables follows whatever addresses the entries hold.
pub trait PhysMemory {
    /// Reads entry `index` of the table in `table`.
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64;
    /// Writes entry `index` of the table in `table`.
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64);
    /// Fills the table in `table` with zeros (an implementation may do it faster).
    fn zero_table(&mut self, table: PhysFrame) {
        for i in 0..ENTRIES {
            self.write_entry(table, i, 0);
        }
    }
}

/// Frames for page tables.
pub trait FrameSource {
    /// A frame nothing else uses, or `None` when memory is exhausted. Its contents do not
    /// matter: the tables zero it.
    fn allocate_frame(&mut self) -> Option<PhysFrame>;
    /// Takes back a table frame that [`FrameSource::allocate_frame`] handed out (or that held
    /// a table of the root given to [`PageTables::from_root`](crate::PageTables::from_root))
    /// and is no longer referenced.
    fn deallocate_frame(&mut self, frame: PhysFrame);
}

/// Memory access and a frame source side by side, for editing when the two are separate
/// objects (the kernel's HHDM and its frame allocator).
#[derive(Debug)]
pub struct Env<M, F> {
    /// Entry access.
    pub mem: M,
    /// Frames for new tables.
    pub frames: F,
}

impl<M: PhysMemory, F> PhysMemory for Env<M, F> {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        self.mem.read_entry(table, index)
    }
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        self.mem.write_entry(table, index, value);
    }
    fn zero_table(&mut self, table: PhysFrame) {
        self.mem.zero_table(table);
    }
}

impl<M, F: FrameSource> FrameSource for Env<M, F> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        self.frames.allocate_frame()
    }
    fn deallocate_frame(&mut self, frame: PhysFrame) {
        self.frames.deallocate_frame(frame);
    }
}

impl<T: PhysMemory + ?Sized> PhysMemory for &mut T {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        (**self).read_entry(table, index)
    }
    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        (**self).write_entry(table, index, value);
    }
    fn zero_table(&mut self, table: PhysFrame) {
        (**self).zero_table(table);
    }
}

impl<T: FrameSource + ?Sized> FrameSource for &mut T {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        (**self).allocate_frame()
    }
    fn deallocate_frame(&mut self, frame: PhysFrame) {
        (**self).deallocate_frame(frame);
    }
}
