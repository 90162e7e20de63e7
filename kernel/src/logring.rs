//! The kernel log ring: the last records of the `log` facade, kept in fixed memory for `dmesg`.
//!
//! Key type: [`LogRing`], `N` bytes holding whole records; when a new record does not fit,
//! the oldest ones are dropped (and counted) until it does. No heap: a `static` of it works
//! before the allocator exists, so it holds the boot log from the first line.
//!
//! Layout: each record is a 2-byte little-endian length and its bytes, stored back to back
//! modulo `N` (a record may wrap around the end). A record longer than
//! [`LogRing::max_record`] is truncated (and counted). [`LogRing::push_fmt`] formats straight
//! into the ring, without a temporary buffer.

use core::fmt;

use crate::console::utf8::{Utf8Decoder, Utf8Step};

const HEADER: usize = 2;

/// A ring of log records in `N` bytes (`N` at least 16).
#[derive(Clone)]
pub struct LogRing<const N: usize> {
    buf: [u8; N],
    /// Offset (counting up forever, modulo `N` into `buf`) of the oldest record's header.
    head: usize,
    /// Offset just after the newest record.
    tail: usize,
    records: usize,
    pushed: u64,
    dropped: u64,
    truncated: u64,
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogRing<N> {
    const SIZE_OK: () = assert!(N >= 16, "a log ring needs at least 16 bytes");

    /// An empty ring.
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            buf: [0; N],
            head: 0,
            tail: 0,
            records: 0,
            pushed: 0,
            dropped: 0,
            truncated: 0,
        }
    }

    /// The longest record kept whole.
    pub const fn max_record() -> usize {
        let m = N - HEADER;
        if m > u16::MAX as usize {
            u16::MAX as usize
        } else {
            m
        }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Records pushed since the start.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Oldest records dropped to make room.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records cut to [`Self::max_record`] bytes.
    pub fn truncated(&self) -> u64 {
        self.truncated
    }

    /// Sequence number of the oldest record held: records are numbered from 0 in push order,
    /// so the newest one is `pushed() - 1`.
    pub fn first_seq(&self) -> u64 {
        self.pushed - self.records as u64
    }

    /// Record number `seq` ([`Self::first_seq`] onwards), if still held.
    pub fn get(&self, seq: u64) -> Option<Record<'_>> {
        let skip = usize::try_from(seq.checked_sub(self.first_seq())?).ok()?;
        self.iter().nth(skip)
    }

    /// Bytes in use (headers included).
    pub fn used(&self) -> usize {
        self.tail - self.head
    }

    fn byte(&self, at: usize) -> u8 {
        self.buf[at % N]
    }

    fn set(&mut self, at: usize, b: u8) {
        self.buf[at % N] = b;
    }

    fn len_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.byte(at), self.byte(at + 1)]))
    }

    /// Drops the oldest record.
    fn evict(&mut self) {
        let len = self.len_at(self.head);
        self.head += HEADER + len;
        self.records -= 1;
        self.dropped += 1;
    }

    /// Adds a record (its bytes, typically one line of text without the newline).
    pub fn push(&mut self, record: &[u8]) {
        let mut w = self.begin();
        w.write_bytes(record);
        w.finish();
    }

    /// Adds a record formatted from `args`.
    pub fn push_fmt(&mut self, args: fmt::Arguments<'_>) {
        let mut w = self.begin();
        let _ = fmt::write(&mut w, args);
        w.finish();
    }

    fn begin(&mut self) -> Writer<'_, N> {
        while N - self.used() < HEADER {
            self.evict();
        }
        let start = self.tail;
        self.tail += HEADER;
        Writer {
            ring: self,
            start,
            len: 0,
            cut: false,
        }
    }

    /// The records, oldest first.
    pub fn iter(&self) -> Iter<'_, N> {
        Iter {
            ring: self,
            at: self.head,
            left: self.records,
        }
    }
}

impl<const N: usize> fmt::Debug for LogRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogRing")
            .field("size", &N)
            .field("records", &self.records)
            .field("dropped", &self.dropped)
            .finish()
    }
}

/// Appends one record; the header is written by `finish`.
struct Writer<'a, const N: usize> {
    ring: &'a mut LogRing<N>,
    start: usize,
    len: usize,
    cut: bool,
}

impl<const N: usize> Writer<'_, N> {
    fn write_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len == LogRing::<N>::max_record() {
                self.cut = true;
                return;
            }
            // Room for one more byte: drop older records, never this one (the cap above
            // keeps it smaller than the ring).
            while self.ring.tail - self.ring.head >= N {
                self.ring.evict();
            }
            let at = self.ring.tail;
            self.ring.set(at, b);
            self.ring.tail += 1;
            self.len += 1;
        }
    }

    fn finish(self) {
        let [lo, hi] = (self.len as u16).to_le_bytes();
        self.ring.set(self.start, lo);
        self.ring.set(self.start + 1, hi);
        self.ring.records += 1;
        self.ring.pushed += 1;
        if self.cut {
            self.ring.truncated += 1;
        }
    }
}

impl<const N: usize> fmt::Write for Writer<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// One record of a [`LogRing`].
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    first: &'a [u8],
    second: &'a [u8],
}

