use super::commands::{BenchKind, FaultKind, HeapStats, MemStats, TaskLine};
use super::*;
use crate::console::color::Color;
use crate::input::serial::SerialDecoder;
use core::fmt::Write;
use std::string::String;
use std::vec::Vec;

#[derive(Default)]
struct Host {
    effects: Vec<&'static str>,
}

impl ShellHost for Host {
    fn set_colors(&mut self, _: Color, _: Option<Color>) {
        self.effects.push("color");
    }
    fn uptime_nanos(&self) -> u64 {
        1_000_000_000
    }
    fn boot_unix_seconds(&self) -> Option<u64> {
        None
    }
    fn dmesg(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("boot: first line\r\n")
    }
    fn mem_stats(&self) -> Option<MemStats> {
        None
    }
    fn heap_stats(&self) -> Option<HeapStats> {
        None
    }
    fn translate(&mut self, _: u64, out: &mut dyn Write) -> fmt::Result {
        out.write_str("walk\r\n")
    }
    fn tasks(&self, f: &mut dyn FnMut(TaskLine<'_>)) {
        f(TaskLine {
            id: 1,
            name: "shell",
            state: "running",
            polls: 1,
        });
    }
    fn cpu(&mut self, _: &mut dyn Write) -> fmt::Result {
        Ok(())
    }
    fn acpi(&mut self, _: &mut dyn Write) -> fmt::Result {
        Ok(())
    }
    fn bench(&mut self, _: BenchKind, _: &mut dyn Write) -> fmt::Result {
        self.effects.push("bench");
        Ok(())
    }
    fn reboot(&mut self) {
        self.effects.push("reboot");
    }
    fn shutdown(&mut self) {
        self.effects.push("shutdown");
    }
    fn fault(&mut self, _: FaultKind) {
        self.effects.push("fault");
    }
}

/// Serial bytes through the decoder into the shell; returns the output and the steps.
fn drive(shell: &mut Shell, host: &mut Host, bytes: &[u8], out: &mut String) -> Vec<Step> {
    let mut decoder = SerialDecoder::new();
    let mut keys = Vec::new();
    decoder.feed_all(bytes, &mut |k| keys.push(k));
    decoder.timeout(&mut |k| keys.push(k));
    let mut steps = Vec::new();
    for k in keys {
        let step = shell.key(k, host, out).unwrap();
        if let Step::Sleep(_) = step {
            shell.resume(out).unwrap();
        }
        steps.push(step);
    }
    steps
}

#[test]
fn a_session() {
    let mut shell = Shell::new();
    let mut host = Host::default();
    let mut out = String::new();
    shell.start(&mut out).unwrap();
    assert_eq!(out, "> ");
    out.clear();
    drive(&mut shell, &mut host, b"echo hi\r", &mut out);
    assert_eq!(out, "echo hi\r\nhi\r\n> ");
    out.clear();
    drive(&mut shell, &mut host, b"nope\r\n", &mut out);
    assert_eq!(
        out,
        "nope\r\nunknown command 'nope' (type help for a list)\r\n> "
    );
    // Up arrow re-runs the last command.
    out.clear();
    drive(&mut shell, &mut host, b"echo again\r\x1b[A\r", &mut out);
    assert_eq!(out.matches("again\r\n").count(), 3, "{out:?}");
    // help lists every command.
    out.clear();
    drive(&mut shell, &mut host, b"help\r", &mut out);
    for c in commands::COMMANDS {
        assert!(out.contains(c.summary));
    }
    let steps = drive(&mut shell, &mut host, b"sleep 20\r\x1b[5~", &mut out);
    assert!(steps.contains(&Step::Sleep(20)));
    assert_eq!(steps.last(), Some(&Step::ScrollUp));
    drive(&mut shell, &mut host, b"shutdown\rreboot\r", &mut out);
    assert_eq!(host.effects, ["shutdown", "reboot"]);
}

#[test]
fn random_bytes_then_echo_alive() {
    // 64 KiB of seeded pseudo-random bytes (xorshift), then Ctrl-C and a command.
    let mut rng = crate::rand::XorShift64(0x2545_f491_4f6c_dd1d);
    let bytes: Vec<u8> = (0..65_536).map(|_| (rng.next_u64() >> 24) as u8).collect();
    let mut shell = Shell::new();
    let mut host = Host::default();
    let mut out = String::new();
    shell.start(&mut out).unwrap();
    drive(&mut shell, &mut host, &bytes, &mut out);
    out.clear();
    drive(&mut shell, &mut host, b"\x03echo alive\r", &mut out);
    assert!(out.ends_with("echo alive\r\nalive\r\n> "), "{out:?}");
}

#[test]
fn clear_and_ctrl_l_report_the_clear_and_refresh_redraws_the_line() {
    let mut shell = Shell::new();
    let mut host = Host::default();
    let mut out = String::new();
    shell.start(&mut out).unwrap();
    out.clear();
    let steps = drive(&mut shell, &mut host, b"clear\r", &mut out);
    assert_eq!(steps.last(), Some(&Step::Cleared));
    assert!(out.ends_with("\x1b[2J\x1b[H> "), "{out:?}");
    // Ctrl-L in the middle of a line keeps the line.
    out.clear();
    let steps = drive(&mut shell, &mut host, b"ech\x0c", &mut out);
    assert_eq!(steps.last(), Some(&Step::Cleared));
    assert!(out.contains("\x1b[2J\x1b[H"), "{out:?}");
    out.clear();
    shell.editor_mut().refresh(&mut out).unwrap();
    assert!(out.starts_with("\r> ech"), "{out:?}");
    out.clear();
    drive(&mut shell, &mut host, b"o x\r", &mut out);
    assert!(out.ends_with("x\r\n> "), "{out:?}");
}
