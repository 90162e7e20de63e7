//! Host tests of the `limine.conf` parser.

use super::*;
use alloc::{format, string::ToString, vec};
use proptest::prelude::*;

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected {text:?} to parse, got: {e}"),
    }
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(c) => panic!("expected {text:?} to fail, got {c:?}"),
        Err(e) => e,
    }
}

fn boot(path: &str) -> ResourcePath {
    ResourcePath {
        resource: Resource::Boot(None),
        path: path.to_string(),
        hash: None,
        compressed: false,
    }
}

const EXAMPLE_CONF: &str = "\
timeout: 3

/Our kernel
    protocol: limine
    kernel_path: boot():/boot/kernel
    cmdline: log=debug
    module_path: boot():/boot/initrd.tar
    module_cmdline: initrd
";

#[test]
fn example_conf() {
    let c = ok(EXAMPLE_CONF);
    assert_eq!(c.timeout, Timeout::Seconds(3));
    assert_eq!(c.default_entry, 1);
    assert!(c.options.is_empty());
    assert_eq!(c.entries.len(), 1);
    let e = &c.entries[0];
    assert_eq!(e.name, "Our kernel");
    assert_eq!(e.depth, 1);
    assert_eq!(e.line, 3);
    assert!(!e.expanded && !e.has_children);
    assert_eq!(e.protocol.as_deref(), Some("limine"));
    assert_eq!(e.kernel_path, Some(boot("/boot/kernel")));
    assert_eq!(e.cmdline, "log=debug");
    assert_eq!(
        e.modules,
        vec![ModuleSpec {
            path: boot("/boot/initrd.tar"),
            cmdline: "initrd".to_string(),
            line: 7
        }]
    );
    assert_eq!(
        c.default_entry().map(|e| e.name.as_str()),
        Some("Our kernel")
    );
}

#[test]
fn defaults() {
    let c = ok("");
    assert_eq!(c.timeout, Timeout::Seconds(5));
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.default_entry, 1);
    assert!(c.entries.is_empty());
    assert!(c.default_entry().is_none());
    assert_eq!(c.boot_entry(), Err(BootEntryError::NoEntries));

    let e = &ok("/A").entries[0];
    assert_eq!(e.protocol, None);
    assert_eq!(e.kernel_path, None);
    assert_eq!(e.cmdline, "");
    assert_eq!(e.kaslr, None);
    assert_eq!(e.resolution, None);
    assert!(e.modules.is_empty() && e.options.is_empty());
}

#[test]
fn timeout_values() {
    assert_eq!(ok("timeout: 0").timeout, Timeout::Seconds(0));
    assert_eq!(ok("timeout: no").timeout, Timeout::Never);
    assert_eq!(
        ok("timeout: 18446744073709551615").timeout,
        Timeout::Seconds(u64::MAX)
    );
    for bad in [
        "soon",
        "-1",
        "1.5",
        "",
        "18446744073709551616",
        "+3",
        "No",
        "3s",
    ] {
        let e = err(&format!("\n\ntimeout: {bad}"));
        assert_eq!(e.line, 3, "{bad}");
        assert!(
            matches!(&e.kind, ConfigErrorKind::InvalidValue { key, .. } if key == "timeout"),
            "{bad}: {e}"
        );
    }
    assert_eq!(
        err("timeout: soon").to_string(),
        "limine.conf line 1: `timeout` must be a whole number of seconds or `no`, not `soon`"
    );
}

#[test]
fn keys_are_case_insensitive_and_values_trimmed() {
    let c = ok(
        "TIMEOUT:7\nDefault_Entry :   2  \n/A\n  PROTOCOL:  Limine  \n\tKernel_Path:boot():/k\n/B",
    );
    assert_eq!(c.timeout, Timeout::Seconds(7));
    assert_eq!(c.default_entry, 2);
    assert_eq!(c.entries[0].protocol.as_deref(), Some("Limine"));
    assert_eq!(c.entries[0].kernel_path, Some(boot("/k")));
}

#[test]
fn value_is_everything_after_the_first_colon() {
    let c = ok("/A\ncmdline: a=b:c # not a comment: x\n");
    assert_eq!(c.entries[0].cmdline, "a=b:c # not a comment: x");
    // An empty value is allowed for text options.
    assert_eq!(ok("/A\ncmdline:").entries[0].cmdline, "");
}

