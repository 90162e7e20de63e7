//! PS/2 keyboard: the IRQ 1 handler queues raw scancodes; the reading task decodes them (US
//! layout, scancode set 1 as the controller translates it) with the `pc-keyboard` crate.
//!
//! The handler only reads the data port and pushes into [`KEYBOARD`], a fixed lock-free queue
//! with the reader's `AtomicWaker` (see `task::stream`): it never blocks, allocates or
//! decodes, and a full queue costs the byte (counted), not a stall. [`Keys`] is the reader's
//! side: a stream of [`Key`]s. Unknown or garbled scancodes are skipped by the decoder without
//! panicking.

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::Stream;
use pc_keyboard::layouts::Us104Key;
use pc_keyboard::{HandleControl, PS2Keyboard, ScancodeSet1};

use crate::input::Key;
use crate::task::stream::ByteSource;

/// Scancodes waiting to be decoded (a key press and release are two or more bytes).
pub static KEYBOARD: ByteSource<256> = ByteSource::new();

/// Scancode-set-1 bytes to keys, keeping modifier state between calls.
pub struct Decoder {
    inner: PS2Keyboard<Us104Key, ScancodeSet1>,
    /// Bytes the decoder rejected (garbled sequences, unknown codes).
    pub rejected: u64,
}

impl Decoder {
    /// A decoder with no keys held. Ctrl plus a letter arrives as [`Key::Ctrl`].
    pub const fn new() -> Self {
        Self {
            inner: PS2Keyboard::new(
                ScancodeSet1::new(),
                Us104Key,
                HandleControl::MapLettersToUnicode,
            ),
            rejected: 0,
        }
    }

    /// Feeds one scancode byte; returns the key it completes, if it is one the shell uses
    /// (modifiers and keys without a [`Key`] give `None`).
    pub fn feed(&mut self, byte: u8) -> Option<Key> {
        match self.inner.add_byte(byte) {
            Ok(Some(event)) => self
                .inner
                .process_keyevent(event)
                .and_then(crate::input::key::from_pc_keyboard),
            Ok(None) => None,
            Err(_) => {
                self.rejected += 1;
                None
            }
        }
    }
}

impl core::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The keys typed on the keyboard behind `source`, as a stream (one reader at a time).
pub struct Keys<'a, const N: usize> {
    source: &'a ByteSource<N>,
    decoder: Decoder,
}

impl<'a, const N: usize> Keys<'a, N> {
    /// Keys decoded from the scancodes of `source`.
    pub const fn new(source: &'a ByteSource<N>) -> Self {
        Self {
            source,
            decoder: Decoder::new(),
        }
    }

    /// The next key, or `Pending` with the waker registered on the source.
    pub fn poll_key(&mut self, cx: &mut Context<'_>) -> Poll<Key> {
        loop {
            match self.source.poll_byte(cx) {
                Poll::Ready(byte) => {
                    if let Some(key) = self.decoder.feed(byte) {
                        return Poll::Ready(key);
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Decodes every byte queued now, without waiting.
    pub fn drain(&mut self, mut each: impl FnMut(Key)) {
        while let Some(byte) = self.source.try_pop() {
            if let Some(key) = self.decoder.feed(byte) {
                each(key);
            }
        }
    }

    /// Bytes the decoder rejected so far.
    pub fn rejected(&self) -> u64 {
        self.decoder.rejected
    }
}

impl<const N: usize> Stream for Keys<'_, N> {
    type Item = Key;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Key>> {
        self.poll_key(cx).map(Some)
    }
}

impl<const N: usize> core::fmt::Debug for Keys<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

#[cfg(target_os = "none")]
mod live {
    use super::KEYBOARD;
    use crate::arch::ps2::{self, Ps2Controller, Ps2Error};
    /// TSC when the IRQ handler last finished (for the latency benchmark; test kernels only).
    #[cfg(feature = "ktest")]
    static LAST_EXIT_TSC: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    /// Why the keyboard is unavailable.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum KeyboardError {
        /// The controller or keyboard failed.
        Ps2(Ps2Error),
        /// IRQ 1 could not be attached.
        Irq(crate::interrupts::IrqError),
        /// The controller is already driven by another handle.
        InUse,
    }

    impl core::fmt::Display for KeyboardError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Self::Ps2(e) => write!(f, "{e}"),
                Self::Irq(e) => write!(f, "{e}"),
                Self::InUse => f.write_str("the PS/2 controller is already in use"),
            }
        }
    }

