//! Stopping the kernel for good: the last words of a panic or a fatal CPU exception.
//!
//! A panic or fatal exception may interrupt code that holds a console lock (a fault inside the
//! console, a panic while printing). That code never runs again, so the last words may take
//! the lock over and write the report; this module is where that happens, and the one place
//! that releases a lock its holder still has.
//!
//! [`stop_for_panic`] and [`stop_for_fault`] disable interrupts, mark the CPU stopped and
//! call the last words with a [`Stopped`] proof; they never return. Soundness rests on three
//! facts, each enforced here rather than promised by callers:
//!
//! 1. Nothing interrupted resumes: the last words diverge (`-> !`) on this CPU with
//!    interrupts off, and this kernel runs on one CPU (SMP must stop the others first).
//! 2. The last words can reach no guard or reference taken before the stop: they are plain
//!    `fn` pointers (no captured environment), and their argument is the panic information or
//!    the fault's register snapshot, nothing else.
//! 3. They never take over a lock they took themselves: [`Stopped::lock`] releases a held
//!    lock only if it was taken before the stop (`IrqMutex` remembers), and it borrows the
//!    proof mutably, so two guards from it never coexist.
//!
//! Only the first stop gets the proof. A panic or fault inside the last words stops again and
//! runs the `nested` function instead, which may only use free locks (`try_lock`).

use core::marker::PhantomData;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use super::cpu;
use crate::exceptions::Snapshot;
use crate::sync::{IrqMutex, IrqMutexGuard};

static STOPPED: AtomicBool = AtomicBool::new(false);

/// Whether the kernel has stopped for good (a panic or fatal exception is being reported).
pub fn is_stopped() -> bool {
    STOPPED.load(Ordering::Relaxed)
}

/// Proof that this CPU has stopped for good and that its holder runs the last words. Only
/// this module makes one; it cannot leave the last words (not `Send`, borrowed).
#[derive(Debug)]
pub struct Stopped {
    _not_send: PhantomData<*mut ()>,
}

impl Stopped {
    /// Locks `lock`, taking it over when the code this CPU interrupted holds it. `None` when
    /// the last words themselves hold it (then nothing is released).
    pub fn lock<'a, T>(&'a mut self, lock: &'a IrqMutex<T>) -> Option<IrqMutexGuard<'a, T>> {
        if let Some(guard) = lock.try_lock() {
            return Some(guard);
        }
        if lock.held_since_stop() {
            return None;
        }
        // SAFETY: the lock was taken before the stop, so by facts 1 and 2 of the module
        // documentation its holder is code this CPU interrupted, which never runs again and
        // whose guard and references nothing after the stop can reach. Releasing it hands the
        // data to the last words alone (fact 3: one guard from `self` at a time).
        unsafe { lock.raw_for_stop().force_unlock() };
        lock.try_lock()
    }
}

/// Stops for good with `info`: runs `last_words` (the first time) or `nested` (a panic or
/// fault inside them). Never returns.
pub fn stop_for_panic(
    info: &PanicInfo<'_>,
    last_words: fn(&mut Stopped, &PanicInfo<'_>) -> !,
    nested: fn(&PanicInfo<'_>) -> !,
) -> ! {
    if !begin() {
        nested(info)
    }
    last_words(
        &mut Stopped {
            _not_send: PhantomData,
        },
        info,
    )
}

/// Stops for good with the fatal exception `snapshot`; as [`stop_for_panic`].
pub fn stop_for_fault(
    snapshot: &Snapshot,
    last_words: fn(&mut Stopped, &Snapshot) -> !,
    nested: fn(&Snapshot) -> !,
) -> ! {
    if !begin() {
        nested(snapshot)
    }
    last_words(
        &mut Stopped {
            _not_send: PhantomData,
        },
        snapshot,
    )
}

/// Disables interrupts and marks the CPU stopped; `true` for the first caller only.
fn begin() -> bool {
    cpu::disable_interrupts_save();
    !STOPPED.swap(true, Ordering::SeqCst)
}
