//! Stress: cancels racing completions. The shared pieces are here: the
//! random source and verbs, the run's goals and constants, what a driver
//! tracks (tasks, pairs, tally) and the two kinds of driver: [`Driver`]
//! (asynchronous verbs, `driver`) and [`Blocking`] (the blocking entry
//! point, `blocking`). The run itself is in `run`; cleanup of an
//! application while its partner is busy in `cleanup`.

mod blocking;
mod cleanup;
mod driver;
mod run;

use appc::rc::PrimaryRc as P;
use appc::verbs::{self, values, Body, Conv, TpId, Verb};
use appc::Appc;
use appc_engine::{CancelOutcome, Event, Handle, Receiver, Target};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Stress: cancels racing completions
// ---------------------------------------------------------------------------

/// xorshift64*: enough randomness for verb choice, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PAIRS: usize = 64;
const THREADS: usize = 4;
/// The run goes on until every [`Goals`] count is reached, at most this
/// long (a cap for a machine where a goal cannot be reached, not a
/// duration: on an idle 2-core machine the goals take well under a
/// second, under ThreadSanitizer some seconds).
const RUN_CAP: Duration = Duration::from_secs(60);
/// A pair with verbs outstanding and no completion for this long cancels
/// its oldest verb itself (the random canceller may never pick it).
const STUCK: Duration = Duration::from_millis(20);
/// How many recent handles the canceller picks from.
const RECENT: usize = 2048;
/// Pairs driven through the blocking entry point (one more thread).
const BLOCKING_PAIRS: usize = 4;

/// What the stress run must have done before it stops: tasks accepted, a
/// cancel won by the random canceller, a blocking call cancelled from its
/// hook, a partner that saw a cancel's session failure. Counted as they
/// happen, so the run stops on events, not on the clock.
struct Goals {
    submitted: AtomicUsize,
    cancel_wins: AtomicUsize,
    hook_wins: AtomicUsize,
    retry_failures: AtomicUsize,
}

impl Goals {
    const SUBMITTED: usize = 100_000;
    const CANCEL_WINS: usize = 100;
    const HOOK_WINS: usize = 10;
    const RETRY_FAILURES: usize = 10;

    const fn new() -> Self {
        Self {
            submitted: AtomicUsize::new(0),
            cancel_wins: AtomicUsize::new(0),
            hook_wins: AtomicUsize::new(0),
            retry_failures: AtomicUsize::new(0),
        }
    }

    fn count(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn met(&self) -> bool {
        self.submitted.load(Ordering::Relaxed) >= Self::SUBMITTED
            && self.cancel_wins.load(Ordering::Relaxed) >= Self::CANCEL_WINS
            && self.hook_wins.load(Ordering::Relaxed) >= Self::HOOK_WINS
            && self.retry_failures.load(Ordering::Relaxed) >= Self::RETRY_FAILURES
    }
}

/// The stress run's goals (one stress run per process).
static GOALS: Goals = Goals::new();

/// Which application a task belongs to: 0 the requesters', 1 the responders'.
type AppIx = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Allocate,
    ReceiveAllocate,
    TpEnded,
    Conversation,
    Post,
}

/// One outstanding task of a driver.
#[derive(Clone, Copy)]
struct Meta {
    pair: usize,
    side: usize,
    kind: Kind,
    conv: Conv,
}

/// What the drivers learn, merged at the end.
#[derive(Default)]
struct Tally {
    /// (app, handle) of every accepted task (initial and post).
    accepted: HashSet<(AppIx, u64)>,
    /// Every completion seen, per task.
    completions: HashMap<(AppIx, u64), Vec<P>>,
    /// Every cancel answer, per task.
    cancels: HashMap<(AppIx, u64), Vec<CancelOutcome>>,
    submitted: usize,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.accepted.extend(other.accepted);
        for (k, v) in other.completions {
            self.completions.entry(k).or_default().extend(v);
        }
        for (k, v) in other.cancels {
            self.cancels.entry(k).or_default().extend(v);
        }
        self.submitted += other.submitted;
    }
}

/// One conversation pair as a driver sees it.
struct PairState {
    name: String,
    req_tp: TpId,
    /// The requester's conversation, once ALLOCATE returned; `None` while
    /// allocating or once it is known to be gone.
    req: Option<Conv>,
    resp: Option<Conv>,
    resp_tp: Option<TpId>,
    allocating: bool,
    receive_allocate: bool,
    req_gone: bool,
    resp_gone: bool,
    /// Outstanding tasks of this pair, oldest first.
    inflight: VecDeque<(AppIx, Handle)>,
    last_progress: Instant,
    rounds: usize,
}

