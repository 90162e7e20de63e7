//! The interactive shell's pure parts: the line editor, the command parser and table, and the
//! commands' output formatting. The shell task (kernel side) feeds keys to the editor, runs
//! parsed commands against a [`commands::ShellHost`] and writes their output to the console.

pub mod commands;
pub mod editor;
