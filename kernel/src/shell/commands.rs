//! The shell's commands: the table, the parser, and running a parsed command against a host.
//!
//! Key types: [`COMMANDS`] (name, usage, one-line summary each; [`NAMES`] for completion),
//! [`parse`] (a line to a [`Command`] or a one-line [`ParseError`]), [`ShellHost`] (every
//! effect and every fact a command needs from the kernel: the kernel implements it, tests use
//! a fake) and [`run`] (prints a command's output; returns what the shell task must do next,
//! e.g. await a sleep).
//!
//! Everything here is pure: no command touches hardware itself, so the parser and the output
//! formats are host-tested, and any input line gets either a command or a one-line error.

use core::fmt::{self, Write};

use crate::console::color::Color;

/// One entry of the command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandInfo {
    /// What to type.
    pub name: &'static str,
    /// Arguments, as shown by `help` and in usage errors.
    pub args: &'static str,
    /// One line for `help`.
    pub summary: &'static str,
}

const fn info(name: &'static str, args: &'static str, summary: &'static str) -> CommandInfo {
    CommandInfo {
        name,
        args,
        summary,
    }
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandInfo] = &[
    info("help", "", "list the commands"),
    info("echo", "[text]", "print the text"),
    info("clear", "", "clear the screen"),
    info(
        "color",
        "<fg> [bg]",
        "set the console colours (names or 0-15; bg 0-7)",
    ),
    info("uptime", "", "time since boot"),
    info(
        "date",
        "",
        "wall-clock time: boot time from the loader plus uptime",
    ),
    info("dmesg", "", "the kernel log since boot"),
    info("mem", "", "physical frame statistics"),
    info("heap", "", "heap allocator statistics"),
    info(
        "vm",
        "<address>",
        "walk the page tables for a virtual address",
    ),
    info("tasks", "", "list the executor's tasks"),
    info("cpu", "", "CPU features, interrupt path, protections"),
    info("acpi", "", "ACPI tables found"),
    info("sleep", "<ms>", "sleep for up to 60000 ms"),
    info(
        "bench",
        "<alloc|executor|irq>",
        "run an in-kernel benchmark",
    ),
    info("reboot", "", "restart the machine"),
    info("shutdown", "", "power off (ACPI S5)"),
    info(
        "fault",
        "<pagefault|doublefault|gpf|int3>",
        "trigger a CPU exception (demo)",
    ),
];

/// The command names, for Tab completion.
pub const NAMES: &[&str] = &{
    let mut names = [""; COMMANDS.len()];
    let mut i = 0;
    while i < COMMANDS.len() {
        names[i] = COMMANDS[i].name;
        i += 1;
    }
    names
};

/// The longest `sleep` accepted, in milliseconds (the shell does not read keys meanwhile).
pub const MAX_SLEEP_MS: u64 = 60_000;

/// `bench` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKind {
    /// Heap allocation.
    Alloc,
    /// The executor (spawn, wake).
    Executor,
    /// Interrupt overhead.
    Irq,
}

/// `fault` demos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A read of an unmapped address.
    PageFault,
    /// A fault while delivering a fault (stack overflow).
    DoubleFault,
    /// A general-protection fault (non-canonical address).
    Gpf,
    /// A breakpoint (the kernel reports it and continues).
    Int3,
}

/// A parsed command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `help`
    Help,
    /// `echo [text]`: the text after the command name, trimmed.
    Echo(&'a str),
    /// `clear`
    Clear,
    /// `color <fg> [bg]`
    Color {
        /// Foreground.
        fg: Color,
        /// Background, if given (0-7).
        bg: Option<Color>,
    },
    /// `uptime`
    Uptime,
    /// `date`
    Date,
    /// `dmesg`
    Dmesg,
    /// `mem`
    Mem,
    /// `heap`
    Heap,
    /// `vm <address>` (canonical).
    Vm(u64),
    /// `tasks`
    Tasks,
    /// `cpu`
    Cpu,
    /// `acpi`
    Acpi,
    /// `sleep <ms>`
    Sleep(u64),
    /// `bench <kind>`
    Bench(BenchKind),
    /// `reboot`
    Reboot,
    /// `shutdown`
    Shutdown,
    /// `fault <kind>`
    Fault(FaultKind),
}

