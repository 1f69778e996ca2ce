//! A small, fast hash for the key maps.
//!
//! The standard hasher is built to resist hash flooding by hostile input.
//! Configuration keys come from the operator's own files, so that protection
//! buys nothing here, while hashing a million keys with it is a large part
//! of the time spent reading a big configuration. This is the multiply-
//! rotate hash known from the Rust compiler ("Fx").

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The Fx hasher: fast, not flood-resistant.
#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` using [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn distinguishes_similar_keys() {
        let build = BuildHasherDefault::<FxHasher>::default();
        let a = build.hash_one("vserver!1");
        let b = build.hash_one("vserver!10");
        let c = build.hash_one("vserver!1\0");
        assert_ne!(a, b);
        assert_ne!(a, c);
        let mut map: FxHashMap<String, usize> = FxHashMap::default();
        for i in 0..10_000 {
            map.insert(i.to_string(), i);
        }
        assert!((0..10_000).all(|i| map.get(&i.to_string()) == Some(&i)));
    }
}
