use super::*;
use crate::task::executor::Executor;
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use std::sync::Mutex;

/// A waker that appends its id to a shared log when woken.
struct Recorder {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn recorder(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Waker {
    Waker::from(Arc::new(Recorder {
        id,
        log: log.clone(),
    }))
}

fn poll_with(s: &mut Sleep<'_>, w: &Waker) -> Poll<()> {
    Pin::new(s).poll(&mut Context::from_waker(w))
}

#[test]
fn sleeps_wake_in_deadline_order_and_never_early() {
    let t = Timers::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut sleeps: Vec<Sleep<'_>> = [30, 10, 20].iter().map(|&d| t.sleep(d)).collect();
    for (i, s) in sleeps.iter_mut().enumerate() {
        assert!(poll_with(s, &recorder(i, &log)).is_pending());
    }
    assert_eq!(t.pending(), 3);
    assert_eq!(t.next_deadline(), Some(10));
    assert_eq!(t.tick(9), 0);
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(t.tick(10), 1);
    assert_eq!(*log.lock().unwrap(), [1]);
    assert!(poll_with(&mut sleeps[1], &recorder(9, &log)).is_ready());
    assert!(poll_with(&mut sleeps[2], &recorder(2, &log)).is_pending());
    assert_eq!(t.tick(100), 2);
    assert_eq!(*log.lock().unwrap(), [1, 2, 0]);
    assert!(
        sleeps
            .iter_mut()
            .all(|s| poll_with(s, &recorder(9, &log)).is_ready())
    );
    assert_eq!(t.pending(), 0);
    assert_eq!(t.fired(), 3);
}

#[test]
fn equal_deadlines_fire_in_registration_order() {
    let t = Timers::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut sleeps: Vec<_> = (0..40).map(|_| t.sleep_until(5)).collect();
    for (i, s) in sleeps.iter_mut().enumerate() {
        let _ = poll_with(s, &recorder(i, &log));
    }
    // More than one batch.
    assert_eq!(t.tick(5), 40);
    assert_eq!(*log.lock().unwrap(), (0..40).collect::<Vec<_>>());
}

#[test]
fn time_never_goes_back() {
    let t = Timers::new();
    t.tick(100);
    t.tick(50);
    assert_eq!(t.now(), 100);
    let mut s = t.sleep_until(80);
    assert!(poll_with(&mut s, &recorder(0, &Arc::default())).is_ready());
}

#[test]
fn dropped_sleeps_are_cancelled_and_the_heap_stays_small() {
    let t = Timers::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut keep = t.sleep_until(1_000_000);
    let _ = poll_with(&mut keep, &recorder(7, &log));
    for i in 0..100_000u64 {
        let mut s = t.sleep_until(10 + i);
        let _ = poll_with(&mut s, &recorder(0, &log));
    }
    assert_eq!(t.pending(), 1);
    assert!(t.inner.lock().heap.len() < 200);
    assert!(t.inner.lock().slots.len() <= 2);
    t.tick(2_000_000);
    assert_eq!(*log.lock().unwrap(), [7]);
}

#[test]
fn a_repoll_with_another_waker_replaces_it() {
    let t = Timers::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut s = t.sleep(10);
    let _ = poll_with(&mut s, &recorder(1, &log));
    let _ = poll_with(&mut s, &recorder(2, &log));
    assert_eq!(t.pending(), 1);
    t.tick(10);
    assert_eq!(*log.lock().unwrap(), [2]);
}

#[test]
fn ten_thousand_pending_timers_fire_sorted() {
    let t = Timers::new();
    t.reserve(10_000);
    let log = Arc::new(Mutex::new(Vec::new()));
    // A scrambled but deterministic set of deadlines, with duplicates.
    let deadlines: Vec<u64> = (0..10_000u64).map(|i| (i * 7919) % 5_003 + 1).collect();
    let mut sleeps: Vec<_> = deadlines.iter().map(|&d| t.sleep_until(d)).collect();
    for (i, s) in sleeps.iter_mut().enumerate() {
        let _ = poll_with(s, &recorder(i, &log));
    }
    assert_eq!(t.pending(), 10_000);
    let mut now = 0;
    while t.pending() > 0 {
        now += 97;
        t.tick(now);
    }
    let order = log.lock().unwrap().clone();
    assert_eq!(order.len(), 10_000);
    let mut expected: Vec<usize> = (0..10_000).collect();
    expected.sort_by_key(|&i| (deadlines[i], i));
    assert_eq!(order, expected);
}

#[test]
fn interval_ticks_on_its_grid_and_skips_missed_periods() {
    let t = Timers::new();
    let mut iv = t.interval(10);
    let w = recorder(0, &Arc::default());
    let mut cx = Context::from_waker(&w);
    assert!(iv.poll_tick(&mut cx).is_pending());
    t.tick(10);
    assert_eq!(iv.poll_tick(&mut cx), Poll::Ready(10));
    assert!(iv.poll_tick(&mut cx).is_pending());
    t.tick(19);
    assert!(iv.poll_tick(&mut cx).is_pending());
    t.tick(20);
    assert_eq!(iv.poll_tick(&mut cx), Poll::Ready(20));
    // Asleep through 30, 40 and 50: one tick, then back on the grid at 60.
    t.tick(55);
    assert_eq!(iv.poll_tick(&mut cx), Poll::Ready(30));
    assert!(iv.poll_tick(&mut cx).is_pending());
    t.tick(60);
    assert_eq!(iv.poll_tick(&mut cx), Poll::Ready(60));
    // The next deadline registers when the stream is polled again.
    assert_eq!(t.pending(), 0);
    assert!(iv.poll_tick(&mut cx).is_pending());
    assert_eq!(t.pending(), 1);
}

#[test]
fn tasks_sleeping_30_10_20_finish_in_deadline_order() {
    let timers: &'static Timers = Box::leak(Box::new(Timers::new()));
    let mut ex = Executor::new(8);
    let done = Arc::new(Mutex::new(Vec::new()));
    for ms in [30u64, 10, 20] {
        let done = done.clone();
        ex.spawn("sleeper", async move {
            timers.sleep(ms * 1_000_000).await;
            done.lock().unwrap().push((ms, timers.now()));
        })
        .unwrap();
    }
    let mut now = 0;
    while done.lock().unwrap().len() < 3 {
        ex.run_ready();
        now += 1_000_000;
        timers.tick(now);
    }
    let done = done.lock().unwrap();
    assert_eq!(done.iter().map(|d| d.0).collect::<Vec<_>>(), [10, 20, 30]);
    assert!(
        done.iter().all(|&(ms, at)| at >= ms * 1_000_000),
        "not early: {done:?}"
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fire_order_is_deadline_then_registration(
            deadlines in proptest::collection::vec(0u64..1_000, 1..300),
            cancel in proptest::collection::vec(any::<bool>(), 300),
            steps in proptest::collection::vec(1u64..200, 1..20),
        ) {
            let t = Timers::new();
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut sleeps: Vec<Option<Sleep<'_>>> =
                deadlines.iter().map(|&d| Some(t.sleep_until(d + 1))).collect();
            for (i, s) in sleeps.iter_mut().enumerate() {
                let _ = poll_with(s.as_mut().unwrap(), &recorder(i, &log));
            }
            for (i, s) in sleeps.iter_mut().enumerate() {
                if cancel[i] {
                    *s = None;
                }
            }
            let mut now = 0;
            let mut fired_by: Vec<(usize, u64)> = Vec::new();
            for step in steps.iter().chain(core::iter::once(&2_000)) {
                now += step;
                let before = log.lock().unwrap().len();
                t.tick(now);
                let log = log.lock().unwrap();
                fired_by.extend(log[before..].iter().map(|&i| (i, now)));
            }
            let mut expected: Vec<usize> =
                (0..deadlines.len()).filter(|&i| !cancel[i]).collect();
            expected.sort_by_key(|&i| (deadlines[i], i));
            prop_assert_eq!(fired_by.iter().map(|f| f.0).collect::<Vec<_>>(), expected);
            for (i, at) in fired_by {
                prop_assert!(at > deadlines[i], "never early");
            }
            prop_assert_eq!(t.pending(), 0);
        }
    }
}

#[test]
fn the_lock_free_path_skips_nothing_due_and_misses_no_later_registration() {
    let t = Timers::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    // Ticks with nothing pending: the clock advances all the same.
    for now in 1..=50 {
        assert_eq!(t.tick(now), 0);
    }
    assert_eq!(t.now(), 50);
    let mut late = t.sleep(5);
    assert_eq!(late.deadline(), 55);
    assert!(poll_with(&mut late, &recorder(1, &log)).is_pending());
    // An earlier registration lowers the bound below the pending one.
    let mut early = t.sleep_until(52);
    assert!(poll_with(&mut early, &recorder(2, &log)).is_pending());
    assert_eq!(t.tick(51), 0);
    assert_eq!(t.tick(52), 1);
    assert_eq!(*log.lock().unwrap(), [2]);
    // The bound moved up to the next deadline: 53 and 54 fire nothing, 55 fires the other.
    assert_eq!(t.tick(54), 0);
    assert_eq!(t.tick(55), 1);
    assert_eq!(*log.lock().unwrap(), [2, 1]);
    // A cancelled early timer leaves a stale bound: the tick looks, fires nothing, and the
    // timer behind it still fires on time.
    let mut cancelled = t.sleep_until(60);
    assert!(poll_with(&mut cancelled, &recorder(3, &log)).is_pending());
    let mut kept = t.sleep_until(70);
    assert!(poll_with(&mut kept, &recorder(4, &log)).is_pending());
    drop(cancelled);
    assert_eq!(t.tick(65), 0);
    assert_eq!(t.tick(69), 0);
    assert_eq!(t.tick(70), 1);
    assert_eq!(*log.lock().unwrap(), [2, 1, 4]);
    assert_eq!(t.pending(), 0);
}
