//! The throughput phase: submit, complete and cancel racing on real threads,
//! with every outcome accounted for.
//!
//! A gateway's life is three parties touching the same task at once: the
//! application submits a verb and pumps its completions, the transport
//! reports the verb done, and the application changes its mind and cancels.
//! This phase plays all three:
//!
//! * **Submitters** (`--threads`, default 2) each own an engine message
//!   queue. A submitter keeps at most [`WINDOW`] tasks outstanding, sends
//!   every handle to the completer and a `--cancel-fraction` of them to the
//!   canceller, and pumps its own queue.
//! * **The completer** plays the transport: it calls `complete` on every
//!   handle it is sent, stamping the verb with [`COMPLETED_MARK`].
//! * **The canceller** cancels each live handle it is sent, then one stale
//!   handle (one it cancelled earlier, so certainly finished) and one random
//!   `u64`, and reports each live verdict back to the handle's submitter.
//!
//! The point is the tally, not only the speed. Each submitter matches every
//! completion against the handle it submitted (the verb's tag is the window
//! slot), and for cancelled handles pairs the canceller's verdict with what
//! the queue delivered: `Cancelled` must come with `AP_CANCELLED`,
//! `AlreadyCompleted` with the completer's result. A random `u64` could, with
//! odds far below one in a billion per run, name a live task and cancel it;
//! such a win is still exactly one `AP_CANCELLED`, so the check counts those
//! separately instead of failing on them.

use crate::args::EngineConfig as Config;
use crate::units::grouped;
use appc_engine::{
    CancelOutcome, CompleteOutcome, Completion, Engine, Handle, Opcode, StartupError, Target, Verb,
    AP_CANCELLED, AP_OK, WINAPPC_VERSION,
};
use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

/// Tasks a submitter keeps outstanding at most: bounds memory whatever
/// `--requests` is.
pub const WINDOW: usize = 1024;

/// Handles per channel message: amortises the channel cost so that the run
/// measures the engine more than `mpsc`.
const BATCH: usize = 64;

/// Channel capacity per submitter, in batches: backpressure, so a slow
/// completer or canceller cannot let the channels grow without bound.
const CHANNEL_BATCHES: usize = 16;

/// Finished handles the canceller remembers for its stale cancels.
const STALE_RING: usize = 4096;

/// How long a submitter waits for a completion before declaring the run
/// stalled (an engine bug) and reporting instead of hanging.
const STALL: Duration = Duration::from_secs(10);

/// The `secondary_rc` the completer writes, so that a normal completion the
/// completer never produced cannot pass the check.
pub const COMPLETED_MARK: u32 = 0x600D;

/// Counts of the three `WinAPPCCancelAsyncRequest` answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CancelCounts {
    /// 0: cancelled, `AP_CANCELLED` posted.
    pub cancelled: u64,
    /// `WAPPCALREADY`.
    pub already: u64,
    /// `WAPPCINVALID`.
    pub invalid: u64,
}

impl CancelCounts {
    /// Counts one answer.
    pub fn add(&mut self, outcome: CancelOutcome) {
        match outcome {
            CancelOutcome::Cancelled => self.cancelled += 1,
            CancelOutcome::AlreadyCompleted => self.already += 1,
            CancelOutcome::Invalid => self.invalid += 1,
        }
    }

    /// All answers counted.
    pub fn total(&self) -> u64 {
        self.cancelled + self.already + self.invalid
    }
}

/// What the canceller saw, by kind of handle.
#[derive(Clone, Copy, Debug, Default)]
pub struct CancellerTally {
    /// Handles a submitter sent it, possibly still pending.
    pub live: CancelCounts,
    /// Handles it had already cancelled.
    pub stale: CancelCounts,
    /// Random `u64`s.
    pub random: CancelCounts,
}

/// What the completer saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompleterTally {
    /// `complete` delivered the result.
    pub delivered: u64,
    /// A cancel had won; the result was dropped.
    pub late: u64,
    /// The engine did not know the handle (never expected).
    pub invalid: u64,
}

