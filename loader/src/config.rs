//! `limine.conf` parser: turns the configuration text into a typed [`Config`].
//!
//! The bundled loader reads the same `limine.conf` as real Limine, so this module follows Limine's
//! syntax (`CONFIG.md` in the upstream Limine repository) and is strict wherever a mistake would
//! otherwise be silent:
//!
//! - Lines are `key: value` options, `/Title` entry headers (`//Sub` nests one level deeper,
//!   `/+Dir` shows a directory expanded), `${NAME}=value` macro definitions, `#` comment lines or
//!   blank lines. Anything else is an error carrying its 1-based line number.
//! - Keys are case-insensitive and stored lowercase. Values are trimmed and macro-expanded.
//! - Options before the first entry are global, later ones belong to the latest entry header.
//! - Known keys have their values checked when parsed (numbers, `yes`/`no`, paths, resolutions),
//!   may appear once per scope, and must be in the right scope. Unknown keys are kept as
//!   [`Setting`]s so the UEFI glue can warn about them (real Limine ignores them).
//!
//! Choices where Limine's documentation is silent or lenient:
//!
//! - Macros must be defined before use (`${NAME}=value` on its own line), are expanded in option
//!   values, entry titles and later macro values (not in keys), cannot be redefined, and the
//!   built-ins (`${ARCH}`, `${FW_TYPE}`, values from [`Builtins`]) cannot be overridden. An
//!   undefined macro is an error. A `$` not followed by `{` is literal (e.g. `$boot():/k.gz`).
//! - `yes`/`no` and `timeout: no` are compared exactly as Limine compares them (`Yes` is an
//!   error rather than a silent "no"). Timeouts are whole seconds.
//! - `module_cmdline:`/`module_string:` applies to the latest `module_path:` of the entry.
//! - Global-only options inside an entry, and entry options before the first entry, are errors.
//!
//! - A file the bundled loader would have to read (`kernel_path:`/`path:`, `module_path:`) on any
//!   volume other than `boot()` (the one holding limine.conf) is refused here, with its line:
//!   the loader reads no other volume, and a path it cannot reach is a mistake in the file, not
//!   something to discover when that entry is chosen. Paths the loader never opens
//!   (`wallpaper:`, `dtb_path:`) are only checked for syntax.
//!
//! Otherwise parsing says nothing about whether *this* loader can boot an entry:
//! [`Entry::check_bootable`] and [`Config::boot_entry`] do that, so that features the bundled
//! loader lacks (modules, compressed or hashed kernels) are reported instead of silently
//! ignored.
//!
//! Neighbours: [`crate::boot`] reads the file (trying [`CONFIG_SEARCH_PATHS`] in order) and feeds
//! the chosen entry's kernel path to [`crate::elf`].

use alloc::{
    borrow::ToOwned,
    string::{String, ToString},
    vec::Vec,
};
use core::fmt;

#[cfg(test)]
mod tests;

/// Where the configuration file is looked for on the boot volume, in order (Limine 9.2+ list).
pub const CONFIG_SEARCH_PATHS: &[&str] = &[
    "/limine.conf",
    "/limine/limine.conf",
    "/boot/limine.conf",
    "/boot/limine/limine.conf",
    "/EFI/BOOT/limine.conf",
    "/EFI/limine/limine.conf",
];

/// Timeout used when the configuration has no `timeout:` line (Limine's default).
pub const DEFAULT_TIMEOUT: Timeout = Timeout::Seconds(5);

/// Values of the built-in macros `${ARCH}` and `${FW_TYPE}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtins<'a> {
    /// Value of `${ARCH}`, e.g. `x86-64`.
    pub arch: &'a str,
    /// Value of `${FW_TYPE}`, e.g. `UEFI` or `BIOS`.
    pub fw_type: &'a str,
}

impl Builtins<'static> {
    /// The built-ins of the bundled loader running as a 64-bit UEFI application.
    pub const UEFI_X86_64: Self = Self {
        arch: "x86-64",
        fw_type: "UEFI",
    };
    /// The built-ins of the bundled loader's BIOS (Multiboot) entry.
    pub const BIOS_X86_64: Self = Self {
        arch: "x86-64",
        fw_type: "BIOS",
    };
}

/// How long the menu waits before booting the default entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// Boot the default entry after this many seconds (`0` boots at once).
    Seconds(u64),
    /// `timeout: no`: never boot automatically.
    Never,
}

/// A parsed `limine.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `timeout:`, or [`DEFAULT_TIMEOUT`].
    pub timeout: Timeout,
    /// `default_entry:` (1-based, counted as described at [`Config::visible_entries`]), or 1.
    pub default_entry: usize,
    /// Every entry header in file order, sub-entries included (see [`Entry::depth`]).
    pub entries: Vec<Entry>,
    /// Global options other than `timeout` and `default_entry`, in file order.
    pub options: Vec<Setting>,
}

/// An option kept as text: a known key the parser does not interpret, or an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The key, lowercased.
    pub key: String,
    /// The value, trimmed and macro-expanded.
    pub value: String,
    /// 1-based line number, for warnings.
    pub line: usize,
}

