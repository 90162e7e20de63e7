//! The interactive shell's pure parts: the line editor, the command parser and table, the
//! commands' output formatting, and [`Shell`], which ties them together. The shell task
//! (kernel side) feeds it keys from the keyboard and serial streams, hands it a
//! [`commands::ShellHost`] for the commands' effects and writes its output to the console.

pub mod commands;
pub mod editor;

use core::fmt;

use crate::input::Key;
use commands::{Outcome, ShellHost};
use editor::{Event, LineEditor};

/// The prompt.
pub const PROMPT: &str = "> ";

/// Bytes per line.
pub const LINE_BYTES: usize = 256;

/// Lines of history.
pub const HISTORY: usize = 32;

/// What the shell task does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read the next key.
    Continue,
    /// Await a sleep of this many milliseconds, then call [`Shell::resume`].
    Sleep(u64),
    /// Scroll the screen back (PageUp; the serial terminal scrolls itself).
    ScrollUp,
    /// Scroll the screen forward (PageDown).
    ScrollDown,
    /// The screen was cleared (`clear`, Ctrl-L) and the prompt drawn on its top row: a
    /// caller that pins a title bar restores it and redraws the line below
    /// ([`Shell::editor_mut`]`.refresh`).
    Cleared,
}

/// The line editor and the command table, as one key-driven state machine.
#[derive(Debug)]
pub struct Shell {
    editor: LineEditor<LINE_BYTES, HISTORY>,
}

impl Default for Shell {
    fn default() -> Self {
        Self::new()
    }
}

impl Shell {
    /// A shell completing the commands of [`commands::COMMANDS`].
    pub fn new() -> Self {
        Self {
            editor: LineEditor::new(PROMPT, commands::NAMES),
        }
    }

    /// The editor (for its width and history).
    pub fn editor_mut(&mut self) -> &mut LineEditor<LINE_BYTES, HISTORY> {
        &mut self.editor
    }

    /// Shows the first prompt.
    ///
    /// # Errors
    ///
    /// Whatever `out` returns.
    pub fn start(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        self.editor.start(out)
    }

    /// After a [`Step::Sleep`]: shows the prompt again.
    ///
    /// # Errors
    ///
    /// Whatever `out` returns.
    pub fn resume(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        self.editor.start(out)
    }

    /// Handles one key: edits, or runs the line on Enter.
    ///
    /// # Errors
    ///
    /// Whatever `out` returns.
    pub fn key(
        &mut self,
        key: Key,
        host: &mut impl ShellHost,
        out: &mut impl fmt::Write,
    ) -> Result<Step, fmt::Error> {
        let mut line: heapless::String<LINE_BYTES> = heapless::String::new();
        match self.editor.feed(key, out)? {
            Event::None => return Ok(Step::Continue),
            Event::Cleared => return Ok(Step::Cleared),
            Event::ScrollUp => return Ok(Step::ScrollUp),
            Event::ScrollDown => return Ok(Step::ScrollDown),
            Event::Cancelled => {
                self.editor.start(out)?;
                return Ok(Step::Continue);
            }
            // Copied: the editor is borrowed by its event.
            Event::Line(l) => {
                let _ = line.push_str(l);
            }
        }
        match commands::execute(&line, host, out)? {
            Outcome::Done => {
                self.editor.start(out)?;
                Ok(Step::Continue)
            }
            Outcome::Sleep(ms) => Ok(Step::Sleep(ms)),
            Outcome::Cleared => {
                self.editor.start(out)?;
                Ok(Step::Cleared)
            }
        }
    }
}

#[cfg(test)]
mod tests;