#[test]
fn comments_blank_lines_crlf_and_bom() {
    let text = "\u{feff}# top comment\r\n\r\n   # indented comment\r\ntimeout: 1\r\n/A\r\n  # inside\r\n  cmdline: x\r\n";
    let c = ok(text);
    assert_eq!(c.timeout, Timeout::Seconds(1));
    assert_eq!(c.entries[0].cmdline, "x");
    assert_eq!(c.entries[0].line, 5);
}

#[test]
fn kernel_path_synonyms() {
    assert_eq!(
        ok("/A\npath: boot():/a").entries[0].kernel_path,
        Some(boot("/a"))
    );
    assert_eq!(
        ok("/A\nkernel_path: boot():/b").entries[0].kernel_path,
        Some(boot("/b"))
    );
    let e = err("/A\npath: boot():/a\nkernel_path: boot():/b");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind,
        ConfigErrorKind::Duplicate {
            key: "kernel_path".to_string(),
            first_line: 2
        }
    );
}

#[test]
fn cmdline_synonyms() {
    assert_eq!(ok("/A\ncmdline: one").entries[0].cmdline, "one");
    assert_eq!(ok("/A\nkernel_cmdline: two").entries[0].cmdline, "two");
    let e = err("/A\nkernel_cmdline: a\ncmdline: b");
    assert_eq!(e.line, 3);
    assert!(matches!(
        e.kind,
        ConfigErrorKind::Duplicate { first_line: 2, .. }
    ));
}

#[test]
fn kaslr_values() {
    assert_eq!(ok("/A\nkaslr: yes").entries[0].kaslr, Some(true));
    assert_eq!(ok("/A\nkaslr: no").entries[0].kaslr, Some(false));
    for bad in ["Yes", "true", "1", "", "on"] {
        let e = err(&format!("/A\nkaslr: {bad}"));
        assert_eq!(e.line, 2);
        assert!(matches!(&e.kind, ConfigErrorKind::InvalidValue { key, .. } if key == "kaslr"));
    }
}

#[test]
fn resolution_values() {
    assert_eq!(
        ok("/A\nresolution: 1024x768").entries[0].resolution,
        Some(Resolution {
            width: 1024,
            height: 768,
            bpp: None
        })
    );
    assert_eq!(
        ok("/A\nresolution: 800x600x32").entries[0].resolution,
        Some(Resolution {
            width: 800,
            height: 600,
            bpp: Some(32)
        })
    );
    for bad in [
        "1024",
        "1024x",
        "x768",
        "0x768",
        "1024x768x",
        "1x2x3x4",
        "1024X768",
        "a x b",
    ] {
        let e = err(&format!("/A\nresolution: {bad}"));
        assert!(
            matches!(&e.kind, ConfigErrorKind::InvalidValue { key, .. } if key == "resolution"),
            "{bad}"
        );
    }
}

#[test]
fn modules_and_their_cmdlines() {
    let c = ok("/A\n\
        module_path: boot():/m1\n\
        module_string: first\n\
        module_path: boot():/m2\n\
        module_path: boot():/m3\n\
        module_cmdline: third\n");
    let m = &c.entries[0].modules;
    assert_eq!(m.len(), 3);
    assert_eq!((m[0].cmdline.as_str(), m[0].line), ("first", 2));
    assert_eq!((m[1].cmdline.as_str(), m[1].line), ("", 4));
    assert_eq!((m[2].cmdline.as_str(), m[2].line), ("third", 5));
    assert_eq!(m[2].path, boot("/m3"));

    let e = err("/A\nmodule_cmdline: x");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.kind,
        ConfigErrorKind::ModuleCmdlineWithoutPath {
            key: "module_cmdline".to_string()
        }
    );
    // Modules do not carry over into the next entry.
    let e = err("/A\nmodule_path: boot():/m\n/B\nmodule_string: x");
    assert_eq!(e.line, 4);
    assert!(matches!(
        e.kind,
        ConfigErrorKind::ModuleCmdlineWithoutPath { .. }
    ));
    let e = err("/A\nmodule_path: boot():/m\nmodule_cmdline: a\nmodule_string: b");
    assert_eq!(e.line, 4);
    assert_eq!(
        e.kind,
        ConfigErrorKind::ModuleCmdlineTwice {
            key: "module_string".to_string(),
            module_line: 2
        }
    );
    let e = err("/A\nmodule_path: boot:/m");
    assert!(matches!(e.kind, ConfigErrorKind::InvalidPath { .. }));
}

