//! The running kernel after boot: the executor on the boot CPU, the interrupt-fed input
//! streams, the timers, the presenter task and the shell task (see docs/architecture.md,
//! "Async and the shell").
