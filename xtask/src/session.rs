//! Shell sessions: scripted conversations with the kernel's interactive shell, over COM1
//! (QEMU's stdin) and the PS/2 keyboard (QMP `send-key`), one boot each.
//!
//! A script is text, one step a line; blank lines and lines starting with `#` are skipped.
//!
//! | Step | Meaning |
//! |---|---|
//! | `send TEXT` | write TEXT to COM1; escapes `\r \n \t \e \\ \xNN` (so `\x20` for a trailing space) |
//! | `random LEN SEED` | LEN seeded xorshift bytes ([`random_bytes`]), 256-byte chunks 5 ms apart |
//! | `keys KEYS` | type on the keyboard: QEMU key names (qcodes), `a-b` together, `x*N` N times |
//! | `pause MS` | wait MS milliseconds |
//! | `quiet MS` | wait until the serial output has not grown for MS milliseconds (input taken) |
//! | `line TEXT` | a complete output line equal to TEXT (trailing blanks ignored) |
//! | `word WORD` | a complete output line whose first word is WORD |
//! | `contains TEXT` | TEXT anywhere in the output |
//! | `prompt` | a line starting with the shell's prompt `> ` (complete or not) |
//! | `first-record` | a complete line containing the message of the boot's first log record |
//! | `count N TEXT` | TEXT at least N times in the whole serial log of the boot |
//! | `exit STATUS` | QEMU exits with STATUS (0: ACPI power-off) |
//!
//! "Output" is what the serial log shows after the last `send`, `random` or `keys` step (the
//! whole log before the first), with ANSI sequences and carriage returns removed, and only the
//! lines that *start* there: the rest of the line the input was typed on (the prompt and the
//! echo) is never a line of output, so `send echo hi\r` then `line hi` matches the command's
//! output, not its echo. Every expectation waits up to [`STEP_TIMEOUT`]; a failure names the
//! step and shows the tail of the output it looked at.

use std::fmt;
use std::time::{Duration, Instant};

use crate::ktap::strip_ansi;
use crate::qemu::Running;

/// How long one expectation waits.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole session may take, boot included.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(75);

/// The shell's prompt (`kernel::shell::PROMPT`).
pub const PROMPT: &str = "> ";

/// Bytes per write of a `random` step, and the pause after each.
const RANDOM_CHUNK: usize = 256;
const RANDOM_PAUSE: Duration = Duration::from_millis(5);

/// What the output must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A complete line equal to this (trailing blanks ignored).
    Line(String),
    /// A complete line whose first word is this.
    Word(String),
    /// This text anywhere in the output.
    Contains(String),
    /// A line starting with [`PROMPT`].
    Prompt,
    /// A complete line containing the message of the first log record in the serial log.
    FirstRecord,
    /// The whole serial log has this text at least this many times.
    Count(usize, String),
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes to COM1.
    Send(Vec<u8>),
    /// Write [`random_bytes`]`(len, seed)` to COM1 in chunks.
    Random {
        /// Number of bytes.
        len: usize,
        /// The generator's seed (not zero).
        seed: u64,
    },
    /// Type these key combinations through QMP `send-key`.
    Keys(Vec<Vec<String>>),
    /// Wait.
    Pause(Duration),
    /// Wait until the serial log has not grown for this long: the guest has worked through
    /// its input backlog (every byte the shell takes is echoed or answered).
    Quiet(Duration),
    /// Wait until the output shows this.
    Expect(Expect),
    /// Wait until QEMU exits with this status.
    Exit(i32),
}

/// A parsed script: each step with its line number and text (for failure messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// (line number, source text, step).
    pub steps: Vec<(usize, String, Step)>,
}

/// What is wrong with a script line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// Not one of the step names.
    UnknownStep(String),
    /// The step needs an argument it lacks.
    MissingArgument(&'static str),
    /// An argument that should be a number is not (or the seed is zero).
    BadNumber(String),
    /// A backslash escape that is not `\r \n \t \e \\ \xNN`.
    BadEscape(String),
}

