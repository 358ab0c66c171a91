//! Task handles: what `WinAsyncAPPC*` returns and `WinAPPCCancelAsyncRequest`
//! takes.
//!
//! A handle is a `NonZeroU64` so that `Option<Handle>` is the API's "0 means
//! not accepted" for free. It packs, from the low bits up:
//!
//! | field        | bits (release) | meaning                                         |
//! |--------------|----------------|-------------------------------------------------|
//! | `INDEX`      | 0..20          | slot index inside its shard                     |
//! | `SHARD`      | 20..24         | shard of the task table                         |
//! | `ENGINE`     | 24..32         | tag of the [`Engine`](crate::Engine) instance (never 0) |
//! | `GENERATION` | 32..64         | the slot's generation when the task was issued  |
//!
//! The engine tag is never zero, so no packed handle is zero. A slot's
//! generation only moves forward and a slot whose generation would wrap is
//! retired instead of reused (see [`table`](crate::table)), so a handle names
//! one task for the life of the engine: comparing generations with `<` is
//! exact and no stale handle can alias a newer task. Tags come back when
//! their engines are gone, but a later engine with the same tag starts its
//! slots above every generation the earlier ones issued (see
//! [`tags`](crate::tags)), so a handle kept from a gone engine cannot alias
//! a later engine's task either.
//!
//! Under `--cfg loom` the fields shrink (a 2-bit generation, a few slots) so
//! that the models reach generation retirement and page boundaries; release
//! builds never see those widths.

use std::fmt;
use std::num::NonZeroU64;

/// One bit field of a packed `u64`: its width and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) len: u32,
    pub(crate) shift: u32,
}

impl Field {
    /// The lowest field of a word.
    #[inline]
    pub(crate) const fn first(len: u32) -> Self {
        Self { len, shift: 0 }
    }

    /// The field placed directly above `self`.
    #[inline]
    pub(crate) const fn then(self, len: u32) -> Self {
        Self {
            len,
            shift: self.shift + self.len,
        }
    }

    /// The largest value the field holds.
    #[inline]
    pub(crate) const fn max(self) -> u64 {
        if self.len == 64 {
            u64::MAX
        } else {
            (1 << self.len) - 1
        }
    }

    /// The field's bits in place.
    #[inline]
    pub(crate) const fn mask(self) -> u64 {
        self.max() << self.shift
    }

    #[inline(always)]
    pub(crate) const fn get(self, word: u64) -> u64 {
        (word >> self.shift) & self.max()
    }

    /// `word` with this field replaced by `value` (which must fit).
    #[inline(always)]
    pub(crate) const fn set(self, word: u64, value: u64) -> u64 {
        debug_assert!(value <= self.max());
        (word & !self.mask()) | (value << self.shift)
    }
}

#[cfg(not(loom))]
mod width {
    pub(super) const INDEX: u32 = 20;
    pub(super) const SHARD: u32 = 4;
    pub(super) const GENERATION: u32 = 32;
}

#[cfg(loom)]
mod width {
    pub(super) const INDEX: u32 = 3;
    pub(super) const SHARD: u32 = 1;
    pub(super) const GENERATION: u32 = 2;
}

pub(crate) const INDEX: Field = Field::first(width::INDEX);
pub(crate) const SHARD: Field = INDEX.then(width::SHARD);
pub(crate) const ENGINE: Field = SHARD.then(8);
pub(crate) const GENERATION: Field = Field {
    len: width::GENERATION,
    shift: 32,
};

const _: () = assert!(ENGINE.shift + ENGINE.len <= GENERATION.shift);
const _: () = assert!(GENERATION.shift + GENERATION.len <= 64);

/// A slot's generation. Only ever moves forward; see the module docs.
pub(crate) type Generation = u32;

/// The generation at which a slot is retired instead of reused.
pub(crate) const LAST_GENERATION: Generation = GENERATION.max() as Generation;

/// An asynchronous task handle (the `HANDLE` `WinAsyncAPPC*` returns).
///
/// Any `u64` can be turned into a handle with [`Handle::from_raw`]; cancelling
/// or collecting one that was never issued is answered with
/// [`WAPPCINVALID`](crate::WAPPCINVALID), never with a panic or with an effect
/// on another task.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(NonZeroU64);

impl Handle {
    #[inline]
    pub(crate) fn pack(engine: u8, shard: usize, index: usize, generation: Generation) -> Self {
        debug_assert!(engine != 0);
        let word = ENGINE.set(0, u64::from(engine));
        let word = SHARD.set(word, shard as u64);
        let word = INDEX.set(word, index as u64);
        let word = GENERATION.set(word, u64::from(generation));
        Self(NonZeroU64::new(word).expect("the engine tag is never zero"))
    }

    /// The handle with this raw value; `None` for 0, which the API uses for
    /// "not accepted".
    #[inline]
    pub const fn from_raw(raw: u64) -> Option<Self> {
        match NonZeroU64::new(raw) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The raw value, as `WinAsyncAPPC*` would return it.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0.get()
    }

    #[inline]
    pub(crate) fn engine(self) -> u8 {
        ENGINE.get(self.raw()) as u8
    }

    #[inline]
    pub(crate) fn shard(self) -> usize {
        SHARD.get(self.raw()) as usize
    }

    #[inline]
    pub(crate) fn index(self) -> usize {
        INDEX.get(self.raw()) as usize
    }

    #[inline]
    pub(crate) fn generation(self) -> Generation {
        GENERATION.get(self.raw()) as Generation
    }

    /// True if some bit outside the packed fields is set: such a value was
    /// never issued by any engine.
    #[inline]
    pub(crate) fn has_stray_bits(self) -> bool {
        let used = INDEX.mask() | SHARD.mask() | ENGINE.mask() | GENERATION.mask();
        self.raw() & !used != 0
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("engine", &self.engine())
            .field("shard", &self.shard())
            .field("index", &self.index())
            .field("generation", &self.generation())
            .finish()
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.raw())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_tile_the_word_without_overlap() {
        let fields = [INDEX, SHARD, ENGINE, GENERATION];
        for (i, a) in fields.iter().enumerate() {
            for b in &fields[i + 1..] {
                assert_eq!(a.mask() & b.mask(), 0, "{a:?} overlaps {b:?}");
            }
        }
        assert_eq!(GENERATION.len, 32, "the contract is a 32-bit generation");
    }

    proptest! {
        // Miri runs these too, at a pace that wants fewer cases.
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 8 } else { 256 }))]

        #[test]
        fn every_field_round_trips(
            engine in 1u8..,
            shard in 0usize..=SHARD.max() as usize,
            index in 0usize..=INDEX.max() as usize,
            generation in any::<u32>(),
        ) {
            let h = Handle::pack(engine, shard, index, generation);
            prop_assert_eq!(h.engine(), engine);
            prop_assert_eq!(h.shard(), shard);
            prop_assert_eq!(h.index(), index);
            prop_assert_eq!(h.generation(), generation);
            prop_assert!(!h.has_stray_bits());
            prop_assert_eq!(Handle::from_raw(h.raw()), Some(h));
        }

        #[test]
        fn field_set_touches_only_its_bits(word in any::<u64>(), value in any::<u64>()) {
            for field in [INDEX, SHARD, ENGINE, GENERATION] {
                let v = value & field.max();
                let w = field.set(word, v);
                prop_assert_eq!(field.get(w), v);
                prop_assert_eq!(w & !field.mask(), word & !field.mask());
            }
        }
    }

    #[test]
    fn zero_is_not_a_handle() {
        assert_eq!(Handle::from_raw(0), None);
    }
}
