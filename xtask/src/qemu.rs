//! QEMU command lines and supervised runs: serial capture, time limits, the QMP socket.
//!
//! Every target honours the same knobs (environment variables, as `make VAR=...` passes them):
//! `MACHINE` (q35), `MEM` (512M), `SMP` (1), `ACCEL` (tcg; `kvm` is opt-in), `CPU` (max),
//! `QEMUFLAGS` (extra options appended last, split with shell quoting rules),
//! `OVMF_CODE`/`OVMF_VARS` (firmware images, found in the usual distribution paths otherwise).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// QEMU exit status for the kernel's success code 0x10 through isa-debug-exit.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU exit status for the kernel's failure code 0x11.
pub const EXIT_FAILURE: i32 = 35;

/// OVMF firmware images.
#[derive(Debug, Clone)]
pub struct Ovmf {
    /// Read-only code image.
    pub code: PathBuf,
    /// Template of the variable store (copied per run).
    pub vars: PathBuf,
}

const OVMF_CANDIDATES: &[(&str, &str)] = &[
    (
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    ),
    (
        "/usr/share/OVMF/OVMF_CODE.fd",
        "/usr/share/OVMF/OVMF_VARS.fd",
    ),
    (
        "/usr/share/edk2/x64/OVMF_CODE.4m.fd",
        "/usr/share/edk2/x64/OVMF_VARS.4m.fd",
    ),
    (
        "/usr/share/edk2/ovmf/OVMF_CODE.fd",
        "/usr/share/edk2/ovmf/OVMF_VARS.fd",
    ),
    (
        "/usr/share/qemu/ovmf-x86_64-code.bin",
        "/usr/share/qemu/ovmf-x86_64-vars.bin",
    ),
];

/// Finds OVMF: `OVMF_CODE`/`OVMF_VARS` if set, else the first distribution path that exists.
pub fn find_ovmf() -> Result<Ovmf> {
    // `make` exports unset variables as empty strings: empty means unset.
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let (Some(code), Some(vars)) = (var("OVMF_CODE"), var("OVMF_VARS")) {
        let ovmf = Ovmf {
            code: code.into(),
            vars: vars.into(),
        };
        if ovmf.code.is_file() && ovmf.vars.is_file() {
            return Ok(ovmf);
        }
        return Err(format!(
            "OVMF_CODE={} / OVMF_VARS={} do not both exist",
            ovmf.code.display(),
            ovmf.vars.display()
        )
        .into());
    }
    OVMF_CANDIDATES
        .iter()
        .map(|(c, v)| Ovmf {
            code: c.into(),
            vars: v.into(),
        })
        .find(|o| o.code.is_file() && o.vars.is_file())
        .ok_or_else(|| {
            "OVMF firmware not found (looked in /usr/share/OVMF and other usual places); run \
             `make deps` (Debian/Ubuntu package `ovmf`) or set OVMF_CODE and OVMF_VARS"
                .into()
        })
}

/// Machine knobs shared by every QEMU target.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// `-machine` type.
    pub machine: String,
    /// `-m` size.
    pub mem: String,
    /// `-smp` count.
    pub smp: String,
    /// `-accel`.
    pub accel: String,
    /// `-cpu` model.
    pub cpu: String,
    /// Extra options appended last.
    pub extra: Vec<String>,
}

fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => default.to_string(),
    }
}

/// Splits `QEMUFLAGS` the way a POSIX shell splits words: `-append "a b"` is two arguments.
pub fn split_qemuflags(flags: &str) -> Result<Vec<String>> {
    shlex::split(flags).ok_or_else(|| Error::Knob {
        name: "QEMUFLAGS",
        why: format!("unbalanced quotes or a trailing backslash in {flags:?}"),
    })
}

impl Knobs {
    /// Reads the knobs from the environment; errors when `QEMUFLAGS` cannot be split.
    pub fn from_env() -> Result<Self> {
        Ok(Self {
            extra: split_qemuflags(&std::env::var("QEMUFLAGS").unwrap_or_default())?,
            ..Self::for_tests()
        })
    }

    /// Defaults for test boots: the environment's extra flags are not applied, so a user's
    /// `QEMUFLAGS` cannot break the harness, but MEM/SMP/MACHINE/ACCEL/CPU still are.
    pub fn for_tests() -> Self {
        Self {
            machine: env_or("MACHINE", "q35"),
            mem: env_or("MEM", "512M"),
            smp: env_or("SMP", "1"),
            accel: env_or("ACCEL", "tcg"),
            cpu: env_or("CPU", "max"),
            extra: Vec::new(),
        }
    }
}

