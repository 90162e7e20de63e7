//! TEMPORARY stand-in until the kernel's ShellHost lands (replaced by the h-host branch).
use core::fmt::{self, Write};

use crate::console::Color;
use crate::shell::commands::{BenchKind, FaultKind, HeapStats, MemStats, ShellHost, TaskLine};
use crate::task::executor::Spawner;

pub struct KernelHost {
    spawner: Spawner,
}

impl KernelHost {
    pub fn new(spawner: Spawner) -> Self {
        Self { spawner }
    }
}

impl ShellHost for KernelHost {
    fn set_colors(&mut self, _fg: Color, _bg: Option<Color>) {}
    fn uptime_nanos(&self) -> u64 {
        crate::time::uptime_nanos()
    }
    fn boot_unix_seconds(&self) -> Option<u64> {
        None
    }
    fn dmesg(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("n/a\r\n")
    }
    fn mem_stats(&self) -> Option<MemStats> {
        None
    }
    fn heap_stats(&self) -> Option<HeapStats> {
        None
    }
    fn translate(&mut self, _addr: u64, out: &mut dyn Write) -> fmt::Result {
        out.write_str("n/a\r\n")
    }
    fn tasks(&self, f: &mut dyn FnMut(TaskLine<'_>)) {
        for t in self.spawner.tasks() {
            f(TaskLine {
                id: t.id.as_u64(),
                name: t.name,
                state: t.state.name(),
                polls: t.polls,
            });
        }
    }
    fn cpu(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("n/a\r\n")
    }
    fn acpi(&mut self, out: &mut dyn Write) -> fmt::Result {
        out.write_str("n/a\r\n")
    }
    fn bench(&mut self, _kind: BenchKind, out: &mut dyn Write) -> fmt::Result {
        out.write_str("n/a\r\n")
    }
    fn reboot(&mut self) {}
    fn shutdown(&mut self) {}
    fn fault(&mut self, _kind: FaultKind) {}
}
