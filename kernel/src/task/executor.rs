//! The executor: named tasks, wakers that push task keys into a lock-free run queue, and an
//! idle path that cannot lose a wake-up.
//!
//! Key types: [`Executor`] (one per CPU; owns the futures and polls them), [`Spawner`] (a
//! cloneable handle for spawning and listing from anywhere, including inside a task),
//! [`JoinHandle`] (a future for a task's output), [`RunQueue`] (the per-CPU ready queue, the only
//! thing a waker touches) and [`Idle`] (how the CPU sleeps; the kernel halts, tests model it).
//!
//! ```text
//!   waker.wake() ──fetch_or(queued)──was clear──> RunQueue: push the slot's key
//!                          │was set: already queued, or no task there     │ pop
//!                                                                           v
//!   spawn ──> directory slot (lock) ──> Executor::local[slot]: poll the future with its waker
//! ```
//!
//! - A task is its boxed future (only the executor holds it) and, if it can be joined, an
//!   `Arc` output cell shared with its [`JoinHandle`]. Its [`Waker`] belongs to its slot of
//!   the task table (`alloc::task::Wake` over a small `Arc`: the slot number and a reference
//!   to the executor's core), made on the slot's first poll and reused by every later task in
//!   that slot: spawning allocates the future's box and nothing else, polling builds nothing.
//! - The per-slot state (one word: the slot's generation and the task's `queued` bit; the
//!   task's state and poll count) lives in a fixed table beside the run queue. Waking
//!   allocates nothing and takes no lock: one atomic OR setting `queued` and, if it was
//!   clear, a push of the key (slot and generation) into the [`RunQueue`]. A task is therefore
//!   in the queue at most once, so a queue as large as the task table never overflows.
//! - A waker kept after its task finished wakes whatever task the slot holds later: at most a
//!   spurious poll, which every future must tolerate anyway (a future may be polled without
//!   having been woken); a free or finished slot keeps `queued` set, so such a wake queues
//!   nothing.
//! - The executor clears `queued` just before polling, so a wake during the poll queues the
//!   task again. A finishing task moves its slot to the next generation with `queued` set
//!   (no wake counts until a new task arrives); if its key was still queued, the slot stays a
//!   zombie until that key comes out, so a reused slot is never in the queue twice.
//! - Finished tasks are dropped at once (the future, its captures and its waker); the output
//!   waits in its cell for the join handle.
//! - Spawning takes the directory lock (task context only: it allocates). The directory also
//!   answers task listings, so a task can list tasks while the executor is polling it.
//! - Per CPU: an [`Executor`], its [`RunQueue`] and slot table belong to one CPU. A waker
//!   pushes into its task's own queue, lock-free, from any CPU or interrupt handler;
//!   cross-CPU wakes later only add a "kick that CPU" call after the push.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;

/// A task's identity: unique for the executor's lifetime, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    /// The number (tasks are numbered from 1 in spawn order).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a task is doing, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Woken (or new) and waiting in the run queue.
    Ready,
    /// Being polled right now.
    Running,
    /// Waiting for a wake-up.
    Waiting,
    /// Done; its output waits for the join handle.
    Finished,
}

impl TaskState {
    /// Lower-case name for listings.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Finished => "finished",
        }
    }
}

const STATE_RUNNING: u8 = 1;
const STATE_WAITING: u8 = 2;
const STATE_FINISHED: u8 = 3;

/// One line of a task listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The name given at spawn.
    pub name: &'static str,
    /// Its state at the time of the listing.
    pub state: TaskState,
    /// How often it has been polled.
    pub polls: u64,
}

/// Executor-wide counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecutorStats {
    /// Tasks alive (spawned, not finished).
    pub live: usize,
    /// The most tasks that can be alive at once.
    pub capacity: usize,
    /// Tasks spawned so far.
    pub spawned: u64,
    /// Tasks finished so far.
    pub finished: u64,
}

/// Why a task could not be spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// Every slot of the task table is taken.
    Full {
        /// The table's size.
        capacity: usize,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity } => write!(f, "the task table is full ({capacity} tasks)"),
        }
    }
}