/// How the guest's screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// No window (`-display none`).
    Headless,
    /// A window through this QEMU front end (`-display gtk` / `-display sdl`).
    Window(&'static str),
}

/// Whether a graphical display is available to open a window on.
pub fn have_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// The window front ends QEMU can open, preferred first.
const WINDOW_BACKENDS: [&str; 2] = ["gtk", "sdl"];

/// The first window front end listed by `qemu-system-x86_64 -display help` output.
///
/// Debian ships GTK and SDL as loadable modules in `qemu-system-gui`; without them the list
/// has no `gtk`/`sdl` line (and a bare `qemu-system-x86_64` would fall back to VNC).
pub fn window_backend_in(help: &str) -> Option<&'static str> {
    WINDOW_BACKENDS
        .into_iter()
        .find(|b| help.lines().any(|l| l.trim() == *b))
}

/// Asks QEMU which window front end it has (`None`: none, or QEMU cannot be run).
pub fn window_backend() -> Option<&'static str> {
    let out = Command::new("qemu-system-x86_64")
        .args(["-display", "help"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    window_backend_in(&String::from_utf8_lossy(&out.stdout))
}

/// One QEMU invocation.
#[derive(Debug, Clone)]
pub struct Vm {
    /// Machine knobs.
    pub knobs: Knobs,
    /// OVMF images.
    pub ovmf: Ovmf,
    /// Per-run copy of the variable store.
    pub vars_copy: PathBuf,
    /// The boot medium: a FAT image of the ESP, an ISO, ...
    pub image: Option<(PathBuf, ImageKind)>,
    /// Display mode.
    pub display: Display,
    /// QMP socket path, if the harness wants to drive the VM.
    pub qmp: Option<PathBuf>,
    /// Start paused with a gdb stub on :1234.
    pub gdb: bool,
    /// Attach isa-debug-exit and stop instead of rebooting.
    pub test_devices: bool,
    /// With `test_devices`: let a guest reset restart the machine instead of ending QEMU
    /// (no `-no-reboot`), for boots that test `reboot`, or that must tell a power-off
    /// (QEMU exits with status 0) from a reset (which would also exit with 0).
    pub allow_reboot: bool,
    /// Serial on stdio multiplexed with the monitor (interactive `make run`).
    pub interactive: bool,
    /// Boot with SeaBIOS, QEMU's default firmware, instead of OVMF (no pflash drives).
    pub bios: bool,
}

/// How an image file is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// As a CD-ROM.
    Cdrom,
    /// As a hard disk.
    Disk,
}

impl Vm {
    /// A headless VM for the harness, benches and screenshots: booting `image`, with the test
    /// devices, and the OVMF variable copy and a QMP socket in `dir`.
    pub fn headless(knobs: Knobs, ovmf: Ovmf, dir: &Path, image: (PathBuf, ImageKind)) -> Self {
        Self {
            knobs,
            ovmf,
            vars_copy: dir.join("OVMF_VARS.fd"),
            image: Some(image),
            display: Display::Headless,
            qmp: Some(dir.join("qmp.sock")),
            gdb: false,
            test_devices: true,
            allow_reboot: false,
            interactive: false,
            bios: false,
        }
    }

