//! The one error type of the host driver.
//!
//! Most failures here end the command with a message for the person at the terminal, so the
//! common case is [`Error::Msg`]; the variants beside it keep the cause of failures that code
//! (and tests) tell apart: an I/O error on a path, a command that ran and failed, a QMP error
//! reply, a malformed knob.

use std::fmt;
use std::process::ExitStatus;

/// Every xtask failure.
#[derive(Debug)]
pub enum Error {
    /// A complete message for the user.
    Msg(String),
    /// An I/O operation failed; `what` says on what ("cannot read limine.conf").
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A program ran and exited unsuccessfully.
    Failed {
        /// The command as shown to the user.
        command: String,
        /// Its exit status.
        status: ExitStatus,
    },
    /// QEMU answered a QMP command with an error reply.
    Qmp {
        /// The command sent.
        command: String,
        /// QMP's error class (`GenericError`, `CommandNotFound`, ...).
        class: String,
        /// QMP's human-readable description.
        desc: String,
    },
    /// An environment knob has a value that cannot be used.
    Knob {
        /// The variable's name.
        name: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

/// Result with the xtask [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// Prefixes the message with `context` (for `Msg`; other variants keep their text and get
    /// the context in front as well).
    pub fn context(self, context: &str) -> Self {
        Self::Msg(format!("{context}: {self}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Msg(m) => f.write_str(m),
            Self::Io { what, source } => write!(f, "{what}: {source}"),
            Self::Failed { command, status } => write!(f, "{command} failed ({status})"),
            Self::Qmp {
                command,
                class,
                desc,
            } => write!(f, "QMP error {class} for {command}: {desc}"),
            Self::Knob { name, why } => write!(f, "{name}: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<String> for Error {
    fn from(m: String) -> Self {
        Self::Msg(m)
    }
}

impl From<&str> for Error {
    fn from(m: &str) -> Self {
        Self::Msg(m.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_source() {
        let e = Error::io(
            "cannot read x",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(e.to_string(), "cannot read x: gone");
        assert!(std::error::Error::source(&e).is_some());
        let e = Error::Qmp {
            command: "screendump".into(),
            class: "GenericError".into(),
            desc: "no such file".into(),
        };
        assert_eq!(
            e.to_string(),
            "QMP error GenericError for screendump: no such file"
        );
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(Error::from("x").context("y").to_string(), "y: x");
    }
}
