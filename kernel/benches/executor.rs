//! Executor benchmarks, side by side in one run: the kernel's executor
//! (`kernel::task::executor`) against a baseline written here that follows the seed's design
//! (tasks in a `BTreeMap` by id, an `ArrayQueue` of ids as the ready queue, one `Arc` waker per
//! task created on its first poll and cached in a second `BTreeMap`).
//!
//! Two workloads, each at 1024 tasks (the contract figure) and at 16 (a small kernel's count):
//!
//! - wake-to-poll: every task is parked (pending, its waker kept by the bench); one round wakes
//!   each once and runs the executor until its queue is empty. Reported per wake + poll.
//! - spawn-to-completion: spawn that many tasks that finish on their first poll, then run them.
//!   Reported per task. Ours spawns detached tasks for the comparison (the seed's design has
//!   no join handles); `_joinable` is the same with a join handle per task.
//!
//! Criterion reports first; then the bench measures the contract figures itself (interleaved
//! batches timed with `Instant`, best batch average) and prints:
//!
//! ```text
//! bench: executor_wake_to_poll_<executor>_<n>: <ns> ns
//! bench: executor_spawn_to_completion_<executor>_<n>: <ns> ns  (ours, ours_joinable, seed_design)
//! ratio: executor_wake_vs_seed_design: <seed time / ours>       (1024 tasks)
//! ratio: executor_spawn_vs_seed_design: <seed time / ours>      (1024 tasks)
//! ratio: executor_wake_vs_seed_design_16: ...                   (16 tasks)
//! ratio: executor_spawn_vs_seed_design_16: ...
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use criterion::Criterion;
use crossbeam_queue::ArrayQueue;
use kernel::task::executor::Executor;

/// The baseline: the seed's executor design, written out here.
mod seed {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub struct TaskId(u64);

    impl TaskId {
        fn new() -> Self {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }

    pub struct Task {
        id: TaskId,
        future: Pin<Box<dyn Future<Output = ()>>>,
    }

    impl Task {
        pub fn new(future: impl Future<Output = ()> + 'static) -> Self {
            Self {
                id: TaskId::new(),
                future: Box::pin(future),
            }
        }
    }

    struct TaskWaker {
        id: TaskId,
        queue: Arc<ArrayQueue<TaskId>>,
    }

    impl Wake for TaskWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.queue.push(self.id).expect("task queue full");
        }
    }

    pub struct Executor {
        tasks: BTreeMap<TaskId, Task>,
        queue: Arc<ArrayQueue<TaskId>>,
        wakers: BTreeMap<TaskId, Waker>,
    }

    impl Executor {
        pub fn new(capacity: usize) -> Self {
            Self {
                tasks: BTreeMap::new(),
                queue: Arc::new(ArrayQueue::new(capacity)),
                wakers: BTreeMap::new(),
            }
        }

        pub fn spawn(&mut self, task: Task) {
            let id = task.id;
            assert!(self.tasks.insert(id, task).is_none(), "duplicate task id");
            self.queue.push(id).expect("task queue full");
        }

        pub fn run_ready(&mut self) {
            let Self {
                tasks,
                queue,
                wakers,
            } = self;
            while let Some(id) = queue.pop() {
                let Some(task) = tasks.get_mut(&id) else {
                    continue;
                };
                let waker = wakers.entry(id).or_insert_with(|| {
                    Waker::from(Arc::new(TaskWaker {
                        id,
                        queue: queue.clone(),
                    }))
                });
                let mut cx = Context::from_waker(waker);
                if task.future.as_mut().poll(&mut cx).is_ready() {
                    tasks.remove(&id);
                    wakers.remove(&id);
                }
            }
        }
    }
}

/// A task that stays pending forever; its first poll hands its waker to the bench.
struct Parked {
    wakers: Option<Arc<Mutex<Vec<Waker>>>>,
}

impl Future for Parked {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(w) = self.wakers.take() {
            w.lock().unwrap().push(cx.waker().clone());
        }
        black_box(&self);
        Poll::Pending
    }
}

/// The parked-task sets of both executors, ready for wake rounds.
struct WakeSet {
    ours: Executor,
    ours_wakers: Vec<Waker>,
    seed: seed::Executor,
    seed_wakers: Vec<Waker>,
}

impl WakeSet {
    fn new(n: usize) -> Self {
        let mut ours = Executor::new(n);
        let reg = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..n {
            drop(
                ours.spawn(
                    "parked",
                    Parked {
                        wakers: Some(reg.clone()),
                    },
                )
                .expect("room for every task"),
            );
        }
        ours.run_ready();
        let ours_wakers = std::mem::take(&mut *reg.lock().unwrap());
        let mut seed = seed::Executor::new(n);
        for _ in 0..n {
            seed.spawn(seed::Task::new(Parked {
                wakers: Some(reg.clone()),
            }));
        }
        seed.run_ready();
        let seed_wakers = std::mem::take(&mut *reg.lock().unwrap());
        assert_eq!((ours_wakers.len(), seed_wakers.len()), (n, n));
        Self {
            ours,
            ours_wakers,
            seed,
            seed_wakers,
        }
    }