/// One menu entry (`/Title`) or sub-entry (`//Title`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The title after the slashes (and `+`), trimmed and macro-expanded.
    pub name: String,
    /// Nesting level: 1 for `/Title`, 2 for `//Title`, and so on.
    pub depth: usize,
    /// `true` for `/+Title`: the directory is shown expanded, so its children are in the menu.
    pub expanded: bool,
    /// `true` when the next entry is nested inside this one: this is a directory, not bootable.
    pub has_children: bool,
    /// 1-based line of the header.
    pub line: usize,
    /// `protocol:`, as written.
    pub protocol: Option<String>,
    /// `kernel_path:` or its newer synonym `path:`.
    pub kernel_path: Option<ResourcePath>,
    /// `cmdline:` or its synonym `kernel_cmdline:`; empty when absent.
    pub cmdline: String,
    /// `kaslr:`; `None` when absent (the default differs between Limine versions).
    pub kaslr: Option<bool>,
    /// `resolution:`.
    pub resolution: Option<Resolution>,
    /// `module_path:` lines, each with the `module_cmdline:`/`module_string:` that followed it.
    pub modules: Vec<ModuleSpec>,
    /// Every other option of this entry, in file order.
    pub options: Vec<Setting>,
}

/// A `resolution:` value, `WIDTHxHEIGHT[xBPP]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bits per pixel, when given.
    pub bpp: Option<u32>,
}

/// A module: `module_path:` and its optional `module_cmdline:`/`module_string:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpec {
    /// Where the module file is.
    pub path: ResourcePath,
    /// The string passed to the kernel with the module; empty when absent.
    pub cmdline: String,
    /// 1-based line of the `module_path:` option.
    pub line: usize,
}

/// A file location, `[$]resource(argument):/path[#hash]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// The volume the file is on.
    pub resource: Resource,
    /// The path inside the volume; always starts with `/`.
    pub path: String,
    /// The BLAKE2b hash after `#` (128 hex digits), as written.
    pub hash: Option<String>,
    /// `true` when the path started with `$`: the file is gzip-compressed.
    pub compressed: bool,
}

/// The volume part of a [`ResourcePath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `boot()`: the partition holding the configuration; `boot(N)`: partition N of the boot drive.
    Boot(Option<u32>),
    /// `hdd(drive:partition)`; no partition means the whole disk. Both 1-based.
    Hdd {
        /// 1-based drive number.
        drive: u32,
        /// 1-based partition number, `None` for the whole disk.
        partition: Option<u32>,
    },
    /// `odd(drive:partition)`, an optical drive; numbering as for [`Resource::Hdd`].
    Odd {
        /// 1-based drive number.
        drive: u32,
        /// 1-based partition number, `None` for the whole disk.
        partition: Option<u32>,
    },
    /// `guid(...)`: a GPT partition or filesystem GUID, as written.
    Guid(String),
    /// `uuid(...)`: synonym of `guid(...)`, kept apart to print it as written.
    Uuid(String),
    /// `fslabel(...)`: a filesystem label.
    FsLabel(String),
    /// `tftp(ip)`: a TFTP server; empty for the server the machine booted from.
    Tftp(String),
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn drive(f: &mut fmt::Formatter<'_>, n: &str, d: u32, p: Option<u32>) -> fmt::Result {
            match p {
                Some(p) => write!(f, "{n}({d}:{p})"),
                None => write!(f, "{n}({d}:)"),
            }
        }
        match self {
            Self::Boot(None) => f.write_str("boot()"),
            Self::Boot(Some(n)) => write!(f, "boot({n})"),
            Self::Hdd {
                drive: d,
                partition,
            } => drive(f, "hdd", *d, *partition),
            Self::Odd {
                drive: d,
                partition,
            } => drive(f, "odd", *d, *partition),
            Self::Guid(g) => write!(f, "guid({g})"),
            Self::Uuid(g) => write!(f, "uuid({g})"),
            Self::FsLabel(l) => write!(f, "fslabel({l})"),
            Self::Tftp(ip) => write!(f, "tftp({ip})"),
        }
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.compressed {
            f.write_str("$")?;
        }
        write!(f, "{}:{}", self.resource, self.path)?;
        if let Some(hash) = &self.hash {
            write!(f, "#{hash}")?;
        }
        Ok(())
    }
}

impl core::str::FromStr for ResourcePath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ResourcePath {
    /// Parses `[$]resource(argument):/path[#hash]`. Resource names are lowercase, as in Limine.
    ///
    /// # Errors
    ///
    /// A [`PathError`] naming what is wrong: unknown resource, malformed argument, missing `:`,
    /// a path not starting with `/`, or a hash that is not 128 hex digits.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let fail = |kind| PathError {
            text: text.to_owned(),
            kind,
        };
        if text.is_empty() {
            return Err(fail(PathErrorKind::Empty));
        }
        let (compressed, rest) = match text.strip_prefix('$') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (name, after_name) = rest
            .split_once('(')
            .ok_or_else(|| fail(PathErrorKind::MissingResource))?;
        let (arg, after_arg) = after_name
            .split_once(')')
            .ok_or_else(|| fail(PathErrorKind::UnclosedArgument))?;
        let resource = parse_resource(name, arg).map_err(fail)?;
        let path_and_hash = after_arg
            .strip_prefix(':')
            .ok_or_else(|| fail(PathErrorKind::MissingColon))?;
        let (path, hash) = match path_and_hash.split_once('#') {
            Some((path, hash)) => {
                if hash.len() != 128 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(fail(PathErrorKind::BadHash));
                }
                (path, Some(hash.to_owned()))
            }
            None => (path_and_hash, None),
        };
        if !path.starts_with('/') {
            return Err(fail(PathErrorKind::NotAbsolute));
        }
        Ok(Self {
            resource,
            path: path.to_owned(),
            hash,
            compressed,
        })
    }
}

