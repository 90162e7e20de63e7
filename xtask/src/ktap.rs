//! Parser for the kernel's KTAP output (see `kernel/src/testing`).
//!
//! Lines other than KTAP (boot log, diagnostics of other tools) are ignored; `# ` lines after a
//! result are attached to it. The parser is strict about what the harness relies on: a version
//! line, a plan, results numbered 1..=N in order.

/// One test result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLine {
    /// 1-based number.
    pub number: usize,
    /// Test name.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// `# ` diagnostics that followed it.
    pub diagnostics: Vec<String>,
}

/// What a serial log says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Whether `KTAP version 1` appeared.
    pub has_header: bool,
    /// The plan `1..N`, if seen.
    pub plan: Option<usize>,
    /// Results in order of appearance.
    pub results: Vec<TestLine>,
    /// Tests the kernel says need their own boot (`ktest-standalone: <name>`), each with the
    /// text its boot must print (`ktest-expect: <name> <text>`).
    pub standalone: Vec<(String, Vec<String>)>,
    /// Problems with the report itself (numbering, duplicates).
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the plan is present and every planned result arrived.
    pub fn complete(&self) -> bool {
        self.has_header && self.plan == Some(self.results.len()) && self.problems.is_empty()
    }

    /// Number of failing results.
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.ok).count()
    }
}

/// Removes ANSI escape sequences and carriage returns.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte in 0x40..=0x7e.
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses the serial output of one boot.
pub fn parse(log: &str) -> Report {
    let clean = strip_ansi(log);
    let mut report = Report::default();
    for line in clean.lines() {
        let line = line.trim_end();
        if let Some(name) = line.strip_prefix("ktest-standalone: ") {
            report
                .standalone
                .push((name.trim().to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("ktest-expect: ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((_, expect)) = report.standalone.iter_mut().find(|(n, _)| n == name) {
                expect.push(text.to_string());
            }
        } else if line == "KTAP version 1" {
            report.has_header = true;
        } else if let Some(n) = line.strip_prefix("1..") {
            if report.has_header && report.plan.is_none() {
                report.plan = n.trim().parse().ok();
            }
        } else if let Some(rest) = line.strip_prefix("ok ") {
            push_result(&mut report, rest, true);
        } else if let Some(rest) = line.strip_prefix("not ok ") {
            push_result(&mut report, rest, false);
        } else if let Some(diag) = line.strip_prefix("# ")
            && let Some(last) = report.results.last_mut()
        {
            last.diagnostics.push(diag.to_string());
        }
    }
    report
}

fn push_result(report: &mut Report, rest: &str, ok: bool) {
    if !report.has_header {
        return;
    }
    let (num, name) = rest.split_once(' ').unwrap_or((rest, ""));
    let Ok(number) = num.parse::<usize>() else {
        report
            .problems
            .push(format!("malformed result line: {rest:?}"));
        return;
    };
    let expected = report.results.len() + 1;
    if number != expected {
        report.problems.push(format!(
            "result {number} out of order (expected {expected})"
        ));
    }
    report.results.push(TestLine {
        number,
        name: name.to_string(),
        ok,
        diagnostics: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_report() {
        let log = "boot: ready in 5 ms\r\nktest-standalone: a::panics\r\nktest-expect: a::panics !!! kernel panic\nKTAP version 1\n1..2\nok 1 a::one\nnot ok 2 a::two\n# left 1, right 2\n";
        let r = parse(log);
        assert!(r.complete());
        assert_eq!(
            r.standalone,
            vec![(
                "a::panics".to_string(),
                vec!["!!! kernel panic".to_string()]
            )]
        );
        assert_eq!((r.results.len(), r.failed()), (2, 1));
        assert_eq!(r.results[1].diagnostics, vec!["left 1, right 2"]);
    }

    #[test]
    fn incomplete_and_misnumbered_reports() {
        let r = parse("KTAP version 1\n1..3\nok 1 x\n");
        assert!(!r.complete());
        let r = parse("KTAP version 1\n1..2\nok 1 x\nok 3 y\n");
        assert!(!r.complete());
        assert_eq!(r.problems.len(), 1);
        // Results before the header are not KTAP.
        let r = parse("ok 1 early\nKTAP version 1\n1..0\n");
        assert!(r.complete());
        assert!(r.results.is_empty());
        assert!(!parse("nothing here").complete());
    }

    #[test]
    fn strips_colours() {
        assert_eq!(strip_ansi("\x1b[1;31mERROR\x1b[0m x\r"), "ERROR x");
        assert_eq!(strip_ansi("a\x1b[2Jb"), "ab");
    }
}