impl core::error::Error for SpawnError {}

/// A run-queue entry: slot in the low half, the slot's generation in the high half.
const fn make_key(slot: u32, generation: u32) -> u64 {
    ((generation as u64) << 32) | slot as u64
}

const fn key_slot(key: u64) -> usize {
    (key & 0xFFFF_FFFF) as usize
}

/// One CPU's ready queue: keys of woken tasks, at most one entry per task.
///
/// A fixed ring of atomic words, written by any number of wakers (interrupt handlers, other
/// CPUs) and read by the one executor that owns it. Nothing in it locks or allocates:
///
/// - push: reserve a position with one `fetch_add` on `tail`, then store the key into that
///   cell. The cell is free: a task is queued at most once and the ring has a cell per task,
///   so fewer than `capacity` keys are ever queued or in flight (the producer confirms it
///   against `head`, acquiring the consumer's clearing of the cell).
/// - pop (the owner only): read the cell at `head`; [`EMPTY`] means nothing there yet (or a
///   push between its reservation and its store); otherwise clear the cell and advance `head`.
/// - empty: `head == tail`, so a reserved but not yet written key already counts as work and
///   the executor does not halt over it.
pub struct RunQueue {
    /// A power of two at least as large as the task table (positions count up forever and
    /// wrap consistently; a mask, not a division, finds the cell).
    cells: Box<[AtomicU64]>,
    mask: usize,
    head: AtomicUsize,
    tail: AtomicUsize,
    cpu: u32,
    /// Pushes that found no room (zero unless the one-entry-per-task invariant broke).
    overflows: AtomicU64,
}

/// An unused cell of the [`RunQueue`].
const EMPTY: u64 = u64::MAX;

impl RunQueue {
    fn new(capacity: usize, cpu: u32) -> Self {
        let size = capacity.max(1).next_power_of_two();
        Self {
            cells: (0..size).map(|_| AtomicU64::new(EMPTY)).collect(),
            mask: size - 1,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            cpu,
            overflows: AtomicU64::new(0),
        }
    }

    fn push(&self, key: u64) {
        let cap = self.cells.len();
        // Checked before reserving, so a broken invariant drops the key (counted) instead of
        // overwriting a queued one.
        // (`tail` is read before `head`, so a pop in between can only make the queue look
        // emptier than it is, never falsely full.)
        let tail = self.tail.load(Ordering::Acquire);
        if tail.wrapping_sub(self.head.load(Ordering::Acquire)) >= cap {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let at = self.tail.fetch_add(1, Ordering::AcqRel);
        // The cell `at` reuses was cleared before `head` moved past its previous occupant;
        // acquiring such a `head` orders our store after that clear. Fewer than `capacity`
        // keys are queued, so the first load already shows it (the loop never spins unless
        // the invariant broke).
        while at.wrapping_sub(self.head.load(Ordering::Acquire)) >= cap {
            core::hint::spin_loop();
        }
        self.cells[at & self.mask].store(key, Ordering::Release);
    }

    /// The owner's side.
    fn pop(&self) -> Option<u64> {
        let head = self.head.load(Ordering::Relaxed);
        let cell = &self.cells[head & self.mask];
        let key = cell.load(Ordering::Acquire);
        if key == EMPTY {
            return None;
        }
        cell.store(EMPTY, Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Some(key)
    }

    /// Whether no task is waiting to be polled (a push in progress counts as waiting).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tasks waiting to be polled.
    pub fn len(&self) -> usize {
        self.tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head.load(Ordering::Acquire))
    }

    /// The CPU this queue belongs to.
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// Pushes that found the queue full (zero unless an invariant broke).
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for RunQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunQueue")
            .field("cpu", &self.cpu)
            .field("len", &self.len())
            .field("overflows", &self.overflows())
            .finish()
    }
}

/// Per-slot task state, lock-free: what wakers, the executor and listings share.
///
/// `word` holds the slot's generation (bits 1..33) and the task's `queued` bit (bit 0). The
/// generation goes into the run-queue key, so the executor can tell a zombie slot's last key
/// from its next task's; a free or finished slot keeps `queued` set, so waking it queues
/// nothing.
struct SlotState {
    word: AtomicU64,
    state: AtomicU8,
    /// Written by the executor only.
    polls: AtomicU64,
}

