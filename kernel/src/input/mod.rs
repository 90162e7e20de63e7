//! Keys, from whichever device typed them.
//!
//! - [`Key`]: what the shell's line editor consumes; the PS/2 keyboard and the serial line
//!   both produce it ([`key::from_pc_keyboard`] maps `pc-keyboard`'s decoded keys).
//! - [`serial::SerialDecoder`]: terminal bytes (UTF-8, ANSI escape sequences, control codes)
//!   to [`Key`]s, robust against split sequences, a lone ESC and garbage.
//!
//! Both are pure and host-tested; the interrupt handlers that feed them live in `drivers`.

pub mod key;
pub mod serial;

pub use key::Key;
