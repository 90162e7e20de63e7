//! The running kernel after boot: the executor on the boot CPU, the interrupt-fed input
//! streams, the timers, the presenter task and the shell task (see docs/architecture.md,
//! "Async and the shell").
//!
//! ```text
//!   IRQ 1  ──scancode──> drivers::keyboard::KEYBOARD ─┐  (ByteSource: queue + AtomicWaker)
//!   IRQ 4  ──byte─────> serial::SERIAL_IN ───────────┼──> shell task ──> print! (screen, COM1)
//!   timer  ──tick(now)─> time::TIMERS ──wake─> sleeps, intervals ──> presenter task (60 Hz)
//! ```
//!
//! Interrupt handlers only queue and wake; every task runs on the executor of [`run`], which
//! sleeps the CPU through [`Halt`] when no task is ready.

pub mod host;
pub mod shell;

use crate::arch::cpu;
use crate::task::executor::{Executor, Idle, Spawner};

/// Live tasks the boot CPU's executor has room for.
pub const TASK_CAPACITY: usize = 1024;

/// Frames per second the presenter draws at most.
pub const FRAME_HZ: u64 = 60;

/// Cursor blink half-period.
pub const BLINK_NS: u64 = 500_000_000;

/// The CPU's idle: `cli`; check the run queue again; `sti; hlt` as one step (the instruction
/// after `sti` runs before any interrupt is taken, so a wake between the check and the halt
/// ends the halt instead of waiting for the next interrupt).
#[derive(Debug, Clone, Copy, Default)]
pub struct Halt;

impl Idle for Halt {
    fn sleep_unless(&self, has_work: &dyn Fn() -> bool) {
        let was = cpu::disable_interrupts_save();
        if has_work() {
            cpu::restore_interrupts(was);
        } else {
            cpu::wait_for_interrupt();
        }
    }
}

static SPAWNER: spin::Once<Spawner> = spin::Once::new();

/// The boot CPU's spawner, once [`run`] started the executor.
pub fn spawner() -> Option<&'static Spawner> {
    SPAWNER.get()
}

/// Draws the console at the frame rate: pending output, the cursor blink and the uptime in
/// the title bar. The only place the screen is drawn from once the executor runs (the timer
/// interrupt only wakes this task).
pub async fn presenter() {
    use futures_util::StreamExt;
    let mut frames = crate::time::interval(1_000_000_000 / FRAME_HZ);
    let mut shown_second = u64::MAX;
    let mut blink_phase = u64::MAX;
    crate::console::screen::set_deferred(true);
    loop {
        let now = crate::time::uptime_nanos();
        let second = now / 1_000_000_000;
        if second != shown_second {
            shown_second = second;
            crate::console::screen::show_uptime(second);
        }
        let phase = now / BLINK_NS;
        if phase != blink_phase {
            blink_phase = phase;
            crate::console::screen::blink(phase.is_multiple_of(2));
        }
        crate::console::screen::present_pending();
        frames.next().await;
    }
}

/// Starts the executor on the boot CPU with the presenter and the shell; never returns.
pub fn run() -> ! {
    let mut executor = Executor::new(TASK_CAPACITY);
    let spawner = SPAWNER.call_once(|| executor.spawner()).clone();
    // Registration of the first few hundred timers allocates nothing later.
    crate::time::TIMERS.reserve(256);
    if let Err(e) = executor.spawn_detached("presenter", presenter()) {
        log::error!("cannot start the presenter: {e}");
    }
    if let Err(e) = executor.spawn_detached("shell", shell::run(spawner)) {
        log::error!("cannot start the shell: {e}");
    }
    executor.run(&Halt)
}

#[cfg(feature = "ktest")]
mod ktests;

/// Cycles from injecting a key press at the PS/2 controller to the reading task's poll
/// returning the key, through IRQ 1, the `ByteSource` wake, the halted CPU waking and the
/// executor: (median, 99th percentile) over `runs` presses, or `None` when the controller
/// ignores the injection. Test kernels only (the injection is a test hook).
#[cfg(feature = "ktest")]
pub fn bench_key_to_task(runs: usize) -> Option<(u64, u64)> {
    use crate::drivers::keyboard::{KEYBOARD, Keys};
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    let runs = runs.clamp(1, 1000);
    let seen: Arc<spin::Mutex<Vec<u64>>> = Arc::new(spin::Mutex::new(Vec::with_capacity(runs)));
    let mut executor = Executor::new(4);
    while KEYBOARD.try_pop().is_some() {}
    let log = seen.clone();
    executor
        .spawn_detached("key reader", async move {
            let mut keys = Keys::new(&KEYBOARD);
            loop {
                core::future::poll_fn(|cx| keys.poll_key(cx)).await;
                log.lock().push(cpu::rdtsc());
            }
        })
        .ok()?;
    executor.run_ready();
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let start = cpu::rdtsc();
        // 'k' pressed: one key; its release (below) decodes to nothing.
        crate::arch::ps2::inject_scancode(0x25).ok()?;
        let limit = crate::time::uptime_nanos() + 1_000_000_000;
        executor.run_until(&Halt, || {
            seen.lock().len() > i || crate::time::uptime_nanos() > limit
        });
        let at = *seen.lock().get(i)?;
        samples.push(at.wrapping_sub(start));
        crate::arch::ps2::inject_scancode(0xa5).ok()?;
    }
    samples.sort_unstable();
    let p99 = samples[(samples.len() * 99 / 100).min(samples.len() - 1)];
    Some((samples[samples.len() / 2], p99))
}
