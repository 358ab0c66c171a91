//! The counting allocator counts: a known number of allocations on this
//! thread is seen exactly, reallocations and bytes apart, and a thread
//! that has exited still counts in the process's total.

use appc_perf::counting::{self, Counting, Counts};
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_thousand_boxes_are_a_thousand_allocations() {
    let before = counting::this_thread();
    let boxes: Vec<Box<u64>> = {
        let mut boxes = Vec::with_capacity(1_000);
        for i in 0..1_000u64 {
            boxes.push(black_box(Box::new(i)));
        }
        boxes
    };
    let counted = counting::this_thread().since(before);
    // The Vec's buffer is one allocation more.
    assert_eq!(
        counted,
        Counts {
            allocs: 1_001,
            reallocs: 0,
            bytes: 1_000 * 8 + 1_000 * 8
        }
    );
    drop(black_box(boxes));
    assert_eq!(
        counting::this_thread().since(before).allocs,
        1_001,
        "frees are not allocations"
    );
    assert!(counting::installed());
}

#[test]
fn growing_a_vec_is_counted_as_reallocations() {
    let mut v: Vec<u8> = Vec::with_capacity(16);
    let before = counting::this_thread();
    v.reserve_exact(64);
    v.reserve_exact(256);
    black_box(&v);
    let counted = counting::this_thread().since(before);
    assert_eq!(
        counted,
        Counts {
            allocs: 0,
            reallocs: 2,
            bytes: 64 + 256
        }
    );
}

#[test]
fn an_exited_thread_still_counts_in_the_total() {
    let before = counting::total();
    let theirs = std::thread::spawn(|| {
        let start = counting::this_thread();
        for i in 0..500u32 {
            black_box(Box::new(i));
        }
        counting::this_thread().since(start)
    })
    .join()
    .unwrap();
    assert_eq!(theirs.allocs, 500);
    // Other tests allocate at the same time, so the total grew by at
    // least what the exited thread counted.
    let grown = counting::total().since(before);
    assert!(grown.allocs >= 500, "{grown:?}");
}
