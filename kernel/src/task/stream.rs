//! Interrupt-fed byte streams and the serial key stream on top of them.
//!
//! Key types: [`ByteSource`] (a fixed [`DropQueue`] an interrupt handler pushes into, plus the
//! `AtomicWaker` of the task that reads it), [`ByteStream`] (its `Stream` of bytes) and
//! [`SerialKeys`] (bytes through the [`SerialDecoder`] into [`Key`]s, with the lone-ESC
//! timeout on [`Timers`]).
//!
//! The interrupt side ([`ByteSource::push_from_irq`]) pushes the byte (a full queue drops and
//! counts it) and wakes the reader: no lock, no allocation (the wake is the executor's
//! lock-free path). The reader registers its waker before its second look at the queue, so a
//! byte that arrives between an empty pop and the registration is not missed.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_util::Stream;
use futures_util::task::AtomicWaker;
use heapless::Deque;

use super::timer::{Sleep, Timers};
use crate::input::Key;
use crate::input::serial::SerialDecoder;
use crate::sync::DropQueue;

/// Bytes from one interrupt handler to one reading task.
#[derive(Debug)]
pub struct ByteSource<const N: usize> {
    queue: DropQueue<N>,
    waker: AtomicWaker,
}

impl<const N: usize> Default for ByteSource<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> ByteSource<N> {
    /// An empty source.
    pub const fn new() -> Self {
        Self {
            queue: DropQueue::new(),
            waker: AtomicWaker::new(),
        }
    }

    /// The interrupt handler's side: queue `byte` (false if the queue was full and the byte
    /// dropped) and wake the reader.
    pub fn push_from_irq(&self, byte: u8) -> bool {
        let kept = self.queue.push(byte);
        self.waker.wake();
        kept
    }

    /// Bytes dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Bytes queued so far (dropped ones not counted).
    pub fn pushed(&self) -> u64 {
        self.queue.pushed()
    }

    /// Whether no byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The next byte if one is waiting, without registering a waker (for polling readers
    /// and for draining).
    pub fn try_pop(&self) -> Option<u8> {
        self.queue.pop()
    }

    /// The reader's stream (one reader at a time: the source has one waker slot).
    pub fn stream(&self) -> ByteStream<'_, N> {
        ByteStream { source: self }
    }

    /// The next byte, or `Pending` with the waker registered.
    pub fn poll_byte(&self, cx: &mut Context<'_>) -> Poll<u8> {
        if let Some(b) = self.queue.pop() {
            return Poll::Ready(b);
        }
        self.waker.register(cx.waker());
        match self.queue.pop() {
            Some(b) => Poll::Ready(b),
            None => Poll::Pending,
        }
    }
}

/// The bytes of a [`ByteSource`], as they arrive. Never ends.
#[derive(Debug)]
pub struct ByteStream<'a, const N: usize> {
    source: &'a ByteSource<N>,
}

impl<const N: usize> Stream for ByteStream<'_, N> {
    type Item = u8;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u8>> {
        self.source.poll_byte(cx).map(Some)
    }
}

/// How long a lone ESC waits for the rest of a sequence before it counts as the Escape key.
pub const ESC_TIMEOUT_NS: u64 = 50_000_000;

/// Keys typed on a serial terminal: a [`ByteSource`] decoded by a [`SerialDecoder`]. A
/// sequence left incomplete for `timeout` (a lone ESC, a cut-off sequence) is resolved by the
/// decoder's timeout rule once that much time has passed on `timers`.
pub struct SerialKeys<'a, const N: usize> {
    source: &'a ByteSource<N>,
    decoder: SerialDecoder,
    /// Keys decoded but not yet returned (a byte can complete two).
    ready: Deque<Key, 4>,
    timers: &'a Timers,
    timeout: u64,
    pending_since: Option<Sleep<'a>>,
}

impl<'a, const N: usize> SerialKeys<'a, N> {
    /// Keys from `source`, with incomplete sequences resolved after `timeout` (in the time
    /// unit of `timers`).
    pub fn new(source: &'a ByteSource<N>, timers: &'a Timers, timeout: u64) -> Self {
        Self {
            source,
            decoder: SerialDecoder::new(),
            ready: Deque::new(),
            timers,
            timeout,
            pending_since: None,
        }
    }

