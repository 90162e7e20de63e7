//! The kernel command line: whitespace-separated `key=value` options and bare flags.
//!
//! Known options: `log=<error|warn|info|debug|trace>` sets the log level; `irq=pic` forces the
//! legacy interrupt path; test kernels read `ktest=<name|all>`. Unknown words are kept and
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
