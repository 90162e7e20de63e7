//! In-kernel tests on stable Rust: a linker-section registry and a KTAP reporter.
//!
//! `ktest! { fn name() -> TestResult { ... } }` defines a test function and places a [`KTest`]
//! descriptor in the `.ktests` section (kept by `linker.ld` between `__ktests_start` and
//! `__ktests_end`). Test kernels (built with the `ktest` feature) run them after boot:
//!
//! - `ktest=all` runs every [`Kind::Normal`] test in one boot and prints KTAP on COM1. Before the
//!   KTAP header it lists the tests that need a boot of their own (`ktest-standalone: <name>`),
//!   which the harness then boots one by one.
//! - `ktest=<name>` runs one test. Standalone tests end the boot on purpose: a should-panic test
//!   passes from the panic handler when the message matches; a fault test passes from the
//!   exception handler when the vector matches. Returning normally is a failure for both.
//!   `#[standalone]` tests return a result as usual but get their own boot because they talk
//!   to the harness: a line `ktest: send-keys <qcode> ...` makes it type those keys (QEMU key
//!   names; `shift-1` presses them together, `a*200` repeats).
//!
//! Normal tests report failures through [`TestResult`] (see [`kassert!`]) so the run continues
//! after one fails; an unexpected panic ends the run with `not ok` and a failing exit status.

#[cfg(all(target_os = "none", feature = "ktest"))]
pub mod bench;
pub mod ktap;
// The registry is a linker section read back as a slice between two linker symbols.
#[cfg(all(target_os = "none", feature = "ktest"))]
#[allow(unsafe_code)]
pub mod runner;

use core::fmt::{self, Write};

/// Outcome of a test function.
pub type TestResult = Result<(), Failure>;

/// How a test ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Returns a [`TestResult`]; runs with the others in one boot.
    Normal,
    /// Must panic with a message containing the given text; runs in its own boot.
    ShouldPanic(&'static str),
    /// Must raise the CPU exception with this vector; runs in its own boot.
    Fault(u8),
    /// Returns a [`TestResult`] like a normal test, but in a boot of its own: it interacts with
    /// the harness (e.g. asks it to type keys with a `ktest: send-keys ...` line).
    Standalone,
}

/// A registered test.
#[derive(Debug)]
#[repr(C)]
pub struct KTest {
    /// Full name: module path and function name.
    pub name: &'static str,
    /// How the test ends.
    pub kind: Kind,
    /// Text the harness must also find in the boot's serial output (standalone tests).
    pub expect: &'static [&'static str],
    /// The test body.
    pub func: fn() -> TestResult,
}

impl KTest {
    /// Whether the test needs a boot of its own.
    pub fn is_standalone(&self) -> bool {
        self.kind != Kind::Normal
    }
}

/// A failed assertion: message and location.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong (truncated to 256 bytes).
    pub message: heapless::String<256>,
    /// Source file of the assertion.
    pub file: &'static str,
    /// Source line of the assertion.
    pub line: u32,
}

impl Failure {
    /// Builds a failure from formatting arguments.
    pub fn new(file: &'static str, line: u32, args: fmt::Arguments<'_>) -> Self {
        let mut message = heapless::String::new();
        let _ = message.write_fmt(args);
        Self {
            message,
            file,
            line,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self.message, self.file, self.line)
    }
}

impl core::error::Error for Failure {}

/// Fails the current test with a message unless `cond` holds.
#[macro_export]
macro_rules! kassert {
    ($cond:expr $(,)?) => {
        $crate::kassert!($cond, "assertion failed: {}", stringify!($cond))
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::testing::Failure::new(file!(), line!(), format_args!($($arg)+)));
        }
    };
}

/// Fails the current test unless `left == right`, showing both values.
#[macro_export]
macro_rules! kassert_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => $crate::kassert!(
                *l == *r,
                "{} == {} failed: left {:?}, right {:?}",
                stringify!($left),
                stringify!($right),
                l,
                r
            ),
        }
    };
}

/// Registers an in-kernel test. See the module documentation.
#[macro_export]
macro_rules! ktest {
    (#[should_panic = $msg:literal] $(#[expect = $exp:literal])* fn $name:ident() -> TestResult $body:block) => {
        $crate::ktest!(@register $name, $crate::testing::Kind::ShouldPanic($msg), [$($exp),*], $body);
    };
    (#[fault = $vector:literal] $(#[expect = $exp:literal])* fn $name:ident() -> TestResult $body:block) => {
        $crate::ktest!(@register $name, $crate::testing::Kind::Fault($vector), [$($exp),*], $body);
    };
    (#[standalone] $(#[expect = $exp:literal])* fn $name:ident() -> TestResult $body:block) => {
        $crate::ktest!(@register $name, $crate::testing::Kind::Standalone, [$($exp),*], $body);
    };
    (fn $name:ident() -> TestResult $body:block) => {
        $crate::ktest!(@register $name, $crate::testing::Kind::Normal, [], $body);
    };
    (@register $name:ident, $kind:expr, [$($exp:literal),*], $body:block) => {
        // A failure carries its message inline (no heap); tests run on a 1 MiB stack.
        #[allow(clippy::result_large_err)]
        fn $name() -> $crate::testing::TestResult $body
        // The descriptor goes into the registry's linker section (see `runner::tests`).
        #[allow(unsafe_code)]
        const _: () = {
            #[used]
            #[unsafe(link_section = ".ktests")]
            static TEST: $crate::testing::KTest = $crate::testing::KTest {
                name: concat!(module_path!(), "::", stringify!($name)),
                kind: $kind,
                expect: &[$($exp),*],
                func: $name,
            };
        };
    };
}

#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests {
    ktest! {
        #[should_panic = "deliberate panic 7"]
        #[expect = "!!! kernel panic"]
        fn panic_is_reported_and_ends_the_boot() -> TestResult {
            let n = core::hint::black_box(7);
            panic!("deliberate panic {n}");
        }
    }
}
