//! The RAM and CPU boot matrix of `make test` (see docs/architecture.md, Test layers): every RAM
//! size on both machine types with both CPU models, each boot checked for `boot: ready` and
//! for the kernel's memory line,
//!
//! ```text
//! memory: <managed> KiB managed, <free> KiB free; map usable+reclaimable <expected> KiB; reclaimed <r> KiB
//! ```
//!
//! whose managed figure (the frames the allocator holds after reclaim) must be within
//! [`TOLERANCE_PERCENT`] of what the memory map calls usable plus bootloader-reclaimable.

/// RAM sizes (`-m`): below the 4 GiB hole, the default, up to the hole, and well above it.
pub const RAM_SIZES: [&str; 4] = ["64M", "512M", "4G", "16G"];
/// Machine types: Q35 (PCIe, the default) and the i440FX `pc`.
pub const MACHINES: [&str; 2] = ["q35", "pc"];
/// CPU models: `qemu64` (no 1 GiB pages, no SMEP/SMAP/UMIP, no PCID) and `max` (everything
/// TCG emulates).
pub const CPUS: [&str; 2] = ["qemu64", "max"];

/// How far the managed memory may be from usable plus reclaimable, in percent of the latter.
pub const TOLERANCE_PERCENT: u64 = 5;

/// One machine configuration of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// `-machine` type.
    pub machine: &'static str,
    /// `-m` size.
    pub mem: &'static str,
    /// `-cpu` model.
    pub cpu: &'static str,
}

impl Point {
    /// `matrix-<machine>-<mem>-<cpu>`, the boot's name (and its `TESTS=` handle).
    pub fn name(&self) -> String {
        format!("matrix-{}-{}-{}", self.machine, self.mem, self.cpu)
    }
}

/// Every point: the full product of [`RAM_SIZES`], [`MACHINES`] and [`CPUS`].
pub fn points() -> Vec<Point> {
    let mut out = Vec::new();
    for mem in RAM_SIZES {
        for machine in MACHINES {
            for cpu in CPUS {
                out.push(Point { machine, mem, cpu });
            }
        }
    }
    out
}

/// The figures of the kernel's memory line, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLine {
    /// Memory the frame allocator manages after reclaim.
    pub managed: u64,
    /// Of that, free.
    pub free: u64,
    /// Usable plus bootloader-reclaimable memory by the loader's memory map.
    pub expected: u64,
    /// Bootloader-reclaimable memory handed to the allocator.
    pub reclaimed: u64,
}

/// Reads `<n> KiB` at the start of `text`; returns `n` and the rest after ` KiB`.
fn kib(text: &str) -> Option<(u64, &str)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = text[..digits].parse().ok()?;
    Some((n, text[digits..].strip_prefix(" KiB")?))
}

/// Parses one line's `memory: ...` part (see the module documentation); anything before
/// `memory: ` (timestamp, level, module) and after the last figure is ignored.
fn parse_line(line: &str) -> Option<MemoryLine> {
    let (_, rest) = line.split_once("memory: ")?;
    let (managed, rest) = kib(rest)?;
    let (free, rest) = kib(rest.strip_prefix(" managed, ")?)?;
    let (expected, rest) = kib(rest.strip_prefix(" free; map usable+reclaimable ")?)?;
    let (reclaimed, _) = kib(rest.strip_prefix("; reclaimed ")?)?;
    Some(MemoryLine {
        managed,
        free,
        expected,
        reclaimed,
    })
}

/// The last memory line in a boot log, if any.
pub fn parse_memory_line(log: &str) -> Option<MemoryLine> {
    log.lines().rev().find_map(parse_line)
}