/// A script line that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ScriptErrorKind,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "script line {}: ", self.line)?;
        match &self.kind {
            ScriptErrorKind::UnknownStep(s) => write!(f, "unknown step `{s}`"),
            ScriptErrorKind::MissingArgument(s) => write!(f, "`{s}` needs an argument"),
            ScriptErrorKind::BadNumber(s) => write!(f, "`{s}` is not a valid number here"),
            ScriptErrorKind::BadEscape(s) => write!(f, "bad escape `{s}`"),
        }
    }
}

impl std::error::Error for ScriptError {}

/// Decodes `\r \n \t \e \\ \xNN` in `text`.
pub fn unescape(text: &str) -> Result<Vec<u8>, ScriptErrorKind> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let bad = |len: usize| {
            ScriptErrorKind::BadEscape(
                String::from_utf8_lossy(&bytes[i..(i + len).min(bytes.len())]).into_owned(),
            )
        };
        let (byte, len) = match bytes.get(i + 1) {
            Some(b'r') => (b'\r', 2),
            Some(b'n') => (b'\n', 2),
            Some(b't') => (b'\t', 2),
            Some(b'e') => (0x1b, 2),
            Some(b'\\') => (b'\\', 2),
            Some(b'x') => {
                let hex = bytes.get(i + 2..i + 4).ok_or_else(|| bad(4))?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad(4))?;
                (u8::from_str_radix(hex, 16).map_err(|_| bad(4))?, 4)
            }
            _ => return Err(bad(2)),
        };
        out.push(byte);
        i += len;
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, ScriptErrorKind> {
    s.trim()
        .parse()
        .map_err(|_| ScriptErrorKind::BadNumber(s.trim().to_string()))
}

/// Parses a script (see the module documentation for the steps).
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let source = raw.trim_start();
        if source.trim().is_empty() || source.starts_with('#') {
            continue;
        }
        let (verb, arg) = source.split_once(' ').unwrap_or((source.trim_end(), ""));
        let err = |kind| ScriptError { line, kind };
        let need = |name: &'static str| {
            if arg.is_empty() {
                Err(err(ScriptErrorKind::MissingArgument(name)))
            } else {
                Ok(arg)
            }
        };
        let text_arg = |name| -> Result<String, ScriptError> {
            let bytes = unescape(need(name)?).map_err(err)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let step = match verb {
            "send" => Step::Send(unescape(need("send")?).map_err(err)?),
            "random" => {
                let (len, seed) = need("random")?
                    .trim()
                    .split_once(' ')
                    .ok_or(err(ScriptErrorKind::MissingArgument("random")))?;
                let len = number(len).map_err(err)?;
                let seed: u64 = number(seed).map_err(err)?;
                if seed == 0 {
                    return Err(err(ScriptErrorKind::BadNumber("0".into())));
                }
                Step::Random { len, seed }
            }
            "keys" => Step::Keys(crate::test::parse_key_request(need("keys")?)),
            "pause" => Step::Pause(Duration::from_millis(number(need("pause")?).map_err(err)?)),
            "quiet" => Step::Quiet(Duration::from_millis(number(need("quiet")?).map_err(err)?)),
            "line" => Step::Expect(Expect::Line(text_arg("line")?)),
            "word" => Step::Expect(Expect::Word(need("word")?.trim().to_string())),
            "contains" => Step::Expect(Expect::Contains(text_arg("contains")?)),
            "prompt" => Step::Expect(Expect::Prompt),
            "first-record" => Step::Expect(Expect::FirstRecord),
            "count" => {
                let (n, what) = need("count")?
                    .split_once(' ')
                    .ok_or(err(ScriptErrorKind::MissingArgument("count")))?;
                let n = number(n).map_err(err)?;
                let bytes = unescape(what).map_err(err)?;
                Step::Expect(Expect::Count(
                    n,
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))
            }
            "exit" => Step::Exit(number(need("exit")?).map_err(err)?),
            other => return Err(err(ScriptErrorKind::UnknownStep(other.to_string()))),
        };
        steps.push((line, source.trim_end().to_string(), step));
    }
    Ok(Script { steps })
}

/// `len` pseudo-random bytes from Marsaglia's xorshift64 (13, 7, 17) seeded with `seed`, eight
/// bytes per value, little-endian; the same for the same arguments on every host.
///
/// Tab (0x09) becomes 0x00: with completion, a stray `r` and Tab could complete to `reboot`
/// and a later CR run it, ending the session's boot. Every other byte value occurs (control
/// characters, ESC sequences, bytes that are not UTF-8).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.max(1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    for b in &mut out {
        if *b == b'\t' {
            *b = 0;
        }
    }
    out
}