/// What is wrong with an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem<'a> {
    /// A required argument is missing.
    Missing,
    /// More arguments than the command takes (the first extra one).
    Extra(&'a str),
    /// Not a colour name or number 0-15.
    BadColor(&'a str),
    /// A background above 7 (the attribute has three background bits).
    BadBackground(&'a str),
    /// Not a number (or too large).
    BadNumber(&'a str),
    /// A number out of the accepted range.
    OutOfRange(&'a str),
    /// A non-canonical virtual address.
    NotCanonical(u64),
    /// Not one of the listed choices.
    BadChoice(&'a str),
}

/// Why a line is not a command. Displays as one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// No such command.
    Unknown(&'a str),
    /// A known command with bad arguments.
    Usage {
        /// The command's table entry.
        command: &'static CommandInfo,
        /// What is wrong.
        problem: Problem<'a>,
    },
}

/// Shows at most 24 characters of user input (a line of garbage stays one line).
struct Clip<'a>(&'a str);

impl fmt::Display for Clip<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(24) {
            // Control characters would act on the terminal: show them escaped.
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        if chars.next().is_some() {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => {
                write!(f, "unknown command '{}' (type help for a list)", Clip(name))
            }
            Self::Usage { command, problem } => {
                write!(f, "{}: ", command.name)?;
                match problem {
                    Problem::Missing => f.write_str("missing argument")?,
                    Problem::Extra(a) => write!(f, "unexpected argument '{}'", Clip(a))?,
                    Problem::BadColor(a) => write!(f, "'{}' is not a colour", Clip(a))?,
                    Problem::BadBackground(a) => {
                        write!(f, "background '{}' must be 0-7", Clip(a))?;
                    }
                    Problem::BadNumber(a) => write!(f, "'{}' is not a number", Clip(a))?,
                    Problem::OutOfRange(a) => write!(f, "'{}' is out of range", Clip(a))?,
                    Problem::NotCanonical(v) => write!(f, "{v:#x} is not a canonical address")?,
                    Problem::BadChoice(a) => write!(f, "'{}' is not a choice", Clip(a))?,
                }
                write!(f, " (usage: {} {})", command.name, command.args)
            }
        }
    }
}

impl core::error::Error for ParseError<'_> {}

/// The colour names `color` accepts, by VGA index (a few have a second spelling below).
const COLOR_NAMES: [&str; 16] = [
    "black",
    "blue",
    "green",
    "cyan",
    "red",
    "magenta",
    "brown",
    "lightgray",
    "darkgray",
    "lightblue",
    "lightgreen",
    "lightcyan",
    "lightred",
    "pink",
    "yellow",
    "white",
];

/// A colour from its name (case-insensitive; `grey` and `lightmagenta` also work) or number.
pub fn parse_color(s: &str) -> Option<Color> {
    let index = match s.parse::<u8>() {
        Ok(n) => n,
        Err(_) => {
            let alias = |a: &str| s.eq_ignore_ascii_case(a);
            if alias("gray") || alias("grey") || alias("lightgrey") {
                7
            } else if alias("darkgrey") {
                8
            } else if alias("lightmagenta") {
                13
            } else {
                COLOR_NAMES.iter().position(|n| n.eq_ignore_ascii_case(s))? as u8
            }
        }
    };
    color_from_index(index)
}

/// The colour with VGA index `i` (0-15).
pub const fn color_from_index(i: u8) -> Option<Color> {
    Some(match i {
        0 => Color::Black,
        1 => Color::Blue,
        2 => Color::Green,
        3 => Color::Cyan,
        4 => Color::Red,
        5 => Color::Magenta,
        6 => Color::Brown,
        7 => Color::LightGray,
        8 => Color::DarkGray,
        9 => Color::LightBlue,
        10 => Color::LightGreen,
        11 => Color::LightCyan,
        12 => Color::LightRed,
        13 => Color::Pink,
        14 => Color::Yellow,
        15 => Color::White,
        _ => return None,
    })
}

/// The name `color` shows for a colour.
pub fn color_name(c: Color) -> &'static str {
    COLOR_NAMES[c as usize]
}

/// A number: decimal, or hexadecimal with `0x`; `_` separators allowed.
pub fn parse_number(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || digits.starts_with('_') {
        return None;
    }
    let mut value: u64 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
    }
    Some(value)
}

/// An address for `vm`: hexadecimal, with or without `0x`.
fn parse_address(s: &str) -> Option<u64> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if hex.is_empty() {
        return None;
    }
    let mut buf = [0u8; 2 + 64];
    buf[..2].copy_from_slice(b"0x");
    let mut n = 2;
    for b in hex.bytes() {
        if n == buf.len() {
            return None;
        }
        buf[n] = b;
        n += 1;
    }
    parse_number(core::str::from_utf8(&buf[..n]).ok()?)
}