/// What the submitters saw, summed over all of them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubmitterTally {
    /// Submissions accepted (handles issued).
    pub accepted: u64,
    /// Submissions refused (never expected: the table is far larger).
    pub rejected: u64,
    /// Completions with the completer's `AP_OK` result.
    pub completed_ok: u64,
    /// Completions with `AP_CANCELLED`.
    pub completed_cancelled: u64,
    /// Completions with any other return codes.
    pub completed_bad: u64,
    /// Completions matching no outstanding handle: a duplicate or a stranger.
    pub unmatched: u64,
    /// Handles whose completion never came (only after a stall).
    pub never_completed: u64,
    /// Canceller said `Cancelled` and the queue delivered `AP_CANCELLED`.
    pub cancelled_pairs: u64,
    /// Canceller said `AlreadyCompleted` and the queue delivered `AP_OK`.
    pub already_pairs: u64,
    /// `AP_CANCELLED` that no live-handle cancel won: a random `u64` did.
    pub chance_cancelled: u64,
    /// Of those, handles whose live cancel then said `AlreadyCompleted`.
    pub lost_to_random: u64,
    /// Verdict and completion disagree (e.g. `Cancelled` but `AP_OK`).
    pub mismatched: u64,
    /// A verdict without its completion, or the reverse, at the end.
    pub unpaired: u64,
}

impl SubmitterTally {
    fn absorb(&mut self, other: &Self) {
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.completed_ok += other.completed_ok;
        self.completed_cancelled += other.completed_cancelled;
        self.completed_bad += other.completed_bad;
        self.unmatched += other.unmatched;
        self.never_completed += other.never_completed;
        self.cancelled_pairs += other.cancelled_pairs;
        self.already_pairs += other.already_pairs;
        self.chance_cancelled += other.chance_cancelled;
        self.lost_to_random += other.lost_to_random;
        self.mismatched += other.mismatched;
        self.unpaired += other.unpaired;
    }

    /// Completions received, of any kind.
    pub fn received(&self) -> u64 {
        self.completed_ok + self.completed_cancelled + self.completed_bad
    }
}

/// One verdict line (in JSON: `{"claim", "ok", "detail"}`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Check {
    /// What is claimed.
    pub claim: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// The numbers behind it.
    pub detail: String,
}

/// The checks as indented `[ok  ]` / `[FAIL]` lines.
pub fn checks_text(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|check| {
            let mark = if check.ok { "ok  " } else { "FAIL" };
            format!("    [{mark}] {}: {}\n", check.claim, check.detail)
        })
        .collect()
}

/// The closing `verdict: PASS` / `FAIL` line, after a blank line.
pub fn verdict_text(pass: bool) -> String {
    format!("\nverdict: {}\n", if pass { "PASS" } else { "FAIL" })
}

/// Everything the throughput phase measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Requests attempted.
    pub requests: u64,
    /// Wall time from the first submit to the last thread joining.
    pub elapsed: Duration,
    /// Submitter side.
    pub submit: SubmitterTally,
    /// Completer side.
    pub complete: CompleterTally,
    /// Canceller side.
    pub cancel: CancellerTally,
    /// `engine.stats().live_tasks` after every thread finished.
    pub live_tasks_after: usize,
}

impl Report {
    /// The exactly-once checks, each with its numbers.
    pub fn checks(&self) -> Vec<Check> {
        let (s, c, k) = (&self.submit, &self.complete, &self.cancel);
        let g = grouped;
        let random_wins = match s.lost_to_random {
            0 => String::new(),
            n => format!(", {} after a random cancel won", g(n)),
        };
        vec![
            Check {
                claim: "every submit was accepted",
                ok: s.rejected == 0 && s.accepted == self.requests,
                detail: format!("{} accepted, {} rejected", g(s.accepted), g(s.rejected)),
            },
            Check {
                claim: "every accepted handle got exactly one completion",
                ok: s.received() == s.accepted
                    && s.unmatched == 0
                    && s.never_completed == 0
                    && s.completed_bad == 0,
                detail: format!(
                    "{} received, {} duplicate/unknown, {} missing, {} with wrong codes",
                    g(s.received()),
                    g(s.unmatched),
                    g(s.never_completed),
                    g(s.completed_bad)
                ),
            },
            Check {
                claim: "each live cancel agrees with the completion delivered",
                ok: s.cancelled_pairs == k.live.cancelled
                    && s.already_pairs + s.lost_to_random == k.live.already
                    && k.live.invalid == 0
                    && s.mismatched == 0
                    && s.unpaired == 0,
                detail: format!(
                    "{} x (0, AP_CANCELLED), {} x (WAPPCALREADY, AP_OK){random_wins}, \
                     {} mismatched, {} unpaired",
                    g(s.cancelled_pairs),
                    g(s.already_pairs),
                    g(s.mismatched),
                    g(s.unpaired)
                ),
            },
            Check {
                claim: "stale handles are WAPPCALREADY",
                ok: k.stale.already == k.stale.total(),
                detail: format!("{} of {}", g(k.stale.already), g(k.stale.total())),
            },
            Check {
                claim: "every AP_CANCELLED matches a cancel that returned 0",
                ok: s.completed_cancelled == k.live.cancelled + k.random.cancelled
                    && s.chance_cancelled == k.random.cancelled,
                detail: format!(
                    "{} AP_CANCELLED = {} live + {} random-u64 cancels",
                    g(s.completed_cancelled),
                    g(k.live.cancelled),
                    g(k.random.cancelled)
                ),
            },
            Check {
                claim: "complete() agrees: Delivered = AP_OK received, Late = cancels won",
                ok: c.delivered == s.completed_ok
                    && c.late == k.live.cancelled + k.random.cancelled
                    && c.invalid == 0,
                detail: format!(
                    "{} Delivered, {} Late, {} Invalid",
                    g(c.delivered),
                    g(c.late),
                    g(c.invalid)
                ),
            },
            Check {
                claim: "no task left in the engine",
                ok: self.live_tasks_after == 0,
                detail: format!("live_tasks = {}", g(self.live_tasks_after as u64)),
            },
        ]
    }
}