#[test]
fn other_options_are_kept() {
    let c = ok(
        "serial: yes\nverbose: no\nquiet: yes\ngraphics: no\ninterface_resolution: 1280x720\n\
         serial_baudrate: 115200\nwallpaper: boot():/bg.png\nFancy_Unknown: what ever\n\
         /A\nrandomise_hhdm_base: yes\npaging_mode: 4level\nmax_paging_mode: 5level\n\
         min_paging_mode: 4level\ndtb_path: boot():/x.dtb\nsomething_new: 1\ncomment: hi\n",
    );
    assert_eq!(c.option("serial"), Some("yes"));
    assert_eq!(c.option("verbose"), Some("no"));
    assert_eq!(c.option("quiet"), Some("yes"));
    assert_eq!(c.option("graphics"), Some("no"));
    assert_eq!(c.option("interface_resolution"), Some("1280x720"));
    assert_eq!(c.option("serial_baudrate"), Some("115200"));
    assert_eq!(c.option("fancy_unknown"), Some("what ever"));
    assert_eq!(c.option("missing"), None);
    assert_eq!(
        c.options[7],
        Setting {
            key: "fancy_unknown".to_string(),
            value: "what ever".to_string(),
            line: 8
        }
    );
    let e = &c.entries[0];
    assert_eq!(e.option("randomise_hhdm_base"), Some("yes"));
    assert_eq!(e.option("paging_mode"), Some("4level"));
    assert_eq!(e.option("max_paging_mode"), Some("5level"));
    assert_eq!(e.option("dtb_path"), Some("boot():/x.dtb"));
    assert_eq!(e.option("something_new"), Some("1"));
    assert_eq!(e.option("comment"), Some("hi"));
    // Unknown keys may repeat; they are all kept.
    let c = ok("/A\nfoo: 1\nfoo: 2");
    assert_eq!(c.entries[0].options.len(), 2);
}

#[test]
fn known_option_values_are_checked() {
    let cases = [
        ("serial: maybe", 1),
        ("\nverbose: 1", 2),
        ("interface_resolution: big", 1),
        ("serial_baudrate: fast", 1),
        ("/A\nrandomise_hhdm_base: on", 2),
        ("/A\npaging_mode: 6level", 2),
    ];
    for (text, line) in cases {
        let e = err(text);
        assert_eq!(e.line, line, "{text}");
        assert!(
            matches!(e.kind, ConfigErrorKind::InvalidValue { .. }),
            "{text}: {e}"
        );
    }
    let e = err("/A\ndtb_path: nowhere");
    assert!(matches!(e.kind, ConfigErrorKind::InvalidPath { .. }));
}

#[test]
fn option_scopes() {
    let e = err("/A\ntimeout: 3");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.kind,
        ConfigErrorKind::GlobalOptionInEntry {
            key: "timeout".to_string()
        }
    );
    assert_eq!(
        e.to_string(),
        "limine.conf line 2: `timeout` is a global option; move it above the first entry"
    );
    let e = err("timeout: 1\nprotocol: limine\n/A");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.kind,
        ConfigErrorKind::EntryOptionOutsideEntry {
            key: "protocol".to_string()
        }
    );
    let e = err("kernel_path: boot():/k");
    assert!(matches!(
        e.kind,
        ConfigErrorKind::EntryOptionOutsideEntry { .. }
    ));
}

#[test]
fn duplicates() {
    let e = err("timeout: 1\ntimeout: 2");
    assert_eq!(e.line, 2);
    assert!(matches!(
        e.kind,
        ConfigErrorKind::Duplicate { first_line: 1, .. }
    ));
    let e = err("/A\nprotocol: limine\nkaslr: no\nPROTOCOL: limine");
    assert_eq!(e.line, 4);
    assert_eq!(
        e.kind,
        ConfigErrorKind::Duplicate {
            key: "protocol".to_string(),
            first_line: 2
        }
    );
    // The same option in different entries is fine.
    let c = ok("/A\nprotocol: limine\n/B\nprotocol: linux\n//C\nprotocol: limine");
    assert_eq!(c.entries.len(), 3);
}

