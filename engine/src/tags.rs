//! Engine tags: the 8 bits of a [`Handle`](crate::Handle) that say which
//! engine issued it, and the generation floor that keeps a tag's successive
//! engines apart.
//!
//! Each live engine holds its own tag (1..=255), so a handle of one live
//! engine is never taken for another's. A tag comes back when its engine is
//! gone, and a process that starts and cleans up engines in a loop (the
//! `WinAPPCStartup` → `WinAPPCCleanup` → `WinAPPCStartup` pattern) holds each
//! tag many times over. What keeps a handle kept from a gone engine away from
//! the tasks of a later engine with the same tag is the tag's **generation
//! floor**: an engine starts every slot of its table at its tag's floor, and
//! when it is gone the floor moves above the highest generation it reached.
//! A handle of an earlier holder of the tag therefore carries a generation
//! below every slot of the later one: `WAPPCALREADY` (or `WAPPCINVALID` for a
//! slot the later engine has not handed out), never a live task. The 64-bit
//! handle keeps its layout; what distinguishes the holders of a tag is, in
//! effect, 40 bits: the tag and the part of the 32-bit generation range each
//! holder used.
//!
//! The budget: a tag's 2^32 generations are shared by the engines that hold
//! it one after another, each moving the floor by the most times it reused
//! any one of its slots. A tag is handed out only while at least
//! [`MIN_ROOM`] generations remain above its floor, so even its last holder
//! can reuse each slot 2^24 times before the slot retires (see
//! [`table`](crate::table)); below that it is retired for good. Tags are
//! handed out round-robin, so 2^24 startup / cleanup cycles in one process
//! take each tag about 65,800 times, and every one of those engines may
//! reuse its busiest slot about 65,000 times; engines that run longer use
//! up their tag sooner. A process whose every tag is held or retired gets
//! `WAPPCSYSNOTREADY` from startup.

use crate::handle::{Generation, LAST_GENERATION};

/// Generations a tag must have left above its floor to be handed out.
pub(crate) const MIN_ROOM: u64 = room(LAST_GENERATION);

/// 2^24 of the release builds' 2^32 generations; at least 1 whatever the
/// width (loom's generation is 2 bits).
const fn room(last: Generation) -> u64 {
    let all = last as u64 + 1;
    if all >> 8 == 0 {
        1
    } else {
        all >> 8
    }
}

/// The tags of one process: which are held, and each one's floor.
pub(crate) struct Tags {
    live: [bool; 256],
    /// The lowest generation the tag's next holder may issue (a `u64`: the
    /// floor past [`LAST_GENERATION`] is `2^32`).
    floor: [u64; 256],
    /// The tag handed out last (0: none yet).
    last: u8,
}

impl Tags {
    pub(crate) const fn new() -> Self {
        Self {
            live: [false; 256],
            floor: [0; 256],
            last: 0,
        }
    }

    /// A tag for a new engine, with the generation its slots start at:
    /// 1..=255, never 0, not held by a live engine, with at least
    /// [`MIN_ROOM`] generations left, handed out round-robin (so a tag comes
    /// back as late as possible). `None` if there is none.
    pub(crate) fn take(&mut self) -> Option<(u8, Generation)> {
        let tag = (1..=255usize)
            .map(|step| (self.last as usize + step - 1) % 255 + 1)
            .find(|&tag| !self.live[tag] && self.room(tag) >= MIN_ROOM)?;
        self.live[tag] = true;
        self.last = tag as u8;
        let floor = Generation::try_from(self.floor[tag]).expect("a tag with room has a floor");
        Some((tag as u8, floor))
    }

    /// Gives back `tag` (its engine is gone). `next_floor` is above every
    /// generation the engine issued.
    pub(crate) fn release(&mut self, tag: u8, next_floor: u64) {
        let tag = tag as usize;
        self.live[tag] = false;
        // Loom models start an engine per iteration, thousands in one process,
        // and keep no handle from one engine to the next; with their 2-bit
        // generations, moving floors would retire every tag within a model.
        if cfg!(not(loom)) {
            self.floor[tag] = self.floor[tag].max(next_floor);
        }
    }

    /// Generations left above `tag`'s floor.
    fn room(&self, tag: usize) -> u64 {
        (LAST_GENERATION as u64 + 1).saturating_sub(self.floor[tag])
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_room_is_two_to_the_24_of_the_32_bit_generation() {
        assert_eq!(MIN_ROOM, 1 << 24);
        assert_eq!(room(3), 1, "the loom width still leaves one generation");
    }

    /// 2^24 startup / cleanup cycles, each engine reaching a different
    /// number of generations (up to 300 above its floor): every engine gets
    /// a tag, and no tag's holder ever starts at or below a generation an
    /// earlier holder issued, so no handle is ever issued twice.
    #[test]
    fn two_to_the_24_cycles_never_issue_a_handle_twice() {
        let cycles: u32 = if cfg!(miri) { 1 << 10 } else { 1 << 24 };
        let mut tags = Tags::new();
        // Per tag: one past the highest generation issued so far.
        let mut issued = [0u64; 256];
        for cycle in 0..cycles {
            let (tag, floor) = tags.take().expect("a tag for every cycle");
            let floor = u64::from(floor);
            assert!(
                floor >= issued[tag as usize],
                "cycle {cycle}: tag {tag} reissued"
            );
            let reached = floor + u64::from(cycle % 300);
            issued[tag as usize] = reached + 1;
            tags.release(tag, reached + 1);
        }
        assert!(issued[1..].iter().all(|&n| n > 0), "every tag was used");
    }

    /// The boundary: a tag with exactly [`MIN_ROOM`] generations left is
    /// still handed out (at its floor); one generation fewer and it is
    /// retired, and once every tag is, startup has nothing to give.
    #[test]
    fn a_tag_without_room_is_retired() {
        let all = LAST_GENERATION as u64 + 1;
        let mut tags = Tags::new();
        let (tag, _) = tags.take().unwrap();
        tags.release(tag, all - MIN_ROOM);
        let held: Vec<_> = (0..255).map(|_| tags.take().unwrap()).collect();
        assert!(held.contains(&(tag, (all - MIN_ROOM) as Generation)));
        for &(t, floor) in &held {
            let next = if t == tag { u64::from(floor) + 1 } else { all };
            tags.release(t, next);
        }
        assert_eq!(tags.take(), None, "every tag is out of room");
        // A floor never moves back.
        tags.release(tag, 0);
        assert_eq!(tags.take(), None);
    }

    #[test]
    fn live_tags_are_never_shared() {
        let mut tags = Tags::new();
        let mut held: Vec<_> = (0..255).map(|_| tags.take().unwrap().0).collect();
        assert_eq!(tags.take(), None, "255 live engines hold every tag");
        held.sort_unstable();
        held.dedup();
        assert_eq!(held.len(), 255);
        assert!(!held.contains(&0));
        tags.release(7, 0);
        assert_eq!(tags.take(), Some((7, 0)));
    }
}