const QUEUED: u64 = 1;

const fn word(generation: u32, queued: bool) -> u64 {
    ((generation as u64) << 1) | queued as u64
}

const fn key_generation(key: u64) -> u32 {
    (key >> 32) as u32
}

/// What wakers reach: the run queue and the slot states. Never freed (see [`Executor::for_cpu`]).
struct Core {
    queue: RunQueue,
    slots: Box<[SlotState]>,
}

impl Core {
    /// The whole wake path: one atomic OR, then a push. No allocation, no lock.
    ///
    /// The OR is a write even when the bit was already set, so the executor's clearing swap
    /// (which reads the latest value) synchronises with every waker that came before it, not
    /// only the one that pushed: what a waker wrote before waking is visible to the poll.
    fn schedule(&self, slot: usize) {
        let Some(s) = self.slots.get(slot) else {
            return;
        };
        let previous = s.word.fetch_or(QUEUED, Ordering::AcqRel);
        // Set already: queued, or a free or finished slot (which keep the bit set).
        if previous & QUEUED == 0 {
            self.queue
                .push(make_key(slot as u32, (previous >> 1) as u32));
        }
    }

    fn info(&self, slot: usize, id: TaskId, name: &'static str) -> TaskInfo {
        let s = &self.slots[slot];
        let state = match s.state.load(Ordering::Acquire) {
            STATE_FINISHED => TaskState::Finished,
            STATE_RUNNING => TaskState::Running,
            _ if s.word.load(Ordering::Acquire) & QUEUED != 0 => TaskState::Ready,
            _ => TaskState::Waiting,
        };
        TaskInfo {
            id,
            name,
            state,
            polls: s.polls.load(Ordering::Relaxed),
        }
    }
}

/// The waker of whatever task lives in one slot: made once per slot and reused by every task
/// that slot holds, so spawning allocates no waker.
struct SlotWaker {
    core: &'static Core,
    slot: usize,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.core.schedule(self.slot);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.core.schedule(self.slot);
    }
}

/// Where a task's output goes when a [`JoinHandle`] waits for it.
struct Output<T> {
    value: spin::Mutex<Option<T>>,
    done: AtomicBool,
    /// The join handle is gone: the output is dropped at once.
    detached: AtomicBool,
    join: AtomicWaker,
}

impl<T> Output<T> {
    fn finish(&self, value: T) {
        if self.detached.load(Ordering::Acquire) {
            self.done.store(true, Ordering::Release);
            drop(value);
            return;
        }
        *self.value.lock() = Some(value);
        self.done.store(true, Ordering::Release);
        self.join.wake();
    }
}

pin_project_lite::pin_project! {
    /// A spawned future and, if someone may join it, where its output goes.
    struct TaskFuture<F: Future> {
        output: Option<Arc<Output<F::Output>>>,
        #[pin]
        future: F,
    }
}

