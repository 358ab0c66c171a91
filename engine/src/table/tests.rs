//! The table's unit tests: the page and id arithmetic, the ownership
//! protocol's bookkeeping (which free list a freed slot goes to and which
//! one an allocation takes), and what a table reports and drops.
//!
//! The ownership tests make up their threads (a [`Thread`] is a token and
//! a home shard) instead of running them: which list a free takes depends
//! on who frees, never on timing, so one test thread plays the owner and
//! the others in turn, deterministically. What only a race shows (two
//! threads on one private list) is the loom model `shard_ownership`'s;
//! the ABA counter of the shared list, which a race needs to matter, is
//! checked here by replaying the race's steps one after another.

use super::*;
use crate::handle::LAST_GENERATION;
use crate::state::Finisher;

const TAG: u8 = 1;

fn thread(token: usize, home: usize) -> Thread {
    Thread { token, home }
}

/// Takes a slot as a submission does (the owner's private list first,
/// then everything else) and stores `verb` in it.
fn submit(table: &Table<u32>, me: Thread, verb: u32) -> Handle {
    let vacant = table
        .pop_home(me)
        .or_else(|| table.alloc_slow(me))
        .expect("the table has room");
    vacant.fill(verb, Kind::Queue, |_| {})
}

/// Completes the task and frees its slot as a consumer on thread `me` does,
/// returning its verb.
fn consume(table: &Table<u32>, me: Thread, handle: Handle) -> u32 {
    let slot = table.slot(handle).expect("an issued handle names a slot");
    let owned = slot
        .state
        .finish(handle.generation(), Finisher::Completer)
        .expect("the task is pending");
    let id = id(handle.shard(), handle.index());
    // SAFETY: `finish` made us the slot's owner in `FINISHING`, and `fill`
    // stored its verb.
    table.release_with(me, id, slot, owned, || unsafe { slot.take_verb() })
}

fn place(handle: Handle) -> (usize, usize) {
    (handle.shard(), handle.index())
}

#[test]
fn pages_tile_the_index_space() {
    let mut expected_start = 0;
    for page in 0..PAGES {
        assert_eq!(page_start(page), expected_start);
        assert_eq!(page_of(expected_start), page);
        assert_eq!(page_of(expected_start + page_len(page) - 1), page);
        expected_start += page_len(page);
    }
    assert_eq!(
        expected_start, SHARD_CAPACITY,
        "the last page stops at the capacity"
    );
    assert_eq!(page_of(SHARD_CAPACITY - 1), PAGES - 1);
}

#[test]
fn ids_round_trip() {
    for shard in [0, 1, SHARDS - 1] {
        for index in [0, 1, 77, SHARD_CAPACITY - 1] {
            assert_eq!(split_id(id(shard, index)), (shard, index));
        }
    }
}

#[test]
fn a_full_size_table_gives_every_shard_its_whole_index_space() {
    assert_eq!(CAPACITY, SHARDS << INDEX.len);
    assert_eq!(
        Table::<u32>::new(TAG, 0, CAPACITY).shard_limit,
        SHARD_CAPACITY
    );
    assert_eq!(
        Table::<u32>::new(TAG, 0, CAPACITY - SHARDS).shard_limit,
        SHARD_CAPACITY - 1
    );
}

#[test]
fn a_thread_owns_its_home_shard_once_it_claims_it_until_it_gives_it_up() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let a = thread(7, SHARDS + 3);
    assert!(table.home_unowned(a));
    assert!(table.try_claim(a));
    assert!(!table.home_unowned(a));
    assert!(!table.try_claim(a), "claimed once");

    // Another thread at home on shard 3 finds it taken; shard 0 is not.
    let b = thread(8, 3);
    assert!(!table.home_unowned(b));
    assert!(!table.try_claim(b));
    let c = thread(9, 0);
    assert!(table.home_unowned(c));
    assert!(table.try_claim(c));

    table.disown(a);
    assert!(table.home_unowned(b));
    assert!(table.try_claim(b));

    // Token 0 never owns a shard, not even an unowned one.
    let nobody = thread(0, 5);
    assert!(!table.home_unowned(nobody));
    assert!(!table.try_claim(nobody));
}

