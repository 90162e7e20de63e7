# Front door. The logic lives in the host driver (xtask/); these targets only call it.
#
#   make run       build, boot in QEMU (window if there is a display, else on this terminal)
#   make run-bios  the same under SeaBIOS through the bundled loader's Multiboot entry
#   make test      every test layer; ends with "N passed, N failed"
#   make iso       hybrid ISO image (build/kernel.iso) for QEMU or a USB stick: BIOS and UEFI,
#                  CD and disk (GRUB for BIOS from Debian's grub-pc-bin unless LIMINE_DIR is set)
#   make run-iso   build the ISO and boot it: FIRMWARE=uefi|bios (uefi), ISO_AS=cd|disk (cd)
#   make bench     benchmarks (criterion on the host + in-kernel figures)
#   make debug     like run, paused, with a gdb stub on :1234
#   make deps      install what is missing: the pinned Rust toolchain with its targets and
#                  components (rust-toolchain.toml), QEMU + its GTK/SDL window, OVMF, xorriso, mtools
#   make lint      rustfmt check; clippy -D warnings on host, kernel (with and without ktest), loader
#   make miri      the heap allocators' host tests under Miri (installs a nightly toolchain with
#                  the miri component if missing; everything else stays on the pinned stable)
#
# Knobs (environment or make variables): MACHINE (q35), MEM (512M), SMP (1), ACCEL (tcg),
# CPU (max), CMDLINE (kernel command line), QEMUFLAGS (extra QEMU options),
# LIMINE_DIR (use real Limine's files from an unpacked binary release).
# TESTS (make test only: comma-separated name fragments selecting layers and boots, e.g.
# TESTS=host or TESTS=ktest-pic,loader-; standalone boots are listed by the first KTAP boot).

CARGO ?= cargo
XTASK := $(CARGO) run --quiet --release --package xtask --

# cargo cannot build xtask without the pinned toolchain, and rustup does not install it on
# demand when RUSTUP_AUTO_INSTALL=0: install it here if it is missing. xtask's deps step then
# adds the targets and components rust-toolchain.toml lists.
TOOLCHAIN := $(shell sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)

export MACHINE MEM SMP ACCEL CPU CMDLINE QEMUFLAGS LIMINE_DIR OVMF_CODE OVMF_VARS TESTS FIRMWARE ISO_AS

.PHONY: all toolchain deps build run run-bios debug test iso run-iso bench lint miri clean

all: build

toolchain:
	@if command -v rustup >/dev/null 2>&1 && ! rustup run $(TOOLCHAIN) rustc --version >/dev/null 2>&1; then \
		echo "deps: installing Rust toolchain $(TOOLCHAIN) (pinned in rust-toolchain.toml)"; \
		rustup toolchain install $(TOOLCHAIN) --profile minimal; \
	fi

deps: toolchain
	@$(XTASK) deps

build: toolchain
	@$(XTASK) build

run: toolchain
	@$(XTASK) run

run-bios: toolchain
	@$(XTASK) run-bios

debug: toolchain
	@$(XTASK) debug

test: toolchain
	@$(XTASK) test

iso: toolchain
	@$(XTASK) iso

run-iso: toolchain
	@$(XTASK) run-iso

bench: toolchain
	@$(XTASK) bench

lint: toolchain
	@$(XTASK) lint

# Miri needs nightly; only this target uses it. MIRI_TOOLCHAIN picks another nightly.
MIRI_TOOLCHAIN ?= nightly

miri:
	@command -v rustup >/dev/null 2>&1 || { echo "miri: needs rustup (to install a nightly toolchain)"; exit 1; }
	@if ! rustup run $(MIRI_TOOLCHAIN) cargo miri --version >/dev/null 2>&1; then \
		echo "miri: installing Rust $(MIRI_TOOLCHAIN) with the miri and rust-src components"; \
		rustup toolchain install $(MIRI_TOOLCHAIN) --profile minimal --component miri,rust-src; \
	fi
	rustup run $(MIRI_TOOLCHAIN) cargo miri test -p kernel --lib allocator

clean:
	$(CARGO) clean
	rm -rf build iso_root/boot iso_root/EFI iso_root/limine.conf