    /// Builds the command line.
    pub fn command(&self) -> Result<Command> {
        if !self.bios {
            ensure_parent(&self.vars_copy)?;
            std::fs::copy(&self.ovmf.vars, &self.vars_copy).map_err(|e| {
                Error::io(
                    format!(
                        "cannot copy {} to {}",
                        self.ovmf.vars.display(),
                        self.vars_copy.display()
                    ),
                    e,
                )
            })?;
        }
        let mut cmd = Command::new("qemu-system-x86_64");
        let k = &self.knobs;
        cmd.args([
            "-machine", &k.machine, "-m", &k.mem, "-smp", &k.smp, "-accel", &k.accel, "-cpu",
            &k.cpu,
        ]);
        cmd.args(["-nodefaults", "-vga", "std"]);
        if !self.allow_reboot {
            cmd.arg("-no-reboot");
        }
        if !self.bios {
            cmd.arg("-drive").arg(format!(
                "if=pflash,format=raw,readonly=on,file={}",
                self.ovmf.code.display()
            ));
            cmd.arg("-drive").arg(format!(
                "if=pflash,format=raw,file={}",
                self.vars_copy.display()
            ));
        }
        if let Some((image, kind)) = &self.image {
            // `snapshot=on`: guest writes go to a throw-away overlay, never into the image.
            let media = match kind {
                ImageKind::Cdrom => "cdrom",
                ImageKind::Disk => "disk",
            };
            cmd.arg("-drive").arg(format!(
                "format=raw,media={media},snapshot=on,file={}",
                image.display()
            ));
        }
        match self.display {
            Display::Headless => cmd.args(["-display", "none"]),
            Display::Window(backend) => cmd.args(["-display", backend]),
        };
        if self.interactive {
            cmd.args(["-serial", "mon:stdio"]);
        } else {
            cmd.args(["-serial", "stdio", "-monitor", "none"]);
        }
        if let Some(qmp) = &self.qmp {
            let _ = std::fs::remove_file(qmp);
            cmd.arg("-qmp")
                .arg(format!("unix:{},server=on,wait=off", qmp.display()));
        }
        if self.test_devices {
            cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        }
        if self.gdb {
            cmd.args(["-s", "-S"]);
        }
        cmd.args(&k.extra);
        Ok(cmd)
    }
}

/// One write to QEMU's stdin (the serial input) and where to report its result.
type InputJob = (Vec<u8>, mpsc::Sender<std::io::Result<()>>);

/// A VM running under the harness: serial captured (and fed, see [`Running::send`]), killable,
/// with an optional QMP connection.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// QEMU's stdin until the first [`Running::send`] hands it to the writer thread.
    stdin: Option<ChildStdin>,
    /// The writer thread's queue: a write to the pipe blocks while QEMU does not read (the
    /// UART takes bytes only as its FIFO has room), so it happens off the caller's thread.
    input: Option<mpsc::Sender<InputJob>>,
    log: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The threads copying QEMU's stdout and stderr; joined once QEMU has exited.
    readers: Vec<JoinHandle<()>>,
    started: Instant,
    qmp_path: Option<PathBuf>,
    qmp: Option<(BufReader<UnixStream>, UnixStream)>,
}

/// How a supervised run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// QEMU's exit status; `None` if the harness killed it.
    pub status: Option<i32>,
    /// Whether the time limit was hit.
    pub timed_out: bool,
    /// Serial output (lossy UTF-8).
    pub log: String,
    /// QEMU's own stderr.
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

/// Copies `from` into `into` until end of file (the pipe closes when QEMU exits).
fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().expect("log lock").extend_from_slice(&buf[..n]);
        }
    })
}

/// One message from QEMU on a QMP socket (QMP specification, "Server responses" and
/// "Asynchronous events").
#[derive(Debug, Clone, PartialEq)]
pub enum QmpMessage {
    /// The greeting sent on connect (`{"QMP": {...}}`).
    Greeting,
    /// A successful reply: the value of `return`.
    Return(serde_json::Value),
    /// An error reply.
    Error {
        /// `error.class`.
        class: String,
        /// `error.desc`.
        desc: String,
    },
    /// An asynchronous event (`{"event": NAME, ...}`), not a reply to anything.
    Event(String),
}

/// Parses one line from a QMP socket.
pub fn parse_qmp(line: &str) -> Result<QmpMessage> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| Error::Msg(format!("QMP sent invalid JSON ({e}): {}", line.trim())))?;
    let obj = value
        .as_object()
        .ok_or_else(|| Error::Msg(format!("QMP sent a non-object: {}", line.trim())))?;
    if let Some(ret) = obj.get("return") {
        return Ok(QmpMessage::Return(ret.clone()));
    }
    if let Some(err) = obj.get("error") {
        let field = |k: &str| {
            err.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
                .to_string()
        };
        return Ok(QmpMessage::Error {
            class: field("class"),
            desc: field("desc"),
        });
    }
    if let Some(event) = obj.get("event").and_then(serde_json::Value::as_str) {
        return Ok(QmpMessage::Event(event.to_string()));
    }
    if obj.contains_key("QMP") {
        return Ok(QmpMessage::Greeting);
    }
    Err(format!("QMP sent an unknown message: {}", line.trim()).into())
}

