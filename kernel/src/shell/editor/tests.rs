use super::*;
use crate::console::ansi::Parser;
use crate::console::grid::{COLS, Grid};
use proptest::prelude::*;
use std::string::String as StdString;

const COMMANDS: &[&str] = &["help", "echo", "clear", "color", "cpu", "heap", "halt"];

/// A terminal: the console's own parser and grid, so the test sees what the screen would.
struct Term {
    parser: Parser,
    grid: Grid,
    raw: StdString,
}

impl Term {
    fn new() -> Self {
        Self {
            parser: Parser::new(),
            grid: Grid::new(),
            raw: StdString::new(),
        }
    }

    fn row(&self, r: usize) -> StdString {
        let t = self.grid.row_text(r);
        StdString::from_utf8_lossy(&t).trim_end().into()
    }

    fn cursor_row_text(&self) -> StdString {
        self.row(self.grid.cursor().0)
    }

    fn col(&self) -> usize {
        self.grid.cursor().1
    }
}

impl fmt::Write for Term {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.raw.push_str(s);
        let grid = &mut self.grid;
        self.parser.feed_all(s.as_bytes(), &mut |op| grid.apply(op));
        Ok(())
    }
}

type Ed = LineEditor<64, 4>;

fn editor(term: &mut Term) -> Ed {
    let mut e = Ed::new("> ", COMMANDS);
    e.start(term).unwrap();
    e
}

fn typ<const N: usize, const H: usize>(e: &mut LineEditor<N, H>, t: &mut Term, s: &str) {
    for c in s.chars() {
        assert_eq!(e.feed(Key::Char(c), t).unwrap(), Event::None);
    }
}

fn keys<const N: usize, const H: usize>(e: &mut LineEditor<N, H>, t: &mut Term, keys: &[Key]) {
    for &k in keys {
        let _ = e.feed(k, t).unwrap();
    }
}

fn enter<const N: usize, const H: usize>(e: &mut LineEditor<N, H>, t: &mut Term) -> StdString {
    match e.feed(Key::Enter, t).unwrap() {
        Event::Line(l) => l.into(),
        other => panic!("expected a line, got {other:?}"),
    }
}

fn text<const N: usize, const H: usize>(e: &LineEditor<N, H>) -> StdString {
    e.line().collect()
}

#[test]
fn typing_shows_on_screen_and_enter_submits() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "echo hi");
    assert_eq!(t.cursor_row_text(), "> echo hi");
    assert_eq!(t.col(), 9);
    assert_eq!(enter(&mut e, &mut t), "echo hi");
    assert_eq!(t.grid.cursor(), (1, 0));
    assert_eq!(text(&e), "");
}

#[test]
fn insert_in_the_middle_and_move() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "eho");
    keys(&mut e, &mut t, &[Key::Left, Key::Left]);
    assert_eq!(e.cursor(), 1);
    typ(&mut e, &mut t, "c");
    assert_eq!(t.cursor_row_text(), "> echo");
    assert_eq!((e.cursor(), t.col()), (2, 4));
    keys(&mut e, &mut t, &[Key::Home]);
    assert_eq!((e.cursor(), t.col()), (0, 2));
    keys(&mut e, &mut t, &[Key::End]);
    assert_eq!((e.cursor(), t.col()), (4, 6));
    keys(&mut e, &mut t, &[Key::Ctrl('a'), Key::Right]);
    assert_eq!((e.cursor(), t.col()), (1, 3));
    keys(&mut e, &mut t, &[Key::Ctrl('e')]);
    assert_eq!(t.col(), 6);
    // Moves past either end do nothing.
    keys(&mut e, &mut t, &[Key::Right, Key::Right]);
    assert_eq!(e.cursor(), 4);
    keys(&mut e, &mut t, &[Key::Home, Key::Left]);
    assert_eq!(e.cursor(), 0);
}

#[test]
fn backspace_and_delete() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "echoo  hi");
    keys(&mut e, &mut t, &[Key::Backspace]);
    assert_eq!(t.cursor_row_text(), "> echoo  h");
    keys(&mut e, &mut t, &[Key::Left, Key::Left, Key::Backspace]);
    assert_eq!(t.cursor_row_text(), "> echoo h");
    keys(
        &mut e,
        &mut t,
        &[Key::Home, Key::Right, Key::Right, Key::Right, Key::Delete],
    );
    assert_eq!(t.cursor_row_text(), "> echo h");
    assert_eq!(t.col(), 5);
    // At the ends, nothing to erase.
    keys(
        &mut e,
        &mut t,
        &[Key::Home, Key::Backspace, Key::End, Key::Delete],
    );
    assert_eq!(text(&e), "echo h");
    keys(&mut e, &mut t, &[Key::Left, Key::Left, Key::Ctrl('k')]);
    assert_eq!(t.cursor_row_text(), "> echo");
    keys(&mut e, &mut t, &[Key::Left, Key::Ctrl('u')]);
    assert_eq!(
        (text(&e).as_str(), t.cursor_row_text().as_str(), t.col()),
        ("o", "> o", 2)
    );
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "rebo");
    assert_eq!(e.feed(Key::INTERRUPT, &mut t).unwrap(), Event::Cancelled);
    assert_eq!(t.row(0), "> rebo^C");
    assert_eq!(text(&e), "");
    assert_eq!(e.history().count(), 0);
    e.start(&mut t).unwrap();
    assert_eq!(t.cursor_row_text(), ">");
}