/// Parses the `name(arg)` part of a path.
fn parse_resource(name: &str, arg: &str) -> Result<Resource, PathErrorKind> {
    let drive_and_partition = |resource: &'static str| {
        let bad = PathErrorKind::BadArgument {
            resource,
            expected: "`drive:partition` with a 1-based drive and an optional 1-based partition",
        };
        let (d, p) = arg.split_once(':').ok_or(bad.clone())?;
        let drive = parse_positive_u32(d).ok_or(bad.clone())?;
        let partition = if p.is_empty() {
            None
        } else {
            Some(parse_positive_u32(p).ok_or(bad)?)
        };
        Ok((drive, partition))
    };
    match name {
        "boot" => {
            if arg.is_empty() {
                Ok(Resource::Boot(None))
            } else {
                parse_positive_u32(arg)
                    .map(|n| Resource::Boot(Some(n)))
                    .ok_or(PathErrorKind::BadArgument {
                        resource: "boot",
                        expected: "nothing or a 1-based partition number",
                    })
            }
        }
        "hdd" => {
            drive_and_partition("hdd").map(|(drive, partition)| Resource::Hdd { drive, partition })
        }
        "odd" => {
            drive_and_partition("odd").map(|(drive, partition)| Resource::Odd { drive, partition })
        }
        "guid" | "uuid" => {
            if !is_guid(arg) {
                return Err(PathErrorKind::BadArgument {
                    resource: if name == "guid" { "guid" } else { "uuid" },
                    expected: "a GUID like `01234567-89ab-cdef-0123-456789abcdef`",
                });
            }
            Ok(if name == "guid" {
                Resource::Guid(arg.to_owned())
            } else {
                Resource::Uuid(arg.to_owned())
            })
        }
        "fslabel" => {
            if arg.is_empty() {
                Err(PathErrorKind::BadArgument {
                    resource: "fslabel",
                    expected: "a filesystem label",
                })
            } else {
                Ok(Resource::FsLabel(arg.to_owned()))
            }
        }
        "tftp" => Ok(Resource::Tftp(arg.to_owned())),
        "" => Err(PathErrorKind::MissingResource),
        other => Err(PathErrorKind::UnknownResource {
            name: other.to_owned(),
        }),
    }
}

/// `8-4-4-4-12` hex digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A malformed resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    /// The path as written.
    pub text: String,
    /// What is wrong with it.
    pub kind: PathErrorKind,
}

/// What is wrong with a resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathErrorKind {
    /// The value is empty.
    Empty,
    /// No `resource(` prefix.
    MissingResource,
    /// `(` without `)`.
    UnclosedArgument,
    /// A resource name Limine does not know.
    UnknownResource {
        /// The name as written.
        name: String,
    },
    /// The argument inside the parentheses does not fit the resource.
    BadArgument {
        /// The resource name.
        resource: &'static str,
        /// What the argument should look like.
        expected: &'static str,
    },
    /// No `:` right after `)`.
    MissingColon,
    /// The path after `:` does not start with `/`.
    NotAbsolute,
    /// The text after `#` is not a 128-digit hex BLAKE2b hash.
    BadHash,
}

impl fmt::Display for PathErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty path; expected `resource(argument):/path`"),
            Self::MissingResource => f.write_str(
                "expected `resource(argument):/path` (for example `boot():/boot/kernel`)",
            ),
            Self::UnclosedArgument => f.write_str("missing `)` after the resource argument"),
            Self::UnknownResource { name } => {
                write!(f, "unknown resource `{name}`")?;
                let lower = name.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "boot" | "hdd" | "odd" | "guid" | "uuid" | "fslabel" | "tftp"
                ) {
                    write!(f, " (resource names are lowercase: `{lower}`)")?;
                }
                Ok(())
            }
            Self::BadArgument { resource, expected } => {
                write!(f, "`{resource}(...)` takes {expected}")
            }
            Self::MissingColon => f.write_str("expected `:` right after `)`"),
            Self::NotAbsolute => f.write_str("the path after `:` must start with `/`"),
            Self::BadHash => f.write_str("the hash after `#` must be 128 hex digits (BLAKE2b)"),
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in path `{}`", self.kind, self.text)
    }
}

impl core::error::Error for PathError {}