    impl core::error::Error for KeyboardError {
        fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
            match self {
                Self::Ps2(e) => Some(e),
                Self::Irq(e) => Some(e),
                Self::InUse => None,
            }
        }
    }

    fn on_irq() {
        // Drain everything the controller holds (normally one byte per interrupt).
        for _ in 0..16 {
            match ps2::read_data_if_ready() {
                Some(byte) => {
                    KEYBOARD.push_from_irq(byte);
                }
                None => break,
            }
        }
        #[cfg(feature = "ktest")]
        LAST_EXIT_TSC.store(
            crate::arch::cpu::rdtsc(),
            core::sync::atomic::Ordering::Release,
        );
    }

    /// Median cycles from injecting a scancode at the controller to the IRQ handler's exit,
    /// over `runs` injections (the injected bytes are discarded), or `None` without a
    /// keyboard or when the controller ignores the injection command. Test kernels only.
    #[cfg(feature = "ktest")]
    pub fn bench_irq_latency(runs: usize) -> Option<u64> {
        use core::sync::atomic::Ordering;
        let mut samples = heapless::Vec::<u64, 64>::new();
        for _ in 0..runs.min(64) {
            let start = crate::arch::cpu::rdtsc();
            // 0xaa: a left-shift release, harmless if it were ever decoded.
            ps2::inject_scancode(0xaa).ok()?;
            let mut spins = 0u32;
            while LAST_EXIT_TSC.load(Ordering::Acquire) < start {
                spins += 1;
                if spins > 10_000_000 {
                    return None;
                }
                core::hint::spin_loop();
            }
            let _ = samples.push(LAST_EXIT_TSC.load(Ordering::Acquire) - start);
            while KEYBOARD.try_pop().is_some() {}
        }
        samples.sort_unstable();
        samples.get(samples.len() / 2).copied()
    }

    /// Initialises the controller and keyboard and attaches IRQ 1.
    ///
    /// # Errors
    /// [`KeyboardError`]; the system keeps running without a keyboard.
    pub fn init() -> Result<(), KeyboardError> {
        // The only controller handle; afterwards only `on_irq` reads the data port.
        let mut ctl = Ps2Controller::take().ok_or(KeyboardError::InUse)?;
        let was = crate::arch::cpu::disable_interrupts_save();
        let result = ctl.init_keyboard();
        crate::arch::cpu::restore_interrupts(was);
        result.map_err(KeyboardError::Ps2)?;
        crate::interrupts::register_isa(1, on_irq).map_err(KeyboardError::Irq)?;
        // A byte that arrived before the IOAPIC pin was unmasked raised an edge nobody saw, and
        // the controller keeps IRQ 1 asserted until the byte is read: read it now.
        let was = crate::arch::cpu::disable_interrupts_save();
        on_irq();
        crate::arch::cpu::restore_interrupts(was);
        Ok(())
    }
}

#[cfg(target_os = "none")]
pub use live::*;