/// The output after an offset of the serial log, cleaned (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Complete lines that start after the offset.
    pub lines: Vec<String>,
    /// The line being written (no newline yet), if it starts after the offset.
    pub partial: Option<String>,
    /// All the text after the offset.
    pub text: String,
}

impl Output {
    /// Cleans the raw serial bytes after an offset; `at_line_start` says whether the offset is
    /// at the start of a line (else the first piece continues an earlier line and is skipped).
    pub fn new(raw: &[u8], at_line_start: bool) -> Self {
        let text = strip_ansi(&String::from_utf8_lossy(raw));
        let mut pieces: Vec<&str> = text.split('\n').collect();
        // `split` always yields a last piece: the unterminated line, or "" after a newline.
        let last = pieces.pop().unwrap_or_default();
        let continues = !at_line_start;
        // The unterminated line, unless it is the continuation of the line before the offset.
        let continuation = continues && pieces.is_empty();
        let partial = (!last.is_empty() && !continuation).then(|| last.to_string());
        let skip = usize::from(continues && !pieces.is_empty());
        let lines = pieces[skip..].iter().map(|l| l.to_string()).collect();
        Self {
            lines,
            partial,
            text,
        }
    }

    /// The last `n` lines (the partial one included), for failure messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let mut all: Vec<&str> = self.text.split('\n').collect();
        if all.last() == Some(&"") {
            all.pop();
        }
        let skip = all.len().saturating_sub(n);
        all[skip..].iter().map(|l| l.to_string()).collect()
    }
}

/// The message of the first log record (`[   0.012345] LEVEL target: message`) in a cleaned
/// serial log: the text after `target: `.
pub fn first_record_message(clean_log: &str) -> Option<&str> {
    clean_log.lines().find_map(|line| {
        let rest = line.strip_prefix('[')?;
        let (stamp, rest) = rest.split_once("] ")?;
        let stamp = stamp.trim();
        let (secs, micros) = stamp.split_once('.')?;
        if secs.is_empty()
            || !secs.bytes().all(|b| b.is_ascii_digit())
            || micros.len() != 6
            || !micros.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let (_level, rest) = rest.trim_start().split_once(' ')?;
        let (_target, message) = rest.trim_start().split_once(": ")?;
        let message = message.trim_end();
        (!message.is_empty()).then_some(message)
    })
}

impl Expect {
    /// Whether the check needs the whole cleaned log (not only the output after the offset).
    pub fn needs_whole_log(&self) -> bool {
        matches!(self, Self::FirstRecord | Self::Count(..))
    }

    /// Whether `out` (and `whole`, the cleaned serial log, for the kinds that need it) shows
    /// what this expects.
    pub fn met(&self, out: &Output, whole: &str) -> bool {
        match self {
            Self::Line(text) => out.lines.iter().any(|l| l.trim_end() == text),
            Self::Word(word) => out
                .lines
                .iter()
                .any(|l| l.split_whitespace().next() == Some(word.as_str())),
            Self::Contains(text) => out.text.contains(text.as_str()),
            Self::Prompt => out
                .lines
                .iter()
                .chain(&out.partial)
                .any(|l| l.starts_with(PROMPT) || l.trim_end() == PROMPT.trim_end()),
            Self::FirstRecord => {
                first_record_message(whole).is_some_and(|m| out.lines.iter().any(|l| l.contains(m)))
            }
            Self::Count(n, text) => whole.matches(text.as_str()).count() >= *n,
        }
    }
}

/// Why a session failed: which step, why, and the output it looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The step's line number in the script.
    pub line: usize,
    /// The step's text.
    pub step: String,
    /// What went wrong.
    pub why: String,
    /// The last lines of the output the step looked at.
    pub tail: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} `{}`: {}", self.line, self.step, self.why)?;
        if self.tail.is_empty() {
            f.write_str(" (no output after the last input)")
        } else {
            f.write_str("; output after the last input ends:")?;
            for line in &self.tail {
                write!(f, "\n        | {line}")?;
            }
            Ok(())
        }
    }
}

impl std::error::Error for Failure {}

