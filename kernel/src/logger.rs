//! The `log` backend: records go to every console with a timestamp and a coloured level.
//!
//! Format: `[   0.012345] INFO  module: message` (the kernel's top-level module). Seconds come from the TSC clock (zero until it
//! is calibrated). The level is `info` unless the command line says `log=<level>`.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;

/// ANSI colour and padded name of a level.
pub const fn level_style(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::Error => ("\x1b[1;31m", "ERROR"),
        Level::Warn => ("\x1b[1;33m", "WARN "),
        Level::Info => ("\x1b[32m", "INFO "),
        Level::Debug => ("\x1b[36m", "DEBUG"),
        Level::Trace => ("\x1b[90m", "TRACE"),
    }
}

impl Log for KernelLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let nanos = crate::time::nanos_since_entry();
        let (colour, name) = level_style(record.level());
        // The kernel's top-level module is enough context (`interrupts`, not
        // `kernel::interrupts::controller`).
        let target = record
            .target()
            .strip_prefix("kernel::")
            .unwrap_or(record.target());
        let target = target.split("::").next().unwrap_or(target);
        crate::print!(
            "[{:4}.{:06}] {colour}{name}\x1b[0m {target}: {}\n",
            nanos / 1_000_000_000,
            (nanos / 1_000) % 1_000_000,
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Installs the logger at `level`. Calling it again only changes the level.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