/// A configuration error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a configuration line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// Not an option, entry header, macro definition, comment or blank line.
    NotAnOption {
        /// The line (shortened if long).
        text: String,
    },
    /// `: value` with nothing before the colon.
    EmptyKey,
    /// A key with characters other than letters, digits and `_`.
    InvalidKey {
        /// The key as written.
        key: String,
    },
    /// `/` with no title after it.
    EmptyEntryName,
    /// A sub-entry deeper than one level below the entry before it.
    EntryTooDeep {
        /// Depth of this header.
        depth: usize,
        /// Depth of the previous header (0 if none).
        previous: usize,
    },
    /// A global-only option inside an entry.
    GlobalOptionInEntry {
        /// The key, lowercased.
        key: String,
    },
    /// An entry option before the first entry header.
    EntryOptionOutsideEntry {
        /// The key, lowercased.
        key: String,
    },
    /// A known option given a value of the wrong form.
    InvalidValue {
        /// The key, lowercased.
        key: String,
        /// The value as written (after macro expansion).
        value: String,
        /// What the value should look like.
        expected: &'static str,
    },
    /// A malformed resource path.
    InvalidPath {
        /// The key, lowercased.
        key: String,
        /// What is wrong with the path.
        error: PathError,
    },
    /// A file the loader would read is on a volume other than `boot()`.
    NotOnBootVolume {
        /// The key, lowercased.
        key: String,
        /// The path as written (after macro expansion).
        path: String,
    },
    /// A single-valued option (or one of its synonyms) given twice in the same scope.
    Duplicate {
        /// The key, lowercased, as written the second time.
        key: String,
        /// Line of the first occurrence.
        first_line: usize,
    },
    /// `module_cmdline:`/`module_string:` with no `module_path:` before it in the entry.
    ModuleCmdlineWithoutPath {
        /// The key, lowercased.
        key: String,
    },
    /// A second `module_cmdline:`/`module_string:` for the same module.
    ModuleCmdlineTwice {
        /// The key, lowercased.
        key: String,
        /// Line of the `module_path:` it would apply to.
        module_line: usize,
    },
    /// A malformed `${NAME}=value` definition or `${NAME}` reference.
    MacroSyntax {
        /// What is wrong.
        reason: &'static str,
    },
    /// `${NAME}` used before any definition.
    UndefinedMacro {
        /// The name.
        name: String,
    },
    /// `${NAME}=` given twice.
    MacroRedefined {
        /// The name.
        name: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// A definition of a built-in macro (`ARCH`, `FW_TYPE`).
    BuiltinMacroRedefined {
        /// The name.
        name: String,
    },
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnOption { text } => write!(
                f,
                "expected `key: value`, an entry `/Title`, a macro `${{NAME}}=value` or a `#` \
                 comment, found `{text}`"
            ),
            Self::EmptyKey => f.write_str("option has no name before `:`"),
            Self::InvalidKey { key } => write!(
                f,
                "`{key}` is not an option name (letters, digits and `_` only)"
            ),
            Self::EmptyEntryName => f.write_str("entry header has no title after `/`"),
            Self::EntryTooDeep { depth, previous } => write!(
                f,
                "entry is nested {depth} levels deep but the entry before it is at level \
                 {previous}; use at most {} slashes",
                previous.saturating_add(1)
            ),
            Self::GlobalOptionInEntry { key } => write!(
                f,
                "`{key}` is a global option; move it above the first entry"
            ),
            Self::EntryOptionOutsideEntry { key } => write!(
                f,
                "`{key}` belongs to an entry but comes before the first `/Title` line"
            ),
            Self::InvalidValue {
                key,
                value,
                expected,
            } => write!(f, "`{key}` must be {expected}, not `{value}`"),
            Self::InvalidPath { error, .. } => write!(f, "{error}"),
            Self::NotOnBootVolume { key, path } => write!(
                f,
                "`{key}: {path}` is not on `boot()`; the bundled loader reads files only from \
                 the volume holding limine.conf (`boot():/...`)"
            ),
            Self::Duplicate { key, first_line } => write!(
                f,
                "`{key}` given again (first set on line {first_line}); keep only one"
            ),
            Self::ModuleCmdlineWithoutPath { key } => {
                write!(
                    f,
                    "`{key}` must follow a `module_path:` line of the same entry"
                )
            }
            Self::ModuleCmdlineTwice { key, module_line } => write!(
                f,
                "`{key}` given twice for the module on line {module_line}"
            ),
            Self::MacroSyntax { reason } => write!(f, "macro syntax: {reason}"),
            Self::UndefinedMacro { name } => write!(
                f,
                "macro `${{{name}}}` is not defined above this line (define it with \
                 `${{{name}}}=value`)"
            ),
            Self::MacroRedefined { name, first_line } => write!(
                f,
                "macro `${{{name}}}` is already defined on line {first_line}"
            ),
            Self::BuiltinMacroRedefined { name } => {
                write!(
                    f,
                    "`${{{name}}}` is a built-in macro and cannot be redefined"
                )
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "limine.conf line {}: {}", self.line, self.kind)
    }
}

impl core::error::Error for ConfigError {}

/// Why an entry cannot be booted by the bundled loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEntryError {
    /// The configuration has no entries.
    NoEntries,
    /// `default_entry` is past the end of the menu.
    DefaultEntryOutOfRange {
        /// The configured value.
        default_entry: usize,
        /// How many entries the menu shows.
        visible: usize,
    },
    /// A specific entry cannot be booted.
    Entry {
        /// Line of the entry header.
        line: usize,
        /// Entry title.
        name: String,
        /// The first problem found.
        problem: EntryProblem,
    },
}