/// How long the output must stay unchanged at a fresh prompt before an expectation still not
/// met fails early (the shell runs commands to completion before it prompts again).
pub const SETTLED: Duration = Duration::from_secs(2);

/// Tells when the shell has answered: the output ends in a fresh prompt and has not grown for
/// [`SETTLED`].
#[derive(Debug, Default)]
pub struct Settle {
    /// Output length and when it was first seen at that length.
    last: Option<(usize, Instant)>,
}

impl Settle {
    /// Feeds the output seen now (`len`: its raw length); true once it has ended in a prompt,
    /// unchanged, for [`SETTLED`].
    pub fn back_at_prompt(&mut self, out: &Output, len: usize) -> bool {
        self.back_at_prompt_at(out, len, Instant::now())
    }

    fn back_at_prompt_at(&mut self, out: &Output, len: usize, now: Instant) -> bool {
        let at_prompt = out.partial.as_deref().is_some_and(|p| p == PROMPT);
        match self.last {
            Some((l, since)) if l == len => at_prompt && now.duration_since(since) >= SETTLED,
            _ => {
                self.last = Some((len, now));
                false
            }
        }
    }
}

/// What an exit status means, for failure messages.
fn status_text(status: Option<i32>) -> String {
    match status {
        Some(c) => format!("status {c}"),
        None => "a signal".into(),
    }
}