/// Runs the phase on a fresh engine.
pub fn run(config: &Config) -> Result<Report, StartupError> {
    let (engine, _) = Engine::<Verb>::startup(WINAPPC_VERSION)?;
    let engine = &engine;
    let n = config.submitters;
    let (to_completer, completer_inbox) = mpsc::sync_channel(CHANNEL_BATCHES * n);
    let (to_canceller, canceller_inbox) = mpsc::sync_channel(CHANNEL_BATCHES * n);
    let (verdict_senders, verdict_inboxes): (Vec<_>, Vec<_>) =
        (0..n).map(|_| mpsc::channel()).unzip();

    let start = Instant::now();
    let (submit, complete, cancel) = thread::scope(|scope| {
        let completer = scope.spawn(move || completer(engine, completer_inbox));
        let canceller = scope.spawn(move || canceller(engine, canceller_inbox, verdict_senders));
        let submitters: Vec<_> = verdict_inboxes
            .into_iter()
            .enumerate()
            .map(|(id, verdicts)| {
                let quota = config.requests / n as u64
                    + u64::from((id as u64) < config.requests % n as u64);
                let lane = Lane {
                    id,
                    to_completer: to_completer.clone(),
                    to_canceller: to_canceller.clone(),
                    verdicts,
                };
                let fraction = config.cancel_fraction;
                scope.spawn(move || submitter(engine, lane, quota, fraction))
            })
            .collect();
        // The threads hold the only senders now, so the completer and the
        // canceller stop once the last submitter is done.
        drop((to_completer, to_canceller));
        let mut submit = SubmitterTally::default();
        for handle in submitters {
            submit.absorb(&join(handle));
        }
        (submit, join(completer), join(canceller))
    });
    Ok(Report {
        requests: config.requests,
        elapsed: start.elapsed(),
        submit,
        complete,
        cancel,
        live_tasks_after: engine.stats().live_tasks,
    })
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A submitter's channels.
#[derive(Debug)]
struct Lane {
    id: usize,
    to_completer: SyncSender<Vec<Handle>>,
    to_canceller: SyncSender<(usize, Vec<Handle>)>,
    verdicts: Receiver<Vec<(Handle, CancelOutcome)>>,
}

impl Lane {
    // A failed send means the receiving thread is gone (it panicked); the
    // submitter's stall timeout then ends the run with a failing tally.

    /// Sends the batch (if any) to the completer.
    fn send_to_completer(&self, batch: &mut Vec<Handle>) {
        if !batch.is_empty() {
            let _ = self.to_completer.send(take_batch(batch));
        }
    }

    /// Sends the batch (if any) to the canceller.
    fn send_to_canceller(&self, batch: &mut Vec<Handle>) {
        if !batch.is_empty() {
            let _ = self.to_canceller.send((self.id, take_batch(batch)));
        }
    }
}

fn take_batch(batch: &mut Vec<Handle>) -> Vec<Handle> {
    std::mem::replace(batch, Vec::with_capacity(BATCH))
}

/// What a submitter's queue delivered, reduced to what the checks need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivered {
    /// The completer's result.
    Ok,
    /// `AP_CANCELLED`.
    Cancelled,
    /// Anything else: an engine bug.
    Bad,
}

