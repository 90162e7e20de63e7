//! Timers: `sleep`, `sleep_until` and `interval` futures over a deadline heap, driven by one
//! [`Timers::tick`] call per timer interrupt.
//!
//! Key types: [`Timers`] (the queue; one per kernel, a `static`), [`Sleep`] and [`Interval`].
//! Time is a plain `u64` the caller defines (the kernel uses nanoseconds since boot); the queue
//! never reads a clock itself, so host tests drive it with made-up times.
//!
//! - A pending [`Sleep`] owns one slot of a slab (its waker) and one entry of a binary min-heap
//!   ordered by (deadline, registration number): due timers fire in deadline order, ties in the
//!   order they were registered. 10,000 pending timers cost O(log n) per registration and per
//!   firing.
//! - [`Timers::tick`] is what the interrupt handler calls. It takes the due wakers out of the
//!   heap under the lock, a batch of [`TICK_BATCH`] at a time into an array on the stack, and
//!   wakes them after releasing it (in deadline order), so a waker never runs under the timer
//!   lock. It allocates nothing: popping a heap and freeing a slab slot only move values.
//! - Registration (the first poll of a sleep) may grow the heap and the slab: that is task
//!   context, never the interrupt. [`Timers::reserve`] grows them ahead of time.
//! - A sleep dropped before its deadline frees its slot at once; its heap entry is recognised
//!   as stale (generation mismatch) and discarded when it reaches the top, and the heap is
//!   compacted in task context when stale entries outnumber live ones.
//! - The lock is an [`IrqMutex`]: the interrupt handler takes it too.
//!
//! A sleep is ready once a tick has reported a time at or after its deadline: never early with
//! respect to the times given to `tick`. [`Timers::sleep`] counts from the last tick's time,
//! which lags the real clock by up to one tick period; a caller with a finer clock (the TSC)
//! uses [`Timers::sleep_until`]`(now + d)` instead.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::{Ordering as CmpOrdering, Reverse};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use crate::sync::IrqMutex;

/// Wakers taken out of the heap per lock hold in [`Timers::tick`].
pub const TICK_BATCH: usize = 16;

/// One heap entry: ordered by deadline, then registration number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    deadline: u64,
    seq: u64,
    slot: u32,
    generation: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

struct Slot {
    generation: u32,
    waker: Option<Waker>,
}

struct Inner {
    heap: BinaryHeap<Reverse<Entry>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    next_seq: u64,
    /// Pending timers (live heap entries).
    live: usize,
    fired: u64,
}

impl Inner {
    fn is_live(&self, e: &Entry) -> bool {
        self.slots
            .get(e.slot as usize)
            .is_some_and(|s| s.generation == e.generation)
    }

    /// Frees a slot: its heap entry, if any, becomes stale.
    fn free_slot(&mut self, slot: u32) -> Option<Waker> {
        let s = &mut self.slots[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        s.waker.take()
    }

    fn register(&mut self, deadline: u64, waker: Waker) -> (u32, u32) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    waker: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.waker = Some(waker);
        let generation = s.generation;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq,
            slot,
            generation,
        }));
        self.live += 1;
        (slot, generation)
    }

    fn cancel(&mut self, slot: u32, generation: u32) -> Option<Waker> {
        if self.slots.get(slot as usize)?.generation != generation {
            return None;
        }
        self.live -= 1;
        let waker = self.free_slot(slot);
        // Task context: drop stale entries once they outnumber the live ones.
        if self.heap.len() > 2 * self.live + 64 {
            let slots = &self.slots;
            self.heap.retain(|Reverse(e)| {
                slots
                    .get(e.slot as usize)
                    .is_some_and(|s| s.generation == e.generation)
            });
        }
        waker
    }
}

/// The timer queue.
pub struct Timers {
    inner: IrqMutex<Inner>,
    /// The latest time given to [`Timers::tick`].
    now: AtomicU64,
    /// No deadline in the heap is earlier than this (`u64::MAX`: empty); lets a tick with
    /// nothing due return without taking the lock. Lowered at registration, recomputed by the
    /// ticks that fire; may be lower than the true earliest deadline (a cancelled timer), which
    /// costs one tick a look under the lock.
    next_due: AtomicU64,
}

impl Timers {
    /// An empty queue at time 0.
    pub const fn new() -> Self {
        Self {
            inner: IrqMutex::new(Inner {
                heap: BinaryHeap::new(),
                slots: Vec::new(),
                free: Vec::new(),
                next_seq: 0,
                live: 0,
                fired: 0,
            }),
            now: AtomicU64::new(0),
            next_due: AtomicU64::new(u64::MAX),
        }
    }

    /// Makes room for `additional` more pending timers without allocating later.
    pub fn reserve(&self, additional: usize) {
        let mut inner = self.inner.lock();
        inner.heap.reserve(additional);
        inner.slots.reserve(additional);
        inner.free.reserve(additional);
    }

    /// The latest time a tick reported.
    pub fn now(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }

    /// Timers waiting for their deadline.
    pub fn pending(&self) -> usize {
        self.inner.lock().live
    }

    /// Timers fired so far.
    pub fn fired(&self) -> u64 {
        self.inner.lock().fired
    }

    /// The earliest pending deadline (for a tickless timer later).
    pub fn next_deadline(&self) -> Option<u64> {
        let mut inner = self.inner.lock();
        while let Some(Reverse(top)) = inner.heap.peek().copied() {
            if inner.is_live(&top) {
                return Some(top.deadline);
            }
            inner.heap.pop();
        }
        None
    }