impl Running {
    /// Spawns `cmd` with captured serial output and a pipe to its stdin (COM1's input when the
    /// serial is on stdio; nothing is written unless [`Running::send`] is called).
    pub fn spawn(mut cmd: Command, qmp: Option<PathBuf>) -> Result<Self> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io("cannot start qemu-system-x86_64", e))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            pump(child.stdout.take().expect("piped stdout"), Arc::clone(&log)),
            pump(
                child.stderr.take().expect("piped stderr"),
                Arc::clone(&stderr),
            ),
        ];
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            stdin,
            input: None,
            log,
            stderr,
            readers,
            started: Instant::now(),
            qmp_path: qmp,
            qmp: None,
        })
    }

    /// Serial output so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().expect("log lock")).into_owned()
    }

    /// Bytes of serial output so far: an offset for [`Running::log_since`].
    pub fn log_len(&self) -> usize {
        self.log.lock().expect("log lock").len()
    }

    /// The raw serial output from byte `offset` on, and whether `offset` is at the start of a
    /// line (0, or just after a `\n`).
    pub fn log_since(&self, offset: usize) -> (Vec<u8>, bool) {
        let log = self.log.lock().expect("log lock");
        let offset = offset.min(log.len());
        let at_line_start = offset == 0 || log[offset - 1] == b'\n';
        (log[offset..].to_vec(), at_line_start)
    }

    /// Writes `bytes` to COM1 (QEMU's stdin), waiting at most `timeout` for QEMU to take them
    /// into the pipe. A timeout leaves the bytes queued: they still arrive if QEMU reads later.
    pub fn send(&mut self, bytes: &[u8], timeout: Duration) -> Result<()> {
        if self.input.is_none() {
            let mut stdin = self.stdin.take().ok_or("QEMU's stdin is not a pipe")?;
            let (tx, rx) = mpsc::channel::<InputJob>();
            // Ends when the sender is dropped with `self`; a write to an exited QEMU fails
            // with a broken pipe (Rust programs ignore SIGPIPE) instead of blocking.
            std::thread::spawn(move || {
                for (bytes, done) in rx {
                    let _ = done.send(stdin.write_all(&bytes).and_then(|()| stdin.flush()));
                }
            });
            self.input = Some(tx);
        }
        let (done_tx, done_rx) = mpsc::channel();
        self.input
            .as_ref()
            .expect("writer started")
            .send((bytes.to_vec(), done_tx))
            .map_err(|_| "the serial writer thread has ended")?;
        match done_rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::io("cannot write to QEMU's serial input", e)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "QEMU took no more serial input for {:.1} s ({} bytes pending)",
                timeout.as_secs_f64(),
                bytes.len()
            )
            .into()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the serial writer thread has ended".into())
            }
        }
    }

    /// QEMU's exit status if it has exited (`Some(None)`: ended by a signal).
    pub fn exit_status(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(exit_code)
    }

    /// Time since spawn.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether QEMU has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits until the serial output contains `needle`; false on timeout or if QEMU exits.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if crate::ktap::strip_ansi(&self.log()).contains(needle) {
                return true;
            }
            if Instant::now() >= deadline || matches!(self.child.try_wait(), Ok(Some(_))) {
                return crate::ktap::strip_ansi(&self.log()).contains(needle);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for QEMU to exit, killing it at the deadline.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = self.started + timeout;
        let (status, timed_out) = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break (exit_code(s), false),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break (None, true);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break (None, false),
            }
        };
        self.finish(status, timed_out)
    }

    /// Kills QEMU and returns what was captured.
    pub fn kill(mut self) -> Outcome {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.finish(None, false)
    }

    /// Collects the outcome of an exited QEMU: joining the reader threads, which end when
    /// the pipes reach end of file, guarantees the logs hold every byte QEMU wrote.
    fn finish(mut self, status: Option<i32>, timed_out: bool) -> Outcome {
        let elapsed = self.started.elapsed();
        for reader in self.readers.drain(..) {
            // A reader panics only if the log lock is poisoned; its bytes are lost then.
            let _ = reader.join();
        }
        Outcome {
            status,
            timed_out,
            log: self.log(),
            stderr: String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned(),
            elapsed,
        }
    }

    fn qmp_connect(&mut self) -> Result<()> {
        if self.qmp.is_some() {
            return Ok(());
        }
        let path = self.qmp_path.clone().ok_or("this VM has no QMP socket")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match UnixStream::connect(&path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::io(format!("QMP connect {}", path.display()), e));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| Error::io("QMP socket timeout", e))?;
        let writer = stream
            .try_clone()
            .map_err(|e| Error::io("QMP socket clone", e))?;
        let mut reader = BufReader::new(stream);
        let mut greeting = String::new();
        reader
            .read_line(&mut greeting)
            .map_err(|e| Error::io("QMP greeting", e))?;
        if parse_qmp(&greeting)? != QmpMessage::Greeting {
            return Err(format!("QMP: expected a greeting, got {}", greeting.trim()).into());
        }
        self.qmp = Some((reader, writer));
        self.qmp(&serde_json::json!({ "execute": "qmp_capabilities" }))?;
        Ok(())
    }

    /// Sends one QMP command and returns the value of its `return`; an error reply is an
    /// [`Error::Qmp`]. Events that arrive meanwhile are skipped.
    pub fn qmp(&mut self, command: &serde_json::Value) -> Result<serde_json::Value> {
        self.qmp_connect()?;
        let (reader, writer) = self.qmp.as_mut().expect("connected");
        let text = command.to_string();
        writer
            .write_all(text.as_bytes())
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(|e| Error::io("QMP write", e))?;
        loop {
            let mut line = String::new();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| Error::io("QMP read", e))?;
            if n == 0 {
                return Err("QMP connection closed".into());
            }
            match parse_qmp(&line)? {
                QmpMessage::Return(value) => return Ok(value),
                QmpMessage::Error { class, desc } => {
                    return Err(Error::Qmp {
                        command: command
                            .get("execute")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or("?")
                            .to_string(),
                        class,
                        desc,
                    });
                }
                QmpMessage::Event(_) | QmpMessage::Greeting => {}
            }
        }
    }
}