/// A task as the executor polls it: the future, type-erased.
trait Runnable: Send {
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

impl<F> Runnable for TaskFuture<F>
where
    F: Future + Send,
    F::Output: Send,
{
    fn poll_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(value) => {
                match this.output {
                    Some(out) => out.finish(value),
                    None => drop(value),
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What the executor needs to poll a task (its waker is the slot's).
struct Entry {
    task: Pin<Box<dyn Runnable>>,
    key: u64,
}

/// A slot of the executor's own table (no lock: only the executor touches it).
enum Local {
    Empty,
    Live(Entry),
    /// Finished while its key was still queued; freed when that key comes out.
    Zombie,
}

/// A slot of the shared directory: who lives there, for listings and hand-over.
struct DirSlot {
    /// Id and name of the task in this slot.
    task: Option<(TaskId, &'static str)>,
    /// A task spawned from elsewhere, not yet taken over by the executor.
    pending: Option<Entry>,
}

struct Directory {
    slots: Vec<DirSlot>,
    free: Vec<u32>,
    next_id: u64,
    spawned: u64,
    finished: u64,
}

/// What a spawn made: the id, the join handle (if joinable), the entry (if direct).
type Spawned<T> = (TaskId, Option<JoinHandle<T>>, Option<Entry>);

struct Shared {
    dir: spin::Mutex<Directory>,
    core: &'static Core,
    capacity: usize,
}

impl Shared {
    /// Creates the task in a free slot. `direct`: the caller is the executor itself and takes
    /// the entry (and queues the key); otherwise the entry waits in the directory and the key
    /// is queued here.
    fn spawn_inner<F>(
        &self,
        name: &'static str,
        future: F,
        joinable: bool,
        direct: bool,
    ) -> Result<Spawned<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut dir = self.dir.lock();
        let Some(slot) = dir.free.pop() else {
            return Err(SpawnError::Full {
                capacity: self.capacity,
            });
        };
        let state = &self.core.slots[slot as usize];
        // A free slot's word is (generation, queued): queued stays set until the first poll,
        // so wakes before it are absorbed by the key pushed below.
        let generation = (state.word.load(Ordering::Acquire) >> 1) as u32;
        let key = make_key(slot, generation);
        state.state.store(0, Ordering::Relaxed);
        state.polls.store(0, Ordering::Relaxed);
        let id = TaskId(dir.next_id);
        dir.next_id += 1;
        dir.spawned += 1;
        let output = joinable.then(|| {
            Arc::new(Output {
                value: spin::Mutex::new(None),
                done: AtomicBool::new(false),
                detached: AtomicBool::new(false),
                join: AtomicWaker::new(),
            })
        });
        let handle = output.as_ref().map(|o| JoinHandle {
            id,
            output: o.clone(),
        });
        let entry = Entry {
            task: Box::pin(TaskFuture { output, future }),
            key,
        };
        let d = &mut dir.slots[slot as usize];
        d.task = Some((id, name));
        let entry = if direct {
            Some(entry)
        } else {
            d.pending = Some(entry);
            None
        };
        drop(dir);
        if !direct {
            self.core.queue.push(key);
        }
        Ok((id, handle, entry))
    }

    /// Frees a slot whose task finished and whose key is not queued.
    fn release(&self, slot: usize) {
        let mut dir = self.dir.lock();
        dir.slots[slot].task = None;
        dir.free.push(slot as u32);
        dir.finished += 1;
    }

    fn adopt(&self, key: u64) -> Option<Entry> {
        let mut dir = self.dir.lock();
        let slot = dir.slots.get_mut(key_slot(key))?;
        if slot.pending.as_ref()?.key != key {
            return None;
        }
        slot.pending.take()
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        let dir = self.dir.lock();
        let mut list: Vec<TaskInfo> = dir
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.task.map(|(id, name)| self.core.info(i, id, name)))
            .collect();
        drop(dir);
        list.sort_unstable_by_key(|t| t.id);
        list
    }

    fn stats(&self) -> ExecutorStats {
        let dir = self.dir.lock();
        let (spawned, finished) = (dir.spawned, dir.finished);
        drop(dir);
        ExecutorStats {
            live: spawned.saturating_sub(finished) as usize,
            capacity: self.capacity,
            spawned,
            finished,
        }
    }
}

/// How the CPU waits for an interrupt when no task is ready.
///
/// The executor calls [`Idle::sleep_unless`] after it found its run queue empty. An interrupt
/// may wake a task between that check and the sleep, so the implementation must (1) mask
/// interrupts, (2) call `has_work` again, (3) return at once if it says `true`, and otherwise
/// (4) unmask and halt as one step, so an interrupt that became pending after step 1 ends the
/// halt instead of waiting for the next one. On x86-64: `cli`; check; `sti; hlt` (the
/// instruction after `sti` runs before any interrupt is taken).
pub trait Idle {
    /// Sleeps until the next interrupt unless `has_work` returns `true` with interrupts masked.
    fn sleep_unless(&self, has_work: &dyn Fn() -> bool);
}

/// A cloneable handle to an executor: spawns tasks (also from inside a task) and lists them.
#[derive(Clone)]
pub struct Spawner {
    shared: Arc<Shared>,
}

impl Spawner {
    /// Spawns `future` as a task called `name`; it is polled the next time the executor runs.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Full`] when the task table has no free slot.
    pub fn spawn<F>(
        &self,
        name: &'static str,
        future: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (_, handle, _) = self.shared.spawn_inner(name, future, true, false)?;
        Ok(handle.expect("a joinable spawn makes a handle"))
    }

    /// Spawns a task nobody joins (its output is dropped): one allocation fewer.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Full`] when the task table has no free slot.
    pub fn spawn_detached<F>(&self, name: &'static str, future: F) -> Result<TaskId, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, _, _) = self.shared.spawn_inner(name, future, false, false)?;
        Ok(id)
    }

    /// Every task alive or finished-but-not-freed, by id.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.shared.tasks()
    }

    /// Counters.
    pub fn stats(&self) -> ExecutorStats {
        self.shared.stats()
    }
}

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A future for a task's output.
///
/// Dropping it detaches the task (it still runs to completion; its output is then dropped).
/// Once the output has been returned, polling again stays pending.
pub struct JoinHandle<T> {
    id: TaskId,
    output: Arc<Output<T>>,
}

impl<T> JoinHandle<T> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Whether the task has produced its output.
    pub fn is_finished(&self) -> bool {
        self.output.done.load(Ordering::Acquire)
    }

    /// Takes the output if the task has finished (once).
    pub fn try_take(&self) -> Option<T> {
        self.output.value.lock().take()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(value) = self.try_take() {
            return Poll::Ready(value);
        }
        self.output.join.register(cx.waker());
        // The task may have finished between the first look and the registration.
        match self.try_take() {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.output.detached.store(true, Ordering::Release);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// One CPU's executor: the futures, and the loop that polls them.
pub struct Executor {
    shared: Arc<Shared>,
    local: Vec<Local>,
    /// Each slot's waker, made on the slot's first poll.
    wakers: Vec<Option<Waker>>,
}

impl Executor {
    /// An executor for CPU 0 with room for `capacity` live tasks.
    pub fn new(capacity: usize) -> Self {
        Self::for_cpu(capacity, 0)
    }

    /// An executor for CPU `cpu` with room for `capacity` live tasks (at least one).
    ///
    /// Its run queue and slot states are never freed: wakers may outlive the executor, and
    /// each CPU's executor lives as long as the kernel (host tests leak a few bytes per task
    /// slot for each executor they make).
    pub fn for_cpu(capacity: usize, cpu: u32) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        let slots = (0..capacity)
            .map(|_| DirSlot {
                task: None,
                pending: None,
            })
            .collect();
        // Popped from the end: slot 0 first.
        let free = (0..capacity as u32).rev().collect();
        let core: &'static Core = Box::leak(Box::new(Core {
            queue: RunQueue::new(capacity, cpu),
            slots: (0..capacity)
                .map(|_| SlotState {
                    // Generation 0, queued: no wake counts until a task is spawned here.
                    word: AtomicU64::new(word(0, true)),
                    state: AtomicU8::new(0),
                    polls: AtomicU64::new(0),
                })
                .collect(),
        }));
        let shared = Arc::new(Shared {
            dir: spin::Mutex::new(Directory {
                slots,
                free,
                next_id: 1,
                spawned: 0,
                finished: 0,
            }),
            core,
            capacity,
        });
        let local = (0..capacity).map(|_| Local::Empty).collect();
        let wakers = (0..capacity).map(|_| None).collect();
        Self {
            shared,
            local,
            wakers,
        }
    }

    /// A handle for spawning and listing.
    pub fn spawner(&self) -> Spawner {
        Spawner {
            shared: self.shared.clone(),
        }
    }

    /// Spawns `future` as a task called `name` (see [`Spawner::spawn`]); the executor takes
    /// it over at once, without the hand-over a spawn from elsewhere needs.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Full`] when the task table has no free slot.
    pub fn spawn<F>(
        &mut self,
        name: &'static str,
        future: F,
    ) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (_, handle, entry) = self.shared.spawn_inner(name, future, true, true)?;
        self.take_over(entry);
        Ok(handle.expect("a joinable spawn makes a handle"))
    }