#[test]
fn entries_nested_and_expanded() {
    let text = "\
/One
/+Dir
//Child 1
protocol: limine
///Grandchild
//Child 2
/Closed
//Hidden 1
///Hidden deeper
//Hidden 2
/Last
";
    let c = ok(text);
    let names: Vec<_> = c
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.depth))
        .collect();
    assert_eq!(
        names,
        vec![
            ("One", 1),
            ("Dir", 1),
            ("Child 1", 2),
            ("Grandchild", 3),
            ("Child 2", 2),
            ("Closed", 1),
            ("Hidden 1", 2),
            ("Hidden deeper", 3),
            ("Hidden 2", 2),
            ("Last", 1),
        ]
    );
    assert!(c.entries[1].expanded && c.entries[1].has_children);
    assert!(c.entries[2].has_children && !c.entries[2].expanded);
    assert!(!c.entries[4].has_children);
    assert!(c.entries[5].has_children && !c.entries[5].expanded);
    assert_eq!(c.entries[2].protocol.as_deref(), Some("limine"));
    let visible: Vec<_> = c
        .visible_entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    // Child 1 is itself a collapsed directory, so Grandchild is hidden.
    assert_eq!(
        visible,
        vec!["One", "Dir", "Child 1", "Child 2", "Closed", "Last"]
    );
}

#[test]
fn default_entry_selection() {
    let text = "default_entry: 4\n/A\n/+D\n//D1\n//D2\n/E\n//E1\n/F\n";
    let c = ok(text);
    assert_eq!(c.default_entry().map(|e| e.name.as_str()), Some("D2"));
    let pick = |n: usize| {
        let text = format!("default_entry: {n}\n/A\n/+D\n//D1\n//D2\n/E\n//E1\n/F\n");
        ok(&text).default_entry().map(|e| e.name.clone())
    };
    assert_eq!(pick(1).as_deref(), Some("A"));
    assert_eq!(pick(2).as_deref(), Some("D"));
    assert_eq!(pick(3).as_deref(), Some("D1"));
    assert_eq!(pick(5).as_deref(), Some("E"));
    assert_eq!(pick(6).as_deref(), Some("F"));
    assert_eq!(pick(7), None);
    let c = ok("default_entry: 7\n/A\n/B");
    assert_eq!(
        c.boot_entry(),
        Err(BootEntryError::DefaultEntryOutOfRange {
            default_entry: 7,
            visible: 2
        })
    );
    assert_eq!(
        c.boot_entry().unwrap_err().to_string(),
        "limine.conf: default_entry is 7 but the menu has only 2 entries"
    );
    for bad in ["0", "-1", "x", "1.0", ""] {
        let e = err(&format!("default_entry: {bad}"));
        assert!(
            matches!(e.kind, ConfigErrorKind::InvalidValue { .. }),
            "{bad}"
        );
    }
}

#[test]
fn multiple_entries_boot_the_default_one() {
    let text = "default_entry: 2\n\
        /First\nprotocol: linux\nkernel_path: boot():/vmlinuz\n\
        /Second\nprotocol: limine\nkernel_path: boot():/boot/kernel\ncmdline: two\n";
    let c = ok(text);
    let e = c.boot_entry().expect("second entry is bootable");
    assert_eq!(e.name, "Second");
    assert_eq!(e.cmdline, "two");
    let c = ok(&text.replace("default_entry: 2", "default_entry: 1"));
    assert_eq!(
        c.boot_entry(),
        Err(BootEntryError::Entry {
            line: 2,
            name: "First".to_string(),
            problem: EntryProblem::UnsupportedProtocol("linux".to_string())
        })
    );
}

#[test]
fn entry_header_errors() {
    let e = err("timeout: 1\n/\n");
    assert_eq!((e.line, &e.kind), (2, &ConfigErrorKind::EmptyEntryName));
    let e = err("/+   ");
    assert_eq!(e.kind, ConfigErrorKind::EmptyEntryName);
    let e = err("//Orphan");
    assert_eq!(
        (e.line, e.kind),
        (
            1,
            ConfigErrorKind::EntryTooDeep {
                depth: 2,
                previous: 0
            }
        )
    );
    let e = err("/A\n//B\n////D");
    assert_eq!(
        (e.line, e.kind),
        (
            3,
            ConfigErrorKind::EntryTooDeep {
                depth: 4,
                previous: 2
            }
        )
    );
}

