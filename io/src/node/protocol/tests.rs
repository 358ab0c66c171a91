use super::pacing::ipr;
use super::*;
use crate::wire::SyncLevel;

fn lfsid() -> Lfsid {
    Lfsid {
        odai: false,
        sidh: 0,
        sidl: 1,
    }
}

fn pair() -> (HalfSession, HalfSession) {
    (
        HalfSession::new(lfsid(), true, 64, 1 << 16),
        HalfSession::new(lfsid(), false, 64, 1 << 16),
    )
}

/// Events, kept (their data leaked: these are tests).
#[derive(Default)]
struct Collect(Vec<Event<'static>>);

impl Events for Collect {
    fn event(&mut self, event: Event<'_>) {
        let flow = |flow: Flow<'_>| match flow {
            Flow::Data(data) => Flow::Data(Box::leak(data.to_vec().into_boxed_slice())),
            Flow::ChangeDirection => Flow::ChangeDirection,
            Flow::ConfirmRequest(c) => Flow::ConfirmRequest(c),
            Flow::Confirmed => Flow::Confirmed,
            Flow::Error(code) => Flow::Error(code),
            Flow::Deallocate(code) => Flow::Deallocate(code),
            Flow::RequestToSend => Flow::RequestToSend,
        };
        self.0.push(match event {
            Event::Attach(attach) => Event::Attach(attach),
            Event::Flow(f) => Event::Flow(flow(f)),
            Event::Rejected(sense) => Event::Rejected(sense),
            Event::EndedMeanwhile => Event::EndedMeanwhile,
            Event::BracketEnded => Event::BracketEnded,
        });
    }
}

/// Carries `frames` through the byte encoding to `to`; returns its
/// events and what it sent back.
fn carry(to: &mut HalfSession, frames: Vec<Frame>) -> (Vec<Event<'static>>, Vec<Frame>) {
    let mut events = Collect::default();
    let mut back: Vec<Frame> = Vec::new();
    for frame in frames {
        let mut bytes = Vec::new();
        frame.encode_piu(&mut bytes);
        let frame = Frame::decode_piu(&bytes).expect("decodes");
        to.receive(frame.as_ref(), &mut back, &mut events)
            .expect("valid");
    }
    (events.0, back)
}

fn flows(events: &[Event<'static>]) -> Vec<Flow<'static>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Flow(f) => Some(*f),
            _ => None,
        })
        .collect()
}

/// The frames an IPR makes.
fn ipr_frame(lfsid: Lfsid, snf: u16) -> Frame {
    let mut out: Vec<Frame> = Vec::new();
    ipr(lfsid, snf, &mut out);
    out.remove(0)
}

#[test]
fn attach_data_and_change_direction_bytes() {
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(
        ConversationType::Mapped,
        SyncLevel::Confirm,
        &[0xE3, 0xD7, 0xF1],
    );
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::Data(b"ping"), &mut out);
    plu.send(Flow::ChangeDirection, &mut out);
    let rhs: Vec<[u8; 3]> = out.iter().map(|f| f.rh.to_bytes()).collect();
    // FMH-5: FMD FI BC, RQE1, BB; data: RQE1 middle; end: EC RQE1 CD.
    assert_eq!(
        rhs,
        [[0x0A, 0x90, 0x80], [0x00, 0x90, 0x00], [0x01, 0x90, 0x20]]
    );
    assert_eq!(out[1].ru, [0x00, 0x08, 0x12, 0xFF, b'p', b'i', b'n', b'g']);
    assert_eq!(out[0].th.to_bytes(), [0x2C, 0, 1, 0, 0, 1]);
    let (events, back) = carry(&mut slu, out);
    assert!(back.is_empty());
    assert!(matches!(events[0], Event::Attach(_)));
    assert_eq!(flows(&events), [Flow::Data(b"ping"), Flow::ChangeDirection]);
}

