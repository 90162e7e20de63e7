//! Synchronisation that carries its interrupt policy: locks, a lock-free byte queue and the
//! handler slot.
//!
//! - [`IrqMutex`] disables interrupts on the local CPU for as long as it is held, so an
//!   interrupt handler that takes the same lock can never spin forever on a lock its own CPU
//!   holds. The policy lives in the type, not in every caller's memory.
//! - [`DropQueue`]: a single-producer, single-consumer byte ring from an interrupt handler.
//! - [`HandlerSlot`]: one function pointer (an interrupt handler, a hook an upper layer
//!   registers with a lower one), replaced and read atomically, without a lock, so the
//!   interrupt path can read it at any moment. Every registry of function pointers in the
//!   kernel is built from it (see docs/architecture.md, Layering).

use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::atomic::AtomicCell;

#[cfg(target_os = "none")]
use crate::arch::cpu::{disable_interrupts_save, restore_interrupts};
#[cfg(target_os = "none")]
use crate::arch::stop::is_stopped;

#[cfg(not(target_os = "none"))]
fn disable_interrupts_save() -> bool {
    false
}

#[cfg(not(target_os = "none"))]
fn restore_interrupts(_was_enabled: bool) {}

#[cfg(not(target_os = "none"))]
fn is_stopped() -> bool {
    false
}

/// A spin lock that keeps interrupts disabled while held.
///
/// It also remembers whether its current holder took it after the kernel stopped for good (a
/// panic or fatal exception, see `arch::stop`): the stop path may take over a lock held by the
/// code it interrupted, which never runs again, but never one its own last words hold.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
    taken_after_stop: AtomicBool,
}

impl<T> IrqMutex<T> {
    /// Creates an unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
            taken_after_stop: AtomicBool::new(false),
        }
    }

    fn guard<'a>(
        &'a self,
        guard: spin::MutexGuard<'a, T>,
        was_enabled: bool,
    ) -> IrqMutexGuard<'a, T> {
        self.taken_after_stop.store(is_stopped(), Ordering::Relaxed);
        IrqMutexGuard {
            guard: Some(guard),
            was_enabled,
            _not_send: PhantomData,
        }
    }

    /// Disables interrupts, then spins until the lock is free.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let was_enabled = disable_interrupts_save();
        self.guard(self.inner.lock(), was_enabled)
    }

    /// Takes the lock if it is free; interrupts are left as they were when it is not.
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let was_enabled = disable_interrupts_save();
        match self.inner.try_lock() {
            Some(guard) => Some(self.guard(guard, was_enabled)),
            None => {
                restore_interrupts(was_enabled);
                None
            }
        }
    }

    /// Whether the lock is held by code that took it after the kernel stopped.
    #[cfg(target_os = "none")]
    pub(crate) fn held_since_stop(&self) -> bool {
        self.inner.is_locked() && self.taken_after_stop.load(Ordering::Relaxed)
    }

    /// The spin lock inside, for `arch::stop` alone (which releases a lock whose holder never
    /// runs again). Locking it directly would bypass the interrupt policy: don't.
    #[cfg(target_os = "none")]
    pub(crate) fn raw_for_stop(&self) -> &spin::Mutex<T> {
        &self.inner
    }
}

impl<T> fmt::Debug for IrqMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqMutex")
            .field("locked", &self.inner.is_locked())
            .finish_non_exhaustive()
    }
}

/// Guard of an [`IrqMutex`]; restores the interrupt flag after releasing the lock. Not `Send`:
/// the interrupt flag it restores is this CPU's.
pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    was_enabled: bool,
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for IrqMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is present until drop")
    }
}

impl<T> DerefMut for IrqMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is present until drop")
    }
}

impl<T> Drop for IrqMutexGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        restore_interrupts(self.was_enabled);
    }
}

impl<T: fmt::Debug> fmt::Debug for IrqMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A fixed-size, lock-free byte ring from an interrupt handler (the one producer) to its
/// consumer, counting what it had to drop when full. Neither side ever blocks or allocates,
/// and an interrupt arriving in the middle of a `pop` cannot make a `push` fail.
///
/// Single producer, single consumer: `push` is only called from one interrupt handler (which
/// cannot preempt itself), `pop` only from one consumer at a time. Indices count up forever
/// (wrapping), so "full" is `head - tail == N` and no slot is wasted.
pub struct DropQueue<const N: usize> {
    buf: [AtomicU8; N],
    /// Next slot to write; written by the producer only.
    head: AtomicUsize,
    /// Next slot to read; written by the consumer only.
    tail: AtomicUsize,
    dropped: AtomicU64,
    pushed: AtomicU64,
}