/// Checks the memory line of a boot log: present, consistent (free within managed), and the
/// managed memory within [`TOLERANCE_PERCENT`] of usable plus reclaimable.
///
/// # Errors
/// What is wrong, for the test report.
pub fn check_memory(log: &str) -> Result<MemoryLine, String> {
    let m = parse_memory_line(log).ok_or_else(|| {
        "no `memory: <n> KiB managed, <n> KiB free; map usable+reclaimable <n> KiB; \
         reclaimed <n> KiB` line"
            .to_string()
    })?;
    if m.expected == 0 {
        return Err(format!("the memory map shows no usable memory: {m:?}"));
    }
    if m.free > m.managed {
        return Err(format!(
            "{} KiB free of {} KiB managed: more free than managed",
            m.free, m.managed
        ));
    }
    let diff = m.managed.abs_diff(m.expected);
    if diff.saturating_mul(100) > m.expected.saturating_mul(TOLERANCE_PERCENT) {
        return Err(format!(
            "{} KiB managed, but the map says {} KiB usable+reclaimable: off by {} KiB, more \
             than {TOLERANCE_PERCENT}%",
            m.managed, m.expected, diff
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "[   0.051234] \x1b[32mINFO \x1b[0m init: memory: 480123 KiB managed, \
                        470000 KiB free; map usable+reclaimable 481000 KiB; reclaimed 1234 KiB";

    #[test]
    fn sixteen_points_each_size_machine_and_cpu() {
        let all = points();
        assert_eq!(all.len(), 16);
        let mut names: Vec<String> = all.iter().map(Point::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 16);
        assert!(names.contains(&"matrix-pc-16G-qemu64".to_string()));
        assert!(names.contains(&"matrix-q35-64M-max".to_string()));
    }

    #[test]
    fn parses_the_memory_line() {
        let log = format!("boot log\n{LINE}\nboot: ready in 40 ms\n");
        assert_eq!(
            parse_memory_line(&log),
            Some(MemoryLine {
                managed: 480123,
                free: 470000,
                expected: 481000,
                reclaimed: 1234,
            })
        );
        // The last line counts; other `memory:` lines are not it.
        let log = format!(
            "init: memory: 507 MiB RAM, 458 MiB usable, 29 map entries\n{LINE}\n{}",
            LINE.replace("480123", "1")
        );
        assert_eq!(parse_memory_line(&log).map(|m| m.managed), Some(1));
        for bad in [
            "init: memory: 507 MiB RAM, 458 MiB usable, 29 map entries",
            "memory: 10 KiB managed, 5 KiB free",
            "memory: x KiB managed, 5 KiB free; map usable+reclaimable 10 KiB; reclaimed 0 KiB",
            "memory: 10 KiB managed, 5 KiB free; map usable 10 KiB; reclaimed 0 KiB",
            "memory: 10 KiB managed, 5 KiB free; map usable+reclaimable 10 KiB; reclaimed",
            "memory: 99999999999999999999999 KiB managed, 5 KiB free; map usable+reclaimable \
             10 KiB; reclaimed 0 KiB",
            "",
        ] {
            assert_eq!(parse_memory_line(bad), None, "{bad:?}");
        }
    }

    fn line(managed: u64, free: u64, expected: u64) -> String {
        format!(
            "memory: {managed} KiB managed, {free} KiB free; map usable+reclaimable {expected} \
             KiB; reclaimed 0 KiB"
        )
    }

    #[test]
    fn managed_within_five_percent() {
        assert!(check_memory(LINE).is_ok());
        assert!(check_memory(&line(95_000, 0, 100_000)).is_ok());
        assert!(check_memory(&line(105_000, 0, 100_000)).is_ok());
        let low = check_memory(&line(94_999, 0, 100_000)).unwrap_err();
        assert!(low.contains("off by 5001 KiB"), "{low}");
        assert!(check_memory(&line(105_001, 0, 100_000)).is_err());
        assert!(check_memory(&line(0, 0, 100_000)).is_err());
        assert!(
            check_memory(&line(10, 11, 10))
                .unwrap_err()
                .contains("more free")
        );
        assert!(
            check_memory(&line(0, 0, 0))
                .unwrap_err()
                .contains("no usable")
        );
        // Strict: a boot without the line fails.
        let missing = check_memory("boot: ready in 40 ms\n").unwrap_err();
        assert!(missing.starts_with("no `memory: "), "{missing}");
    }
}
