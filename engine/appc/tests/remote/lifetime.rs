//! A node freed while its owner holds remote conversations, and an end
//! that outlives its node.

use crate::{allocate, tp};
use appc::rc::{PrimaryRc, SecondaryRc};
use appc::verbs::*;
use appc::{Appc, Attach, Flow, Node, Owner, Peer, RemoteEnd, Work};
use appc_engine::{Target, WINAPPC_VERSION};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A session layer with no thread: it keeps what its node posts, and the
/// conversations it opens, until the test runs them or drops it.
struct Holder {
    work: Mutex<Vec<Work>>,
    convs: Mutex<HashMap<ConvId, RemoteEnd>>,
    dropped: Arc<std::sync::atomic::AtomicBool>,
}

impl Owner for Holder {
    fn post(&self, work: Work) {
        self.work.lock().unwrap().push(work);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A peer that records whether it was closed, and how.
#[derive(Default)]
struct Closing(Option<bool>);

impl Peer for Closing {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        Ok(())
    }

    fn send(&mut self, _: Flow<'_>) {}

    fn close(&mut self, abort: bool) {
        self.0 = Some(abort);
    }
}

impl Holder {
    fn new(dropped: &Arc<std::sync::atomic::AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            work: Mutex::default(),
            convs: Mutex::default(),
            dropped: dropped.clone(),
        })
    }

    /// Runs what was posted: opens conversations and runs their verbs.
    fn run(&self) {
        let work = std::mem::take(&mut *self.work.lock().unwrap());
        let mut convs = self.convs.lock().unwrap();
        for item in work {
            match item {
                Work::Open(end) => {
                    convs.insert(end.conv_id(), *end);
                }
                Work::Verb(verb) => {
                    let end = convs.get_mut(&verb.conv_id()).expect("open");
                    end.issue(verb, &mut Closing::default());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// A node whose session layer holds its remote conversations is freed
/// when the applications and the node are dropped: the ends it holds do
/// not keep their node alive (no cycle through the node's owners), so the
/// node goes, then the session layer it held, then the ends.
#[test]
fn a_node_is_freed_with_the_remote_conversations_its_owner_holds() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let node = Node::new();
    let holder = Holder::new(&dropped);
    node.add_partner("LUB", holder.clone());
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    let send = SendData {
        conv,
        send_type: values::SEND_DATA_NONE,
        data: b"held".to_vec(),
        rts_rcvd: false,
    };
    let (tx, mut rx) = a.queue();
    a.submit(Verb::mapped(Body::SendData(send)), &Target::Queue(tx))
        .unwrap();
    holder.run();
    assert_eq!(rx.try_recv().unwrap().verb.primary_rc, PrimaryRc::OK);
    assert_eq!(holder.convs.lock().unwrap().len(), 1);
    drop(holder);
    drop(a);
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
    drop(node);
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the node, and the session layer it holds, leaked"
    );
}

/// An end whose node was dropped while its session layer still holds it
/// can only end: whatever reaches it next closes its session at once.
#[test]
fn an_end_outliving_its_node_ends_at_its_next_step() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let node = Node::new();
    let holder = Holder::new(&dropped);
    node.add_partner("LUB", holder.clone());
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    holder.run();
    drop(a);
    drop(node);
    let mut convs = holder.convs.lock().unwrap();
    let end = convs.get_mut(&al.conv_id).expect("held");
    assert!(!end.is_over());
    let mut peer = Closing::default();
    end.arrive(Flow::Data(b"late"), false, &mut peer);
    assert!(end.is_over());
    assert_eq!(peer.0, Some(true));
}
