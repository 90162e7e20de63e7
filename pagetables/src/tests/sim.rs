//! Simulated RAM: only table frames exist; touching anything else is a test failure.

use std::collections::{BTreeSet, HashMap};

use x86_64::PhysAddr;
use x86_64::structures::paging::PhysFrame;

use crate::{FrameSource, PhysMemory};

/// Table frames handed out from a bump pointer, with a limit, and a record of frees.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRam {
    pages: HashMap<u64, Box<[u64; 512]>>,
    next: u64,
    limit: usize,
    /// Frames given back, reused first.
    free: BTreeSet<u64>,
    pub allocations: u64,
    pub deallocations: u64,
}

impl SimRam {
    pub fn new() -> Self {
        Self::with_limit(usize::MAX)
    }

    /// At most `limit` frames live at once.
    pub fn with_limit(limit: usize) -> Self {
        SimRam {
            pages: HashMap::new(),
            next: 0x100_0000,
            limit,
            free: BTreeSet::new(),
            allocations: 0,
            deallocations: 0,
        }
    }

    /// Frames currently holding tables.
    pub fn live(&self) -> usize {
        self.pages.len()
    }

    /// Fills a live frame with junk (a frame source need not hand out zeroed frames).
    fn scribble(&mut self, p: u64) {
        if let Some(page) = self.pages.get_mut(&p) {
            for (i, w) in page.iter_mut().enumerate() {
                *w = 0xdead_beef_0000_0001 ^ (i as u64 * 0x9e37_79b9);
            }
        }
    }
}

fn key(table: PhysFrame) -> u64 {
    table.start_address().as_u64()
}

impl PhysMemory for SimRam {
    fn read_entry(&self, table: PhysFrame, index: usize) -> u64 {
        assert!(index < 512);
        self.pages
            .get(&key(table))
            .unwrap_or_else(|| panic!("read outside tables at {:#x}", key(table)))[index]
    }

    fn write_entry(&mut self, table: PhysFrame, index: usize, value: u64) {
        assert!(index < 512);
        self.pages
            .get_mut(&key(table))
            .unwrap_or_else(|| panic!("write outside tables at {:#x}", key(table)))[index] = value;
    }
}

impl FrameSource for SimRam {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        if self.pages.len() >= self.limit {
            return None;
        }
        let p = match self.free.pop_first() {
            Some(p) => p,
            None => {
                let p = self.next;
                self.next += 4096;
                p
            }
        };
        self.pages.insert(p, Box::new([0; 512]));
        self.scribble(p);
        self.allocations += 1;
        Some(PhysFrame::containing_address(PhysAddr::new(p)))
    }

    fn deallocate_frame(&mut self, frame: PhysFrame) {
        let p = key(frame);
        assert!(
            self.pages.remove(&p).is_some(),
            "freeing {p:#x}, not a live table"
        );
        assert!(self.free.insert(p), "double free of {p:#x}");
        self.deallocations += 1;
    }
}