#[test]
fn line_errors() {
    let e = err("timeout: 1\n\n  just some words\n");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.kind,
        ConfigErrorKind::NotAnOption {
            text: "just some words".to_string()
        }
    );
    let e = err("/A\n: value");
    assert_eq!((e.line, e.kind), (2, ConfigErrorKind::EmptyKey));
    let e = err("/A\nkernel path: boot():/k");
    assert_eq!(
        (e.line, e.kind),
        (
            2,
            ConfigErrorKind::InvalidKey {
                key: "kernel path".to_string()
            }
        )
    );
    // A path on its own line is not an option.
    let e = err("/A\nboot():/kernel");
    assert!(matches!(e.kind, ConfigErrorKind::InvalidKey { .. }));
    // Long lines are shortened in the message.
    let long = "x".repeat(500);
    let e = err(&long);
    assert!(e.to_string().len() < 300);
    // Multi-byte characters are cut on a character boundary.
    let e = err(&"é".repeat(100));
    assert!(e.to_string().contains("..."));
}

#[test]
fn builtin_macros() {
    let c = ok("/A on ${ARCH}\ncmdline: fw=${FW_TYPE} arch=${ARCH}");
    assert_eq!(c.entries[0].name, "A on x86-64");
    assert_eq!(c.entries[0].cmdline, "fw=UEFI arch=x86-64");
    let bios = Builtins {
        arch: "x86-64",
        fw_type: "BIOS",
    };
    let c = parse_with("/A\ncmdline: ${FW_TYPE}", &bios).expect("parses");
    assert_eq!(c.entries[0].cmdline, "BIOS");
    let e = err("${ARCH}=arm");
    assert_eq!(
        e.kind,
        ConfigErrorKind::BuiltinMacroRedefined {
            name: "ARCH".to_string()
        }
    );
}

#[test]
fn user_macros() {
    let text = "\
${ROOT}=boot()
${DIR}=/boot
${KERNEL}=${ROOT}:${DIR}/kernel
  ${ARGS} = log=debug quiet
/Kernel
protocol: limine
kernel_path: ${KERNEL}
cmdline: ${ARGS} $notamacro ${DIR}${DIR}
";
    let c = ok(text);
    let e = &c.entries[0];
    assert_eq!(e.kernel_path, Some(boot("/boot/kernel")));
    assert_eq!(e.cmdline, "log=debug quiet $notamacro /boot/boot");
    // Macros work in entries too, and may be defined between entries.
    let c = ok("/A\n${X}=1\ncmdline: ${X}\n/B ${X}");
    assert_eq!(c.entries[0].cmdline, "1");
    assert_eq!(c.entries[1].name, "B 1");
}

#[test]
fn macro_errors() {
    let cases: &[(&str, usize)] = &[
        ("${NAME=value", 1),
        ("\n${}=x", 2),
        ("${A B}=x", 1),
        ("${NAME} value", 1),
        ("/A\ncmdline: ${UNCLOSED", 2),
        ("/A\ncmdline: ${}", 2),
        ("/A\ncmdline: ${bad-name}", 2),
    ];
    for &(text, line) in cases {
        let e = err(text);
        assert_eq!(e.line, line, "{text}");
        assert!(
            matches!(e.kind, ConfigErrorKind::MacroSyntax { .. }),
            "{text}: {e}"
        );
    }
    let e = err("/A\ncmdline: ${LATER}\n${LATER}=1");
    assert_eq!(
        (e.line, e.kind),
        (
            2,
            ConfigErrorKind::UndefinedMacro {
                name: "LATER".to_string()
            }
        )
    );
    let e = err("${X}=1\n\n${X}=2");
    assert_eq!(
        (e.line, e.kind),
        (
            3,
            ConfigErrorKind::MacroRedefined {
                name: "X".to_string(),
                first_line: 1
            }
        )
    );
    // A macro that expands to a bad value is reported as a bad value.
    let e = err("${T}=soon\ntimeout: ${T}");
    assert_eq!(e.line, 2);
    assert!(matches!(e.kind, ConfigErrorKind::InvalidValue { .. }));
}

