//! A fast hash for the masking engine's own tables: word lists, the free-text cache.
//!
//! The standard library's SipHash resists collision attacks on tables fed by others; these
//! tables hold compiled-in word lists and the strings of the one record being masked on its
//! owner's device, and are looked up for nearly every word, so a simple multiplicative hash
//! is enough. Only look-ups use it: no output depends on the order of a table.

use std::hash::{BuildHasherDefault, Hasher};

/// Mixes each 8-byte word of the input into the state: rotate, xor, multiply by an odd
/// constant (the fractional part of the golden ratio), so every input bit reaches the high
/// bits the tables probe with.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w: [u8; 8] = c.try_into().unwrap_or_default();
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte: a copy of a few bytes would be a call to memcpy.
            let w = rest
                .iter()
                .rev()
                .fold(0u64, |w, &b| (w << 8) | u64::from(b));
            // The length keeps "a" and "a\0" apart.
            self.mix(w ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    fn finish(&self) -> u64 {
        // One more round so the last word's bits spread to the low bits too.
        (self.0 ^ (self.0 >> 29)).wrapping_mul(K)
    }
}

pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;
pub(crate) type FastSet<T> = std::collections::HashSet<T, FastBuild>;
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

#[cfg(test)]
mod tests {
    use super::FastSet;

    #[test]
    fn sets_find_what_they_hold() {
        let words = ["a", "a\0", "ab", "abcdefgh", "abcdefghi", "", "Parkinson's"];
        let set: FastSet<&str> = words.iter().copied().collect();
        assert_eq!(set.len(), words.len());
        for w in words {
            assert!(set.contains(w));
        }
        assert!(!set.contains("abcdefg"));
    }
}