#[test]
fn ctrl_l_clears_and_redraws() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "x");
    enter(&mut e, &mut t);
    e.start(&mut t).unwrap();
    typ(&mut e, &mut t, "echo");
    keys(&mut e, &mut t, &[Key::Left]);
    assert_eq!(e.feed(Key::CLEAR, &mut t).unwrap(), Event::Cleared);
    assert_eq!(t.row(0), "> echo");
    assert_eq!(t.row(1), "");
    assert_eq!(t.grid.cursor(), (0, 5));
}

#[test]
fn page_keys_go_to_the_caller() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    assert_eq!(e.feed(Key::PageUp, &mut t).unwrap(), Event::ScrollUp);
    assert_eq!(e.feed(Key::PageDown, &mut t).unwrap(), Event::ScrollDown);
    // Keys without a meaning change nothing.
    let before = t.raw.clone();
    keys(
        &mut e,
        &mut t,
        &[Key::Escape, Key::Insert, Key::Ctrl('z'), Key::Char('\u{7}')],
    );
    assert_eq!(t.raw, before);
}

#[test]
fn history_up_down_and_bounds() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    for cmd in ["one", "two", "two", "  ", "three", "four", "five"] {
        typ(&mut e, &mut t, cmd);
        enter(&mut e, &mut t);
        e.start(&mut t).unwrap();
    }
    // Bounded at 4, duplicates of the newest and blank lines skipped.
    assert_eq!(
        e.history().collect::<Vec<_, 8>>(),
        ["two", "three", "four", "five"]
    );
    typ(&mut e, &mut t, "draft");
    keys(&mut e, &mut t, &[Key::Up]);
    assert_eq!(
        (text(&e).as_str(), t.cursor_row_text().as_str()),
        ("five", "> five")
    );
    keys(
        &mut e,
        &mut t,
        &[Key::Up, Key::Up, Key::Up, Key::Up, Key::Up],
    );
    assert_eq!(text(&e), "two", "stops at the oldest");
    keys(&mut e, &mut t, &[Key::Down]);
    assert_eq!(text(&e), "three");
    keys(&mut e, &mut t, &[Key::Down, Key::Down, Key::Down]);
    assert_eq!(
        (text(&e).as_str(), t.cursor_row_text().as_str()),
        ("draft", "> draft")
    );
    keys(&mut e, &mut t, &[Key::Down]);
    assert_eq!(text(&e), "draft");
    // A recalled line can be edited and submitted; the entry itself stays.
    keys(&mut e, &mut t, &[Key::Up, Key::Backspace]);
    typ(&mut e, &mut t, "X");
    assert_eq!(enter(&mut e, &mut t), "fivX");
    assert_eq!(
        e.history().collect::<Vec<_, 8>>(),
        ["three", "four", "five", "fivX"]
    );
}

#[test]
fn up_arrow_reruns_the_last_command() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "echo again");
    enter(&mut e, &mut t);
    e.start(&mut t).unwrap();
    keys(&mut e, &mut t, &[Key::Up]);
    assert_eq!(enter(&mut e, &mut t), "echo again");
}

#[test]
fn tab_completes_command_names() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, "ec");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "echo ");
    assert_eq!(t.cursor_row_text(), "> echo");
    assert_eq!(t.col(), 7);
    e.start(&mut t).unwrap();
    // Several matches: extend to the common prefix ("cl" -> "cle"? no: clear and color
    // share only "c"), then list them.
    typ(&mut e, &mut t, "h");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "h", "help, heap, halt share only 'h'");
    let listed = t.row(t.grid.cursor().0 - 1);
    assert_eq!(listed, "help  heap  halt");
    assert_eq!(t.cursor_row_text(), "> h");
    typ(&mut e, &mut t, "e");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "he");
    typ(&mut e, &mut t, "a");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "heap ");
    // Nothing matches; not in the first word: nothing happens.
    e.start(&mut t).unwrap();
    typ(&mut e, &mut t, "zz");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "zz");
    e.start(&mut t).unwrap();
    typ(&mut e, &mut t, "echo he");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "echo he");
}