    /// Advances time to `now` (never backwards) and wakes every timer due by then, earliest
    /// deadline first. Returns how many fired. For the timer interrupt: allocates nothing and
    /// runs no waker under the lock.
    pub fn tick(&self, now: u64) -> usize {
        // The common case, lock-free: advance the clock; nothing is due yet. (SeqCst pairs
        // with the registration's: a timer registered concurrently on another CPU is seen
        // either here or by the next tick.)
        let now = self.now.fetch_max(now, Ordering::SeqCst).max(now);
        if now < self.next_due.load(Ordering::SeqCst) {
            return 0;
        }
        let mut total = 0;
        loop {
            let mut batch: [Option<Waker>; TICK_BATCH] = [const { None }; TICK_BATCH];
            let mut n = 0;
            {
                let mut inner = self.inner.lock();
                while n < TICK_BATCH {
                    let Some(Reverse(top)) = inner.heap.peek().copied() else {
                        break;
                    };
                    if top.deadline > now {
                        break;
                    }
                    inner.heap.pop();
                    if inner.is_live(&top) {
                        inner.live -= 1;
                        inner.fired += 1;
                        batch[n] = inner.free_slot(top.slot);
                        n += 1;
                    }
                }
                let next = inner.heap.peek().map_or(u64::MAX, |Reverse(e)| e.deadline);
                self.next_due.store(next, Ordering::SeqCst);
            }
            for waker in batch.iter_mut().take(n) {
                if let Some(w) = waker.take() {
                    w.wake();
                }
            }
            total += n;
            if n < TICK_BATCH {
                return total;
            }
        }
    }

    /// A future ready once a tick reports `deadline` or later.
    pub fn sleep_until(&self, deadline: u64) -> Sleep<'_> {
        Sleep {
            timers: self,
            deadline,
            slot: None,
        }
    }

    /// A future ready `duration` after the last tick's time (see the module notes).
    pub fn sleep(&self, duration: u64) -> Sleep<'_> {
        self.sleep_until(self.now().saturating_add(duration))
    }

    /// Ticks every `period` (at least 1), the first one `period` from the last tick's time.
    pub fn interval(&self, period: u64) -> Interval<'_> {
        let period = period.max(1);
        self.interval_at(self.now().saturating_add(period), period)
    }

    /// Ticks at `start`, then every `period` (at least 1).
    pub fn interval_at(&self, start: u64, period: u64) -> Interval<'_> {
        Interval {
            period: period.max(1),
            sleep: self.sleep_until(start),
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("now", &self.now())
            .field("pending", &self.pending())
            .finish()
    }
}

/// The future of [`Timers::sleep`] and [`Timers::sleep_until`]. Dropping it cancels the timer.
pub struct Sleep<'a> {
    timers: &'a Timers,
    deadline: u64,
    /// Slot and generation once registered.
    slot: Option<(u32, u32)>,
}

impl Sleep<'_> {
    /// When it becomes ready.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Moves the deadline (keeps the registration order of a fresh registration).
    pub fn reset(&mut self, deadline: u64) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((slot, generation)) = self.slot.take() {
            let waker = self.timers.inner.lock().cancel(slot, generation);
            drop(waker);
        }
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut inner = this.timers.inner.lock();
        // Checked under the lock: a tick either happened before (and its time is visible) or
        // comes after the registration below (and fires it).
        if this.timers.now.load(Ordering::Acquire) >= this.deadline {
            let old = this
                .slot
                .take()
                .and_then(|(slot, generation)| inner.cancel(slot, generation));
            drop(inner);
            drop(old);
            return Poll::Ready(());
        }
        match this.slot {
            Some((slot, generation))
                if inner
                    .slots
                    .get(slot as usize)
                    .is_some_and(|s| s.generation == generation) =>
            {
                let s = &mut inner.slots[slot as usize];
                match &mut s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    w => {
                        let old = w.replace(cx.waker().clone());
                        drop(inner);
                        drop(old);
                    }
                }
            }
            _ => {
                this.slot = Some(inner.register(this.deadline, cx.waker().clone()));
                this.timers
                    .next_due
                    .fetch_min(this.deadline, Ordering::SeqCst);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.slot.is_some())
            .finish()
    }
}

/// The stream of [`Timers::interval`]: yields each deadline as it passes. Deadlines missed
/// while nobody polled are skipped, not delivered in a burst.
pub struct Interval<'a> {
    period: u64,
    sleep: Sleep<'a>,
}

impl Interval<'_> {
    /// The period.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Ready at the next deadline; returns that deadline and schedules the following one.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<u64> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let passed = self.sleep.deadline;
        let now = self.sleep.timers.now();
        // The first deadline after `now` on the grid `passed + k * period`.
        let behind = now.saturating_sub(passed) / self.period;
        let next = passed.saturating_add(self.period.saturating_mul(behind.saturating_add(1)));
        self.sleep.reset(next);
        Poll::Ready(passed)
    }

    /// Waits for the next deadline.
    pub async fn tick(&mut self) -> u64 {
        core::future::poll_fn(|cx| self.poll_tick(cx)).await
    }
}

impl futures_util::Stream for Interval<'_> {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        self.poll_tick(cx).map(Some)
    }
}

impl fmt::Debug for Interval<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("next", &self.sleep.deadline)
            .finish()
    }
}

#[cfg(test)]
mod tests;