#[test]
fn confirm_deallocate_ends_both_brackets() {
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::Confirm, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::Data(&[0, 3, 7]), &mut out);
    assert!(!plu.send(Flow::ConfirmRequest(Confirmation::Deallocate), &mut out));
    assert_eq!(out.last().unwrap().rh.to_bytes(), [0x01, 0xA0, 0x01]);
    let (events, _) = carry(&mut slu, out);
    assert_eq!(
        flows(&events),
        [
            Flow::Data(&[0, 3, 7]),
            Flow::ConfirmRequest(Confirmation::Deallocate)
        ]
    );
    let mut out: Vec<Frame> = Vec::new();
    assert!(slu.send(Flow::Confirmed, &mut out));
    assert_eq!(out[0].rh.to_bytes(), [0x83, 0xA0, 0x00]);
    assert!(slu.is_idle());
    let (events, _) = carry(&mut plu, out);
    assert_eq!(events, [Event::Flow(Flow::Confirmed), Event::BracketEnded]);
    assert!(plu.is_idle());
}

#[test]
fn plu_deallocate_drains_until_the_response() {
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    assert!(plu.send(Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL), &mut out));
    assert!(!plu.is_idle());
    let (events, back) = carry(&mut slu, out);
    assert_eq!(
        flows(&events),
        [Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL)]
    );
    assert!(slu.is_idle());
    let (events, _) = carry(&mut plu, back);
    assert_eq!(events, [Event::BracketEnded]);
    assert!(plu.is_idle());
}

#[test]
fn send_error_while_receiving_purges() {
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Mapped, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::Data(b"a"), &mut out);
    let (_, _) = carry(&mut slu, out);
    // The SLU errs while the PLU still sends.
    let mut err: Vec<Frame> = Vec::new();
    slu.send(Flow::Error(PrimaryRc::PROG_ERROR_PURGING), &mut err);
    assert_eq!(err[0].rh.to_bytes(), [0x87, 0x90, 0x00]);
    assert_eq!(err[0].ru, [0x08, 0x46, 0, 0]);
    assert_eq!(err[1].ru, [7, 7, 0x08, 0x89, 0, 0, 0]);
    // In flight: more PLU data, dropped by the SLU.
    let mut stale: Vec<Frame> = Vec::new();
    plu.send(Flow::Data(b"b"), &mut stale);
    let (events, _) = carry(&mut slu, stale);
    assert!(events.is_empty());
    let (events, _) = carry(&mut plu, err);
    assert_eq!(flows(&events), [Flow::Error(PrimaryRc::PROG_ERROR_PURGING)]);
    // The PLU's further data is purged until it gets the direction.
    let mut out: Vec<Frame> = Vec::new();
    plu.send(Flow::Data(b"c"), &mut out);
    assert!(out.is_empty());
}

#[test]
fn rejected_attach_and_abend() {
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::ChangeDirection, &mut out);
    let (_, _) = carry(&mut slu, out);
    let mut back: Vec<Frame> = Vec::new();
    slu.reject(Sense::TP_NOT_RECOGNIZED, &mut back);
    let (events, _) = carry(&mut plu, back);
    assert_eq!(
        events,
        [
            Event::Rejected(Sense::TP_NOT_RECOGNIZED),
            Event::BracketEnded
        ]
    );
    // A new bracket on the same session, ended by an abend.
    let mut out: Vec<Frame> = Vec::new();
    plu.begin(&attach, &mut out).unwrap();
    assert!(plu.send(Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_SVC), &mut out));
    let (events, back) = carry(&mut slu, out);
    assert_eq!(
        flows(&events),
        [Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_SVC)]
    );
    let (events, _) = carry(&mut plu, back);
    assert_eq!(events, [Event::BracketEnded]);
}