#[test]
fn an_owners_frees_go_to_its_private_list_which_no_other_thread_pops() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let owner = thread(7, 3);
    assert!(table.try_claim(owner));
    assert!(table.pop_home(owner).is_none(), "nothing freed yet");

    let first = submit(&table, owner, 1);
    assert_eq!(place(first), (3, 0));
    assert_eq!(consume(&table, owner, first), 1);

    // The fast path hands the slot straight back, at the next generation.
    let again = table
        .pop_home(owner)
        .expect("the owner's free is on its private list")
        .fill(2, Kind::Queue, |_| {});
    assert_eq!(place(again), (3, 0));
    assert_eq!(again.generation(), first.generation() + 1);
    assert_eq!(consume(&table, owner, again), 2);

    // Another thread at home on the shard finds a never-used slot instead.
    let other = thread(8, 3);
    assert!(table.pop_home(other).is_none());
    let theirs = submit(&table, other, 3);
    assert_eq!(place(theirs), (3, 1));
    assert!(table.pop_home(owner).is_some(), "still on the private list");
}

#[test]
fn others_frees_go_to_the_shared_list_which_the_owner_adopts_whole() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let owner = thread(7, 3);
    assert!(table.try_claim(owner));
    let tasks = [submit(&table, owner, 1), submit(&table, owner, 2)];
    assert_eq!(tasks.map(place), [(3, 0), (3, 1)]);

    // Another thread consumes the owner's tasks: their slots go to the
    // shared list, not to the private one it does not own.
    let other = thread(8, 5);
    for task in tasks {
        consume(&table, other, task);
    }
    assert!(table.pop_home(owner).is_none());

    // The owner's next allocation adopts the whole shared list: it takes
    // the top, and the rest is on its private list.
    let adopted = submit(&table, owner, 3);
    assert_eq!(place(adopted), (3, 1), "the last freed is the top");
    let rest = table
        .pop_home(owner)
        .expect("the rest of the adopted list is private")
        .fill(4, Kind::Queue, |_| {});
    assert_eq!(place(rest), (3, 0));
}

#[test]
fn a_retired_slot_is_never_handed_out_again_whoever_frees_it() {
    let table = Table::<u32>::new(TAG, LAST_GENERATION, CAPACITY);
    let owner = thread(7, 3);
    let other = thread(8, 3);
    assert!(table.try_claim(owner));

    let mine = submit(&table, owner, 1);
    assert_eq!(mine.generation(), LAST_GENERATION);
    consume(&table, owner, mine);
    assert!(table.pop_home(owner).is_none(), "retired, not listed");
    let next = submit(&table, owner, 2);
    assert_eq!(place(next), (3, 1));

    consume(&table, other, next);
    assert_eq!(place(submit(&table, other, 3)), (3, 2));
    assert_eq!(place(submit(&table, owner, 4)), (3, 3));
}

#[test]
fn allocation_starts_at_the_home_shard_and_spills_round_the_others() {
    let table = Table::<u32>::new(TAG, 0, SHARDS); // one slot a shard
    let me = thread(7, SHARDS + 3);
    let shards: Vec<usize> = (0..SHARDS).map(|_| submit(&table, me, 0).shard()).collect();
    let expected: Vec<usize> = (3..SHARDS).chain(0..3).collect();
    assert_eq!(shards, expected);
    assert!(table.alloc_slow(me).is_none(), "full");
}

