//! Cooperative tasks: the executor, its wakers and run queue, and timers.
//!
//! - [`executor`]: spawns `'static` futures as named tasks, polls them when their wakers fire
//!   and sleeps the CPU through an injected [`executor::Idle`] when nothing is ready. A wake
//!   pushes the task's key into a fixed-capacity lock-free queue and allocates nothing.
//! - [`timer`]: a deadline heap behind `sleep`, `sleep_until` and `interval`, driven by one
//!   `tick(now)` call per timer interrupt.
//! - [`stream`]: bytes from an interrupt handler to a task (fixed queue plus `AtomicWaker`),
//!   and the serial key stream decoded from them.
//!
//! Both are pure (time is an injected number of nanoseconds, sleeping is a trait), so host
//! tests exercise them; they need `alloc` (tasks live on the heap).

pub mod executor;
pub mod stream;
pub mod timer;
