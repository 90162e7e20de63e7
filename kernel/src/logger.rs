//! The `log` backend: records go to every console with a timestamp and a coloured level, and
//! into the log ring that [`dmesg`] prints.
//!
//! Format: `[   0.012345] INFO  module: message` (the kernel's top-level module). Seconds come
//! from the TSC clock (zero until it is calibrated). The level is `info` unless the command line
//! says `log=<level>`.
//!
//! The ring ([`LogRing`], 64 KiB, no heap) keeps every record in that format without the colour
//! codes, from the first one on. Logging never waits for it: when its lock is busy (the record
//! comes from an interrupt that arrived while the ring was being written or read), the record is
//! counted as lost instead of kept. [`dmesg`] copies records out a few hundred bytes per lock
//! hold, so printing the whole ring never holds interrupts off for long.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::logring::LogRing;
use crate::sync::IrqMutex;

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;

/// Bytes of the log ring.
pub const LOG_RING_BYTES: usize = 65536;

/// Every log record, formatted, without colour codes.
static LOG_RING: IrqMutex<LogRing<LOG_RING_BYTES>> = IrqMutex::new(LogRing::new());
/// Records not kept because the ring's lock was busy.
static BUSY_DROPS: AtomicU64 = AtomicU64::new(0);

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
        let (secs, micros) = (nanos / 1_000_000_000, (nanos / 1_000) % 1_000_000);
        match LOG_RING.try_lock() {
            Some(mut ring) => ring.push_fmt(format_args!(
                "[{secs:4}.{micros:06}] {name} {target}: {}",
                record.args()
            )),
            None => {
                BUSY_DROPS.fetch_add(1, Ordering::Relaxed);
            }
        }
        crate::print!(
            "[{secs:4}.{micros:06}] {colour}{name}\x1b[0m {target}: {}\n",
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

/// Writes every record the log ring holds, oldest first, one line each ending in `"\r\n"`
/// (line breaks inside a message become `"\r\n"` too), then, if any record was lost, one line
/// saying how many were dropped (the ring was full, or busy) or cut short. Records logged while
/// it runs are not included.
///
/// # Errors
///
/// Whatever `out` returns.
pub fn dmesg(out: &mut dyn fmt::Write) -> fmt::Result {
    dump(&LOG_RING, BUSY_DROPS.load(Ordering::Relaxed), out)
}

/// Records the log ring holds and has dropped, cut short and lost to a busy lock so far:
/// `(held, first sequence number, dropped, truncated, busy)`.
pub fn ring_stats() -> (usize, u64, u64, u64, u64) {
    let ring = LOG_RING.lock();
    (
        ring.len(),
        ring.first_seq(),
        ring.dropped(),
        ring.truncated(),
        BUSY_DROPS.load(Ordering::Relaxed),
    )
}

/// Bytes copied out of the ring per lock hold.
const CHUNK: usize = 512;

/// [`dmesg`] over any ring; `busy` records were lost to a busy lock.
fn dump<const N: usize>(
    ring: &IrqMutex<LogRing<N>>,
    busy: u64,
    out: &mut dyn fmt::Write,
) -> fmt::Result {
    let mut buf = [0u8; CHUNK];
    let (mut seq, end) = {
        let r = ring.lock();
        (r.first_seq(), r.pushed())
    };
    // Bytes of record `seq` already copied.
    let mut offset = 0;
    loop {
        let n = {
            let r = ring.lock();
            let mut n = 0;
            if seq < r.first_seq() {
                // Overwritten while the previous chunk was being written out (counted as
                // dropped): end a partly written line and go on with the oldest record held.
                if offset > 0 {
                    buf[0] = b'\n';
                    n = 1;
                }
                (seq, offset) = (r.first_seq(), 0);
            }
            n + fill(&r, &mut seq, &mut offset, end, &mut buf[n..])
        };
        if n == 0 {
            break;
        }
        write_text(out, &buf[..n])?;
    }
    let (dropped, truncated) = {
        let r = ring.lock();
        (r.dropped(), r.truncated())
    };
    if dropped + busy + truncated > 0 {
        write!(
            out,
            "-- log: {dropped} older records dropped (ring full), {busy} lost (ring busy), \
             {truncated} cut short --\r\n"
        )?;
    }
    Ok(())
}

/// Copies records `seq..end` from byte `offset` of the first into `buf`, each followed by `\n`,
/// until `buf` is full; advances `seq`/`offset` and returns the bytes copied. A UTF-8 character
/// is never split between two calls.
fn fill<const N: usize>(
    ring: &LogRing<N>,
    seq: &mut u64,
    offset: &mut usize,
    end: u64,
    buf: &mut [u8],
) -> usize {
    let Some(skip) = seq
        .checked_sub(ring.first_seq())
        .and_then(|s| usize::try_from(s).ok())
    else {
        return 0;
    };
    let mut n = 0;
    for record in ring.iter().skip(skip) {
        if *seq >= end {
            break;
        }
        for b in record.bytes().skip(*offset) {
            let Some(slot) = buf.get_mut(n) else {
                let back = incomplete_tail(&buf[..n]).min(*offset);
                *offset -= back;
                return n - back;
            };
            *slot = b;
            n += 1;
            *offset += 1;
        }
        let Some(slot) = buf.get_mut(n) else {
            return n;
        };
        *slot = b'\n';
        n += 1;
        *seq += 1;
        *offset = 0;
    }
    n
}

/// Bytes at the end of `bytes` that begin a UTF-8 character without finishing it.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 != 0x80 {
            // The lead byte: how long its character is.
            let len = match b {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if len > back { back } else { 0 };
        }
    }
    0
}

