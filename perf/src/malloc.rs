//! The allocator setting every appc-perf binary runs with: glibc's heap
//! trimming raised above the sizes one session moves.
//!
//! glibc gives the top of a heap back to the kernel whenever a free leaves
//! more than `M_TRIM_THRESHOLD` (128 KiB by default) free there. One
//! session's 64 KiB records are allocated on one thread and freed on
//! another: a received record is built by the reactor and dropped by the
//! TP that took it, an RU to send is built on the TP and dropped by the
//! reactor once written. Such a free can leave the top over the threshold,
//! and the next record then faults its pages back in, costing one session
//! most of its bandwidth (`docs/design.md#glibcs-heap-trim-threshold` has
//! the measurement). glibc raises the threshold by itself once it frees a
//! block above its mmap threshold, which records stay below.
//!
//! The tokio peer runs in the same process, so both sides of every
//! comparison run with it. A gateway that moves large records with this
//! library on glibc should set it too.

use std::sync::OnceLock;

/// What [`tune`] sets `M_TRIM_THRESHOLD` to.
pub const TRIM_THRESHOLD: usize = 4 << 20;

static SETTING: OnceLock<&'static str> = OnceLock::new();

/// Sets glibc's trim threshold to [`TRIM_THRESHOLD`] (elsewhere, nothing).
/// For a binary's `main`, before it starts any thread.
pub fn tune() {
    SETTING.get_or_init(set);
}

/// The allocator setting, for the reports' machine line.
pub fn setting() -> &'static str {
    SETTING.get().copied().unwrap_or("default")
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set() -> &'static str {
    // SAFETY: mallopt only sets a parameter of glibc's allocator, which
    // serialises it with allocations itself.
    if unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) } == 1 {
        "glibc, trim threshold 4 MiB"
    } else {
        "glibc, default (mallopt failed)"
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set() -> &'static str {
    "default"
}
