//! Device drivers: the PS/2 keyboard for now (the serial port lives in `crate::serial`).

pub mod keyboard;