#[test]
fn resource_paths() {
    let p = |s: &str| ResourcePath::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(p("boot():/k").resource, Resource::Boot(None));
    assert_eq!(p("boot(2):/k").resource, Resource::Boot(Some(2)));
    assert_eq!(
        p("hdd(1:2):/k").resource,
        Resource::Hdd {
            drive: 1,
            partition: Some(2)
        }
    );
    assert_eq!(
        p("hdd(3:):/k").resource,
        Resource::Hdd {
            drive: 3,
            partition: None
        }
    );
    assert_eq!(
        p("odd(1:1):/k").resource,
        Resource::Odd {
            drive: 1,
            partition: Some(1)
        }
    );
    let guid = "0123abcd-4567-89ab-cdef-0123456789AB";
    assert_eq!(
        p(&format!("guid({guid}):/k")).resource,
        Resource::Guid(guid.to_string())
    );
    assert_eq!(
        p(&format!("uuid({guid}):/k")).resource,
        Resource::Uuid(guid.to_string())
    );
    assert_eq!(
        p("fslabel(ESP):/k").resource,
        Resource::FsLabel("ESP".to_string())
    );
    assert_eq!(p("tftp():/k").resource, Resource::Tftp(String::new()));
    assert_eq!(
        p("tftp(10.0.2.2):/k").resource,
        Resource::Tftp("10.0.2.2".to_string())
    );
    let gz = p("$boot():/k.gz");
    assert!(gz.compressed);
    assert_eq!(gz.path, "/k.gz");
    let hash = "ab".repeat(64);
    let h = p(&format!("boot():/dir with space/k#{hash}"));
    assert_eq!(h.path, "/dir with space/k");
    assert_eq!(h.hash.as_deref(), Some(hash.as_str()));
    // Display round-trips.
    for s in [
        "boot():/k".to_string(),
        "boot(2):/a/b".to_string(),
        "hdd(1:):/k".to_string(),
        "odd(2:3):/k".to_string(),
        format!("$uuid({guid}):/k#{hash}"),
        "fslabel(x y):/k".to_string(),
        "tftp(1.2.3.4):/k".to_string(),
    ] {
        assert_eq!(p(&s).to_string(), s);
        assert_eq!(s.parse::<ResourcePath>().as_ref(), Ok(&p(&s)));
    }
}

#[test]
fn bad_resource_paths() {
    let kind = |s: &str| ResourcePath::parse(s).expect_err(s).kind;
    assert_eq!(kind(""), PathErrorKind::Empty);
    assert_eq!(kind("/boot/kernel"), PathErrorKind::MissingResource);
    assert_eq!(kind("(1):/k"), PathErrorKind::MissingResource);
    assert_eq!(kind("boot(:/k"), PathErrorKind::UnclosedArgument);
    assert_eq!(kind("boot()/k"), PathErrorKind::MissingColon);
    assert_eq!(kind("boot():k"), PathErrorKind::NotAbsolute);
    assert_eq!(kind("boot():"), PathErrorKind::NotAbsolute);
    assert_eq!(kind("boot():/k#abc"), PathErrorKind::BadHash);
    assert_eq!(
        kind(&format!("boot():/k#{}", "g".repeat(128))),
        PathErrorKind::BadHash
    );
    assert_eq!(
        kind("hdx(1:1):/kernel"),
        PathErrorKind::UnknownResource {
            name: "hdx".to_string()
        }
    );
    for bad in [
        "boot(0):/k",
        "boot(x):/k",
        "hdd(1):/k",
        "hdd(0:1):/k",
        "hdd(1:0):/k",
        "hdd(:1):/k",
        "odd(a:b):/k",
        "guid(nope):/k",
        "uuid(0123abcd-4567-89ab-cdef-0123456789ABC):/k",
        "fslabel():/k",
    ] {
        assert!(
            matches!(kind(bad), PathErrorKind::BadArgument { .. }),
            "{bad}"
        );
    }
    let e = err("/A\n\n\nkernel_path: hdx(1:1):/kernel");
    assert_eq!(
        e.to_string(),
        "limine.conf line 4: unknown resource `hdx` in path `hdx(1:1):/kernel`"
    );
    let e = ResourcePath::parse("BOOT():/k").expect_err("uppercase");
    assert!(e.to_string().contains("lowercase: `boot`"), "{e}");
}

