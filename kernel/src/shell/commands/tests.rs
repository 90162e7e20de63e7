use super::*;
use proptest::prelude::*;
use std::string::{String, ToString};
use std::vec::Vec;

/// Records what the commands asked for.
#[derive(Default)]
struct FakeHost {
    calls: Vec<String>,
    colors: Option<(Color, Option<Color>)>,
    uptime: u64,
    boot: Option<u64>,
    mem: Option<MemStats>,
    heap: Option<HeapStats>,
}

impl ShellHost for FakeHost {
    fn set_colors(&mut self, fg: Color, bg: Option<Color>) {
        self.colors = Some((fg, bg));
    }
    fn uptime_nanos(&self) -> u64 {
        self.uptime
    }
    fn boot_unix_seconds(&self) -> Option<u64> {
        self.boot
    }
    fn dmesg(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("[    0.000000] INFO  boot: first line\r\n")
    }
    fn mem_stats(&self) -> Option<MemStats> {
        self.mem
    }
    fn heap_stats(&self) -> Option<HeapStats> {
        self.heap
    }
    fn translate(&mut self, addr: u64, out: &mut dyn Write) -> fmt::Result {
        self.calls.push(format!("translate {addr:#x}"));
        write!(out, "{addr:#x}: not mapped\r\n")
    }
    fn tasks(&self, f: &mut dyn FnMut(TaskLine<'_>)) {
        f(TaskLine {
            id: 1,
            name: "shell",
            state: "running",
            polls: 12,
        });
        f(TaskLine {
            id: 2,
            name: "keyboard",
            state: "waiting",
            polls: 3,
        });
    }
    fn cpu(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("cpu: fake\r\n")
    }
    fn acpi(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("acpi: FACP APIC\r\n")
    }
    fn bench(&mut self, kind: BenchKind, out: &mut dyn Write) -> fmt::Result {
        self.calls.push(format!("bench {kind:?}"));
        out.write_str("bench: done\r\n")
    }
    fn reboot(&mut self) {
        self.calls.push("reboot".into());
    }
    fn shutdown(&mut self) {
        self.calls.push("shutdown".into());
    }
    fn fault(&mut self, kind: FaultKind) {
        self.calls.push(format!("fault {kind:?}"));
    }
}

fn exec(host: &mut FakeHost, line: &str) -> (String, Outcome) {
    let mut out = String::new();
    let outcome = execute(line, host, &mut out).unwrap();
    (out, outcome)
}

fn output(line: &str) -> String {
    exec(&mut FakeHost::default(), line).0
}

fn err(line: &str) -> String {
    parse(line).unwrap_err().to_string()
}

#[test]
fn help_lists_every_command_one_line_each() {
    let out = output("help");
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), COMMANDS.len());
    for (line, c) in lines.iter().zip(COMMANDS) {
        assert!(line.starts_with(c.name), "{line}");
        assert!(line.ends_with(c.summary), "{line}");
    }
    for name in [
        "help", "echo", "clear", "color", "uptime", "date", "dmesg", "mem", "heap", "vm", "tasks",
        "cpu", "acpi", "sleep", "bench", "reboot", "shutdown", "fault",
    ] {
        assert!(NAMES.contains(&name), "{name}");
    }
    assert_eq!(NAMES.len(), COMMANDS.len());
}

#[test]
fn echo_prints_its_text() {
    assert_eq!(output("echo hi"), "hi\r\n");
    assert_eq!(output("  echo   hello   world  "), "hello   world\r\n");
    assert_eq!(output("echo"), "\r\n");
    assert_eq!(output("echo\thi"), "hi\r\n");
    assert_eq!(parse("echo alive"), Ok(Some(Command::Echo("alive"))));
}

#[test]
fn blank_lines_do_nothing() {
    assert_eq!(parse(""), Ok(None));
    assert_eq!(parse("   \t "), Ok(None));
    assert_eq!(output(""), "");
}