/// Whether bits 63..47 of `addr` are all equal (x86-64, 4-level paging).
pub const fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1_FFFF
}

fn entry(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Parses one line. A blank line is `Ok(None)`.
///
/// # Errors
///
/// [`ParseError::Unknown`] for a name not in [`COMMANDS`], [`ParseError::Usage`] for bad
/// arguments; both display as one line.
pub fn parse(line: &str) -> Result<Option<Command<'_>>, ParseError<'_>> {
    let line = line.trim();
    let Some(name) = line.split_whitespace().next() else {
        return Ok(None);
    };
    let rest = line[name.len()..].trim_start();
    let Some(command) = entry(name) else {
        return Err(ParseError::Unknown(name));
    };
    let usage = |problem| ParseError::Usage { command, problem };
    let mut args = rest.split_whitespace();
    let mut required = || args.next().ok_or(usage(Problem::Missing));
    let cmd = match name {
        "echo" => return Ok(Some(Command::Echo(rest))),
        "help" => Command::Help,
        "clear" => Command::Clear,
        "uptime" => Command::Uptime,
        "date" => Command::Date,
        "dmesg" => Command::Dmesg,
        "mem" => Command::Mem,
        "heap" => Command::Heap,
        "tasks" => Command::Tasks,
        "cpu" => Command::Cpu,
        "acpi" => Command::Acpi,
        "reboot" => Command::Reboot,
        "shutdown" => Command::Shutdown,
        "color" => {
            let fg = required()?;
            let fg = parse_color(fg).ok_or(usage(Problem::BadColor(fg)))?;
            let bg = match args.next() {
                None => None,
                Some(a) => {
                    let c = parse_color(a).ok_or(usage(Problem::BadColor(a)))?;
                    if c as u8 > 7 {
                        return Err(usage(Problem::BadBackground(a)));
                    }
                    Some(c)
                }
            };
            Command::Color { fg, bg }
        }
        "vm" => {
            let a = required()?;
            let addr = parse_address(a).ok_or(usage(Problem::BadNumber(a)))?;
            if !is_canonical(addr) {
                return Err(usage(Problem::NotCanonical(addr)));
            }
            Command::Vm(addr)
        }
        "sleep" => {
            let a = required()?;
            let ms = parse_number(a).ok_or(usage(Problem::BadNumber(a)))?;
            if ms > MAX_SLEEP_MS {
                return Err(usage(Problem::OutOfRange(a)));
            }
            Command::Sleep(ms)
        }
        "bench" => {
            let a = required()?;
            Command::Bench(match a {
                "alloc" => BenchKind::Alloc,
                "executor" => BenchKind::Executor,
                "irq" => BenchKind::Irq,
                _ => return Err(usage(Problem::BadChoice(a))),
            })
        }
        "fault" => {
            let a = required()?;
            Command::Fault(match a {
                "pagefault" => FaultKind::PageFault,
                "doublefault" => FaultKind::DoubleFault,
                "gpf" => FaultKind::Gpf,
                "int3" => FaultKind::Int3,
                _ => return Err(usage(Problem::BadChoice(a))),
            })
        }
        _ => return Err(ParseError::Unknown(name)),
    };
    match args.next() {
        Some(extra) => Err(usage(Problem::Extra(extra))),
        None => Ok(Some(cmd)),
    }
}

/// Physical frame statistics for `mem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemStats {
    /// Bytes per frame.
    pub frame_size: u64,
    /// Frames the allocator manages.
    pub total: u64,
    /// Frames free.
    pub free: u64,
}