#[test]
fn bootability() {
    let problem = |text: &str| match ok(text).boot_entry() {
        Err(BootEntryError::Entry { problem, .. }) => problem,
        other => panic!("{text}: {other:?}"),
    };
    let good = "/K\nprotocol: limine\nkernel_path: boot():/boot/kernel\n";
    assert!(ok(good).boot_entry().is_ok());
    assert!(
        ok(&good.replace("limine\n", "LIMINE\n"))
            .boot_entry()
            .is_ok()
    );
    assert_eq!(
        problem("/K\nkernel_path: boot():/k"),
        EntryProblem::MissingProtocol
    );
    assert_eq!(
        problem("/K\nprotocol: multiboot2\nkernel_path: boot():/k"),
        EntryProblem::UnsupportedProtocol("multiboot2".to_string())
    );
    assert_eq!(
        problem("/K\nprotocol: limine"),
        EntryProblem::MissingKernelPath
    );
    // Entries not made by `parse` are checked too.
    let mut elsewhere = ok(good).entries.remove(0);
    elsewhere.kernel_path = ResourcePath::parse("hdd(1:1):/k").ok();
    assert_eq!(
        elsewhere.check_bootable(),
        Err(BootEntryError::Entry {
            line: 1,
            name: "K".into(),
            problem: EntryProblem::UnsupportedResource("hdd(1:1):/k".into()),
        })
    );
    assert!(matches!(
        problem("/K\nprotocol: limine\npath: $boot():/k"),
        EntryProblem::CompressedKernel(_)
    ));
    let hash = "0".repeat(128);
    assert!(matches!(
        problem(&format!("/K\nprotocol: limine\npath: boot():/k#{hash}")),
        EntryProblem::HashUnsupported(_)
    ));
    let with_module = format!("{good}module_path: boot():/initrd\nmodule_cmdline: x\n");
    assert_eq!(
        problem(&with_module),
        EntryProblem::ModulesUnsupported { count: 1 }
    );
    let msg = ok(&with_module).boot_entry().unwrap_err().to_string();
    assert!(
        msg.contains("module_path is not supported by the bundled loader yet"),
        "{msg}"
    );
    assert!(msg.starts_with("limine.conf line 1, entry `K` "), "{msg}");
    assert_eq!(
        problem("/+D\n//K\nprotocol: limine"),
        EntryProblem::IsDirectory
    );
    // A sub-entry of an expanded directory is bootable.
    let c = ok("default_entry: 2\n/+D\n//K\nprotocol: limine\npath: boot():/k");
    assert_eq!(c.boot_entry().map(|e| e.name.as_str()), Ok("K"));
}

#[test]
fn files_on_other_volumes_are_refused_when_parsed() {
    // The line of the offending option, whichever entry it is in (not only the default one).
    let text = "timeout: 0\n/A\nprotocol: limine\nkernel_path: boot():/k\n\
                /B\nprotocol: limine\nkernel_path: hdd(1:1):/k\n";
    let e = err(text);
    assert_eq!(
        e,
        ConfigError {
            line: 7,
            kind: ConfigErrorKind::NotOnBootVolume {
                key: "kernel_path".into(),
                path: "hdd(1:1):/k".into(),
            },
        }
    );
    assert_eq!(
        e.to_string(),
        "limine.conf line 7: `kernel_path: hdd(1:1):/k` is not on `boot()`; the bundled loader \
         reads files only from the volume holding limine.conf (`boot():/...`)"
    );
    let guid = "01234567-89ab-cdef-0123-456789abcdef";
    for (text, line, key) in [
        (
            "/K\nprotocol: limine\npath: boot(2):/k".to_string(),
            3,
            "path",
        ),
        (
            format!("/K\nprotocol: limine\npath: $guid({guid}):/k"),
            3,
            "path",
        ),
        (
            "/K\npath: boot():/k\nmodule_path: fslabel(DATA):/m".into(),
            3,
            "module_path",
        ),
        (
            "${V}=odd(1:)\n/K\nkernel_path: ${V}:/k".into(),
            3,
            "kernel_path",
        ),
        ("/K\nmodule_path: tftp():/m".into(), 2, "module_path"),
    ] {
        let e = err(&text);
        assert_eq!(e.line, line, "{text}");
        assert!(
            matches!(&e.kind, ConfigErrorKind::NotOnBootVolume { key: k, .. } if k == key),
            "{text}: {e}"
        );
    }
    // Syntax errors in such paths are still reported as such.
    assert!(matches!(
        err("/K\npath: hdd(0:1):/k").kind,
        ConfigErrorKind::InvalidPath { .. }
    ));
    // Files the bundled loader never opens may name any volume.
    let c = ok(
        "wallpaper: hdd(1:1):/bg.bmp\n/K\nprotocol: limine\npath: boot():/k\n\
                dtb_path: guid(01234567-89ab-cdef-0123-456789abcdef):/x.dtb",
    );
    assert_eq!(c.option("wallpaper"), Some("hdd(1:1):/bg.bmp"));
    assert!(c.boot_entry().is_ok());
}