/// Writes `bytes` as text: `\n` becomes `\r\n`, ill-formed UTF-8 becomes U+FFFD.
fn write_text(out: &mut dyn fmt::Write, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.utf8_chunks() {
        let mut lines = chunk.valid().split('\n');
        if let Some(first) = lines.next() {
            out.write_str(first)?;
        }
        for line in lines {
            out.write_str("\r\n")?;
            out.write_str(line)?;
        }
        if !chunk.invalid().is_empty() {
            out.write_char(char::REPLACEMENT_CHARACTER)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn dumped<const N: usize>(ring: &IrqMutex<LogRing<N>>, busy: u64) -> String {
        let mut s = String::new();
        dump(ring, busy, &mut s).unwrap();
        s
    }

    #[test]
    fn records_come_out_oldest_first_with_crlf() {
        let ring = IrqMutex::new(LogRing::<256>::new());
        assert_eq!(dumped(&ring, 0), "");
        ring.lock().push(b"[   0.000001] INFO  init: first");
        ring.lock().push(b"[   0.000002] WARN  memory: two\nlines");
        assert_eq!(
            dumped(&ring, 0),
            "[   0.000001] INFO  init: first\r\n[   0.000002] WARN  memory: two\r\nlines\r\n"
        );
    }

    #[test]
    fn losses_are_reported_on_a_last_line() {
        let ring = IrqMutex::new(LogRing::<32>::new());
        for i in 0..10 {
            ring.lock().push_fmt(format_args!("line {i}"));
        }
        ring.lock().push(&[b'x'; 40]);
        let text = dumped(&ring, 3);
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert_eq!(lines[0], "x".repeat(30));
        assert_eq!(
            lines[1],
            "-- log: 10 older records dropped (ring full), 3 lost (ring busy), 1 cut short --"
        );
    }

    #[test]
    fn long_records_cross_chunks_without_splitting_characters() {
        let ring = IrqMutex::new(LogRing::<4096>::new());
        // 'é' is two bytes: the first chunk boundary (512) falls inside one of them.
        let long: String = core::iter::once('a')
            .chain(core::iter::repeat_n('é', 900))
            .collect();
        ring.lock().push(long.as_bytes());
        ring.lock().push("tail €".as_bytes());
        let text = dumped(&ring, 0);
        assert!(!text.contains(char::REPLACEMENT_CHARACTER));
        assert_eq!(text, format!("{long}\r\ntail €\r\n"));
    }

    #[test]
    fn fill_stops_at_the_end_seen_at_the_start() {
        let mut ring = LogRing::<256>::new();
        ring.push(b"one");
        ring.push(b"two");
        let (mut seq, mut offset) = (0, 0);
        let mut buf = [0u8; 64];
        let n = fill(&ring, &mut seq, &mut offset, 1, &mut buf);
        assert_eq!(&buf[..n], b"one\n");
        assert_eq!(fill(&ring, &mut seq, &mut offset, 1, &mut buf), 0);
        // A buffer that ends right after the text: the line break comes next time.
        let (mut seq, mut offset) = (0, 0);
        let mut small = [0u8; 3];
        assert_eq!(fill(&ring, &mut seq, &mut offset, 2, &mut small), 3);
        assert_eq!(fill(&ring, &mut seq, &mut offset, 2, &mut small), 3);
        assert_eq!(&small, b"\ntw");
    }

    #[test]
    fn incomplete_utf8_tails() {
        assert_eq!(incomplete_tail(b"abc"), 0);
        assert_eq!(incomplete_tail("é".as_bytes()), 0);
        assert_eq!(incomplete_tail(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_tail(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_tail(&"😀".as_bytes()[..3]), 3);
    }
}

#[cfg(all(feature = "ktest", target_os = "none"))]
mod ktests {
    use super::*;
    use crate::{kassert, kassert_eq, ktest};
    use core::fmt::Write as _;

    /// Collects what a dmesg needs checking, line by line, without a heap.
    #[derive(Default)]
    struct Lines {
        line: heapless::String<256>,
        first: heapless::String<256>,
        count: usize,
        marker: Option<heapless::String<256>>,
        want: heapless::String<64>,
        bare_lf: bool,
    }

    impl fmt::Write for Lines {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if c == '\n' {
                    if !self.line.ends_with('\r') {
                        self.bare_lf = true;
                    }
                    let line = self.line.trim_end_matches('\r');
                    if self.count == 0 {
                        self.first = line.try_into().unwrap_or_default();
                    }
                    if line.ends_with(self.want.as_str()) {
                        self.marker = line.try_into().ok();
                    }
                    self.count += 1;
                    self.line.clear();
                } else {
                    let _ = self.line.push(c);
                }
            }
            Ok(())
        }
    }

    /// The seconds of a `[   s.micros]` prefix, in microseconds.
    fn stamp(line: &str) -> Option<u64> {
        let inner = line.strip_prefix('[')?.split(']').next()?;
        let (s, us) = inner.trim_start().split_once('.')?;
        Some(s.parse::<u64>().ok()? * 1_000_000 + us.parse::<u64>().ok()?)
    }

    ktest! {
        fn dmesg_holds_the_boot_log_and_new_records() -> TestResult {
            let tag = crate::arch::cpu::rdtsc();
            log::info!("dmesg marker {tag}");
            let mut lines = Lines::default();
            let _ = write!(lines.want, "INFO  logger: dmesg marker {tag}");
            kassert!(dmesg(&mut lines).is_ok());
            kassert!(!lines.bare_lf, "every line ends in CRLF");
            kassert!(lines.marker.is_some(), "no line ends with {:?}", lines.want.as_str());
            let (held, first_seq, dropped, _, busy) = ring_stats();
            // Nothing dropped: record 0, the boot's first log line, is the first one printed.
            kassert_eq!((first_seq, dropped, busy), (0, 0, 0));
            kassert!(lines.count >= held && held > 1, "{} lines for {held} records", lines.count);
            let first = LOG_RING.lock().get(0).map(|r| {
                let mut s: heapless::String<256> = heapless::String::new();
                let _ = write!(s, "{r}");
                s
            });
            let first_line = lines.first.as_str();
            kassert_eq!(first.as_deref(), Some(first_line));
            kassert!(first_line.starts_with("[   0."), "first line {first_line:?}");
            kassert!(!first_line.contains('\x1b'), "no colour codes: {first_line:?}");
            let marker_time = lines.marker.as_deref().and_then(stamp);
            kassert!(stamp(first_line).is_some() && stamp(first_line) <= marker_time);
            Ok(())
        }
    }
}