/// What keeps an entry from being booted by the bundled loader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// The entry has sub-entries.
    IsDirectory,
    /// No `protocol:` line.
    MissingProtocol,
    /// A protocol other than `limine`.
    UnsupportedProtocol(String),
    /// No `kernel_path:`/`path:` line.
    MissingKernelPath,
    /// The kernel is not on `boot()` (the path as written). [`parse`] already refuses such a
    /// path with its line number; this catches entries built by other means.
    UnsupportedResource(String),
    /// The kernel path starts with `$` (gzip) (the path as written).
    CompressedKernel(String),
    /// The kernel path carries a `#hash` (the path as written).
    HashUnsupported(String),
    /// The entry lists modules.
    ModulesUnsupported {
        /// How many `module_path:` lines.
        count: usize,
    },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IsDirectory => f.write_str(
                "is a directory of sub-entries, not a bootable entry; point `default_entry` at \
                 one of its sub-entries (write the directory as `/+Title` so they are counted)",
            ),
            Self::MissingProtocol => f.write_str(
                "has no `protocol:` line; the bundled loader boots only `protocol: limine`",
            ),
            Self::UnsupportedProtocol(p) => write!(
                f,
                "uses `protocol: {p}`; the bundled loader boots only `protocol: limine`"
            ),
            Self::MissingKernelPath => {
                f.write_str("has no `kernel_path:` (or `path:`) line naming the kernel")
            }
            Self::UnsupportedResource(p) => write!(
                f,
                "kernel path `{p}` is not on `boot()`; the bundled loader reads files only from \
                 the volume holding limine.conf (`boot():/...`)"
            ),
            Self::CompressedKernel(p) => write!(
                f,
                "kernel path `{p}` is marked gzip-compressed (`$`), which the bundled loader does \
                 not support; store the kernel uncompressed"
            ),
            Self::HashUnsupported(p) => write!(
                f,
                "kernel path `{p}` carries a BLAKE2b hash, which the bundled loader cannot verify \
                 yet; remove the `#...` part or boot with real Limine (LIMINE_DIR)"
            ),
            Self::ModulesUnsupported { count } => write!(
                f,
                "module_path is not supported by the bundled loader yet ({count} module line(s)); \
                 remove them or boot with real Limine (LIMINE_DIR)"
            ),
        }
    }
}

impl fmt::Display for BootEntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEntries => {
                f.write_str("limine.conf has no boot entries; add one with `/Title`")
            }
            Self::DefaultEntryOutOfRange {
                default_entry,
                visible,
            } => write!(
                f,
                "limine.conf: default_entry is {default_entry} but the menu has only {visible} \
                 entr{}",
                if *visible == 1 { "y" } else { "ies" }
            ),
            Self::Entry {
                line,
                name,
                problem,
            } => write!(f, "limine.conf line {line}, entry `{name}` {problem}"),
        }
    }
}

impl core::error::Error for BootEntryError {}

impl Config {
    /// The entries a Limine menu shows, in order: every top-level entry, and the children of a
    /// directory only when it is written `/+Title` (expanded), recursively. Directories count
    /// themselves. `default_entry` indexes this list (1-based), as in Limine's menu.
    pub fn visible_entries(&self) -> Vec<&Entry> {
        let mut visible = Vec::new();
        // Depth of the shallowest collapsed directory whose children are being skipped.
        let mut collapsed_at: Option<usize> = None;
        for entry in &self.entries {
            if let Some(d) = collapsed_at {
                if entry.depth > d {
                    continue;
                }
                collapsed_at = None;
            }
            visible.push(entry);
            if entry.has_children && !entry.expanded {
                collapsed_at = Some(entry.depth);
            }
        }
        visible
    }

    /// The entry `default_entry` selects (see [`Config::visible_entries`]), if it exists.
    /// It may be a directory; [`Config::boot_entry`] rejects that.
    pub fn default_entry(&self) -> Option<&Entry> {
        let index = self.default_entry.checked_sub(1)?;
        self.visible_entries().get(index).copied()
    }

    /// The default entry, checked with [`Entry::check_bootable`].
    ///
    /// # Errors
    ///
    /// No entries, `default_entry` out of range, or the entry's first problem.
    pub fn boot_entry(&self) -> Result<&Entry, BootEntryError> {
        if self.entries.is_empty() {
            return Err(BootEntryError::NoEntries);
        }
        let entry = self
            .default_entry()
            .ok_or_else(|| BootEntryError::DefaultEntryOutOfRange {
                default_entry: self.default_entry,
                visible: self.visible_entries().len(),
            })?;
        entry.check_bootable()?;
        Ok(entry)
    }

    /// The value of the first global option `key` (lowercase) kept in [`Config::options`].
    pub fn option(&self, key: &str) -> Option<&str> {
        find_setting(&self.options, key)
    }
}

impl Entry {
    fn new(name: String, depth: usize, expanded: bool, line: usize) -> Self {
        Self {
            name,
            depth,
            expanded,
            has_children: false,
            line,
            protocol: None,
            kernel_path: None,
            cmdline: String::new(),
            kaslr: None,
            resolution: None,
            modules: Vec::new(),
            options: Vec::new(),
        }
    }

    /// Checks that the bundled loader can boot this entry: not a directory, `protocol: limine`
    /// (case-insensitive), a kernel path on `boot()` without `$` or `#hash`, and no modules
    /// (parsed, but not supported yet).
    ///
    /// # Errors
    ///
    /// [`BootEntryError::Entry`] with the first problem found.
    pub fn check_bootable(&self) -> Result<(), BootEntryError> {
        self.first_problem().map_or(Ok(()), |problem| {
            Err(BootEntryError::Entry {
                line: self.line,
                name: self.name.clone(),
                problem,
            })
        })
    }

    fn first_problem(&self) -> Option<EntryProblem> {
        if self.has_children {
            return Some(EntryProblem::IsDirectory);
        }
        match &self.protocol {
            None => return Some(EntryProblem::MissingProtocol),
            Some(p) if !p.eq_ignore_ascii_case("limine") => {
                return Some(EntryProblem::UnsupportedProtocol(p.clone()));
            }
            Some(_) => {}
        }
        let Some(path) = &self.kernel_path else {
            return Some(EntryProblem::MissingKernelPath);
        };
        if path.resource != Resource::Boot(None) {
            return Some(EntryProblem::UnsupportedResource(path.to_string()));
        }
        if path.compressed {
            return Some(EntryProblem::CompressedKernel(path.to_string()));
        }
        if path.hash.is_some() {
            return Some(EntryProblem::HashUnsupported(path.to_string()));
        }
        if !self.modules.is_empty() {
            return Some(EntryProblem::ModulesUnsupported {
                count: self.modules.len(),
            });
        }
        None
    }