#[test]
fn violations_are_reported() {
    let (_, mut slu) = pair();
    let mut frame = Frame {
        th: Th::new(lfsid(), ThFlow::Normal, 5),
        rh: Rh::Request(fmd(ResponseType::Rqe1, true, true)),
        ru: Vec::new(),
    };
    let (mut out, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
    assert_eq!(
        slu.receive(frame.as_ref(), &mut out, &mut events)
            .unwrap_err()
            .sense,
        Sense::SEQUENCE_NUMBER_ERROR
    );
    frame.th.snf = 6;
    if let Rh::Request(r) = &mut frame.rh {
        r.bbi = true;
        r.fi = true;
    }
    frame.ru = vec![0x05, 0x05, 0x02];
    assert!(slu.receive(frame.as_ref(), &mut out, &mut events).is_err());
}

/// A PLU / SLU pair paced with `window` RUs both ways; the SLU sends
/// its IPRs while its conversation holds at most `limit` bytes.
fn paced_pair(window: u8, limit: usize) -> (HalfSession, HalfSession) {
    let mut plu = HalfSession::new(lfsid(), true, 64, limit);
    let mut slu = HalfSession::new(lfsid(), false, 64, limit);
    plu.set_pacing(window, window);
    slu.set_pacing(window, window);
    (plu, slu)
}

fn pis(frames: &[Frame]) -> Vec<bool> {
    frames
        .iter()
        .map(|f| matches!(f.rh, Rh::Request(r) if r.pi))
        .collect()
}

fn is_ipr(frame: &Frame) -> bool {
    frame.rh.to_bytes() == [0x83, 0x01, 0x00] && frame.ru.is_empty()
}

#[test]
fn pacing_window_holds_requests_until_the_ipr() {
    let (mut plu, mut slu) = paced_pair(2, 1 << 16);
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    for i in 0..5u8 {
        plu.send(Flow::Data(&[0, 3, i]), &mut out);
    }
    // Window 1: the attach (PI) and one data RU; 4 RUs held.
    assert_eq!(pis(&out), [true, false]);
    assert_eq!(plu.held_bytes(), 12);
    let (events, back) = carry(&mut slu, out);
    assert_eq!(flows(&events), [Flow::Data(&[0, 3, 0])]);
    // The SLU holds 3 bytes, under its limit: the IPR goes at once,
    // with the SNF of the PI request.
    assert_eq!(back.len(), 1);
    assert!(is_ipr(&back[0]));
    assert_eq!(back[0].th.snf, 1);
    let (events, more) = carry(&mut plu, back);
    // Not a +RSP: no event, no violation; window 2 goes (PI first).
    assert!(events.is_empty());
    assert_eq!(pis(&more), [true, false]);
    assert_eq!(plu.held_bytes(), 6);
    let (events, back) = carry(&mut slu, more);
    assert_eq!(
        flows(&events),
        [Flow::Data(&[0, 3, 1]), Flow::Data(&[0, 3, 2])]
    );
    let (_, more) = carry(&mut plu, back);
    assert_eq!(pis(&more), [true, false]);
    assert_eq!(plu.held_bytes(), 0);
    let (events, _) = carry(&mut slu, more);
    assert_eq!(flows(&events).len(), 2);
}

#[test]
fn ipr_waits_until_the_tp_consumed() {
    let (mut plu, mut slu) = paced_pair(2, 50);
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::Data(&[0, 3, 0]), &mut out);
    let (_, back) = carry(&mut slu, std::mem::take(&mut out));
    let (_, _) = carry(&mut plu, back);
    slu.consumed(3, &mut Vec::<Frame>::new());
    // Window 2 begins with 60 bytes, over the SLU's limit of 50.
    plu.send(Flow::Data(&[vec![0, 60], vec![7; 58]].concat()), &mut out);
    plu.send(Flow::Data(&[0, 3, 9]), &mut out);
    plu.send(Flow::Data(&[0, 3, 10]), &mut out);
    assert_eq!(pis(&out), [true, false]);
    let (events, back) = carry(&mut slu, out);
    assert_eq!(flows(&events).len(), 2);
    assert!(back.is_empty(), "IPR owed while 63 bytes are held");
    assert_eq!(slu.received_held(), 63);
    let mut back: Vec<Frame> = Vec::new();
    slu.consumed(10, &mut back);
    assert!(back.is_empty(), "53 bytes still held");
    slu.consumed(3, &mut back);
    assert_eq!(back.len(), 1);
    assert!(is_ipr(&back[0]));
    assert_eq!(back[0].th.snf, 3, "the SNF of the PI request");
    let (_, more) = carry(&mut plu, back);
    assert_eq!(pis(&more), [true]);
    assert_eq!(more[0].ru, [0, 3, 10]);
    // Consumed once more: no second IPR for the same window.
    let mut again: Vec<Frame> = Vec::new();
    slu.consumed(50, &mut again);
    assert!(again.is_empty());
}