    /// The next key, or `Pending` with wakers registered on the byte source (and on the
    /// timeout while a sequence is incomplete).
    pub fn poll_key(&mut self, cx: &mut Context<'_>) -> Poll<Key> {
        loop {
            if let Some(k) = self.ready.pop_front() {
                return Poll::Ready(k);
            }
            match self.source.poll_byte(cx) {
                Poll::Ready(byte) => {
                    let ready = &mut self.ready;
                    // At most two keys per byte; the deque holds four.
                    self.decoder.feed(byte, &mut |k| {
                        let _ = ready.push_back(k);
                    });
                    self.pending_since = None;
                }
                Poll::Pending => {
                    if !self.decoder.is_pending() {
                        return Poll::Pending;
                    }
                    let timers = self.timers;
                    let timeout = self.timeout;
                    let sleep = self
                        .pending_since
                        .get_or_insert_with(|| timers.sleep(timeout));
                    if Pin::new(sleep).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.pending_since = None;
                    let ready = &mut self.ready;
                    self.decoder.timeout(&mut |k| {
                        let _ = ready.push_back(k);
                    });
                }
            }
        }
    }
}

impl<const N: usize> Stream for SerialKeys<'_, N> {
    type Item = Key;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Key>> {
        self.poll_key(cx).map(Some)
    }
}

impl<const N: usize> core::fmt::Debug for SerialKeys<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SerialKeys")
            .field("decoder", &self.decoder)
            .field("ready", &self.ready.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::executor::Executor;
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use std::sync::Mutex;
    use std::vec::Vec;

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    #[test]
    fn bytes_from_the_irq_side_wake_the_reader() {
        let source: &'static ByteSource<8> = leak(ByteSource::new());
        let mut ex = Executor::new(4);
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        ex.spawn("reader", async move {
            let mut s = source.stream();
            for _ in 0..3 {
                let b = core::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await;
                g.lock().unwrap().push(b.unwrap());
            }
        })
        .unwrap();
        ex.run_ready();
        assert!(got.lock().unwrap().is_empty());
        assert!(source.push_from_irq(b'a'));
        assert_eq!(ex.run_queue().len(), 1, "the push woke the reader");
        ex.run_ready();
        source.push_from_irq(b'b');
        source.push_from_irq(b'c');
        ex.run_ready();
        assert_eq!(*got.lock().unwrap(), b"abc");
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let source = ByteSource::<4>::new();
        let kept = (0..10u8).filter(|&b| source.push_from_irq(b)).count();
        assert_eq!(kept, 4);
        assert_eq!(source.dropped(), 6);
        let w = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(source.poll_byte(&mut cx), Poll::Ready(0));
    }

    #[test]
    fn serial_keys_decode_and_time_out_a_lone_escape() {
        let source: &'static ByteSource<64> = leak(ByteSource::new());
        let timers: &'static Timers = leak(Timers::new());
        let mut ex = Executor::new(4);
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        ex.spawn("keys", async move {
            let mut keys = SerialKeys::new(source, timers, ESC_TIMEOUT_NS);
            loop {
                let k = core::future::poll_fn(|cx| keys.poll_key(cx)).await;
                g.lock().unwrap().push(k);
                if k == Key::Enter {
                    break;
                }
            }
        })
        .unwrap();
        ex.run_ready();
        for &b in b"hi\x1b[A" {
            source.push_from_irq(b);
        }
        ex.run_ready();
        assert_eq!(
            *got.lock().unwrap(),
            [Key::Char('h'), Key::Char('i'), Key::Up]
        );
        // A lone ESC: nothing until the timeout passes.
        source.push_from_irq(0x1b);
        ex.run_ready();
        timers.tick(ESC_TIMEOUT_NS / 2);
        ex.run_ready();
        assert_eq!(got.lock().unwrap().len(), 3);
        timers.tick(ESC_TIMEOUT_NS * 2);
        ex.run_ready();
        assert_eq!(got.lock().unwrap()[3], Key::Escape);
        // A sequence split across interrupts is one key.
        source.push_from_irq(0x1b);
        ex.run_ready();
        source.push_from_irq(b'[');
        ex.run_ready();
        source.push_from_irq(b'D');
        source.push_from_irq(b'\r');
        ex.run_ready();
        assert_eq!(got.lock().unwrap()[4..], [Key::Left, Key::Enter]);
        assert_eq!(ex.stats().live, 0);
    }
}
