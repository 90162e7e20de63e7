//! Kernel tests of the runtime on the real machine: the executor with the `Halt` idle and the
//! timer interrupt, sleeps against the TSC clock, and a key from IRQ 1 to a task.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::Halt;
use crate::task::executor::Executor;
use crate::time::{self, uptime_nanos};
use crate::{kassert, kassert_eq, ktest};

const MS: u64 = 1_000_000;

/// Runs `executor` until `done` or `limit_ns` passed; returns whether `done` was reached.
fn run_for(executor: &mut Executor, limit_ns: u64, done: impl Fn() -> bool) -> bool {
    let deadline = uptime_nanos() + limit_ns;
    // A timer at the limit wakes the idle loop even if the tasks never do.
    let _guard = executor.spawn_detached("guard", time::sleep(limit_ns));
    let mut reached = false;
    executor.run_until(&Halt, || {
        reached = done();
        reached || uptime_nanos() >= deadline
    });
    reached
}

ktest! {
    fn tasks_spawn_run_and_finish_on_the_halting_executor() -> TestResult {
        let mut executor = Executor::new(256);
        let spawner = executor.spawner();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let ran = ran.clone();
            let _ = executor.spawn_detached("count", async move {
                ran.fetch_add(1, Ordering::AcqRel);
            });
        }
        // A task that spawns another and returns the other's output through its join handle.
        let inner = spawner.clone();
        let outer = executor.spawn("outer", async move {
            let child = inner.spawn("child", async { 6 * 7 });
            match child {
                Ok(handle) => handle.await + 1,
                Err(_) => 0,
            }
        });
        kassert!(outer.is_ok(), "spawn failed");
        let Ok(outer) = outer else { return Ok(()) };
        let finished = run_for(&mut executor, 2_000 * MS, || {
            ran.load(Ordering::Acquire) == 100 && outer.is_finished()
        });
        kassert!(finished, "tasks did not finish: {} of 100 ran", ran.load(Ordering::Acquire));
        kassert_eq!(outer.try_take(), Some(43));
        let stats = executor.stats();
        // 100 counters, outer, child (and the guard timer task, still waiting).
        kassert!(stats.finished >= 102, "{stats:?}");
        kassert!(spawner.tasks().iter().all(|t| t.name != "count"), "finished tasks kept");
        Ok(())
    }
}

ktest! {
    fn sleeps_of_30_10_20_ms_wake_in_deadline_order_and_never_early() -> TestResult {
        let mut executor = Executor::new(16);
        let woke: Arc<spin::Mutex<Vec<(u64, u64)>>> = Arc::new(spin::Mutex::new(Vec::new()));
        let start = uptime_nanos();
        for ms in [30, 10, 20] {
            let woke = woke.clone();
            let _ = executor.spawn_detached("sleeper", async move {
                time::sleep(ms * MS).await;
                woke.lock().push((ms, uptime_nanos()));
            });
        }
        let done = run_for(&mut executor, 2_000 * MS, || woke.lock().len() == 3);
        let woke = woke.lock().clone();
        kassert!(done, "only {} of 3 sleeps woke: {woke:?}", woke.len());
        let order: Vec<u64> = woke.iter().map(|w| w.0).collect();
        kassert_eq!(order, [10, 20, 30]);
        for (ms, at) in woke {
            let elapsed = at - start;
            crate::println!("# sleep {ms} ms woke after {} us", elapsed / 1000);
            kassert!(elapsed >= ms * MS, "sleep {ms} ms woke early, after {elapsed} ns");
            // Generous under TCG, but a lost wake-up (a halt that missed the tick) shows.
            kassert!(elapsed < (ms + 500) * MS, "sleep {ms} ms woke after {elapsed} ns");
        }
        Ok(())
    }
}

ktest! {
    fn an_interval_ticks_at_its_period() -> TestResult {
        use futures_util::StreamExt;
        let mut executor = Executor::new(4);
        let ticks: Arc<spin::Mutex<Vec<u64>>> = Arc::new(spin::Mutex::new(Vec::new()));
        let log = ticks.clone();
        let start = uptime_nanos();
        let _ = executor.spawn_detached("interval", async move {
            let mut every = time::interval(5 * MS);
            for _ in 0..10 {
                every.next().await;
                log.lock().push(uptime_nanos() - start);
            }
        });
        let done = run_for(&mut executor, 2_000 * MS, || ticks.lock().len() == 10);
        let ticks = ticks.lock().clone();
        kassert!(done, "{} of 10 interval ticks", ticks.len());
        for (i, at) in ticks.iter().enumerate() {
            kassert!(*at >= (i as u64 + 1) * 5 * MS, "tick {i} early at {at} ns");
        }
        Ok(())
    }
}

ktest! {
    fn a_key_from_irq_1_wakes_the_reading_task() -> TestResult {
        use crate::drivers::keyboard::{KEYBOARD, Keys};
        use crate::input::Key;
        let mut executor = Executor::new(4);
        let got: Arc<spin::Mutex<Vec<Key>>> = Arc::new(spin::Mutex::new(Vec::new()));
        let log = got.clone();
        while KEYBOARD.try_pop().is_some() {}
        let _ = executor.spawn_detached("reader", async move {
            let mut keys = Keys::new(&KEYBOARD);
            for _ in 0..2 {
                let k = core::future::poll_fn(|cx| keys.poll_key(cx)).await;
                log.lock().push(k);
            }
        });
        // Let the reader register its waker, then the controller delivers 'k' (0x25 press,
        // 0xa5 release) and Enter (0x1c, 0x9c) through IRQ 1 as if typed.
        executor.run_ready();
        for byte in [0x25, 0xa5, 0x1c, 0x9c] {
            if let Err(e) = crate::arch::ps2::inject_scancode(byte) {
                kassert!(false, "the controller refused the injection: {e}");
            }
        }
        let done = run_for(&mut executor, 2_000 * MS, || got.lock().len() == 2);
        let got = got.lock().clone();
        kassert!(done, "keys seen: {got:?}");
        kassert_eq!(got, [Key::Char('k'), Key::Enter]);
        Ok(())
    }
}