    fn round_ours(&mut self) {
        for w in &self.ours_wakers {
            w.wake_by_ref();
        }
        black_box(self.ours.run_ready());
    }

    fn round_seed(&mut self) {
        for w in &self.seed_wakers {
            w.wake_by_ref();
        }
        self.seed.run_ready();
    }
}

/// Detached spawns: what the seed's design offers (it has no join handles).
fn spawn_round_ours(ex: &mut Executor, n: usize) {
    for i in 0..n {
        black_box(
            ex.spawn_detached("short", async move {
                black_box(i);
            })
            .expect("room for every task"),
        );
    }
    black_box(ex.run_ready());
}

/// Spawns with a join handle each (dropped before the task runs).
fn spawn_round_ours_joinable(ex: &mut Executor, n: usize) {
    for i in 0..n {
        drop(
            ex.spawn("short", async move {
                black_box(i);
            })
            .expect("room for every task"),
        );
    }
    black_box(ex.run_ready());
}

fn spawn_round_seed(ex: &mut seed::Executor, n: usize) {
    for i in 0..n {
        ex.spawn(seed::Task::new(async move {
            black_box(i);
        }));
    }
    ex.run_ready();
}

/// Best average over `batches` timed batches of `rounds` rounds, in ns per `per_round` items.
fn best(batches: u32, rounds: u32, per_round: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..rounds {
            f();
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(rounds) / per_round as f64;
        best = best.min(ns);
    }
    best
}

struct Figures {
    wake_ours: f64,
    wake_seed: f64,
    spawn_ours: f64,
    spawn_joinable: f64,
    spawn_seed: f64,
}

fn measure(n: usize) -> Figures {
    let rounds = (200_000 / n).max(1) as u32;
    let mut set = WakeSet::new(n);
    let mut ours = Executor::new(n);
    let mut seed = seed::Executor::new(n);
    let mut f = Figures {
        wake_ours: f64::MAX,
        wake_seed: f64::MAX,
        spawn_ours: f64::MAX,
        spawn_joinable: f64::MAX,
        spawn_seed: f64::MAX,
    };
    // Interleaved, so both see the same machine state.
    for _ in 0..10 {
        f.wake_ours = f.wake_ours.min(best(3, rounds, n, || set.round_ours()));
        f.wake_seed = f.wake_seed.min(best(3, rounds, n, || set.round_seed()));
        f.spawn_ours = f.spawn_ours.min(best(3, rounds / 4 + 1, n, || {
            spawn_round_ours(&mut ours, n)
        }));
        f.spawn_joinable = f.spawn_joinable.min(best(3, rounds / 4 + 1, n, || {
            spawn_round_ours_joinable(&mut ours, n)
        }));
        f.spawn_seed = f.spawn_seed.min(best(3, rounds / 4 + 1, n, || {
            spawn_round_seed(&mut seed, n)
        }));
    }
    f
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test" || a == "--list");

    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let n = 1024;
    let mut set = WakeSet::new(n);
    criterion.bench_function("executor_wake_to_poll_ours_1024", |b| {
        b.iter(|| set.round_ours())
    });
    criterion.bench_function("executor_wake_to_poll_seed_design_1024", |b| {
        b.iter(|| set.round_seed())
    });
    let mut ours = Executor::new(n);
    criterion.bench_function("executor_spawn_to_completion_ours_1024", |b| {
        b.iter(|| spawn_round_ours(&mut ours, n))
    });
    let mut seed = seed::Executor::new(n);
    criterion.bench_function("executor_spawn_to_completion_seed_design_1024", |b| {
        b.iter(|| spawn_round_seed(&mut seed, n))
    });
    criterion.final_summary();
    if test_mode {
        return;
    }

    for n in [1024, 16] {
        let f = measure(n);
        println!(
            "bench: executor_wake_to_poll_ours_{n}: {:.1} ns",
            f.wake_ours
        );
        println!(
            "bench: executor_wake_to_poll_seed_design_{n}: {:.1} ns",
            f.wake_seed
        );
        println!(
            "bench: executor_spawn_to_completion_ours_{n}: {:.1} ns",
            f.spawn_ours
        );
        println!(
            "bench: executor_spawn_to_completion_ours_joinable_{n}: {:.1} ns",
            f.spawn_joinable
        );
        println!(
            "bench: executor_spawn_to_completion_seed_design_{n}: {:.1} ns",
            f.spawn_seed
        );
        let suffix = if n == 1024 {
            String::new()
        } else {
            format!("_{n}")
        };
        println!(
            "ratio: executor_wake_vs_seed_design{suffix}: {:.2}",
            f.wake_seed / f.wake_ours
        );
        println!(
            "ratio: executor_spawn_vs_seed_design{suffix}: {:.2}",
            f.spawn_seed / f.spawn_ours
        );
    }
}