impl Delivered {
    fn of(verb: &Verb) -> Self {
        match (verb.opcode, verb.primary_rc, verb.secondary_rc) {
            (Opcode::ReceiveAndWait, AP_OK, COMPLETED_MARK) => Delivered::Ok,
            (Opcode::ReceiveAndWait, AP_CANCELLED, 0) => Delivered::Cancelled,
            _ => Delivered::Bad,
        }
    }
}

/// Half of a cancelled handle's story, waiting for the other half.
#[derive(Clone, Copy, Debug)]
enum Half {
    Completion(Delivered),
    Verdict(CancelOutcome),
}

/// One submitter's state.
#[derive(Debug)]
struct Submitter {
    /// Outstanding tasks by window slot (the verb's tag); `bool`: sent to
    /// the canceller.
    window: Vec<Option<(Handle, bool)>>,
    /// Free window slots.
    free: Vec<usize>,
    /// Cancelled handles with one half of their story in.
    halves: HashMap<Handle, Half>,
    tally: SubmitterTally,
}

impl Submitter {
    fn new() -> Self {
        Self {
            window: vec![None; WINDOW],
            free: (0..WINDOW).rev().collect(),
            halves: HashMap::new(),
            tally: SubmitterTally::default(),
        }
    }

    fn outstanding(&self) -> usize {
        WINDOW - self.free.len()
    }

    fn on_completion(&mut self, completion: Completion<Verb>) {
        let slot = usize::try_from(completion.verb.tag).unwrap_or(usize::MAX);
        let entry = self
            .window
            .get_mut(slot)
            .and_then(|entry| entry.take_if(|(handle, _)| *handle == completion.handle));
        let Some((handle, targeted)) = entry else {
            self.tally.unmatched += 1;
            return;
        };
        self.free.push(slot);
        let delivered = Delivered::of(&completion.verb);
        match delivered {
            Delivered::Ok => self.tally.completed_ok += 1,
            Delivered::Cancelled => self.tally.completed_cancelled += 1,
            Delivered::Bad => self.tally.completed_bad += 1,
        }
        if targeted {
            self.meet(handle, Half::Completion(delivered));
        } else if delivered == Delivered::Cancelled {
            self.tally.chance_cancelled += 1;
        }
    }

    fn meet(&mut self, handle: Handle, half: Half) {
        let Some(other) = self.halves.remove(&handle) else {
            self.halves.insert(handle, half);
            return;
        };
        let t = &mut self.tally;
        match (half, other) {
            (Half::Completion(delivered), Half::Verdict(outcome))
            | (Half::Verdict(outcome), Half::Completion(delivered)) => {
                match (outcome, delivered) {
                    (CancelOutcome::Cancelled, Delivered::Cancelled) => t.cancelled_pairs += 1,
                    (CancelOutcome::AlreadyCompleted, Delivered::Ok) => t.already_pairs += 1,
                    // A random cancel won before the live one.
                    (CancelOutcome::AlreadyCompleted, Delivered::Cancelled) => {
                        t.chance_cancelled += 1;
                        t.lost_to_random += 1;
                    }
                    _ => t.mismatched += 1,
                }
            }
            _ => t.mismatched += 1,
        }
    }
}

/// A submitter thread: keeps its window full, pumps its queue, pairs verdicts.
fn submitter(engine: &Engine<Verb>, lane: Lane, quota: u64, fraction: f64) -> SubmitterTally {
    let (sender, mut queue) = engine.queue();
    let target = Target::Queue(sender);
    let mut rng = fastrand::Rng::with_seed(lane.id as u64 + 1);
    let mut me = Submitter::new();
    let mut for_completer = Vec::with_capacity(BATCH);
    let mut for_canceller = Vec::with_capacity(BATCH);
    let mut submitted = 0;
    loop {
        while submitted < quota {
            let Some(slot) = me.free.pop() else { break };
            submitted += 1;
            let verb = Verb::new(Opcode::ReceiveAndWait, slot as u64);
            let Ok(handle) = engine.submit(verb, &target) else {
                me.tally.rejected += 1;
                me.free.push(slot);
                continue;
            };
            me.tally.accepted += 1;
            let targeted = rng.f64() < fraction;
            me.window[slot] = Some((handle, targeted));
            for_completer.push(handle);
            if for_completer.len() == BATCH {
                lane.send_to_completer(&mut for_completer);
            }
            if targeted {
                for_canceller.push(handle);
                if for_canceller.len() == BATCH {
                    lane.send_to_canceller(&mut for_canceller);
                }
            }
        }
        lane.send_to_completer(&mut for_completer);
        lane.send_to_canceller(&mut for_canceller);
        if me.outstanding() == 0 {
            if submitted == quota {
                break;
            }
            continue;
        }
        // The window is full or the quota is spent: wait for a completion.
        let Some(first) = queue.recv_timeout(STALL) else {
            break;
        };
        me.on_completion(first);
        while let Some(completion) = queue.try_recv() {
            me.on_completion(completion);
        }
        while let Ok(verdicts) = lane.verdicts.try_recv() {
            for (handle, outcome) in verdicts {
                me.meet(handle, Half::Verdict(outcome));
            }
        }
    }
    // Hang up so the completer and canceller can finish, then collect the
    // last verdicts: the iterator ends when the canceller exits.
    let Lane {
        to_completer,
        to_canceller,
        verdicts,
        ..
    } = lane;
    drop((to_completer, to_canceller));
    for batch in verdicts {
        for (handle, outcome) in batch {
            me.meet(handle, Half::Verdict(outcome));
        }
    }
    me.tally.never_completed = me.outstanding() as u64;
    me.tally.unpaired = me.halves.len() as u64;
    me.tally
}