#[test]
fn pacing_violations_and_responses_are_unpaced() {
    let (mut plu, mut slu) = paced_pair(2, 1 << 16);
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::Data(&[0, 3, 1]), &mut out);
    plu.send(Flow::ConfirmRequest(Confirmation::Plain), &mut out);
    // Beyond the window: held, not sent.
    assert_eq!(out.len(), 2);
    let mut events = Collect::default();
    let mut back: Vec<Frame> = Vec::new();
    for frame in &out {
        slu.receive(frame.as_ref(), &mut back, &mut events).unwrap();
    }
    // A third request in the window (forged): a pacing error.
    let mut forged = out[1].clone();
    forged.th.snf = 3;
    let err = slu
        .receive(forged.as_ref(), &mut back, &mut events)
        .unwrap_err();
    assert_eq!(err.sense, Sense::PACING_ERROR);
    // A window begun before the IPR for the last one went.
    let (mut plu, mut slu) = paced_pair(1, 0);
    let mut out: Vec<Frame> = Vec::new();
    plu.begin(&attach, &mut out).unwrap();
    let (_, back) = carry(&mut slu, std::mem::take(&mut out));
    assert_eq!(back.len(), 1, "no data held yet: the IPR goes");
    plu.send(Flow::Data(&[0, 3, 1]), &mut out);
    assert!(out.is_empty(), "held until that IPR arrives");
    let forged = |snf| {
        let mut rh = fmd(ResponseType::Rqe1, false, false);
        rh.pi = true;
        Frame {
            th: Th::new(lfsid(), ThFlow::Normal, snf),
            rh: Rh::Request(rh),
            ru: vec![0, 3, 1],
        }
    };
    let (mut back, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
    slu.receive(forged(2).as_ref(), &mut back, &mut events)
        .unwrap();
    assert!(back.is_empty(), "limit 0: IPR owed while 3 bytes are held");
    let err = slu
        .receive(forged(3).as_ref(), &mut back, &mut events)
        .unwrap_err();
    assert_eq!(err.sense, Sense::PACING_ERROR);
    // Responses and expedited requests are never held.
    let (mut plu, mut slu) = paced_pair(1, 1 << 16);
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::Confirm, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    plu.send(Flow::ConfirmRequest(Confirmation::Plain), &mut out);
    plu.send(Flow::RequestToSend, &mut out);
    // The attach, and SIGNAL overtaking the held confirmation request.
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].th.flow, ThFlow::Expedited);
    let (_, back) = carry(&mut slu, vec![out.remove(0)]);
    let (_, more) = carry(&mut plu, back);
    let (events, _) = carry(&mut slu, more);
    assert_eq!(flows(&events), [Flow::ConfirmRequest(Confirmation::Plain)]);
    let mut rsp: Vec<Frame> = Vec::new();
    slu.send(Flow::Confirmed, &mut rsp);
    assert_eq!(rsp.len(), 1, "a +RSP is sent whatever the window");
}