/// Heap statistics for `heap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeapStats {
    /// Bytes the heap spans now.
    pub size: u64,
    /// Bytes allocated.
    pub used: u64,
    /// Most bytes allocated at once.
    pub peak: u64,
    /// Allocations so far.
    pub allocs: u64,
    /// Frees so far.
    pub frees: u64,
}

/// One task for `tasks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLine<'a> {
    /// Task id.
    pub id: u64,
    /// Task name.
    pub name: &'a str,
    /// State word (`ready`, `running`, `waiting`, `finished`).
    pub state: &'a str,
    /// Polls so far.
    pub polls: u64,
}

/// What the commands need from the kernel. Methods that print get the output writer; the
/// kernel's implementation does the hardware work, the tests' fake records calls.
pub trait ShellHost {
    /// Sets the console's colours for good (not only the next output).
    fn set_colors(&mut self, fg: Color, bg: Option<Color>);
    /// Nanoseconds since boot.
    fn uptime_nanos(&self) -> u64;
    /// The boot time the loader reported (Unix seconds), if any.
    fn boot_unix_seconds(&self) -> Option<u64>;
    /// Prints the kernel log ring, one record a line.
    fn dmesg(&mut self, out: &mut dyn Write) -> fmt::Result;
    /// Frame statistics, if the frame allocator is up.
    fn mem_stats(&self) -> Option<MemStats>;
    /// Heap statistics, if there is a heap.
    fn heap_stats(&self) -> Option<HeapStats>;
    /// Prints the page-table walk for `addr` (canonical).
    fn translate(&mut self, addr: u64, out: &mut dyn Write) -> fmt::Result;
    /// Calls `f` for each task.
    fn tasks(&self, f: &mut dyn FnMut(TaskLine<'_>));
    /// Prints CPU features, the interrupt path and the protections on.
    fn cpu(&mut self, out: &mut dyn Write) -> fmt::Result;
    /// Prints the ACPI tables found.
    fn acpi(&mut self, out: &mut dyn Write) -> fmt::Result;
    /// Runs a benchmark, printing its figures.
    fn bench(&mut self, kind: BenchKind, out: &mut dyn Write) -> fmt::Result;
    /// Restarts the machine; returns only if every method failed.
    fn reboot(&mut self);
    /// Powers off; returns only if that failed.
    fn shutdown(&mut self);
    /// Triggers the fault; returns for `int3` (and if nothing happened).
    fn fault(&mut self, kind: FaultKind);
}

/// What the shell task does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Prompt again.
    Done,
    /// Await a sleep of this many milliseconds, then prompt again.
    Sleep(u64),
    /// The screen was cleared: prompt again (the caller may restore what it pins on screen).
    Cleared,
}

/// Runs a command, writing its output (lines end in CR LF).
///
/// # Errors
///
/// Whatever `out` returns.
pub fn run(
    cmd: Command<'_>,
    host: &mut impl ShellHost,
    out: &mut impl Write,
) -> Result<Outcome, fmt::Error> {
    match cmd {
        Command::Help => help(out)?,
        Command::Echo(text) => write!(out, "{text}\r\n")?,
        Command::Clear => {
            out.write_str("\x1b[2J\x1b[H")?;
            return Ok(Outcome::Cleared);
        }
        Command::Color { fg, bg } => host.set_colors(fg, bg),
        Command::Uptime => write!(out, "up {}\r\n", Duration(host.uptime_nanos()))?,
        Command::Date => match host.boot_unix_seconds() {
            Some(boot) => {
                let now = boot.saturating_add(host.uptime_nanos() / 1_000_000_000);
                write!(out, "{} (booted {})\r\n", DateTime(now), DateTime(boot))?;
            }
            None => out.write_str("date: the loader reported no boot time\r\n")?,
        },
        Command::Dmesg => host.dmesg(out)?,
        Command::Mem => match host.mem_stats() {
            Some(m) => mem(m, out)?,
            None => out.write_str("mem: no frame allocator\r\n")?,
        },
        Command::Heap => match host.heap_stats() {
            Some(h) => heap(h, out)?,
            None => out.write_str("heap: no heap yet\r\n")?,
        },
        Command::Vm(addr) => host.translate(addr, out)?,
        Command::Tasks => {
            out.write_str("   ID  STATE        POLLS  NAME\r\n")?;
            let mut result = Ok(());
            host.tasks(&mut |t| {
                if result.is_ok() {
                    result = write!(
                        out,
                        "{:>5}  {:<8} {:>9}  {}\r\n",
                        t.id,
                        t.state,
                        t.polls,
                        Clip(t.name)
                    );
                }
            });
            result?;
        }
        Command::Cpu => host.cpu(out)?,
        Command::Acpi => host.acpi(out)?,
        Command::Sleep(ms) => return Ok(Outcome::Sleep(ms)),
        Command::Bench(kind) => host.bench(kind, out)?,
        Command::Reboot => {
            out.write_str("rebooting\r\n")?;
            host.reboot();
            out.write_str("reboot: every method failed\r\n")?;
        }
        Command::Shutdown => {
            out.write_str("powering off\r\n")?;
            host.shutdown();
            out.write_str("shutdown: ACPI S5 failed\r\n")?;
        }
        Command::Fault(kind) => {
            host.fault(kind);
            if kind != FaultKind::Int3 {
                out.write_str("fault: the CPU did not fault\r\n")?;
            } else {
                out.write_str("int3: breakpoint handled, continuing\r\n")?;
            }
        }
    }
    Ok(Outcome::Done)
}

/// Parses and runs a line; a parse error is printed as one line.
///
/// # Errors
///
/// Whatever `out` returns.
pub fn execute(
    line: &str,
    host: &mut impl ShellHost,
    out: &mut impl Write,
) -> Result<Outcome, fmt::Error> {
    match parse(line) {
        Ok(Some(cmd)) => run(cmd, host, out),
        Ok(None) => Ok(Outcome::Done),
        Err(e) => {
            write!(out, "{e}\r\n")?;
            Ok(Outcome::Done)
        }
    }
}

fn help(out: &mut impl Write) -> fmt::Result {
    for c in COMMANDS {
        let mut usage: heapless::String<48> = heapless::String::new();
        let _ = write!(usage, "{} {}", c.name, c.args);
        write!(out, "{:<40} {}\r\n", usage.trim_end(), c.summary)?;
    }
    Ok(())
}

/// Bytes as KiB/MiB/GiB with one decimal.
#[derive(Debug, Clone, Copy)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut unit = 0;
        let mut scaled = u128::from(self.0) * 10 / 1024;
        while scaled >= 10 * 1024 && unit + 1 < UNITS.len() {
            scaled /= 1024;
            unit += 1;
        }
        write!(f, "{}.{} {}", scaled / 10, scaled % 10, UNITS[unit])
    }
}

