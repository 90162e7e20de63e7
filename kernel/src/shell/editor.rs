//! The shell's line editor: keys in, terminal output (text and ANSI sequences) out.
//!
//! Key type: [`LineEditor`], `N` bytes of line and `H` lines of history, no heap. Feed it
//! [`Key`]s with [`LineEditor::feed`]; it writes what the terminal must show to a
//! [`fmt::Write`] and returns an [`Event`] when something happened that the caller acts on
//! (a line, an abandoned line, a scroll request).
//!
//! Keys: printable characters insert at the cursor; Backspace and Delete erase before and
//! under it; Left, Right, Home, End (and Ctrl-A, Ctrl-E) move; Ctrl-K and Ctrl-U cut to the
//! end and to the start; Up and Down walk the history (the line being typed comes back after
//! the newest entry); Tab completes the command name (a unique match gets a space, several
//! extend to their common prefix, or are listed); Enter submits; Ctrl-C abandons the line;
//! Ctrl-L clears the screen and redraws; PageUp and PageDown are handed to the caller.
//!
//! Output uses only what the console's ANSI parser understands (see `console/ansi.rs`): CR,
//! CR LF, `ESC[K`, `ESC[nC`, `ESC[nD`, `ESC[2J`, `ESC[H`. A line wider than the screen
//! scrolls horizontally inside one row (the prompt stays, the window follows the cursor), so
//! the terminal never wraps and nothing depends on the terminal's own wrapping rules; this
//! works on any terminal at least as wide as [`LineEditor::set_width`] says. Every character
//! is taken to be one column wide (the console draws one cell per character).

use core::fmt;

use heapless::{Deque, String, Vec};

use crate::input::Key;

/// What a key did, beyond editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Nothing for the caller.
    None,
    /// Enter: the line (the editor already moved to a new line; call
    /// [`LineEditor::start`] for the next prompt).
    Line(&'a str),
    /// Ctrl-C: the line was abandoned (also on a new line; call `start` again).
    Cancelled,
    /// Ctrl-L: the screen was cleared and the prompt redrawn at the top.
    Cleared,
    /// PageUp: scroll the screen back.
    ScrollUp,
    /// PageDown: scroll the screen forward.
    ScrollDown,
}

/// A line editor with a `N`-byte line and `H` lines of history.
#[derive(Debug)]
pub struct LineEditor<const N: usize, const H: usize> {
    prompt: &'static str,
    prompt_cols: usize,
    width: usize,
    line: Vec<char, N>,
    /// UTF-8 length of `line` (kept at most `N`, so it always fits a history entry).
    bytes: usize,
    cursor: usize,
    /// First character shown.
    scroll: usize,
    history: Deque<String<N>, H>,
    /// Position in the history while walking it (0 = newest).
    walking: Option<usize>,
    /// The line being typed before walking the history.
    stash: Vec<char, N>,
    submitted: String<N>,
    commands: &'static [&'static str],
}

/// Columns assumed until [`LineEditor::set_width`] says otherwise.
pub const DEFAULT_WIDTH: usize = 80;

impl<const N: usize, const H: usize> LineEditor<N, H> {
    /// An editor showing `prompt`, completing the names in `commands`.
    pub fn new(prompt: &'static str, commands: &'static [&'static str]) -> Self {
        Self {
            prompt,
            prompt_cols: prompt.chars().count(),
            width: DEFAULT_WIDTH,
            line: Vec::new(),
            bytes: 0,
            cursor: 0,
            scroll: 0,
            history: Deque::new(),
            walking: None,
            stash: Vec::new(),
            submitted: String::new(),
            commands,
        }
    }

    /// The terminal's width in columns (at least the prompt plus a few columns is useful;
    /// anything smaller is treated as that).
    pub fn set_width(&mut self, cols: usize) {
        self.width = cols.max(self.prompt_cols + 4);
    }

    /// The line as typed so far.
    pub fn line(&self) -> impl Iterator<Item = char> + '_ {
        self.line.iter().copied()
    }