    /// Spawns a task nobody joins (see [`Spawner::spawn_detached`]).
    ///
    /// # Errors
    ///
    /// [`SpawnError::Full`] when the task table has no free slot.
    pub fn spawn_detached<F>(&mut self, name: &'static str, future: F) -> Result<TaskId, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, _, entry) = self.shared.spawn_inner(name, future, false, true)?;
        self.take_over(entry);
        Ok(id)
    }

    fn take_over(&mut self, entry: Option<Entry>) {
        if let Some(entry) = entry {
            let key = entry.key;
            self.local[key_slot(key)] = Local::Live(entry);
            self.shared.core.queue.push(key);
        }
    }

    /// This CPU's run queue.
    pub fn run_queue(&self) -> &RunQueue {
        &self.shared.core.queue
    }

    /// Counters.
    pub fn stats(&self) -> ExecutorStats {
        self.shared.stats()
    }

    /// Polls woken tasks until the run queue is empty; returns how many polls that took.
    pub fn run_ready(&mut self) -> usize {
        let mut polls = 0;
        while let Some(key) = self.shared.core.queue.pop() {
            polls += usize::from(self.poll_key(key));
        }
        polls
    }

    /// Runs tasks, sleeping through `idle` when none is ready, until `done` returns `true`
    /// (checked each time the run queue has been emptied).
    pub fn run_until(&mut self, idle: &impl Idle, mut done: impl FnMut() -> bool) {
        loop {
            self.run_ready();
            if done() {
                return;
            }
            let queue = &self.shared.core.queue;
            idle.sleep_unless(&|| !queue.is_empty());
        }
    }

