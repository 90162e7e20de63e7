//! The kernel command line: whitespace-separated `key=value` options and bare flags.
//!
//! Known options: `log=<error|warn|info|debug|trace>` sets the log level; `irq=pic` forces the
//! legacy interrupt path; `heap=<size>` and `heap_max=<size>` size the kernel heap (bytes, or with
//! a `K`, `M` or `G` suffix: `heap=8M`); `allocator=<talc|bump|linked-list|fixed-block>` picks
//! the global allocator; test kernels read `ktest=<name|all>`. Unknown words are kept and
//! ignored by whoever does not know them. Later occurrences of a key win.

/// A parsed view over a command-line string.
#[derive(Debug, Clone, Copy)]
pub struct Cmdline<'a> {
    text: &'a str,
}

impl<'a> Cmdline<'a> {
    /// Wraps `text`; parsing is lazy and never fails.
    pub const fn new(text: &'a str) -> Self {
        Self { text }
    }

    /// The raw text.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// Iterates over `(key, Some(value))` for `key=value` and `(flag, None)` for bare words.
    pub fn options(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        self.text
            .split_ascii_whitespace()
            .map(|word| match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            })
    }

    /// The value of the last `key=value` option named `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options()
            .filter(|(k, _)| *k == key)
            .filter_map(|(_, v)| v)
            .last()
    }

    /// Whether a bare flag `name` (or `name=...`) is present.
    pub fn has(&self, name: &str) -> bool {
        self.options().any(|(k, _)| k == name)
    }

    /// The log level selected by `log=`, if any and if valid.
    pub fn log_level(&self) -> Option<Result<log::LevelFilter, UnknownLogLevel<'a>>> {
        self.get("log").map(|v| {
            v.parse::<log::LevelFilter>()
                .map_err(|_| UnknownLogLevel(v))
        })
    }
}

/// A size in bytes: digits with an optional `K`, `M` or `G` suffix (either case, powers of
/// 1024). `None` for anything else, zero, or an overflow.
pub fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let bytes = n.checked_mul(1 << shift)?;
    (bytes > 0).then_some(bytes)
}

impl<'a> Cmdline<'a> {
    /// The size given as `key=<size>` ([`parse_size`]): `Err` with the text when it is not one.
    pub fn size(&self, key: &str) -> Option<Result<u64, &'a str>> {
        self.get(key).map(|v| parse_size(v).ok_or(v))
    }
}

/// A `log=` value that names no log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownLogLevel<'a>(pub &'a str);

impl core::fmt::Display for UnknownLogLevel<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unknown log level `{}`", self.0)
    }
}

impl core::error::Error for UnknownLogLevel<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_flags() {
        let c = Cmdline::new("  log=debug quiet irq=pic log=trace  x= ");
        assert_eq!(c.get("log"), Some("trace"));
        assert_eq!(c.get("irq"), Some("pic"));
        assert_eq!(c.get("x"), Some(""));
        assert!(c.has("quiet"));
        assert!(!c.has("loud"));
        assert_eq!(c.get("quiet"), None);
        assert_eq!(c.options().count(), 5);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8M"), Some(8 << 20));
        assert_eq!(parse_size("8m"), Some(8 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in [
            "",
            "M",
            "0",
            "0M",
            "-1M",
            "8MB",
            "8 M",
            "x",
            "1.5M",
            "99999999999999999999G",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        let c = Cmdline::new("heap=16M heap_max=lots");
        assert_eq!(c.size("heap"), Some(Ok(16 << 20)));
        assert_eq!(c.size("heap_max"), Some(Err("lots")));
        assert_eq!(c.size("other"), None);
    }

    #[test]
    fn log_levels() {
        assert_eq!(
            Cmdline::new("log=debug").log_level(),
            Some(Ok(log::LevelFilter::Debug))
        );
        assert_eq!(
            Cmdline::new("log=WARN").log_level(),
            Some(Ok(log::LevelFilter::Warn))
        );
        assert_eq!(
            Cmdline::new("log=loud").log_level(),
            Some(Err(UnknownLogLevel("loud")))
        );
        let e = UnknownLogLevel("loud");
        assert_eq!(e.to_string(), "unknown log level `loud`");
        let _: &dyn core::error::Error = &e;
        assert_eq!(Cmdline::new("").log_level(), None);
    }
}
