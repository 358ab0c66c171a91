//! Hashing for the ids a node hands out itself (conversation ids, TP ids,
//! its driver's conversation numbers): counters, so neighbours in time are
//! neighbours in value, and never a caller's or a partner's choice.
//!
//! A general-purpose hash (SipHash, FxHash) scatters consecutive ids over
//! the whole table, so with a million conversations every lookup is a
//! cache miss and, on a VM, a TLB miss with a two-dimensional page walk.
//! [`IdHasher`] keeps an id's low bits as the hash's low bits, which
//! hashbrown turns into the bucket index: consecutive ids sit in
//! consecutive buckets, and a sweep in id order (a mass cancel, a mass
//! setup) walks the table in order. The top 7 bits, which hashbrown keeps
//! as the tag it compares 16 buckets at a time against, come from a
//! multiplicative hash of the id, so neighbouring ids still have
//! different tags. Live ids of one node are a window of a counter, so two
//! of them share a bucket only once the window outgrows the table.
//!
//! Not for keys an outsider picks: ids chosen to collide would make every
//! lookup probe far.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by our own ids (see the module docs).
pub type IdHashMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdHashMap`]: the id, with a mixed tag in its top 7 bits.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

/// 2^64 / φ, odd: the multiplier of Fibonacci hashing.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// hashbrown's tag: the hash's top 7 bits.
const TAG: u64 = 0x7F << 57;

impl Hasher for IdHasher {
    /// Bytes (an id kept as bytes, such as a TP id) as a little-endian
    /// integer, folded 8 bytes at a time.
    fn write(&mut self, bytes: &[u8]) {
        let mut id = 0u64;
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            id = id.rotate_left(29) ^ u64::from_le_bytes(word);
        }
        self.0 = id;
    }

    fn write_u8(&mut self, id: u8) {
        self.0 = id.into();
    }

    fn write_u16(&mut self, id: u16) {
        self.0 = id.into();
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = id.into();
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }

    /// Also a slice's length prefix, which the slice's bytes then replace.
    fn write_usize(&mut self, id: usize) {
        self.0 = id as u64;
    }

    fn finish(&self) -> u64 {
        (self.0 & !TAG) | (self.0.wrapping_mul(MIX) & TAG)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn hash<T: std::hash::Hash>(key: T) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(key)
    }

    #[test]
    fn low_bits_are_the_id_and_tags_differ_between_neighbours() {
        for id in [0u32, 1, 2, 1000, u32::MAX] {
            assert_eq!(hash(id) & !TAG, u64::from(id));
        }
        assert_eq!(hash(7u64 << 40) & !TAG, 7 << 40);
        let tp: [u8; 8] = 12345u64.to_le_bytes();
        assert_eq!(hash(tp) & !TAG, 12345);
        let tags: std::collections::HashSet<u64> = (0u32..128).map(|id| hash(id) >> 57).collect();
        assert!(tags.len() > 64, "neighbouring ids get varied tags");
    }

    #[test]
    fn a_map_of_many_ids_finds_each() {
        // Miri runs this too, at interpreter speed.
        let n: u32 = if cfg!(miri) { 2_000 } else { 1_000_000 };
        let mut map = IdHashMap::default();
        for id in 0..n {
            map.insert(id.wrapping_mul(3), id);
        }
        assert!((0..n).all(|id| map.get(&id.wrapping_mul(3)) == Some(&id)));
        assert_eq!(map.get(&1), None);
    }
}