    /// Runs tasks forever (the kernel's last call on each CPU).
    pub fn run(&mut self, idle: &impl Idle) -> ! {
        loop {
            self.run_ready();
            let queue = &self.shared.core.queue;
            idle.sleep_unless(&|| !queue.is_empty());
        }
    }

    /// Polls the task behind one run-queue key; returns whether a poll happened.
    fn poll_key(&mut self, key: u64) -> bool {
        let slot = key_slot(key);
        let Some(local) = self.local.get_mut(slot) else {
            return false;
        };
        if let Local::Empty = local {
            match self.shared.adopt(key) {
                Some(entry) => *local = Local::Live(entry),
                None => return false,
            }
        }
        let entry = match local {
            Local::Live(entry) if entry.key == key => entry,
            Local::Zombie => {
                *local = Local::Empty;
                self.shared.release(slot);
                return false;
            }
            _ => return false,
        };
        let core = self.shared.core;
        let state = &core.slots[slot];
        let generation = key_generation(key);
        // Cleared before the poll (acquiring what the waker published), so a wake during the
        // poll queues the task again.
        state.word.swap(word(generation, false), Ordering::AcqRel);
        state.state.store(STATE_RUNNING, Ordering::Release);
        state
            .polls
            .store(state.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let waker = self.wakers[slot]
            .get_or_insert_with(|| Waker::from(Arc::new(SlotWaker { core, slot })));
        let mut cx = Context::from_waker(waker);
        if entry.task.as_mut().poll_task(&mut cx).is_pending() {
            state.state.store(STATE_WAITING, Ordering::Release);
            return true;
        }
        state.state.store(STATE_FINISHED, Ordering::Release);
        // Next generation, queued: this task's wakers now fail their comparison, and nothing
        // is queued for the slot until a new task is spawned into it.
        let previous = state
            .word
            .swap(word(generation.wrapping_add(1), true), Ordering::AcqRel);
        let still_queued = previous & QUEUED != 0;
        let Local::Live(entry) = core::mem::replace(
            local,
            if still_queued {
                Local::Zombie
            } else {
                Local::Empty
            },
        ) else {
            unreachable!("the slot held the task just polled");
        };
        // The future and its captures go first (their destructors may spawn: no lock held).
        drop(entry);
        if !still_queued {
            self.shared.release(slot);
        }
        true
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("queue", &self.shared.core.queue)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Returns `Pending` once (after waking itself), then `Ready`: lets other ready tasks run.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests;