    /// The value of the first option `key` (lowercase) kept in [`Entry::options`].
    pub fn option(&self, key: &str) -> Option<&str> {
        find_setting(&self.options, key)
    }
}

fn find_setting<'a>(settings: &'a [Setting], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|s| s.key == key)
        .map(|s| s.value.as_str())
}

/// Parses `limine.conf` with the built-ins of the UEFI x86-64 loader.
///
/// # Errors
///
/// The first malformed line, as a [`ConfigError`] with its line number.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_with(text, &Builtins::UEFI_X86_64)
}

/// Parses `limine.conf`, expanding `${ARCH}` and `${FW_TYPE}` to the given values.
///
/// # Errors
///
/// The first malformed line, as a [`ConfigError`] with its line number.
pub fn parse_with(text: &str, builtins: &Builtins<'_>) -> Result<Config, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        builtins,
        macros: Vec::new(),
        config: Config {
            timeout: DEFAULT_TIMEOUT,
            default_entry: 1,
            entries: Vec::new(),
            options: Vec::new(),
        },
        seen: Vec::new(),
    };
    for (index, raw) in text.lines().enumerate() {
        let line = index.saturating_add(1);
        parser
            .line(raw, line)
            .map_err(|kind| ConfigError { line, kind })?;
    }
    let mut config = parser.config;
    let depths: Vec<usize> = config.entries.iter().map(|e| e.depth).collect();
    for (i, entry) in config.entries.iter_mut().enumerate() {
        let next = i.checked_add(1).and_then(|n| depths.get(n));
        entry.has_children = next.is_some_and(|&d| d > entry.depth);
    }
    Ok(config)
}

/// Where an option may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Global,
    Entry,
}

/// How a known option's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Interpreted by the parser itself.
    Typed,
    /// `yes` or `no`.
    Bool,
    /// A decimal number.
    Number,
    /// A resource path.
    Path,
    /// `WxH[xBPP]`.
    Resolution,
    /// `4level` or `5level`.
    PagingMode,
    /// Any text.
    Text,
}

/// A known option. Synonyms share a `canonical` name for duplicate detection.
#[derive(Debug)]
struct KnownKey {
    name: &'static str,
    canonical: &'static str,
    scope: Scope,
    kind: Kind,
}

const fn key(name: &'static str, canonical: &'static str, scope: Scope, kind: Kind) -> KnownKey {
    KnownKey {
        name,
        canonical,
        scope,
        kind,
    }
}

/// Options the parser knows (Limine 8.x–12.x `CONFIG.md`); all others are kept unchecked.
const KNOWN_KEYS: &[KnownKey] = &[
    key("timeout", "timeout", Scope::Global, Kind::Typed),
    key("default_entry", "default_entry", Scope::Global, Kind::Typed),
    key("serial", "serial", Scope::Global, Kind::Bool),
    key(
        "serial_baudrate",
        "serial_baudrate",
        Scope::Global,
        Kind::Number,
    ),
    key("verbose", "verbose", Scope::Global, Kind::Bool),
    key("quiet", "quiet", Scope::Global, Kind::Bool),
    key("graphics", "graphics", Scope::Global, Kind::Bool),
    key(
        "remember_last_entry",
        "remember_last_entry",
        Scope::Global,
        Kind::Bool,
    ),
    key(
        "editor_enabled",
        "editor_enabled",
        Scope::Global,
        Kind::Bool,
    ),
    key(
        "hash_mismatch_panic",
        "hash_mismatch_panic",
        Scope::Global,
        Kind::Bool,
    ),
    key(
        "randomise_memory",
        "randomise_memory",
        Scope::Global,
        Kind::Bool,
    ),
    key(
        "interface_resolution",
        "interface_resolution",
        Scope::Global,
        Kind::Resolution,
    ),
    key(
        "interface_help_hidden",
        "interface_help_hidden",
        Scope::Global,
        Kind::Bool,
    ),
    key(
        "interface_branding",
        "interface_branding",
        Scope::Global,
        Kind::Text,
    ),
    key("wallpaper", "wallpaper", Scope::Global, Kind::Path),
    key("protocol", "protocol", Scope::Entry, Kind::Typed),
    key("path", "kernel_path", Scope::Entry, Kind::Typed),
    key("kernel_path", "kernel_path", Scope::Entry, Kind::Typed),
    key("cmdline", "cmdline", Scope::Entry, Kind::Typed),
    key("kernel_cmdline", "cmdline", Scope::Entry, Kind::Typed),
    key("kaslr", "kaslr", Scope::Entry, Kind::Typed),
    key("resolution", "resolution", Scope::Entry, Kind::Typed),
    key("module_path", "module_path", Scope::Entry, Kind::Typed),
    key(
        "module_cmdline",
        "module_cmdline",
        Scope::Entry,
        Kind::Typed,
    ),
    key("module_string", "module_cmdline", Scope::Entry, Kind::Typed),
    key(
        "randomise_hhdm_base",
        "randomise_hhdm_base",
        Scope::Entry,
        Kind::Bool,
    ),
    key("paging_mode", "paging_mode", Scope::Entry, Kind::PagingMode),
    key(
        "max_paging_mode",
        "max_paging_mode",
        Scope::Entry,
        Kind::PagingMode,
    ),
    key(
        "min_paging_mode",
        "min_paging_mode",
        Scope::Entry,
        Kind::PagingMode,
    ),
    key("dtb_path", "dtb_path", Scope::Entry, Kind::Path),
    key("textmode", "textmode", Scope::Entry, Kind::Bool),
    key("comment", "comment", Scope::Entry, Kind::Text),
];