fn mem(m: MemStats, out: &mut impl Write) -> fmt::Result {
    let used = m.total.saturating_sub(m.free);
    write!(
        out,
        "frames: {} total, {} used, {} free ({} of {} free, {} B frames)\r\n",
        m.total,
        used,
        m.free,
        Bytes(m.free.saturating_mul(m.frame_size)),
        Bytes(m.total.saturating_mul(m.frame_size)),
        m.frame_size
    )
}

fn heap(h: HeapStats, out: &mut impl Write) -> fmt::Result {
    write!(
        out,
        "heap: {} used of {} (peak {}), {} allocations, {} frees, {} live\r\n",
        Bytes(h.used),
        Bytes(h.size),
        Bytes(h.peak),
        h.allocs,
        h.frees,
        h.allocs.saturating_sub(h.frees)
    )
}

/// Nanoseconds as `1d 02:03:04.567` (days only when there are any).
#[derive(Debug, Clone, Copy)]
pub struct Duration(pub u64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 / 1_000_000;
        let s = ms / 1000;
        let (d, h, m) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60);
        if d > 0 {
            write!(f, "{d}d ")?;
        }
        write!(f, "{h:02}:{m:02}:{:02}.{:03}", s % 60, ms % 1000)
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy)]
pub struct DateTime(pub u64);

/// The civil date of a day count since 1970-01-01: (year, month 1-12, day 1-31).
pub fn civil_from_days(days: u64) -> (u64, u32, u32) {
    // Count in 400-year eras (146,097 days each) from 0000-03-01, so February, with its leap
    // day, ends each year of the computation.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d) = civil_from_days(self.0 / 86_400);
        let s = self.0 % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} UTC",
            s / 3600,
            (s / 60) % 60,
            s % 60
        )
    }
}

#[cfg(test)]
mod tests;
