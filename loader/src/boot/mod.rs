//! The boot sequence's decisions, made over a firmware the caller supplies.

mod error;

pub use error::{EfiStatus, FileError, FinishError, LoadError};