/// A user macro: name, expanded value, line of definition.
#[derive(Debug)]
struct Macro {
    name: String,
    value: String,
    line: usize,
}

#[derive(Debug)]
struct Parser<'b> {
    builtins: &'b Builtins<'b>,
    macros: Vec<Macro>,
    config: Config,
    /// Single-valued known options seen in the current scope: canonical name and line.
    seen: Vec<(&'static str, usize)>,
}

/// Longest line excerpt quoted in an error.
const QUOTE_LIMIT: usize = 60;

fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => {
            let mut s = String::from(text.get(..cut).unwrap_or(""));
            s.push_str("...");
            s
        }
        None => text.to_owned(),
    }
}

impl Parser<'_> {
    fn line(&mut self, raw: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            Ok(())
        } else if let Some(def) = text.strip_prefix("${") {
            self.define_macro(def, line)
        } else if text.starts_with('/') {
            self.entry_header(text, line)
        } else if let Some((key, value)) = text.split_once(':') {
            self.option(key.trim(), value.trim(), line)
        } else {
            Err(ConfigErrorKind::NotAnOption { text: quote(text) })
        }
    }

    fn define_macro(&mut self, def: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let (name, rest) = def.split_once('}').ok_or(ConfigErrorKind::MacroSyntax {
            reason: "missing `}` after the macro name; write `${NAME}=value`",
        })?;
        check_macro_name(name)?;
        let value = rest
            .trim_start()
            .strip_prefix('=')
            .ok_or(ConfigErrorKind::MacroSyntax {
                reason: "a line starting with `${` must define a macro: `${NAME}=value`",
            })?;
        if name == "ARCH" || name == "FW_TYPE" {
            return Err(ConfigErrorKind::BuiltinMacroRedefined {
                name: name.to_owned(),
            });
        }
        if let Some(first) = self.macros.iter().find(|m| m.name == name) {
            return Err(ConfigErrorKind::MacroRedefined {
                name: name.to_owned(),
                first_line: first.line,
            });
        }
        let value = self.expand(value.trim())?;
        self.macros.push(Macro {
            name: name.to_owned(),
            value,
            line,
        });
        Ok(())
    }

    /// Replaces every `${NAME}` in `text` with its value. A `$` not followed by `{` is literal.
    fn expand(&self, text: &str) -> Result<String, ConfigErrorKind> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(rest.get(..start).unwrap_or(""));
            let after = rest.get(start.saturating_add(2)..).unwrap_or("");
            let (name, tail) = after.split_once('}').ok_or(ConfigErrorKind::MacroSyntax {
                reason: "`${` without a closing `}`",
            })?;
            check_macro_name(name)?;
            let value = match name {
                "ARCH" => self.builtins.arch,
                "FW_TYPE" => self.builtins.fw_type,
                _ => self
                    .macros
                    .iter()
                    .find(|m| m.name == name)
                    .map(|m| m.value.as_str())
                    .ok_or_else(|| ConfigErrorKind::UndefinedMacro {
                        name: name.to_owned(),
                    })?,
            };
            out.push_str(value);
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }

    fn entry_header(&mut self, text: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let title = text.trim_start_matches('/');
        let depth = text.len().saturating_sub(title.len());
        let (expanded, title) = match title.strip_prefix('+') {
            Some(t) => (true, t),
            None => (false, title),
        };
        let name = self.expand(title.trim())?;
        if name.is_empty() {
            return Err(ConfigErrorKind::EmptyEntryName);
        }
        let previous = self.config.entries.last().map_or(0, |e| e.depth);
        if depth > previous.saturating_add(1) {
            return Err(ConfigErrorKind::EntryTooDeep { depth, previous });
        }
        self.config
            .entries
            .push(Entry::new(name, depth, expanded, line));
        self.seen.clear();
        Ok(())
    }

    fn option(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        if key.is_empty() {
            return Err(ConfigErrorKind::EmptyKey);
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigErrorKind::InvalidKey { key: quote(key) });
        }
        let key = key.to_ascii_lowercase();
        let value = self.expand(value)?;
        let in_entry = !self.config.entries.is_empty();
        let Some(known) = KNOWN_KEYS.iter().find(|k| k.name == key) else {
            let setting = Setting { key, value, line };
            match self.config.entries.last_mut() {
                Some(entry) => entry.options.push(setting),
                None => self.config.options.push(setting),
            }
            return Ok(());
        };
        match (known.scope, in_entry) {
            (Scope::Global, true) => return Err(ConfigErrorKind::GlobalOptionInEntry { key }),
            (Scope::Entry, false) => {
                return Err(ConfigErrorKind::EntryOptionOutsideEntry { key });
            }
            _ => {}
        }
        // Repeatable or per-module options are checked where they are stored.
        if !matches!(known.canonical, "module_path" | "module_cmdline") {
            if let Some(&(_, first_line)) = self.seen.iter().find(|(c, _)| *c == known.canonical) {
                return Err(ConfigErrorKind::Duplicate { key, first_line });
            }
            self.seen.push((known.canonical, line));
        }
        check_value(known.kind, &key, &value)?;
        if known.kind != Kind::Typed {
            let setting = Setting { key, value, line };
            match self.config.entries.last_mut() {
                Some(entry) => entry.options.push(setting),
                None => self.config.options.push(setting),
            }
            return Ok(());
        }
        self.typed_option(known.canonical, key, value, line)
    }

    fn typed_option(
        &mut self,
        canonical: &'static str,
        key: String,
        value: String,
        line: usize,
    ) -> Result<(), ConfigErrorKind> {
        let invalid = |expected| ConfigErrorKind::InvalidValue {
            key: key.clone(),
            value: quote(&value),
            expected,
        };
        match canonical {
            "timeout" => {
                self.config.timeout = if value == "no" {
                    Timeout::Never
                } else {
                    Timeout::Seconds(
                        parse_decimal(&value)
                            .ok_or_else(|| invalid("a whole number of seconds or `no`"))?,
                    )
                };
                return Ok(());
            }
            "default_entry" => {
                self.config.default_entry = parse_decimal(&value)
                    .filter(|&n| n > 0)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| invalid("a menu position counting from 1"))?;
                return Ok(());
            }
            _ => {}
        }
        // Everything else is an entry option; `option()` has checked that an entry exists.
        let Some(entry) = self.config.entries.last_mut() else {
            return Err(ConfigErrorKind::EntryOptionOutsideEntry { key });
        };
        match canonical {
            "protocol" => entry.protocol = Some(value),
            "kernel_path" => entry.kernel_path = Some(readable_path(key, &value)?),
            "cmdline" => entry.cmdline = value,
            "kaslr" => entry.kaslr = Some(parse_bool(&value).ok_or_else(|| invalid(BOOL))?),
            "resolution" => {
                entry.resolution = Some(parse_resolution(&value).ok_or_else(|| invalid(RES))?);
            }
            "module_path" => {
                let path = readable_path(key, &value)?;
                entry.modules.push(ModuleSpec {
                    path,
                    cmdline: String::new(),
                    line,
                });
                // The next module_cmdline may attach to this module.
                self.seen.retain(|(c, _)| *c != "module_cmdline");
            }
            "module_cmdline" => {
                let Some(module) = entry.modules.last_mut() else {
                    return Err(ConfigErrorKind::ModuleCmdlineWithoutPath { key });
                };
                if self.seen.iter().any(|(c, _)| *c == "module_cmdline") {
                    return Err(ConfigErrorKind::ModuleCmdlineTwice {
                        key,
                        module_line: module.line,
                    });
                }
                self.seen.push(("module_cmdline", line));
                module.cmdline = value;
            }
            _ => entry.options.push(Setting { key, value, line }),
        }
        Ok(())
    }
}