impl<const N: usize> DropQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            buf: [const { AtomicU8::new(0) }; N],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            pushed: AtomicU64::new(0),
        }
    }

    /// Queues `byte`; when full, drops it and counts the loss. Returns whether it was queued.
    pub fn push(&self, byte: u8) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.buf[head % N].store(byte, Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        self.pushed.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The oldest queued byte.
    pub fn pop(&self) -> Option<u8> {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if tail == head {
            return None;
        }
        let byte = self.buf[tail % N].load(Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        Some(byte)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }

    /// Bytes dropped because the queue was full, since boot.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Bytes queued since boot.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
}

impl<const N: usize> Default for DropQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for DropQueue<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropQueue")
            .field("capacity", &N)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// At most one function pointer `F` (e.g. `fn(u8)`), set, cleared and read atomically.
///
/// Built on `crossbeam_utils::atomic::AtomicCell<Option<F>>`. A function pointer is one machine
/// word and `Option` uses its null niche, so the cell is a single atomic word: [`new`]
/// refuses at compile time any `F` for which it would not be (the cell would then fall back to
/// a global lock, which the interrupt path must never take). Reads never block, so the trap
/// dispatcher can read a slot while it is being replaced; it sees the old or the new handler.
///
/// [`new`]: HandlerSlot::new
pub struct HandlerSlot<F: Copy> {
    cell: AtomicCell<Option<F>>,
}

impl<F: Copy> HandlerSlot<F> {
    /// An empty slot.
    pub const fn new() -> Self {
        const {
            assert!(
                AtomicCell::<Option<F>>::is_lock_free(),
                "a handler slot must be one lock-free atomic word"
            )
        };
        Self {
            cell: AtomicCell::new(None),
        }
    }

    /// Installs `f`, replacing whatever was there.
    pub fn set(&self, f: F) {
        self.cell.store(Some(f));
    }

    /// Empties the slot.
    pub fn clear(&self) {
        self.cell.store(None);
    }

    /// The function in the slot, if any.
    pub fn get(&self) -> Option<F> {
        self.cell.load()
    }

    /// Whether a function is installed.
    pub fn is_set(&self) -> bool {
        self.get().is_some()
    }
}

impl<F: Copy> Default for HandlerSlot<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Copy> fmt::Debug for HandlerSlot<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerSlot")
            .field("set", &self.is_set())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HITS: AtomicU64 = AtomicU64::new(0);

    fn add(n: u64) {
        HITS.fetch_add(n, Ordering::SeqCst);
    }

    fn add_twice(n: u64) {
        HITS.fetch_add(2 * n, Ordering::SeqCst);
    }

    #[test]
    fn handler_slot_set_replace_clear() {
        static SLOT: HandlerSlot<fn(u64)> = HandlerSlot::new();
        assert!(SLOT.get().is_none() && !SLOT.is_set());
        SLOT.set(add);
        SLOT.get().expect("set")(5);
        assert_eq!(HITS.load(Ordering::SeqCst), 5);
        SLOT.set(add_twice);
        SLOT.get().expect("replaced")(5);
        assert_eq!(HITS.load(Ordering::SeqCst), 15);
        SLOT.clear();
        assert!(SLOT.get().is_none());
        // Handlers taking references (higher-ranked function pointers) fit as well.
        let slots: [HandlerSlot<fn(&mut u64)>; 3] = [const { HandlerSlot::new() }; 3];
        slots[1].set(|x| *x += 1);
        let mut x = 41;
        for slot in &slots {
            if let Some(f) = slot.get() {
                f(&mut x);
            }
        }
        assert_eq!(x, 42);
        assert!(AtomicCell::<Option<fn(&mut u64)>>::is_lock_free());
    }

    #[test]
    fn handler_slot_reads_never_tear_under_a_concurrent_writer() {
        fn one() -> u32 {
            1
        }
        fn two() -> u32 {
            2
        }
        let slot: &'static HandlerSlot<fn() -> u32> = Box::leak(Box::new(HandlerSlot::new()));
        let writer = std::thread::spawn(move || {
            for i in 0..100_000 {
                match i % 3 {
                    0 => slot.set(one),
                    1 => slot.set(two),
                    _ => slot.clear(),
                }
            }
        });
        let mut seen = [0u32; 3];
        while !writer.is_finished() {
            match slot.get().map(|f| f()) {
                None => seen[0] += 1,
                Some(1) => seen[1] += 1,
                Some(2) => seen[2] += 1,
                Some(other) => panic!("torn handler returned {other}"),
            }
        }
        writer.join().expect("writer");
    }

    #[test]
    fn drop_queue_keeps_order_and_counts_losses() {
        let q: DropQueue<8> = DropQueue::new();
        for b in 0..8 {
            assert!(q.push(b));
        }
        assert!(!q.push(100));
        assert!(!q.push(101));
        assert_eq!((q.pushed(), q.dropped()), (8, 2));
        assert_eq!(q.pop(), Some(0));
        assert!(q.push(8));
        let rest: Vec<u8> = core::iter::from_fn(|| q.pop()).collect();
        assert_eq!(rest, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(q.pop(), None);
        assert_eq!(q.dropped(), 2);
    }

    #[test]
    fn drop_queue_survives_index_wrap_and_a_threaded_producer() {
        let q: DropQueue<4> = DropQueue::new();
        q.head.store(usize::MAX - 1, Ordering::Relaxed);
        q.tail.store(usize::MAX - 1, Ordering::Relaxed);
        for b in 0..4 {
            assert!(q.push(b));
        }
        assert!(!q.push(9));
        assert_eq!(
            (0..4).map(|_| q.pop()).collect::<Vec<_>>(),
            vec![Some(0), Some(1), Some(2), Some(3)]
        );
        // A real concurrent producer: every byte arrives in order or is counted as dropped.
        let q: &'static DropQueue<16> = Box::leak(Box::new(DropQueue::new()));
        let producer = std::thread::spawn(move || {
            (0..100_000u32).for_each(|i| {
                q.push(i as u8);
            })
        });
        let mut got = 0u64;
        let mut last: Option<u8> = None;
        while !producer.is_finished()
            || q.pop()
                .map(|b| {
                    got += 1;
                    last = Some(b);
                })
                .is_some()
        {
            if let Some(b) = q.pop() {
                got += 1;
                last = Some(b);
            }
        }
        producer.join().expect("producer");
        while let Some(b) = q.pop() {
            got += 1;
            last = Some(b);
        }
        assert_eq!(got + q.dropped(), 100_000);
        assert_eq!(q.pushed(), got);
        assert!(last.is_some());
    }

    #[test]
    fn lock_and_try_lock() {
        let m = IrqMutex::new(5);
        {
            let mut g = m.lock();
            *g += 1;
            assert!(m.try_lock().is_none());
        }
        assert_eq!(*m.try_lock().expect("free again"), 6);
    }
}