#[test]
fn unknown_commands_get_one_line() {
    assert_eq!(
        output("frobnicate now"),
        "unknown command 'frobnicate' (type help for a list)\r\n"
    );
    // Case matters; garbage is clipped and control characters escaped.
    assert!(err("HELP").starts_with("unknown command 'HELP'"));
    let long = "x".repeat(500);
    let e = err(&long);
    assert!(e.len() < 80, "{e}");
    assert!(e.contains("..."));
    let e = err("\u{1b}[2J");
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn argument_errors_name_the_usage() {
    assert_eq!(err("sleep"), "sleep: missing argument (usage: sleep <ms>)");
    assert_eq!(
        err("sleep soon"),
        "sleep: 'soon' is not a number (usage: sleep <ms>)"
    );
    assert_eq!(
        err("sleep 60001"),
        "sleep: '60001' is out of range (usage: sleep <ms>)"
    );
    assert_eq!(
        err("sleep 99999999999999999999999"),
        "sleep: '99999999999999999999999' is not a number (usage: sleep <ms>)"
    );
    assert_eq!(
        err("help me"),
        "help: unexpected argument 'me' (usage: help )"
    );
    assert_eq!(
        err("color"),
        "color: missing argument (usage: color <fg> [bg])"
    );
    assert_eq!(
        err("color mauve"),
        "color: 'mauve' is not a colour (usage: color <fg> [bg])"
    );
    assert_eq!(
        err("color white yellow"),
        "color: background 'yellow' must be 0-7 (usage: color <fg> [bg])"
    );
    assert_eq!(
        err("color 1 2 3"),
        "color: unexpected argument '3' (usage: color <fg> [bg])"
    );
    assert_eq!(
        err("bench disk"),
        "bench: 'disk' is not a choice (usage: bench <alloc|executor|irq>)"
    );
    assert!(err("fault nmi").starts_with("fault: 'nmi' is not a choice"));
    assert_eq!(err("vm"), "vm: missing argument (usage: vm <address>)");
    assert_eq!(
        err("vm xyz"),
        "vm: 'xyz' is not a number (usage: vm <address>)"
    );
    assert_eq!(
        err("vm 0x0000800000000000"),
        "vm: 0x800000000000 is not a canonical address (usage: vm <address>)"
    );
    // Every error is one line.
    for line in ["sleep", "vm 1 2", "color x", "nope", "fault"] {
        assert!(!err(line).contains('\n'));
    }
}

#[test]
fn arguments_parse() {
    assert_eq!(parse("sleep 250"), Ok(Some(Command::Sleep(250))));
    assert_eq!(parse("sleep 0x10"), Ok(Some(Command::Sleep(16))));
    assert_eq!(parse("sleep 1_000"), Ok(Some(Command::Sleep(1000))));
    assert_eq!(
        parse("color yellow blue"),
        Ok(Some(Command::Color {
            fg: Color::Yellow,
            bg: Some(Color::Blue)
        }))
    );
    assert_eq!(
        parse("color 15"),
        Ok(Some(Command::Color {
            fg: Color::White,
            bg: None
        }))
    );
    assert_eq!(
        parse("color LightGreen grey"),
        Ok(Some(Command::Color {
            fg: Color::LightGreen,
            bg: Some(Color::LightGray)
        }))
    );
    assert_eq!(
        parse("vm ffffffff80000000"),
        Ok(Some(Command::Vm(0xffff_ffff_8000_0000)))
    );
    assert_eq!(
        parse("vm 0xffff_8000_0000_1000"),
        Ok(Some(Command::Vm(0xffff_8000_0000_1000)))
    );
    assert_eq!(parse("vm 0x1000"), Ok(Some(Command::Vm(0x1000))));
    assert_eq!(parse("bench irq"), Ok(Some(Command::Bench(BenchKind::Irq))));
    assert_eq!(
        parse("fault doublefault"),
        Ok(Some(Command::Fault(FaultKind::DoubleFault)))
    );
    assert_eq!(
        parse("fault int3"),
        Ok(Some(Command::Fault(FaultKind::Int3)))
    );
    assert_eq!(parse("fault gpf"), Ok(Some(Command::Fault(FaultKind::Gpf))));
    assert_eq!(
        parse("fault pagefault"),
        Ok(Some(Command::Fault(FaultKind::PageFault)))
    );
    for (i, n) in COLOR_NAMES.iter().enumerate() {
        assert_eq!(parse_color(n).map(|c| c as usize), Some(i));
        assert_eq!(color_name(parse_color(n).unwrap()), *n);
    }
    assert_eq!(parse_color("16"), None);
    assert_eq!(parse_number("0x"), None);
    assert_eq!(parse_number("_1"), None);
    assert_eq!(parse_number("18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_number("18446744073709551616"), None);
}

#[test]
fn commands_reach_the_host() {
    let mut h = FakeHost::default();
    assert_eq!(exec(&mut h, "sleep 30").1, Outcome::Sleep(30));
    exec(&mut h, "color red black");
    assert_eq!(h.colors, Some((Color::Red, Some(Color::Black))));
    let (out, _) = exec(&mut h, "vm 0xffffffff80001000");
    assert_eq!(out, "0xffffffff80001000: not mapped\r\n");
    exec(&mut h, "bench executor");
    let (out, _) = exec(&mut h, "reboot");
    assert_eq!(out, "rebooting\r\nreboot: every method failed\r\n");
    exec(&mut h, "shutdown");
    let (out, _) = exec(&mut h, "fault int3");
    assert_eq!(out, "int3: breakpoint handled, continuing\r\n");
    exec(&mut h, "fault gpf");
    assert_eq!(
        h.calls,
        [
            "translate 0xffffffff80001000",
            "bench Executor",
            "reboot",
            "shutdown",
            "fault Int3",
            "fault Gpf"
        ]
    );
    assert_eq!(output("clear"), "\x1b[2J\x1b[H");
    assert_eq!(output("dmesg"), "[    0.000000] INFO  boot: first line\r\n");
    assert_eq!(output("cpu"), "cpu: fake\r\n");
    assert_eq!(output("acpi"), "acpi: FACP APIC\r\n");
}

#[test]
fn formats() {
    let mut h = FakeHost {
        uptime: 3_723_456_000_000,
        ..FakeHost::default()
    };
    assert_eq!(exec(&mut h, "uptime").0, "up 01:02:03.456\r\n");
    h.uptime = 2 * 86_400_000_000_000 + 5_000_000;
    assert_eq!(exec(&mut h, "uptime").0, "up 2d 00:00:00.005\r\n");
    assert_eq!(
        exec(&mut h, "date").0,
        "date: the loader reported no boot time\r\n"
    );
    h.boot = Some(1_796_412_345);
    h.uptime = 65_000_000_000;
    assert_eq!(
        exec(&mut h, "date").0,
        "2026-12-04 19:26:50 UTC (booted 2026-12-04 19:25:45 UTC)\r\n"
    );
    assert_eq!(exec(&mut h, "mem").0, "mem: no frame allocator\r\n");
    h.mem = Some(MemStats {
        frame_size: 4096,
        total: 131_072,
        free: 100_000,
    });
    assert_eq!(
        exec(&mut h, "mem").0,
        "frames: 131072 total, 31072 used, 100000 free (390.6 MiB of 512.0 MiB free, 4096 B frames)\r\n"
    );
    assert_eq!(exec(&mut h, "heap").0, "heap: no heap yet\r\n");
    h.heap = Some(HeapStats {
        size: 1 << 20,
        used: 1536,
        peak: 4096,
        allocs: 10,
        frees: 7,
    });
    assert_eq!(
        exec(&mut h, "heap").0,
        "heap: 1.5 KiB used of 1.0 MiB (peak 4.0 KiB), 10 allocations, 7 frees, 3 live\r\n"
    );
    let tasks = exec(&mut h, "tasks").0;
    assert_eq!(
        tasks,
        "   ID  STATE        POLLS  NAME\r\n    1  running         12  shell\r\n    2  waiting          3  keyboard\r\n"
    );
    assert_eq!(Bytes(1023).to_string(), "1023 B");
    assert_eq!(Bytes(5 << 30).to_string(), "5.0 GiB");
}

#[test]
fn calendar() {
    assert_eq!(DateTime(0).to_string(), "1970-01-01 00:00:00 UTC");
    assert_eq!(DateTime(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
    assert_eq!(
        DateTime(4_107_542_399).to_string(),
        "2100-02-28 23:59:59 UTC"
    );
    assert_eq!(
        DateTime(4_107_542_400).to_string(),
        "2100-03-01 00:00:00 UTC"
    );
    assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    // Every day for a few centuries: consecutive and in range.
    let mut prev = civil_from_days(0);
    for d in 1..200_000 {
        let cur = civil_from_days(d);
        let next_day = (prev.0, prev.1, prev.2 + 1);
        let next_month = (prev.0, prev.1 + 1, 1);
        let next_year = (prev.0 + 1, 1, 1);
        assert!(
            cur == next_day || cur == next_month || cur == next_year,
            "{prev:?} -> {cur:?}"
        );
        prev = cur;
    }
}

proptest! {
    /// No line makes the parser or the runner panic, and any error is one line.
    #[test]
    fn any_line_gives_a_command_or_one_line(line in ".{0,80}") {
        match parse(&line) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().contains('\n')),
        }
        let mut h = FakeHost::default();
        let _ = exec(&mut h, &line);
    }

    #[test]
    fn command_words_with_random_arguments(
        name in proptest::sample::select(NAMES),
        args in proptest::collection::vec("[ -~]{0,12}", 0..4),
    ) {
        let line = format!("{name} {}", args.join(" "));
        if let Err(e) = parse(&line) {
            prop_assert!(e.to_string().starts_with(name), "{}", e);
        }
    }
}