struct Driver<'a> {
    apps: [&'a Appc; 2],
    targets: [Target<Verb>; 2],
    receivers: [Receiver<Verb>; 2],
    recent: &'a Mutex<VecDeque<(AppIx, u64)>>,
    meta: HashMap<(AppIx, Handle), Meta>,
    posts: Vec<(AppIx, Handle, Event)>,
    pairs: Vec<PairState>,
    tally: Tally,
    rng: Rng,
}

/// Offers `handle` to the canceller.
fn share(recent: &Mutex<VecDeque<(AppIx, u64)>>, app: AppIx, handle: Handle) {
    let mut recent = recent.lock().unwrap();
    if recent.len() >= RECENT {
        recent.pop_front();
    }
    recent.push_back((app, u64::from(handle)));
}

/// A blocking pair: its TP name, the requester TP, the requester and
/// responder conversations (`None`: not there or gone), the responder TP.
type BlockingPair = (String, TpId, Option<Conv>, Option<Conv>, Option<TpId>);

/// Pairs driven through the blocking entry point on one thread: each call's
/// hook publishes the call's handle to the canceller and cancels the call
/// itself (`WinAPPCCancelBlockingCall`) once it has waited a little (both
/// ends are on this thread, so a receive would otherwise wait forever).
struct Blocking<'a> {
    apps: [&'a Appc; 2],
    recent: &'a Mutex<VecDeque<(AppIx, u64)>>,
    /// Per pair: requester conv, responder conv and TP.
    pairs: Vec<BlockingPair>,
    tally: Tally,
    /// What each hook's `cancel_blocking_call` answered.
    hook_cancels: HashMap<(AppIx, u64), i32>,
    posts: Vec<(AppIx, Handle, Event)>,
    rng: Rng,
    calls: usize,
}

/// A random mapped conversation verb on `conv` (mostly ones that keep the
/// conversation going; deallocation now and then).
fn random_verb(rng: &mut Rng, conv: Conv) -> Verb {
    let data = |rng: &mut Rng| vec![b'd'; rng.below(64)];
    let receive = verbs::Receive {
        conv,
        fill: values::FILL_LL,
        max_len: 64,
        rtn_status: rng.below(2) == 0,
        ..Default::default()
    };
    let send = |rng: &mut Rng, send_type| {
        Body::SendData(verbs::SendData {
            conv,
            send_type,
            data: data(rng),
            rts_rcvd: false,
        })
    };
    let body = match rng.below(100) {
        0..=11 => send(rng, values::SEND_DATA_NONE),
        12..=17 => send(rng, values::SEND_DATA_FLUSH),
        18..=21 => send(rng, values::SEND_DATA_CONFIRM),
        22..=26 => send(rng, values::SEND_DATA_P_TO_R_FLUSH),
        27 => send(rng, values::SEND_DATA_DEALLOC_FLUSH),
        28..=31 => Body::Flush(conv),
        32..=35 => Body::Confirm(verbs::Confirm {
            conv,
            rts_rcvd: false,
        }),
        36..=43 => Body::Confirmed(conv),
        44..=48 => Body::PrepareToReceive(verbs::PrepareToReceive {
            conv,
            ptr_type: if rng.below(2) == 0 {
                values::FLUSH
            } else {
                values::SYNC_LEVEL
            },
            locks: values::LOCKS_SHORT,
        }),
        49..=62 => Body::ReceiveAndWait(receive),
        63..=67 => Body::ReceiveImmediate(receive),
        68..=72 => Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive,
            sema: Event::new(true),
            post: None,
        }),
        73..=76 => Body::PostOnReceipt(verbs::PostOnReceipt {
            conv,
            fill: values::FILL_LL,
            max_len: 8,
            sema: Event::new(true),
            post: None,
        }),
        77..=80 => Body::TestRtsAndPost(verbs::TestRtsAndPost {
            conv,
            handle: Event::new(true),
            post: None,
        }),
        81..=84 => Body::RequestToSend(conv),
        85..=86 => Body::TestRts(conv),
        87..=89 => Body::SendError(verbs::SendError {
            conv,
            err_type: values::ERR_PROG,
            err_dir: values::RCV_DIR_ERROR,
            ..Default::default()
        }),
        90 => Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type: values::ABEND,
            log_data: Vec::new(),
        }),
        91 => Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type: values::SYNC_LEVEL,
            log_data: Vec::new(),
        }),
        _ => Body::GetState(verbs::GetState {
            conv,
            conv_state: 0,
        }),
    };
    Verb::mapped(body)
}