#[test]
fn window_zero_is_unpaced() {
    // HalfSession::new: unpaced until set_pacing (a BIND with windows
    // of 0).
    let (mut plu, mut slu) = pair();
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    for _ in 0..100 {
        plu.send(Flow::Data(&[0, 3, 1]), &mut out);
    }
    assert_eq!(out.len(), 101);
    assert!(pis(&out).iter().all(|pi| !pi));
    assert_eq!(plu.held_bytes(), 0);
    let (events, back) = carry(&mut slu, out);
    assert_eq!(flows(&events).len(), 100);
    assert!(back.is_empty(), "no IPR on an unpaced session");
    // An IPR on an unpaced session is ignored, not taken for a +RSP.
    let (events, back) = carry(&mut plu, vec![ipr_frame(lfsid(), 1)]);
    assert!(events.is_empty() && back.is_empty());
    // Unpaced, a conversation holding more than twice the limit fails.
    let (mut plu, mut slu) = (
        HalfSession::new(lfsid(), true, 64, 100),
        HalfSession::new(lfsid(), false, 64, 100),
    );
    let mut out: Vec<Frame> = Vec::new();
    plu.begin(&attach, &mut out).unwrap();
    for _ in 0..4 {
        plu.send(Flow::Data(&[vec![0, 60], vec![7; 58]].concat()), &mut out);
    }
    let (mut back, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
    let results: Vec<_> = out
        .iter()
        .map(|f| slu.receive(f.as_ref(), &mut back, &mut events))
        .collect();
    assert!(results[..4].iter().all(Result::is_ok));
    assert_eq!(results[4].unwrap_err().sense, Sense::INSUFFICIENT_RESOURCE);
}

#[test]
fn cut_keeps_order_and_sizes() {
    let bytes: Vec<u8> = (0..=255).cycle().take(1000).collect();
    let (a, b) = bytes.split_at(300);
    for max in [1, 7, 299, 300, 301, 999, 1000, 1001] {
        let mut rus = Vec::new();
        cut(&[a, b], max, |ru| rus.push(ru.concat()));
        assert!(rus.iter().all(|ru| !ru.is_empty() && ru.len() <= max));
        assert_eq!(rus.len(), bytes.len().div_ceil(max));
        assert_eq!(rus.concat(), bytes);
    }
    let mut none = 0;
    cut(&[&[]], 8, |_| none += 1);
    assert_eq!(none, 0);
}

#[test]
fn gds_parts_segment_a_record_as_encode_record_does() {
    for len in [0, 1, 100, 32_763, 32_764, 32_765, 65_535] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut headers = [[0; 4]; 3];
        let (parts, count) = gds_parts(&data, &mut headers);
        let mut want = Vec::new();
        crate::wire::encode_record(Some(GDS_APPLICATION_DATA), &data, MAX_LL, &mut want).unwrap();
        assert_eq!(parts[..count].concat(), want, "{len} bytes");
    }
}

#[test]
fn ipr_rh_decodes_as_a_pacing_response() {
    let mut bytes = Vec::new();
    ipr_frame(lfsid(), 7).encode_piu(&mut bytes);
    assert_eq!(&bytes[6..], [0x83, 0x01, 0x00]);
    let frame = Frame::decode_piu(&bytes).unwrap();
    let Rh::Response(rsp) = frame.rh else {
        panic!("a response")
    };
    assert!(rsp.pi && !rsp.dr1 && !rsp.dr2 && rsp.rti == Rti::Positive);
    // A +RSP to an RQD1 request is not an IPR.
    let rqd = Request::new(RuCategory::Fmd, ResponseType::Rqd1);
    assert_eq!(
        Rh::Response(Response::to(&rqd, Rti::Positive)).to_bytes(),
        [0x83, 0x80, 0x00]
    );
}

#[test]
fn an_ipr_held_back_goes_when_the_bracket_ends() {
    let (mut plu, mut slu) = paced_pair(1, 10);
    let mut out: Vec<Frame> = Vec::new();
    let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
    plu.begin(&attach, &mut out).unwrap();
    let (_, back) = carry(&mut slu, std::mem::take(&mut out));
    let (_, _) = carry(&mut plu, back);
    plu.send(Flow::Data(&[vec![0, 20], vec![1; 18]].concat()), &mut out);
    plu.send(Flow::ChangeDirection, &mut out);
    assert_eq!(out.len(), 1, "CD held for the next window");
    let (_, back) = carry(&mut slu, std::mem::take(&mut out));
    assert!(back.is_empty(), "20 bytes held: IPR owed");
    // The SLU's TP abends without receiving: its bracket ends, the
    // IPR goes with the FMH-7 (the CD it releases is then stale).
    let mut abend: Vec<Frame> = Vec::new();
    assert!(slu.send(Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_PROG), &mut abend));
    assert!(abend.iter().any(is_ipr));
    assert_eq!(slu.received_held(), 0);
    let (events, more) = carry(&mut plu, abend);
    assert_eq!(
        flows(&events),
        [Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_PROG)]
    );
    // The held CD goes, and the PLU's IPR for the SLU's PI request.
    assert_eq!(more.len(), 2);
    assert!(more
        .iter()
        .any(|f| matches!(f.rh, Rh::Request(r) if r.cdi && r.pi)));
    assert!(more.iter().any(is_ipr));
    assert_eq!(plu.held_bytes(), 0);
}
