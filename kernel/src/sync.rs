//! Locks that carry their interrupt policy.
//!
//! [`IrqMutex`] disables interrupts on the local CPU for as long as it is held, so an interrupt
//! handler that takes the same lock can never spin forever on a lock its own CPU holds. The
//! policy lives in the type, not in every caller's memory.

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

#[cfg(target_os = "none")]
use crate::arch::cpu::{disable_interrupts_save, restore_interrupts};

#[cfg(not(target_os = "none"))]
fn disable_interrupts_save() -> bool {
    false
}

#[cfg(not(target_os = "none"))]
fn restore_interrupts(_was_enabled: bool) {}

/// A spin lock that keeps interrupts disabled while held.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

impl<T> IrqMutex<T> {
    /// Creates an unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Disables interrupts, then spins until the lock is free.
    pub fn lock(&self) -> IrqMutexGuard<'_, T> {
        let was_enabled = disable_interrupts_save();
        IrqMutexGuard {
            guard: Some(self.inner.lock()),
            was_enabled,
        }
    }

    /// Takes the lock if it is free; interrupts are left as they were when it is not.
    pub fn try_lock(&self) -> Option<IrqMutexGuard<'_, T>> {
        let was_enabled = disable_interrupts_save();
        match self.inner.try_lock() {
            Some(guard) => Some(IrqMutexGuard {
                guard: Some(guard),
                was_enabled,
            }),
            None => {
                restore_interrupts(was_enabled);
                None
            }
        }
    }

    /// Releases the lock without a guard.
    ///
    /// # Safety
    /// Only for the panic path on a single CPU: the holder must never run again (it was
    /// interrupted by the panic and will not resume), otherwise two parties share the data.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: forwarded from the caller's guarantee.
        unsafe { self.inner.force_unlock() }
    }
}

impl<T> fmt::Debug for IrqMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IrqMutex")
            .field("locked", &self.inner.is_locked())
            .finish_non_exhaustive()
    }
}

/// Guard of an [`IrqMutex`]; restores the interrupt flag after releasing the lock.
pub struct IrqMutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    was_enabled: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

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