/// The completer thread: the transport reporting every verb done.
fn completer(engine: &Engine<Verb>, inbox: Receiver<Vec<Handle>>) -> CompleterTally {
    let mut tally = CompleterTally::default();
    for batch in inbox {
        for handle in batch {
            let outcome = engine.complete(handle, |verb| {
                verb.primary_rc = AP_OK;
                verb.secondary_rc = COMPLETED_MARK;
            });
            match outcome {
                CompleteOutcome::Delivered => tally.delivered += 1,
                CompleteOutcome::Late => tally.late += 1,
                CompleteOutcome::Invalid => tally.invalid += 1,
            }
        }
    }
    tally
}

/// The canceller thread: live, stale and random cancels.
fn canceller(
    engine: &Engine<Verb>,
    inbox: Receiver<(usize, Vec<Handle>)>,
    verdicts: Vec<Sender<Vec<(Handle, CancelOutcome)>>>,
) -> CancellerTally {
    let mut tally = CancellerTally::default();
    let mut rng = fastrand::Rng::with_seed(0xCA9CE1);
    let mut stale: Vec<Handle> = Vec::with_capacity(STALE_RING);
    let mut next_stale = 0;
    for (from, batch) in inbox {
        let mut answers = Vec::with_capacity(batch.len());
        for handle in batch {
            let outcome = engine.cancel(handle);
            tally.live.add(outcome);
            answers.push((handle, outcome));
            // Every handle in the ring has had its cancel answered, so its
            // task is finished for good.
            if !stale.is_empty() {
                let old = stale[rng.usize(..stale.len())];
                tally.stale.add(engine.cancel(old));
            }
            if stale.len() < STALE_RING {
                stale.push(handle);
            } else {
                stale[next_stale] = handle;
                next_stale = (next_stale + 1) % STALE_RING;
            }
            tally.random.add(engine.cancel(rng.u64(..)));
        }
        // The submitter keeps its receiver until this thread exits.
        if let Some(sender) = verdicts.get(from) {
            let _ = sender.send(answers);
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(report: &Report) -> bool {
        report.checks().iter().all(|check| check.ok)
    }

    fn small(requests: u64, submitters: usize, cancel_fraction: f64) -> Report {
        let config = Config {
            requests,
            submitters,
            cancel_fraction,
            outstanding: 1,
        };
        run(&config).expect("version 1.0 is supported")
    }

    #[test]
    fn tiny_run_passes_every_check() {
        let report = small(20_000, 2, 0.3);
        for check in report.checks() {
            assert!(check.ok, "{}: {}", check.claim, check.detail);
        }
        assert_eq!(report.submit.accepted, 20_000);
        assert!(report.cancel.live.total() > 0);
    }

    #[test]
    fn edge_fractions_and_uneven_split() {
        let none = small(1_001, 3, 0.0);
        assert!(passed(&none));
        assert_eq!(none.cancel.live.total(), 0);
        let all = small(999, 1, 1.0);
        assert!(passed(&all));
        assert_eq!(all.cancel.live.total(), 999);
    }

    #[test]
    fn a_disagreement_fails_the_verdict() {
        let mut report = small(100, 1, 0.5);
        assert!(passed(&report));
        report.submit.mismatched = 1;
        assert!(!passed(&report));
    }
}