/// Parses the path of a file the loader would read: it must be on `boot()`.
fn readable_path(key: String, value: &str) -> Result<ResourcePath, ConfigErrorKind> {
    let path = ResourcePath::parse(value).map_err(|error| ConfigErrorKind::InvalidPath {
        key: key.clone(),
        error,
    })?;
    if path.resource != Resource::Boot(None) {
        return Err(ConfigErrorKind::NotOnBootVolume {
            key,
            path: quote(value),
        });
    }
    Ok(path)
}

const BOOL: &str = "`yes` or `no`";
const RES: &str = "`WIDTHxHEIGHT` or `WIDTHxHEIGHTxBPP` with positive numbers";

/// Checks the value of a known, non-typed option.
fn check_value(kind: Kind, key: &str, value: &str) -> Result<(), ConfigErrorKind> {
    let expected = match kind {
        Kind::Typed | Kind::Text => return Ok(()),
        Kind::Path => {
            return ResourcePath::parse(value).map(drop).map_err(|error| {
                ConfigErrorKind::InvalidPath {
                    key: key.to_owned(),
                    error,
                }
            });
        }
        Kind::Bool if parse_bool(value).is_some() => return Ok(()),
        Kind::Bool => BOOL,
        Kind::Number if parse_decimal(value).is_some() => return Ok(()),
        Kind::Number => "a decimal number",
        Kind::Resolution if parse_resolution(value).is_some() => return Ok(()),
        Kind::Resolution => RES,
        Kind::PagingMode if matches!(value, "4level" | "5level") => return Ok(()),
        Kind::PagingMode => "`4level` or `5level`",
    };
    Err(ConfigErrorKind::InvalidValue {
        key: key.to_owned(),
        value: quote(value),
        expected,
    })
}

fn check_macro_name(name: &str) -> Result<(), ConfigErrorKind> {
    if name.is_empty() {
        return Err(ConfigErrorKind::MacroSyntax {
            reason: "empty macro name in `${}`",
        });
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ConfigErrorKind::MacroSyntax {
            reason: "macro names may use only letters, digits and `_`",
        });
    }
    Ok(())
}

/// `yes`/`no`, exactly as Limine compares them (so `Yes` is refused rather than misread).
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// A non-empty run of ASCII digits that fits in a `u64`.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        let digit = b.is_ascii_digit().then(|| u64::from(b - b'0'))?;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

fn parse_positive_u32(text: &str) -> Option<u32> {
    parse_decimal(text)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

/// `WxH` or `WxHxBPP`, all positive.
fn parse_resolution(value: &str) -> Option<Resolution> {
    let mut parts = value.split('x');
    let width = parse_positive_u32(parts.next()?)?;
    let height = parse_positive_u32(parts.next()?)?;
    let bpp = match parts.next() {
        Some(b) => Some(parse_positive_u32(b)?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Resolution { width, height, bpp })
}
