//! How a reactor with nothing to do waits: it polls for work for about
//! 50 µs before it sleeps in the kernel.
//!
//! Waking a sleeping thread costs tens of microseconds on a VM whose vCPUs
//! are idle (the host must run the halted vCPU again), and a round trip
//! between two nodes wakes a reactor at each end at least once (the peer's
//! bytes; with io_uring also a TP's kick). The poll is only a hint: a reactor
//! that found nothing still sleeps in the same wait as before, which
//! whatever arrives after its last poll completes (a request rings the
//! doorbell, bytes make the socket ready), so nothing can be missed.
//!
//! So the epoll reactor always polls (it counts as awake meanwhile, and
//! merges the writes callers hand it then; see `poll.rs`), and the io_uring
//! one with [`Config::idle_poll`](super::Config::idle_poll), while tasks
//! run on it ([`Handler::runs_tasks`](super::Handler::runs_tasks)), or for
//! a few turns after a send or receive of 16 KiB or more: a stream in bulk,
//! where the next burst is right behind. With many sessions whose TPs are
//! threads a polling io_uring reactor is worse off: a TP that runs while it
//! yields kicks it, and it takes that TP's work alone, where a sleeping
//! reactor, woken once, takes several TPs' work in one batch; hence
//! `idle_poll` is off by default. TPs that are tasks on the reactor kick
//! nothing: their work is the reactor's own turn.
//! What polling buys and costs on each backend, measured, is in
//! `docs/design.md#reactors-poll-before-they-sleep`.

use std::time::{Duration, Instant};

/// How long a reactor polls before it sleeps: about what waking a sleeping
/// vCPU costs, so that a reply due within one wake-up's time is taken
/// without one.
const POLL_FOR: Duration = Duration::from_micros(50);

/// True as soon as `ready` is, within [`POLL_FOR`] of the engine's short
/// spins ([`appc_engine::spin::until`], the one its waiting TPs use, whose
/// yields return at once on an idle machine); false if the reactor should
/// sleep.
pub(crate) fn spin(mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if appc_engine::spin::until(|| ready().then_some(())).is_some() {
            return true;
        }
        if start.elapsed() >= POLL_FOR {
            return false;
        }
    }
}
