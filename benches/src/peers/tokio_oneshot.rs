//! A `tokio::sync::oneshot` channel per request: the "async primitive"
//! answer.
//!
//! The channel is the request record (one allocation), `send` is the state
//! transition that finishes it, and receiving consumes it. The verb travels
//! with the sender half to whoever completes it and comes back through the
//! channel. There is no handle to cancel by: cancelling a oneshot means
//! dropping the receiver, so this peer appears in the lifecycle groups only.

use appc_engine::{Verb, AP_OK};
use tokio::sync::oneshot;

/// The completer's side: fills in the result and sends the verb back.
pub fn complete(tx: oneshot::Sender<Verb>, mut verb: Verb) {
    verb.primary_rc = AP_OK;
    tx.send(verb).expect("the requester is waiting");
}

/// One request on one thread: create the channel, complete, `try_recv`.
pub fn lifecycle(verb: Verb) -> Verb {
    let (tx, mut rx) = oneshot::channel();
    complete(tx, verb);
    rx.try_recv().expect("completed above")
}

#[cfg(test)]
mod tests {
    use super::*;
    use appc_engine::Opcode;

    #[test]
    fn the_completed_verb_comes_back() {
        let mut verb = Verb::new(Opcode::Allocate, 9);
        verb.primary_rc = 0x0003;
        let out = lifecycle(verb);
        assert_eq!((out.tag, out.primary_rc), (9, AP_OK));
    }
}