/// Runs `script` against a booting VM; the first step that fails ends it. Leaves QEMU running
/// (or exited, after `exit`): the caller collects the outcome.
pub fn run(script: &Script, running: &mut Running) -> Result<(), Failure> {
    let mut offset = 0;
    // Whether input was sent: before it, a prompt is the boot's, not an answer.
    let mut sent = false;
    for (line, source, step) in &script.steps {
        let fail = |running: &Running, offset: usize, why: String| {
            let (raw, at_start) = running.log_since(offset);
            Failure {
                line: *line,
                step: source.clone(),
                why,
                tail: Output::new(&raw, at_start).tail(12),
            }
        };
        let left = SESSION_TIMEOUT.saturating_sub(running.elapsed());
        let timeout = STEP_TIMEOUT.min(left);
        if let Some(status) = running.exit_status()
            && !matches!(step, Step::Exit(_))
        {
            return Err(fail(
                running,
                offset,
                format!("QEMU had already exited ({})", status_text(status)),
            ));
        }
        match step {
            Step::Send(bytes) => {
                sent = true;
                offset = running.log_len();
                running
                    .send(bytes, timeout)
                    .map_err(|e| fail(running, offset, e.to_string()))?;
            }
            Step::Random { len, seed } => {
                sent = true;
                offset = running.log_len();
                let deadline = Instant::now() + timeout;
                for chunk in random_bytes(*len, *seed).chunks(RANDOM_CHUNK) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    running
                        .send(chunk, left)
                        .map_err(|e| fail(running, offset, e.to_string()))?;
                    std::thread::sleep(RANDOM_PAUSE);
                }
            }
            Step::Keys(combos) => {
                sent = true;
                offset = running.log_len();
                for combo in combos {
                    running
                        .send_key(combo)
                        .map_err(|e| fail(running, offset, e.to_string()))?;
                }
            }
            Step::Pause(d) => std::thread::sleep(*d),
            Step::Quiet(quiet) => {
                let deadline = Instant::now() + timeout;
                let (mut len, mut since) = (running.log_len(), Instant::now());
                while since.elapsed() < *quiet {
                    if Instant::now() >= deadline {
                        return Err(fail(
                            running,
                            offset,
                            format!(
                                "the output was still growing after {:.0} s",
                                timeout.as_secs_f64()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    let now = running.log_len();
                    if now != len {
                        (len, since) = (now, Instant::now());
                    }
                }
            }
            Step::Expect(expect) => {
                let deadline = Instant::now() + timeout;
                let mut settle = Settle::default();
                loop {
                    // Read the status first: output written before an exit is then complete.
                    let exited = running.exit_status();
                    let (raw, at_start) = running.log_since(offset);
                    let out = Output::new(&raw, at_start);
                    let whole = if expect.needs_whole_log() {
                        strip_ansi(&running.log())
                    } else {
                        String::new()
                    };
                    if expect.met(&out, &whole) {
                        break;
                    }
                    let settled = sent && settle.back_at_prompt(&out, raw.len());
                    let why = match (exited, expect) {
                        (Some(status), _) => {
                            format!("QEMU exited ({}) before it was seen", status_text(status))
                        }
                        (None, e) if settled && *e != Expect::Prompt => format!(
                            "not seen: the shell is back at its prompt (no output for {:.0} s)",
                            SETTLED.as_secs_f64()
                        ),
                        _ if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                        (None, Expect::FirstRecord) => match first_record_message(&whole) {
                            Some(m) => format!(
                                "no line with the first record's message {m:?} within {:.0} s",
                                timeout.as_secs_f64()
                            ),
                            None => "the serial log has no log record at all".into(),
                        },
                        (None, Expect::Count(n, text)) => format!(
                            "{text:?} appeared {} times, not {n}, within {:.0} s",
                            whole.matches(text.as_str()).count(),
                            timeout.as_secs_f64()
                        ),
                        (None, _) => format!("not seen within {:.0} s", timeout.as_secs_f64()),
                    };
                    return Err(fail(running, offset, why));
                }
            }
            Step::Exit(want) => {
                let deadline = Instant::now() + timeout;
                let mut settle = Settle::default();
                let status = loop {
                    if let Some(status) = running.exit_status() {
                        break status;
                    }
                    let (raw, at_start) = running.log_since(offset);
                    if sent && settle.back_at_prompt(&Output::new(&raw, at_start), raw.len()) {
                        return Err(fail(
                            running,
                            offset,
                            "QEMU still running: the shell is back at its prompt".into(),
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(fail(
                            running,
                            offset,
                            format!("QEMU still running after {:.0} s", timeout.as_secs_f64()),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                if status != Some(*want) {
                    return Err(fail(
                        running,
                        offset,
                        format!("QEMU exited with {}", status_text(status)),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The command names of the shell's table (`COMMANDS` in `kernel/src/shell/commands.rs`):
/// the first string literal of each `info(` entry, in order. `None` if the table is not found.
pub fn command_names(source: &str) -> Option<Vec<String>> {
    let start = source.find("pub const COMMANDS: &[CommandInfo] = &[")?;
    let table = &source[start..];
    let table = &table[..table.find("\n];")?];
    let mut names = Vec::new();
    let mut rest = table;
    while let Some(at) = rest.find("info(") {
        rest = rest[at + "info(".len()..].trim_start();
        let name = rest.strip_prefix('"')?;
        let end = name.find('"')?;
        names.push(name[..end].to_string());
        rest = &name[end..];
    }
    (!names.is_empty()).then_some(names)
}

/// The shell's source, read when xtask is compiled (cargo rebuilds xtask when it changes).
const COMMANDS_SOURCE: &str = include_str!("../../kernel/src/shell/commands.rs");

/// A session boot: its name (starting with `shell-`), its script, and whether a guest reset
/// must restart the machine (for `reboot`, and for `shutdown` so that only a power-off can
/// end QEMU with status 0).
#[derive(Debug, Clone)]
pub struct Session {
    /// Boot name.
    pub name: &'static str,
    /// The parsed script.
    pub script: Script,
    /// Run QEMU without `-no-reboot`.
    pub allow_reboot: bool,
}

/// Boot and wait for the first prompt.
const READY: &str = "contains boot: ready in\nprompt\n";

/// The shell sessions of `make test`.
pub fn sessions() -> Result<Vec<Session>, crate::error::Error> {
    let names = command_names(COMMANDS_SOURCE)
        .ok_or("cannot find the COMMANDS table in kernel/src/shell/commands.rs")?;
    let help: String = names.iter().map(|n| format!("word {n}\n")).collect();
    let texts: Vec<(&'static str, String, bool)> = vec![
        (
            "shell-help",
            format!("{READY}send help\\r\n{help}prompt\n"),
            false,
        ),
        (
            "shell-echo",
            format!(
                "{READY}send echo hi\\r\nline hi\nprompt\n\
                 send frobnicate\\r\n\
                 line unknown command 'frobnicate' (type help for a list)\nprompt\n"
            ),
            false,
        ),
        (
            "shell-history",
            format!(
                "{READY}send echo again\\r\nline again\nprompt\n\
                 # ESC [ A: up, the previous line; Enter runs it again.\n\
                 send \\e[A\nsend \\r\nline again\nprompt\n"
            ),
            false,
        ),
        (
            "shell-random-input",
            format!(
                "{READY}random 65536 20261204\n\
                 # Dropped bytes are expected (the kernel's queue is 256 bytes); wait until the\n\
                 # shell has worked through the rest, or the next input would be dropped too.\n\
                 quiet 1000\n\
                 # Ctrl-C abandons whatever line the noise left, CR gives a fresh prompt.\n\
                 send \\x03\\r\nsend echo alive\\r\nline alive\nprompt\n"
            ),
            false,
        ),
        (
            "shell-dmesg",
            format!("{READY}send dmesg\\r\nfirst-record\nprompt\n"),
            false,
        ),
        (
            "shell-shutdown",
            format!("{READY}send shutdown\\r\nline powering off\nexit 0\n"),
            true,
        ),
        (
            "shell-reboot",
            format!(
                "{READY}send reboot\\r\nline rebooting\n\
                 count 2 Rust kernel\ncount 2 boot: ready in\nprompt\n\
                 send echo again\\r\nline again\n"
            ),
            true,
        ),
        (
            "shell-keyboard",
            format!("{READY}keys e c h o spc k e y s ret\nline keys\nprompt\n"),
            false,
        ),
    ];
    texts
        .into_iter()
        .map(|(name, text, allow_reboot)| {
            let script = parse(&text).map_err(|e| format!("session {name}: {e}"))?;
            Ok(Session {
                name,
                script,
                allow_reboot,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse() {
        let script = parse(
            "# a comment\n\nsend echo hi\\r\nline hi\n  word help\ncontains a b\nprompt\n\
             random 64 7\nkeys e c*2 shift-a\npause 20\nquiet 300\nfirst-record\ncount 2 Rust kernel\nexit 0\n",
        )
        .expect("valid script");
        let steps: Vec<&Step> = script.steps.iter().map(|(_, _, s)| s).collect();
        assert_eq!(
            steps,
            [
                &Step::Send(b"echo hi\r".to_vec()),
                &Step::Expect(Expect::Line("hi".into())),
                &Step::Expect(Expect::Word("help".into())),
                &Step::Expect(Expect::Contains("a b".into())),
                &Step::Expect(Expect::Prompt),
                &Step::Random { len: 64, seed: 7 },
                &Step::Keys(vec![
                    vec!["e".into()],
                    vec!["c".into()],
                    vec!["c".into()],
                    vec!["shift".into(), "a".into()]
                ]),
                &Step::Pause(Duration::from_millis(20)),
                &Step::Quiet(Duration::from_millis(300)),
                &Step::Expect(Expect::FirstRecord),
                &Step::Expect(Expect::Count(2, "Rust kernel".into())),
                &Step::Exit(0),
            ]
        );
        // Line numbers and texts for failure messages.
        assert_eq!(script.steps[0].0, 3);
        assert_eq!(script.steps[2].1, "word help");
    }

    #[test]
    fn script_errors_name_the_line() {
        let err = |text: &str| parse(text).expect_err(text);
        assert_eq!(
            err("send a\nfrob x\n"),
            ScriptError {
                line: 2,
                kind: ScriptErrorKind::UnknownStep("frob".into())
            }
        );
        assert_eq!(err("line").kind, ScriptErrorKind::MissingArgument("line"));
        assert_eq!(
            err("random 10").kind,
            ScriptErrorKind::MissingArgument("random")
        );
        assert_eq!(
            err("random 10 0").kind,
            ScriptErrorKind::BadNumber("0".into())
        );
        assert_eq!(
            err("pause soon").kind,
            ScriptErrorKind::BadNumber("soon".into())
        );
        assert_eq!(err("exit x").kind, ScriptErrorKind::BadNumber("x".into()));
        assert_eq!(
            err("send \\q").kind,
            ScriptErrorKind::BadEscape("\\q".into())
        );
        assert_eq!(
            err("send \\x4").kind,
            ScriptErrorKind::BadEscape("\\x4".into())
        );
        assert_eq!(
            err("send \\xzz").kind,
            ScriptErrorKind::BadEscape("\\xzz".into())
        );
        assert_eq!(
            err("\n\nline \\").to_string(),
            "script line 3: bad escape `\\`"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(r"a\r\n\t\e[A\\\x00\x7f\x20").expect("valid"),
            b"a\r\n\t\x1b[A\\\x00\x7f "
        );
        assert_eq!(unescape("").expect("empty"), b"");
    }

    #[test]
    fn random_bytes_are_deterministic() {
        let a = random_bytes(65536, 20261204);
        assert_eq!(a.len(), 65536);
        assert_eq!(a, random_bytes(65536, 20261204));
        assert_ne!(a, random_bytes(65536, 20261205));
        // The same sequence as kernel::rand::XorShift64(1): its first value is 1082269761.
        assert_eq!(random_bytes(8, 1), 1_082_269_761u64.to_le_bytes());
        // A prefix of a longer run is the shorter run.
        assert_eq!(random_bytes(13, 5), random_bytes(64, 5)[..13]);
        // No Tab; every other value, ESC and CR among them, shows up.
        assert!(!a.contains(&b'\t'));
        let mut seen = [false; 256];
        for &b in &a {
            seen[usize::from(b)] = true;
        }
        assert_eq!(seen.iter().filter(|s| **s).count(), 255);
    }

    #[test]
    fn output_starts_at_the_offset() {
        // Typed on the prompt line: the echo continues that line and is not output.
        let out = Output::new(b"echo hi\r\nhi\r\n> ", false);
        assert_eq!(out.lines, ["hi"]);
        assert_eq!(out.partial.as_deref(), Some("> "));
        assert!(Expect::Line("hi".into()).met(&out, ""));
        assert!(!Expect::Line("echo hi".into()).met(&out, ""));
        assert!(Expect::Contains("echo hi".into()).met(&out, ""));
        assert!(Expect::Prompt.met(&out, ""));
        // The echo of `hi` alone is not the output `hi`.
        let out = Output::new(b"hi", false);
        assert!(out.lines.is_empty() && out.partial.is_none());
        assert!(!Expect::Line("hi".into()).met(&out, ""));
        let out = Output::new(b"hi\r\n", false);
        assert!(!Expect::Line("hi".into()).met(&out, ""));
        // At a line start the first line counts; a line still being written does not.
        let out = Output::new(b"hi\r\nthere", true);
        assert_eq!(out.lines, ["hi"]);
        assert_eq!(out.partial.as_deref(), Some("there"));
        assert!(!Expect::Line("there".into()).met(&out, ""));
        // ANSI sequences and CRs are gone; trailing blanks are ignored by `line`.
        let out = Output::new(b"x\r\n\x1b[32mok\x1b[0m  \r\n\x1b[K\r> ", false);
        assert_eq!(out.lines, ["ok  "]);
        assert!(Expect::Line("ok".into()).met(&out, ""));
        assert!(Expect::Prompt.met(&out, ""));
        assert!(!Expect::Prompt.met(&Output::new(b"x\r\nno > prompt\r\n", false), ""));
        assert!(!Expect::Prompt.met(&Output::new(b"", true), ""));
    }

    #[test]
    fn words_and_counts() {
        let out = Output::new(
            b"help\r\nhelp                     list the commands\r\necho [text]   print\r\n",
            false,
        );
        assert!(Expect::Word("help".into()).met(&out, ""));
        assert!(Expect::Word("echo".into()).met(&out, ""));
        assert!(!Expect::Word("print".into()).met(&out, ""));
        assert!(!Expect::Word("ech".into()).met(&out, ""));
        let whole = "Rust kernel 0.1.0\nboot\nRust kernel 0.1.0\n";
        assert!(Expect::Count(2, "Rust kernel".into()).met(&Output::default(), whole));
        assert!(!Expect::Count(3, "Rust kernel".into()).met(&Output::default(), whole));
    }

    #[test]
    fn first_record() {
        let log = "BdsDxe: starting Boot0001\n Rust kernel 0.1.0 | x86_64\n\
                   [   0.104988] INFO  init: console: 80x25 cells at (80, 0)\n\
                   [   0.105957] INFO  init: loader: bundled-loader 0.1.0\n";
        assert_eq!(
            first_record_message(log),
            Some("console: 80x25 cells at (80, 0)")
        );
        assert_eq!(
            first_record_message("[1] x\n[  12.000001] WARN  heap: low: 4 KiB\n"),
            Some("low: 4 KiB")
        );
        assert_eq!(
            first_record_message("no records\n[ 0.1] INFO  a: b\n"),
            None
        );
        let out = Output::new(
            b"dmesg\r\n[   0.104988] INFO  init: console: 80x25 cells at (80, 0)\r\n",
            false,
        );
        assert!(Expect::FirstRecord.met(&out, log));
        // The record in the boot log itself (before the offset) is not a match.
        assert!(!Expect::FirstRecord.met(&Output::new(b"dmesg\r\n> ", false), log));
        assert!(!Expect::FirstRecord.met(&out, "no records"));
    }

    #[test]
    fn settles_only_at_a_quiet_prompt() {
        let t0 = Instant::now();
        let later = |ms| t0 + Duration::from_millis(ms);
        let at_prompt = Output::new(b"frob\r\nunknown\r\n> ", false);
        let mut s = Settle::default();
        assert!(!s.back_at_prompt_at(&at_prompt, 10, t0));
        assert!(!s.back_at_prompt_at(&at_prompt, 10, later(1000)));
        // More output restarts the wait.
        assert!(!s.back_at_prompt_at(&at_prompt, 12, later(1900)));
        assert!(!s.back_at_prompt_at(&at_prompt, 12, later(3800)));
        assert!(s.back_at_prompt_at(&at_prompt, 12, later(3900)));
        // Quiet but not at a prompt (a command still running): never settled.
        let busy = Output::new(b"sleep 5000\r\n", false);
        let mut s = Settle::default();
        assert!(!s.back_at_prompt_at(&busy, 5, t0));
        assert!(!s.back_at_prompt_at(&busy, 5, later(10_000)));
        // Text typed after the prompt: not a fresh prompt.
        let typing = Output::new(b"x\r\n> ec", false);
        let mut s = Settle::default();
        assert!(!s.back_at_prompt_at(&typing, 5, t0));
        assert!(!s.back_at_prompt_at(&typing, 5, later(10_000)));
    }

    #[test]
    fn failures_show_the_step_and_the_tail() {
        let out = Output::new(b"echo hi\r\nbye\r\n> ", false);
        let f = Failure {
            line: 4,
            step: "line hi".into(),
            why: "not seen within 30 s".into(),
            tail: out.tail(12),
        };
        assert_eq!(
            f.to_string(),
            "step 4 `line hi`: not seen within 30 s; output after the last input ends:\n        \
             | echo hi\n        | bye\n        | > "
        );
        let lines: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let out = Output::new(lines.join("\n").as_bytes(), true);
        assert_eq!(out.tail(3), ["17", "18", "19"]);
    }

    #[test]
    fn command_names_match_the_shell_source() {
        let names = command_names(COMMANDS_SOURCE).expect("the COMMANDS table");
        // Every entry of the table, in order: as many names as `info(` calls in it.
        let table_start = COMMANDS_SOURCE.find("pub const COMMANDS").expect("table");
        let table = &COMMANDS_SOURCE[table_start..];
        let table = &table[..table.find("\n];").expect("table end")];
        assert_eq!(names.len(), table.matches("info(").count());
        for name in ["help", "echo", "dmesg", "reboot", "shutdown"] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
        assert_eq!(names[0], "help");
        // A multi-line entry is found too.
        let src = "pub const COMMANDS: &[CommandInfo] = &[\n    info(\"a\", \"\", \"x\"),\n    \
                   info(\n        \"b\",\n        \"<n>\",\n        \"y\",\n    ),\n];\n";
        assert_eq!(command_names(src).expect("table"), ["a", "b"]);
        assert_eq!(command_names("no table"), None);
    }

    #[test]
    fn every_session_parses() {
        let sessions = sessions().expect("sessions");
        assert!(sessions.iter().all(|s| s.name.starts_with("shell-")));
        let help = sessions
            .iter()
            .find(|s| s.name == "shell-help")
            .expect("help");
        let words = help
            .script
            .steps
            .iter()
            .filter(|(_, _, s)| matches!(s, Step::Expect(Expect::Word(_))))
            .count();
        assert_eq!(words, command_names(COMMANDS_SOURCE).expect("names").len());
    }
}