impl Running {
    /// Presses one key combination on the guest's keyboard (QMP `send-key`; key names are
    /// QEMU qcodes such as `a`, `spc`, `ret`, `shift`), then gives the guest 15 ms to take its
    /// scancodes before the next combination arrives.
    pub fn send_key(&mut self, combo: &[String]) -> Result<()> {
        let keys: Vec<serde_json::Value> = combo
            .iter()
            .map(|k| serde_json::json!({ "type": "qcode", "data": k }))
            .collect();
        self.qmp(&serde_json::json!({
            "execute": "send-key",
            "arguments": { "keys": keys, "hold-time": 10 },
        }))?;
        std::thread::sleep(Duration::from_millis(15));
        Ok(())
    }
}

fn exit_code(status: ExitStatus) -> Option<i32> {
    status.code()
}

/// Describes an outcome for failure messages.
pub fn describe(outcome: &Outcome) -> String {
    match (outcome.timed_out, outcome.status) {
        (true, _) => format!("timed out after {:.1} s", outcome.elapsed.as_secs_f64()),
        (false, Some(EXIT_SUCCESS)) => "exited with success (33)".into(),
        (false, Some(EXIT_FAILURE)) => "exited with failure (35)".into(),
        (false, Some(0)) => "machine reset or powered off (triple fault?)".into(),
        (false, Some(c)) => format!("QEMU exited with status {c}"),
        (false, None) => "killed by the harness".into(),
    }
}

