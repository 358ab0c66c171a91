//! The partner's unit tests: the echo's pump on an in-memory engine node,
//! driven by a client through the real verbs: requests too long for one
//! echo, conversations that follow one another, and requests that span two
//! records.

use super::*;
use appc_io::appc::verbs::{Receive, SendData};

/// A client on the same in-memory node as a pump.
struct Echoing {
    client: Appc,
    conv: Conv,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<PartnerTally>>,
}

impl Echoing {
    fn start() -> Self {
        let node = Node::new();
        node.define_tp(TP);
        let (app, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let pump = thread::spawn(move || Pump::new(app).run(&flag));
        let (client, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
        let conv = Self::converse(&client);
        Self {
            client,
            conv,
            stop,
            pump: Some(pump),
        }
    }

    /// A new TP and conversation with the echo.
    fn converse(client: &Appc) -> Conv {
        let tp_id = verbs::start_tp(client).unwrap();
        let allocated = client.call(verbs::allocate(tp_id, "ANY", TP)).unwrap();
        let Body::Allocate(a) = allocated.body else {
            unreachable!()
        };
        Conv {
            tp_id,
            conv_id: a.conv_id,
        }
    }

    /// Ends the TP (its conversation fails at the echo) and starts
    /// another conversation, which the echo gives the freed slot.
    fn again(&mut self) {
        self.client.call(verbs::end_tp(self.conv.tp_id)).unwrap();
        self.conv = Self::converse(&self.client);
    }

    fn send(&self, data: Vec<u8>, send_type: u8) -> PrimaryRc {
        let verb = Verb::mapped(Body::SendData(SendData {
            conv: self.conv,
            send_type,
            data,
            rts_rcvd: false,
        }));
        self.client.call(verb).unwrap().primary_rc
    }

    fn receive(&self) -> (PrimaryRc, WhatRcvd, Vec<u8>) {
        let verb = self
            .client
            .call(verbs::receive(self.conv, MAX_DATA, Vec::new()))
            .unwrap();
        let Body::ReceiveAndWait(Receive {
            what_rcvd, data, ..
        }) = verb.body
        else {
            unreachable!()
        };
        (verb.primary_rc, what_rcvd.status_part(), data)
    }
}

impl Drop for Echoing {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let tally = self.pump.take().unwrap().join().unwrap();
        assert!(tally.exactly_once(), "{tally:?}");
    }
}

/// A request the echo can never send back (two records that add up to
/// more than MAX_DATA) is refused with SEND_ERROR: the client's receive
/// gets AP_PROG_ERROR_*, then the direction back, and the conversation
/// goes on. (Holding it, the echo would grow with every record a client
/// sends without turning the direction.)
#[test]
fn a_request_longer_than_one_echo_is_refused_with_send_error() {
    let echo = Echoing::start();
    let half = MAX_DATA / 2 + 1;
    assert_eq!(
        echo.send(vec![1; half], values::SEND_DATA_FLUSH),
        PrimaryRc::OK
    );
    assert_eq!(
        echo.send(vec![2; half], values::SEND_DATA_FLUSH),
        PrimaryRc::OK
    );
    let (rc, _, data) = echo.receive();
    assert!(
        matches!(
            rc,
            PrimaryRc::PROG_ERROR_NO_TRUNC | PrimaryRc::PROG_ERROR_PURGING
        ),
        "{rc:?}"
    );
    assert!(data.is_empty());
    assert_eq!(echo.receive().1, WhatRcvd::SEND, "the direction comes back");
    assert_eq!(
        echo.send(b"ping".to_vec(), values::SEND_DATA_P_TO_R_FLUSH),
        PrimaryRc::OK
    );
    let (rc, what, data) = echo.receive();
    assert_eq!(
        (rc, what, data),
        (PrimaryRc::OK, WhatRcvd::SEND, b"ping".to_vec())
    );
}

/// A slot keeps its buffers for its next conversation, but not what
/// they held: a request cut short by the end of its conversation is
/// not echoed in front of the next conversation's.
#[test]
fn a_new_conversation_is_echoed_only_its_own_request() {
    let mut echo = Echoing::start();
    assert_eq!(
        echo.send(b"cut short".to_vec(), values::SEND_DATA_FLUSH),
        PrimaryRc::OK
    );
    // Let the echo take the first record before the conversation ends.
    thread::sleep(Duration::from_millis(50));
    echo.again();
    assert_eq!(
        echo.send(b"ping".to_vec(), values::SEND_DATA_P_TO_R_FLUSH),
        PrimaryRc::OK
    );
    assert_eq!(
        echo.receive(),
        (PrimaryRc::OK, WhatRcvd::SEND, b"ping".to_vec())
    );
}

/// Up to MAX_DATA in several records is still one echo.
#[test]
fn a_request_of_max_data_in_two_records_is_echoed_whole() {
    let echo = Echoing::start();
    let first = MAX_DATA / 2;
    assert_eq!(
        echo.send(vec![1; first], values::SEND_DATA_NONE),
        PrimaryRc::OK
    );
    let rest = vec![2; MAX_DATA - first];
    assert_eq!(
        echo.send(rest, values::SEND_DATA_P_TO_R_FLUSH),
        PrimaryRc::OK
    );
    let (rc, what, data) = echo.receive();
    assert_eq!((rc, data.len()), (PrimaryRc::OK, MAX_DATA));
    // A full buffer may leave the change of direction to the next receive.
    if what != WhatRcvd::SEND {
        assert_eq!(echo.receive(), (PrimaryRc::OK, WhatRcvd::SEND, vec![]));
    }
}