#[test]
fn tab_extends_a_common_prefix() {
    let mut t = Term::new();
    let mut e = Ed::new("> ", &["reboot", "reset", "run"]);
    e.start(&mut t).unwrap();
    typ(&mut e, &mut t, "r");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "r");
    typ(&mut e, &mut t, "e");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "re");
    let mut e = Ed::new("> ", &["shutdown", "shutup"]);
    e.start(&mut t).unwrap();
    typ(&mut e, &mut t, "s");
    keys(&mut e, &mut t, &[Key::Tab]);
    assert_eq!(text(&e), "shut");
}

#[test]
fn lines_longer_than_the_screen_scroll_inside_one_row() {
    let mut t = Term::new();
    let mut e = LineEditor::<256, 4>::new("> ", COMMANDS);
    e.start(&mut t).unwrap();
    let long: StdString = (0..200)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    typ(&mut e, &mut t, &long);
    // Still on the first row: no wrap, cursor inside the screen, the end of the line visible.
    assert_eq!(t.grid.cursor().0, 0);
    assert!(t.col() < COLS);
    let row = t.row(0);
    assert!(row.starts_with("> "));
    assert!(long.ends_with(&row[2..]), "{row}");
    assert_eq!(t.row(1), "");
    // Home shows the start again.
    keys(&mut e, &mut t, &[Key::Home]);
    assert_eq!(&t.row(0)[..12], &format!("> {}", &long[..10]));
    assert_eq!(t.col(), 2);
    // Walk right through the whole line: the cursor column always matches the text under it.
    for i in 0..200 {
        let (row, col) = t.grid.cursor();
        assert_eq!(row, 0);
        let shown = t.grid.row_text(0)[col];
        assert_eq!(shown, long.as_bytes()[i], "at {i}");
        keys(&mut e, &mut t, &[Key::Right]);
    }
    assert_eq!(enter(&mut e, &mut t), long);
}

#[test]
fn a_full_line_refuses_more() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    let s: StdString = "x".repeat(70);
    typ(&mut e, &mut t, &s);
    assert_eq!(text(&e).len(), 64);
    // Multi-byte characters count in bytes.
    let mut e = editor(&mut t);
    typ(&mut e, &mut t, &"é".repeat(40));
    assert_eq!(text(&e).chars().count(), 32);
    assert_eq!(enter(&mut e, &mut t), "é".repeat(32));
}

#[test]
fn narrow_screens() {
    let mut t = Term::new();
    let mut e = editor(&mut t);
    e.set_width(10);
    typ(&mut e, &mut t, "abcdefghijklmnop");
    assert!(t.col() < 10, "cursor at {}", t.col());
    assert_eq!(enter(&mut e, &mut t), "abcdefghijklmnop");
}

fn any_key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => proptest::char::range('a', 'e').prop_map(Key::Char),
        1 => Just(Key::Char(' ')),
        1 => Just(Key::Char('é')),
        1 => Just(Key::Backspace),
        1 => Just(Key::Delete),
        1 => Just(Key::Left),
        1 => Just(Key::Right),
        1 => Just(Key::Home),
        1 => Just(Key::End),
        1 => Just(Key::Up),
        1 => Just(Key::Down),
        1 => Just(Key::Tab),
        1 => Just(Key::Ctrl('k')),
        1 => Just(Key::Ctrl('u')),
    ]
}

proptest! {
    /// Any key sequence: the screen row shows the visible part of the line, the cursor is
    /// over the right character, nothing wraps, and Enter returns exactly the line.
    #[test]
    fn screen_matches_the_line(keys in proptest::collection::vec(any_key(), 0..300), width in 8usize..80) {
        let mut t = Term::new();
        let mut e = LineEditor::<64, 4>::new("> ", COMMANDS);
        e.set_width(width);
        e.start(&mut t).unwrap();
        for k in keys {
            let before = t.grid.cursor().0;
            let _ = e.feed(k, &mut t).unwrap();
            let (row, col) = t.grid.cursor();
            // Only a Tab listing moves to a later row.
            prop_assert!(row == before || k == Key::Tab);
            prop_assert!(col < width.max(6) - 1);
            let line: std::vec::Vec<char> = e.line().collect();
            let screen = t.grid.row_text(row);
            prop_assert_eq!(&screen[..2], b"> ");
            // The character under the cursor is the line's (CP437 0x82 is é), or blank at the end.
            let want = match line.get(e.cursor()) {
                Some('é') => 0x82,
                Some(&c) => c as u8,
                None => b' ',
            };
            prop_assert_eq!(screen[col], want);
        }
        let line: StdString = e.line().collect();
        match e.feed(Key::Enter, &mut t).unwrap() {
            Event::Line(l) => prop_assert_eq!(l, line.as_str()),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