impl<'a> Record<'a> {
    /// The bytes, in at most two pieces (the record may wrap around the ring's end).
    pub fn parts(&self) -> (&'a [u8], &'a [u8]) {
        (self.first, self.second)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// Whether the record is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, one at a time.
    pub fn bytes(&self) -> impl Iterator<Item = u8> + 'a {
        self.first.iter().chain(self.second).copied()
    }
}

/// Shows the record as text (ill-formed UTF-8 as U+FFFD).
impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        let mut d = Utf8Decoder::new();
        for b in self.bytes() {
            let (broke, step) = d.push(b);
            if broke {
                f.write_char(char::REPLACEMENT_CHARACTER)?;
            }
            match step {
                Utf8Step::Pending => {}
                Utf8Step::Invalid => f.write_char(char::REPLACEMENT_CHARACTER)?,
                Utf8Step::Char(c) => f.write_char(c)?,
            }
        }
        if d.flush() {
            f.write_char(char::REPLACEMENT_CHARACTER)?;
        }
        Ok(())
    }
}

/// Iterator over a ring's records, oldest first.
#[derive(Debug)]
pub struct Iter<'a, const N: usize> {
    ring: &'a LogRing<N>,
    at: usize,
    left: usize,
}

impl<'a, const N: usize> Iterator for Iter<'a, N> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let len = self.ring.len_at(self.at);
        let start = (self.at + HEADER) % N;
        self.at += HEADER + len;
        let buf = &self.ring.buf;
        let first_len = len.min(N - start);
        Some(Record {
            first: &buf[start..start + first_len],
            second: &buf[..len - first_len],
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<const N: usize> ExactSizeIterator for Iter<'_, N> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn texts<const N: usize>(r: &LogRing<N>) -> Vec<String> {
        r.iter().map(|rec| rec.to_string()).collect()
    }

    #[test]
    fn keeps_records_in_order() {
        let mut r = LogRing::<64>::new();
        r.push(b"boot: first line");
        r.push_fmt(format_args!("value {} and {:#x}", 42, 255));
        assert_eq!(texts(&r), ["boot: first line", "value 42 and 0xff"]);
        assert_eq!((r.len(), r.pushed(), r.dropped()), (2, 2, 0));
    }

    #[test]
    fn oldest_records_are_dropped_and_counted() {
        let mut r = LogRing::<32>::new();
        for i in 0..10 {
            r.push_fmt(format_args!("line {i}"));
        }
        // Each record takes 2 + 6 bytes: four fit in 32.
        assert_eq!(texts(&r), ["line 6", "line 7", "line 8", "line 9"]);
        assert_eq!((r.dropped(), r.pushed()), (6, 10));
        assert!(r.used() <= 32);
    }

    #[test]
    fn records_wrap_around_the_end() {
        let mut r = LogRing::<21>::new();
        r.push(b"abcdefgh");
        r.push(b"ijklmn");
        r.push(b"opqrstu");
        let rec = r.iter().last().unwrap();
        assert!(!rec.parts().1.is_empty(), "the last record wraps");
        assert_eq!(texts(&r), ["ijklmn", "opqrstu"]);
        // A UTF-8 character split by the wrap is shown whole.
        let mut r = LogRing::<16>::new();
        r.push(b"0123456789a");
        r.push("é€".as_bytes());
        assert_eq!(texts(&r).last().unwrap(), "é€");
    }

    #[test]
    fn long_records_are_truncated() {
        let mut r = LogRing::<16>::new();
        r.push(b"short");
        r.push(&[b'x'; 40]);
        assert_eq!(texts(&r), ["x".repeat(14)]);
        assert_eq!((r.truncated(), r.dropped()), (1, 1));
        r.push(b"");
        assert_eq!(r.iter().last().unwrap().len(), 0);
    }

    #[test]
    fn records_are_numbered_in_push_order() {
        let mut r = LogRing::<32>::new();
        assert_eq!(r.first_seq(), 0);
        assert!(r.get(0).is_none());
        for i in 0..10 {
            r.push_fmt(format_args!("line {i}"));
        }
        assert_eq!(r.first_seq(), 6);
        assert!(r.get(5).is_none(), "dropped");
        assert_eq!(r.get(6).unwrap().to_string(), "line 6");
        assert_eq!(r.get(9).unwrap().to_string(), "line 9");
        assert!(r.get(10).is_none());
    }

    proptest! {
        #[test]
        fn matches_a_model(lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..100)) {
            const N: usize = 128;
            let mut r = LogRing::<N>::new();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut dropped = 0;
            for l in &lines {
                r.push(l);
                let mut l = l.clone();
                l.truncate(LogRing::<N>::max_record());
                model.push_back(l);
                while model.iter().map(|m| m.len() + 2).sum::<usize>() > N {
                    model.pop_front();
                    dropped += 1;
                }
                let got: Vec<Vec<u8>> = r.iter().map(|rec| rec.bytes().collect()).collect();
                prop_assert_eq!(&got, &model.iter().cloned().collect::<Vec<_>>());
                prop_assert_eq!(r.dropped(), dropped);
            }
        }
    }
}