#[test]
fn search_paths() {
    assert_eq!(CONFIG_SEARCH_PATHS.first(), Some(&"/limine.conf"));
    assert_eq!(CONFIG_SEARCH_PATHS.len(), 6);
    assert!(
        CONFIG_SEARCH_PATHS
            .iter()
            .all(|p| p.starts_with('/') && p.ends_with("limine.conf"))
    );
}

#[test]
fn error_messages_are_printable() {
    // Every error kind renders to one line without panicking.
    let texts = [
        "x",
        ": y",
        "a b: c",
        "/",
        "//x",
        "/A\ntimeout: 1",
        "protocol: limine",
        "timeout: x",
        "/A\npath: nope",
        "/A\npath: hdd(1:1):/k",
        "timeout: 1\ntimeout: 1",
        "/A\nmodule_cmdline: x",
        "/A\nmodule_path: boot():/m\nmodule_cmdline: a\nmodule_cmdline: b",
        "${",
        "/A\ncmdline: ${X}",
        "${X}=1\n${X}=2",
        "${FW_TYPE}=x",
    ];
    for t in texts {
        let msg = err(t).to_string();
        assert!(msg.starts_with("limine.conf line "), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

const TOKENS: &[&str] = &[
    "timeout",
    "default_entry",
    "protocol",
    "path",
    "kernel_path",
    "cmdline",
    "kaslr",
    "resolution",
    "module_path",
    "module_cmdline",
    "module_string",
    "serial",
    "paging_mode",
    ":",
    ": ",
    " ",
    "/",
    "//",
    "/+",
    "#",
    "$",
    "${",
    "}",
    "=",
    "${ARCH}",
    "${X}",
    "${X}=",
    "boot()",
    "boot(",
    "hdd(1:2)",
    "guid(",
    ")",
    ":/",
    "/boot/kernel",
    "#",
    "yes",
    "no",
    "0",
    "1",
    "99999999999999999999",
    "x",
    "1024x768x32",
    "limine",
    "é",
    "\t",
    "\r",
    "\u{feff}",
];

fn plausible_line() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..8).prop_map(|t| t.concat())
}

fn exercise(text: &str) {
    match parse(text) {
        Ok(c) => {
            let _ = c.visible_entries();
            let _ = c.default_entry();
            if let Err(e) = c.boot_entry() {
                let _ = e.to_string();
            }
            for e in &c.entries {
                if let Some(p) = &e.kernel_path {
                    let _ = p.to_string();
                }
            }
        }
        Err(e) => {
            assert!(e.line >= 1);
            let _ = e.to_string();
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn plausible_lines_never_panic(lines in prop::collection::vec(plausible_line(), 0..20)) {
        exercise(&lines.join("\n"));
    }

    #[test]
    fn arbitrary_paths_never_panic(text in "[$]?[a-z]{0,7}[(]?[0-9a-f:.-]{0,12}[)]?:?/?[ -~]{0,20}") {
        if let Err(e) = ResourcePath::parse(&text) {
            let _ = e.to_string();
        }
    }
}

/// The workspace's own `limine.conf` (read at run time, skipped if absent) must parse and its
/// default entry must be bootable by the bundled loader.
#[test]
fn workspace_limine_conf_if_present() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../limine.conf");
    let Ok(text) = std::fs::read_to_string(&path) else {
        std::eprintln!(
            "workspace_limine_conf_if_present: {} not found, skipped",
            path.display()
        );
        return;
    };
    let config = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entry = config
        .boot_entry()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        entry.kernel_path.as_ref().map(|p| p.resource.clone()),
        Some(Resource::Boot(None))
    );
}
