//! A seeded xorshift generator for tests and benchmarks that need reproducible pseudo-random
//! input (not for anything that must be unpredictable: that is `arch::cpu::random_seed`).

/// Marsaglia's xorshift64 (shifts 13, 7, 17). The seed must not be zero.
#[derive(Debug, Clone)]
pub struct XorShift64(pub u64);

impl XorShift64 {
    /// The next value of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift64;

    #[test]
    fn sequence_is_reproducible_and_moves() {
        let (mut a, mut b) = (XorShift64(1), XorShift64(1));
        let first: [u64; 4] = core::array::from_fn(|_| a.next_u64());
        assert_eq!(first, core::array::from_fn(|_| b.next_u64()));
        assert_eq!(first[0], 1_082_269_761);
        assert!(first.windows(2).all(|w| w[0] != w[1]));
    }
}