/// Creates `path`'s parent directories.
pub fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qmp_replies_told_apart() {
        assert_eq!(
            parse_qmp(r#"{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}"#)
                .expect("greeting"),
            QmpMessage::Greeting
        );
        assert_eq!(
            parse_qmp("{\"return\": {}}\r\n").expect("return"),
            QmpMessage::Return(json!({}))
        );
        // A successful reply whose payload mentions "error" is still a success.
        assert_eq!(
            parse_qmp(r#"{"return": {"status": "error-free", "note": "\"error\""}}"#)
                .expect("return"),
            QmpMessage::Return(json!({"status": "error-free", "note": "\"error\""}))
        );
        assert_eq!(
            parse_qmp(r#"{"error": {"class": "GenericError", "desc": "Could not open '/x.png'"}}"#)
                .expect("error"),
            QmpMessage::Error {
                class: "GenericError".into(),
                desc: "Could not open '/x.png'".into()
            }
        );
        assert_eq!(
            parse_qmp(
                r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESET", "data": {"guest": true}}"#
            )
            .expect("event"),
            QmpMessage::Event("RESET".into())
        );
        assert!(parse_qmp("error").is_err());
        assert!(parse_qmp("[1, 2]").is_err());
        assert!(parse_qmp(r#"{"something": "else"}"#).is_err());
    }

    #[test]
    fn qemuflags_follow_shell_quoting() {
        assert_eq!(
            split_qemuflags(r#"-append "a b" -device  'isa-debug-exit,iobase=0xf4'"#)
                .expect("balanced"),
            ["-append", "a b", "-device", "isa-debug-exit,iobase=0xf4"]
        );
        assert_eq!(split_qemuflags("  ").expect("empty"), Vec::<String>::new());
        assert_eq!(
            split_qemuflags(r"-name my\ vm").expect("escaped"),
            ["-name", "my vm"]
        );
        let err = split_qemuflags(r#"-append "a b"#).expect_err("unbalanced");
        assert!(
            matches!(
                err,
                Error::Knob {
                    name: "QEMUFLAGS",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("unbalanced"), "{err}");
    }

    #[test]
    fn window_backend_from_help() {
        let full = "Available display backend types:\nnone\ngtk\nsdl\negl-headless\ncurses\n";
        assert_eq!(window_backend_in(full), Some("gtk"));
        assert_eq!(
            window_backend_in("Available display backend types:\nnone\nsdl\n"),
            Some("sdl")
        );
        // Debian without qemu-system-gui: no window front end, only these.
        let bare = "Available display backend types:\nnone\ncurses\ndbus\negl-headless\n";
        assert_eq!(window_backend_in(bare), None);
        assert_eq!(window_backend_in(""), None);
    }

    #[test]
    fn reader_threads_capture_everything() {
        // A child that writes more than a pipe buffer and exits at once: joining the readers
        // (no sleep) must still yield every byte.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "head -c 200000 /dev/zero | tr '\\0' x; echo done >&2"]);
        let out = Running::spawn(cmd, None)
            .expect("spawn sh")
            .wait(Duration::from_secs(30));
        assert_eq!(out.status, Some(0));
        assert_eq!(out.log.len(), 200_000);
        assert_eq!(out.stderr, "done\n");
    }

    #[test]
    fn send_reaches_the_child_and_offsets_split_the_log() {
        // `cat` stands in for QEMU with `-serial stdio`: what is sent comes back on stdout.
        let mut running = Running::spawn(Command::new("cat"), None).expect("spawn cat");
        running
            .send(b"first\n", Duration::from_secs(10))
            .expect("send");
        assert!(running.wait_for("first\n", Duration::from_secs(10)));
        let offset = running.log_len();
        assert_eq!(offset, 6);
        assert_eq!(running.log_since(offset), (Vec::new(), true));
        running
            .send(b"second", Duration::from_secs(10))
            .expect("send");
        assert!(running.wait_for("second", Duration::from_secs(10)));
        assert_eq!(running.log_since(offset), (b"second".to_vec(), true));
        assert_eq!(running.log_since(offset + 3), (b"ond".to_vec(), false));
        // Past the end: empty, not a panic.
        assert_eq!(running.log_since(1000).0, Vec::<u8>::new());
        // More than a pipe buffer goes through while the reader keeps up.
        let big = vec![b'x'; 200_000];
        running
            .send(&big, Duration::from_secs(30))
            .expect("big send");
        assert!(running.exit_status().is_none());
        let out = running.kill();
        assert!(out.log.starts_with("first\nsecond"));
    }

    #[test]
    fn send_to_an_exited_child_fails() {
        let mut running = Running::spawn(Command::new("true"), None).expect("spawn true");
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(running.exit_status(), Some(Some(0)));
        let err = running
            .send(&[0u8; 100_000], Duration::from_secs(10))
            .expect_err("broken pipe");
        assert!(err.to_string().contains("serial input"), "{err}");
    }

    #[test]
    fn reboot_flag_controls_no_reboot() {
        let dir = std::env::temp_dir().join(format!("xtask-vm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (code, vars) = (dir.join("code.fd"), dir.join("vars.fd"));
        std::fs::write(&code, b"c").expect("code");
        std::fs::write(&vars, b"v").expect("vars");
        let mut vm = Vm::headless(
            Knobs::for_tests(),
            Ovmf { code, vars },
            &dir,
            (dir.join("esp.img"), ImageKind::Disk),
        );
        let args = |vm: &Vm| -> Vec<String> {
            vm.command()
                .expect("command")
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let a = args(&vm);
        assert!(a.iter().any(|x| x == "-no-reboot"), "{a:?}");
        assert!(a.windows(2).any(|w| w == ["-serial", "stdio"]), "{a:?}");
        vm.allow_reboot = true;
        let a = args(&vm);
        assert!(!a.iter().any(|x| x == "-no-reboot"), "{a:?}");
        assert!(a.iter().any(|x| x.starts_with("isa-debug-exit")), "{a:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