    /// The cursor, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// History entries, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(String::as_str)
    }

    /// Starts a fresh line: writes the prompt.
    pub fn start(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        self.clear_line();
        self.walking = None;
        out.write_str(self.prompt)
    }

    /// Handles one key.
    ///
    /// # Errors
    ///
    /// Whatever `out` returns; the editor's state is updated either way.
    pub fn feed(&mut self, key: Key, out: &mut impl fmt::Write) -> Result<Event<'_>, fmt::Error> {
        match key {
            Key::Char(c) if !c.is_control() => self.insert(c, out)?,
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.remove_at(self.cursor);
                self.after_erase(out)?;
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.remove_at(self.cursor);
                self.refresh(out)?;
            }
            Key::Left if self.cursor > 0 => self.move_to(self.cursor - 1, out)?,
            Key::Right if self.cursor < self.line.len() => self.move_to(self.cursor + 1, out)?,
            Key::Home | Key::Ctrl('a') => self.move_to(0, out)?,
            Key::End | Key::Ctrl('e') => self.move_to(self.line.len(), out)?,
            Key::Ctrl('k') => {
                while self.line.len() > self.cursor {
                    self.remove_at(self.cursor);
                }
                self.refresh(out)?;
            }
            Key::Ctrl('u') => {
                for _ in 0..self.cursor {
                    self.remove_at(0);
                }
                self.cursor = 0;
                self.refresh(out)?;
            }
            Key::Up => self.history_step(true, out)?,
            Key::Down => self.history_step(false, out)?,
            Key::Tab => self.complete(out)?,
            Key::Enter => return self.submit(out),
            Key::INTERRUPT => {
                out.write_str("^C\r\n")?;
                self.clear_line();
                self.walking = None;
                return Ok(Event::Cancelled);
            }
            Key::CLEAR => {
                out.write_str("\x1b[2J\x1b[H")?;
                self.refresh(out)?;
                return Ok(Event::Cleared);
            }
            Key::PageUp => return Ok(Event::ScrollUp),
            Key::PageDown => return Ok(Event::ScrollDown),
            _ => {}
        }
        Ok(Event::None)
    }

    fn clear_line(&mut self) {
        self.line.clear();
        self.bytes = 0;
        self.cursor = 0;
        self.scroll = 0;
    }

    fn remove_at(&mut self, at: usize) {
        let c = self.line.remove(at);
        self.bytes -= c.len_utf8();
    }

    /// Columns available for the line (the last column stays free, so printing never wraps);
    /// the cursor stays inside them.
    fn window(&self) -> usize {
        self.width - self.prompt_cols - 1
    }

    /// Moves `scroll` so the cursor is inside the window; returns whether it changed.
    fn fit(&mut self) -> bool {
        let w = self.window();
        let old = self.scroll;
        if self.cursor < self.scroll {
            self.scroll = self.cursor.saturating_sub(w / 2);
        } else if self.cursor >= self.scroll + w {
            self.scroll = self.cursor + 1 - w + w / 4;
        }
        // Don't leave the window half empty after deleting near the end.
        let max_scroll = (self.line.len() + 1).saturating_sub(w).min(self.cursor);
        if self.scroll > max_scroll {
            self.scroll = max_scroll;
        }
        self.scroll != old
    }

    fn insert(&mut self, c: char, out: &mut impl fmt::Write) -> fmt::Result {
        if self.bytes + c.len_utf8() > N || self.line.insert(self.cursor, c).is_err() {
            return Ok(());
        }
        self.bytes += c.len_utf8();
        self.cursor += 1;
        let at_end = self.cursor == self.line.len();
        if !self.fit() && at_end {
            out.write_char(c)
        } else {
            self.refresh(out)
        }
    }

    fn after_erase(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        if !self.fit()
            && self.cursor == self.line.len()
            && self.line.len() < self.scroll + self.window()
        {
            out.write_str("\x1b[D\x1b[K")
        } else {
            self.refresh(out)
        }
    }

    fn move_to(&mut self, to: usize, out: &mut impl fmt::Write) -> fmt::Result {
        let from = self.cursor;
        self.cursor = to;
        if self.fit() {
            return self.refresh(out);
        }
        match to.cmp(&from) {
            core::cmp::Ordering::Less => write!(out, "\x1b[{}D", from - to),
            core::cmp::Ordering::Greater => write!(out, "\x1b[{}C", to - from),
            core::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// Redraws the row: prompt, the visible part of the line, erase the rest, place the cursor.
    /// Redraws the prompt and the line on the current row (after something else wrote over
    /// it, e.g. a title bar restored after a clear).
    ///
    /// # Errors
    ///
    /// Whatever `out` returns.
    pub fn refresh(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        self.fit();
        out.write_char('\r')?;
        out.write_str(self.prompt)?;
        let end = (self.scroll + self.window()).min(self.line.len());
        for &c in &self.line[self.scroll..end] {
            out.write_char(c)?;
        }
        out.write_str("\x1b[K\r")?;
        let col = self.prompt_cols + self.cursor - self.scroll;
        if col > 0 {
            write!(out, "\x1b[{col}C")?;
        }
        Ok(())
    }

    fn set_line(&mut self, chars: impl Iterator<Item = char>) {
        self.clear_line();
        for c in chars {
            if self.bytes + c.len_utf8() > N || self.line.push(c).is_err() {
                break;
            }
            self.bytes += c.len_utf8();
        }
        self.cursor = self.line.len();
    }

    fn history_step(&mut self, older: bool, out: &mut impl fmt::Write) -> fmt::Result {
        let len = self.history.len();
        let next = match (self.walking, older) {
            (None, true) if len > 0 => {
                self.stash.clone_from(&self.line);
                Some(0)
            }
            (Some(i), true) if i + 1 < len => Some(i + 1),
            (Some(0), false) => None,
            (Some(i), false) => Some(i - 1),
            _ => return Ok(()),
        };
        self.walking = next;
        match next {
            Some(i) => {
                let entry = self
                    .history
                    .iter()
                    .rev()
                    .nth(i)
                    .cloned()
                    .unwrap_or_default();
                self.set_line(entry.chars());
            }
            None => {
                let stash = core::mem::take(&mut self.stash);
                self.set_line(stash.iter().copied());
            }
        }
        self.scroll = 0;
        self.refresh(out)
    }

    fn complete(&mut self, out: &mut impl fmt::Write) -> fmt::Result {
        // Only the command name: the cursor at the end of the first word.
        if self.line[..self.cursor].contains(&' ')
            || self.line.get(self.cursor).is_some_and(|&c| c != ' ')
        {
            return Ok(());
        }
        let mut prefix: String<N> = String::new();
        for &c in &self.line[..self.cursor] {
            let _ = prefix.push(c);
        }
        let mut matches = self
            .commands
            .iter()
            .filter(|c| c.starts_with(prefix.as_str()));
        let Some(first) = matches.next() else {
            return Ok(());
        };
        // The longest prefix every match shares.
        let mut common = first.len();
        let mut count = 1;
        for m in matches {
            count += 1;
            common = first
                .bytes()
                .zip(m.bytes())
                .take(common)
                .take_while(|(a, b)| a == b)
                .count();
        }
        if common > prefix.len() {
            let add = &first[prefix.len()..common];
            for c in add.chars() {
                self.insert(c, out)?;
            }
        }
        if count == 1 {
            if self.line.get(self.cursor) != Some(&' ') {
                self.insert(' ', out)?;
            } else {
                self.move_to(self.cursor + 1, out)?;
            }
        } else if common == prefix.len() {
            // Nothing to add: list the candidates under the line, then redraw it.
            out.write_str("\r\n")?;
            for (i, m) in self
                .commands
                .iter()
                .filter(|c| c.starts_with(prefix.as_str()))
                .enumerate()
            {
                if i > 0 {
                    out.write_str("  ")?;
                }
                out.write_str(m)?;
            }
            out.write_str("\r\n")?;
            self.refresh(out)?;
        }
        Ok(())
    }

    fn submit(&mut self, out: &mut impl fmt::Write) -> Result<Event<'_>, fmt::Error> {
        self.submitted.clear();
        for &c in &self.line {
            // Cannot fail: `bytes` never exceeds N.
            let _ = self.submitted.push(c);
        }
        self.clear_line();
        self.walking = None;
        self.stash.clear();
        let text = self.submitted.trim();
        if !text.is_empty() && self.history.back().map(String::as_str) != Some(text) {
            if self.history.is_full() {
                self.history.pop_front();
            }
            let mut entry = String::new();
            let _ = entry.push_str(text);
            let _ = self.history.push_back(entry);
        }
        out.write_str("\r\n")?;
        Ok(Event::Line(self.submitted.as_str()))
    }
}

#[cfg(test)]
mod tests;
