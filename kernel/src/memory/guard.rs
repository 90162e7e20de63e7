//! Which stack an unmapped guard area belongs to, for fault reports ("stack overflow on the
//! boot CPU kernel stack").
//!
//! A lock-free registry: the page-fault and double-fault handlers ask it while anything,
//! including the memory module's own lock, may be held. Entries are only ever added (stacks
//! are never freed yet); each slot is written once, and a reader skips a slot whose writer has
//! not finished.

use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Once;

/// Capacity of the registry (kernel stacks and interrupt stacks of every CPU).
pub const MAX_GUARDS: usize = 64;

/// One guard area: `[start, end)` unmapped below the stack called `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// Lowest address of the unmapped area.
    pub start: u64,
    /// One past its highest address (the stack's lowest mapped byte).
    pub end: u64,
    /// The stack's name, e.g. "boot CPU kernel stack".
    pub name: &'static str,
}

static SLOTS: [Once<Guard>; MAX_GUARDS] = [const { Once::new() }; MAX_GUARDS];
static USED: AtomicUsize = AtomicUsize::new(0);

/// Records that `[start, end)` is the unmapped guard area of the stack `name`. `false` when
/// the registry is full (the stack still works; a fault there just gets no name).
pub fn register(start: u64, end: u64, name: &'static str) -> bool {
    let index = USED.fetch_add(1, Ordering::AcqRel);
    match SLOTS.get(index) {
        Some(slot) => {
            slot.call_once(|| Guard { start, end, name });
            true
        }
        None => {
            USED.store(MAX_GUARDS, Ordering::Release);
            false
        }
    }
}

/// The guard area containing `addr`, if any.
pub fn guard_containing(addr: u64) -> Option<Guard> {
    let used = USED.load(Ordering::Acquire).min(MAX_GUARDS);
    SLOTS[..used]
        .iter()
        .filter_map(Once::get)
        .find(|g| (g.start..g.end).contains(&addr))
        .copied()
}

/// The name of the stack whose unmapped guard area contains `addr` (a stack overflow there),
/// if any. Lock-free: safe to call from any fault handler.
pub fn guard_page_owner(addr: u64) -> Option<&'static str> {
    guard_containing(addr).map(|g| g.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_stack_below_which_an_address_lies() {
        // One test owns the (global) registry, so the assertions do not race.
        assert!(register(0x1000_0000, 0x1001_0000, "test stack A"));
        assert!(register(0x2000_0000, 0x2000_1000, "test stack B"));
        assert_eq!(guard_page_owner(0x1000_0000), Some("test stack A"));
        assert_eq!(guard_page_owner(0x1000_fff8), Some("test stack A"));
        assert_eq!(
            guard_page_owner(0x1001_0000),
            None,
            "the stack itself is not the guard"
        );
        assert_eq!(guard_page_owner(0x0fff_ffff), None);
        assert_eq!(guard_page_owner(0x2000_0800), Some("test stack B"));
        assert_eq!(
            guard_containing(0x2000_0010),
            Some(Guard {
                start: 0x2000_0000,
                end: 0x2000_1000,
                name: "test stack B"
            })
        );
        let mut full = true;
        for _ in 0..MAX_GUARDS {
            full &= register(0x3000_0000, 0x3000_1000, "filler");
        }
        assert!(!full, "a full registry refuses more entries");
        assert_eq!(guard_page_owner(0x1000_0004), Some("test stack A"));
    }
}
