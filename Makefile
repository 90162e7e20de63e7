# Front door. The logic lives in the host driver (xtask/); these targets only call it.
#
#   make run       build, boot in QEMU (window if there is a display, else on this terminal)
#   make test      every test layer; ends with "N passed, N failed"
#   make iso       hybrid ISO image (build/kernel.iso) for QEMU or a USB stick
#   make bench     benchmarks (criterion on the host + in-kernel figures)
#   make debug     like run, paused, with a gdb stub on :1234
#   make deps      install missing host tools (qemu, OVMF, xorriso, mtools)
#
# Knobs (environment or make variables): MACHINE (q35), MEM (512M), SMP (1), ACCEL (tcg),
# CPU (max), CMDLINE (kernel command line), QEMUFLAGS (extra QEMU options),
# LIMINE_DIR (use real Limine's files from an unpacked binary release).
# TESTS (make test only: comma-separated name fragments selecting layers and boots, e.g.
# TESTS=host or TESTS=ktest-pic,loader-; standalone boots are listed by the first KTAP boot).

CARGO ?= cargo
XTASK := $(CARGO) run --quiet --release --package xtask --

export MACHINE MEM SMP ACCEL CPU CMDLINE QEMUFLAGS LIMINE_DIR OVMF_CODE OVMF_VARS TESTS

.PHONY: all deps build run debug test iso run-iso bench lint clean

all: build

deps:
	@$(XTASK) deps

build:
	@$(XTASK) build

run:
	@$(XTASK) run

debug:
	@$(XTASK) debug

test:
	@$(XTASK) test

iso:
	@$(XTASK) iso

run-iso:
	@$(XTASK) run-iso

bench:
	@$(XTASK) bench

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p kernel --target x86_64-unknown-none --features ktest -- -D warnings
	$(CARGO) clippy -p loader --target x86_64-unknown-uefi -- -D warnings

clean:
	$(CARGO) clean
	rm -rf build iso_root/boot iso_root/EFI iso_root/limine.conf