#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests {
    use core::error::Error;
    use core::fmt::Write;

    use super::{KEYBOARD, Key, KeyboardError, Keys};
    use crate::{kassert, kassert_eq, ktest};

    /// `e`'s message followed by its sources', joined by ": ".
    fn chain(e: &dyn Error) -> heapless::String<256> {
        let mut text = heapless::String::new();
        let _ = write!(text, "{e}");
        let mut source = e.source();
        while let Some(s) = source {
            let _ = write!(text, ": {s}");
            source = s.source();
        }
        text
    }

    ktest! {
        fn kernel_errors_display_and_chain_their_sources() -> TestResult {
            use crate::arch::paging::PageMapError;
            use crate::arch::ps2::Ps2Error;
            use crate::interrupts::IrqError;
            let keyboard = KeyboardError::Irq(IrqError::BadIrq(99));
            kassert_eq!(chain(&keyboard).as_str(), "IRQ 99 is not an ISA IRQ: IRQ 99 is not an ISA IRQ");
            let ps2 = KeyboardError::Ps2(Ps2Error::NoAck(0xfe));
            kassert!(ps2.source().is_some(), "keyboard error hides its PS/2 cause");
            let serial = crate::serial::SerialError::Irq(IrqError::NotReady);
            kassert_eq!(chain(&serial).as_str(), "IRQ 4 cannot be attached: interrupts are not initialised");
            let screen = crate::console::screen::ScreenError::Map(crate::memory::MapError::OutOfFrames);
            kassert!(chain(&screen).ends_with(": out of physical memory for page tables or stacks"), "{}", chain(&screen));
            kassert!(!chain(&PageMapError::AlreadyMapped).is_empty());
            Ok(())
        }
    }

    /// Collects typed characters until `want` arrived and the keyboard went quiet for 300 ms
    /// (the last key's release follows its press), or no scancode came for 3 s (20 s max).
    fn collect(want: usize) -> heapless::String<256> {
        let mut text = heapless::String::new();
        let start = crate::time::uptime_nanos();
        let mut last_activity = start;
        let mut seen = KEYBOARD.pushed() + KEYBOARD.dropped();
        let mut keys = Keys::new(&KEYBOARD);
        loop {
            keys.drain(|k| {
                if let Key::Char(c) = k {
                    let _ = text.push(c);
                }
            });
            let now = crate::time::uptime_nanos();
            let total = KEYBOARD.pushed() + KEYBOARD.dropped();
            if total != seen {
                seen = total;
                last_activity = now;
            }
            if text.chars().count() >= want
                || now - last_activity > 3_000_000_000
                || now - start > 20_000_000_000
            {
                return text;
            }
            core::hint::spin_loop();
        }
    }

    ktest! {
        #[standalone]
        fn typed_keys_arrive_decoded_in_order() -> TestResult {
            crate::println!("ktest: send-keys h e l l o spc w o r l d shift-1 spc 4 2");
            let text = collect(15);
            crate::println!("# decoded {:?}", text.as_str());
            kassert_eq!(text.as_str(), "hello world! 42");
            Ok(())
        }
    }

    ktest! {
        #[standalone]
        fn burst_of_200_keys_loses_none_or_counts_losses() -> TestResult {
            let (pushed, dropped) = (KEYBOARD.pushed(), KEYBOARD.dropped());
            crate::println!("ktest: send-keys a*200");
            let text = collect(200);
            let decoded = text.chars().filter(|c| *c == 'a').count() as u64;
            let queued = KEYBOARD.pushed() - pushed;
            let lost = KEYBOARD.dropped() - dropped;
            crate::println!("# {decoded} keys decoded, {queued} scancodes queued, {lost} dropped by the kernel queue");
            // Every key that did not decode must be covered by a scancode the kernel reported
            // dropping (a lost release code costs no key, so only presses are counted).
            let missing = 200u64.saturating_sub(decoded);
            kassert!(decoded <= 200, "{decoded} keys decoded from 200 presses");
            kassert!(missing <= lost, "{missing} keys lost but only {lost} scancodes reported dropped");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<Key> {
        let mut d = Decoder::new();
        bytes.iter().filter_map(|b| d.feed(*b)).collect()
    }

    #[test]
    fn decodes_set1_presses_with_shift() {
        // h press/release, i press/release, shift+1 -> '!'.
        let bytes = [0x23, 0xa3, 0x17, 0x97, 0x2a, 0x02, 0x82, 0xaa];
        let expected = [Key::Char('h'), Key::Char('i'), Key::Char('!')];
        assert_eq!(keys(&bytes), expected);
        // Extended: right arrow (e0 4d).
        assert_eq!(keys(&[0xe0, 0x4d, 0xe0, 0xcd]), vec![Key::Right]);
        // Ctrl-C (ctrl 1d, c 2e): the shell's interrupt key; Enter, Backspace.
        assert_eq!(
            keys(&[0x1d, 0x2e, 0xae, 0x9d, 0x1c, 0x9c, 0x0e, 0x8e]),
            vec![Key::INTERRUPT, Key::Enter, Key::Backspace]
        );
    }

    #[test]
    fn garbage_never_panics_and_decoding_recovers() {
        let mut d = Decoder::new();
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..100_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let _ = d.feed(seed as u8);
        }
        // Release every modifier the garbage may have left pressed, then type "a" twice (the
        // first may complete a pending extended sequence): a letter A comes out.
        for release in [0xaa, 0xb6, 0x9d, 0xb8] {
            let _ = d.feed(release);
        }
        let typed: Vec<Key> = [0x1e, 0x9e, 0x1e, 0x9e]
            .iter()
            .filter_map(|b| d.feed(*b))
            .collect();
        assert!(
            typed.iter().any(|k| matches!(k, Key::Char('a' | 'A'))),
            "{typed:?}"
        );
        assert!(d.rejected > 0, "random bytes must include rejected ones");
    }
}
