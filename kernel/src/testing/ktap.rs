//! KTAP output (the kernel's test report format): version line, plan, one result per test.
//!
//! ```text
//! KTAP version 1
//! 1..3
//! ok 1 kernel::boot::ktests::hhdm_offset
//! not ok 2 kernel::boot::ktests::memory_map
//! # memory map entry 4 is out of order at kernel/src/boot/ktests.rs:20
//! ok 3 kernel::serial::ktests::loopback
//! ```

use core::fmt::{self, Write};

/// Writes KTAP lines to any [`fmt::Write`].
#[derive(Debug)]
pub struct Reporter<W: Write> {
    out: W,
    next: usize,
    failed: usize,
}

impl<W: Write> Reporter<W> {
    /// Starts a report with `planned` tests (prints the header and plan).
    pub fn new(mut out: W, planned: usize) -> Self {
        let _ = write!(out, "KTAP version 1\n1..{planned}\n");
        Self {
            out,
            next: 1,
            failed: 0,
        }
    }

    /// Number of the next test.
    pub fn next_number(&self) -> usize {
        self.next
    }

    /// Number of failures reported so far.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Reports a result; `diagnostic` lines are prefixed with `# `.
    pub fn result(&mut self, name: &str, ok: bool, diagnostic: Option<fmt::Arguments<'_>>) {
        let prefix = if ok { "ok" } else { "not ok" };
        let _ = writeln!(self.out, "{prefix} {} {name}", self.next);
        if let Some(args) = diagnostic {
            let _ = writeln!(self.out, "# {args}");
        }
        if !ok {
            self.failed += 1;
        }
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_format() {
        let mut out = String::new();
        let mut r = Reporter::new(&mut out, 2);
        r.result("a", true, None);
        r.result("b", false, Some(format_args!("boom {}", 1)));
        assert_eq!(r.failed(), 1);
        assert_eq!(r.next_number(), 3);
        assert_eq!(out, "KTAP version 1\n1..2\nok 1 a\nnot ok 2 b\n# boom 1\n");
    }
}
