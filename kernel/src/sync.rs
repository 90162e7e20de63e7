//! Locks that carry their interrupt policy.
//!
//! [`IrqMutex`] disables interrupts on the local CPU for as long as it is held, so an interrupt
//! handler that takes the same lock can never spin forever on a lock its own CPU holds. The
//! policy lives in the type, not in every caller's memory.

use core::fmt;
use core::ops::{Deref, DerefMut};

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

#[cfg(test)]
mod tests {
    use super::*;

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