/// The steps of the ABA race on a shared list, one after another: a popper
/// reads the head (top slot `X`, next `Y`) and stalls; meanwhile `X` is
/// taken off the list and freed back onto it, so the top is `X` again but
/// its next need not be `Y` any more. The stalled popper's CAS must fail,
/// so the head must differ from what it read: the counter beside the top
/// moves on every take, `rounds` times in a row.
fn a_take_and_free_of_the_top_changes_the_head(
    table: &Table<u32>,
    taker: Thread,
    freer: Thread,
    rounds: usize,
) {
    let free = &table.shards[3].free;
    for round in 0..rounds {
        let seen = free.load(Relaxed);
        assert_ne!(seen as u32, NIL, "round {round}: the list holds a slot");
        let task = submit(table, taker, 0);
        assert_eq!(task.index() as u32 + 1, seen as u32, "round {round}");
        consume(table, freer, task);
        let now = free.load(Relaxed);
        assert_eq!(now as u32, seen as u32, "round {round}: the same top");
        assert_ne!(now, seen, "round {round}: a stalled popper's CAS fails");
    }
}

#[test]
fn a_stalled_pop_of_the_shared_list_fails_after_its_top_is_popped_and_freed_again() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let nonowner = thread(8, 3);
    let task = submit(&table, nonowner, 0);
    consume(&table, nonowner, task);
    a_take_and_free_of_the_top_changes_the_head(&table, nonowner, nonowner, 3);
}

#[test]
fn a_stalled_pop_of_the_shared_list_fails_after_the_owner_adopts_it_and_its_top_is_freed_again() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let owner = thread(7, 3);
    let other = thread(8, 5);
    assert!(table.try_claim(owner));
    let task = submit(&table, owner, 0);
    consume(&table, other, task);
    a_take_and_free_of_the_top_changes_the_head(&table, owner, other, 3);
}

#[test]
fn giving_a_shard_up_puts_its_private_list_on_top_of_the_shared_one() {
    let table = Table::<u32>::new(TAG, 0, CAPACITY);
    let owner = thread(7, 3);
    let other = thread(8, 3);
    assert!(table.try_claim(owner));
    let tasks = [submit(&table, owner, 1), submit(&table, owner, 2)];
    consume(&table, other, tasks[1]); // shared: [1]
    consume(&table, owner, tasks[0]); // private: [0]

    table.disown(owner);
    assert!(table.home_unowned(owner));
    // Both lists are now one shared list, the private one on top, and
    // anyone takes from it before touching never-used slots.
    let taken = [submit(&table, other, 3), submit(&table, other, 4)];
    assert_eq!(taken.map(place), [(3, 0), (3, 1)]);
    assert_eq!(place(submit(&table, other, 5)), (3, 2));
}

#[test]
fn the_next_floor_is_one_past_the_highest_generation_reached() {
    let table = Table::<u32>::new(TAG, 100, CAPACITY);
    assert_eq!(table.next_floor(), 100, "no slot used yet");
    let me = thread(7, 3);
    let task = submit(&table, me, 0);
    assert_eq!(task.generation(), 100);
    assert_eq!(table.next_floor(), 101);
    consume(&table, me, task);
    assert_eq!(table.next_floor(), 102, "its slot is free at 101");
}

#[test]
fn dropping_a_table_drops_the_verbs_of_the_tasks_still_in_it() {
    let verb = std::sync::Arc::new(());
    let table = Table::new(TAG, 0, CAPACITY);
    let me = thread(7, 3);
    for _ in 0..3 {
        let vacant = table.alloc_slow(me).expect("room");
        vacant.fill(verb.clone(), Kind::Queue, |_| {});
    }
    assert_eq!(std::sync::Arc::strong_count(&verb), 4);
    drop(table);
    assert_eq!(std::sync::Arc::strong_count(&verb), 1);
}

#[test]
fn a_slots_overhead_counts_its_state_word_link_and_target() {
    let parts = std::mem::size_of::<StateCell>()
        + std::mem::size_of::<AtomicU32>()
        + std::mem::size_of::<SlotTarget>();
    assert!(slot_overhead() >= parts, "{} < {parts}", slot_overhead());
    let table = Table::<[u8; 64]>::new(TAG, 0, CAPACITY);
    assert!(table.slot_bytes() >= slot_overhead() + 64);
}
