use appc_engine::appc::rc::{PrimaryRc, WhatRcvd};
use appc_engine::appc::verbs::*;
use appc_engine::appc::{Appc, Node};
use appc_engine::WINAPPC_VERSION;

fn tp_started(app: &Appc) -> TpId {
    let v = app
        .call(Verb::basic(Body::TpStarted(TpStarted {
            lu_alias: name("LU1"),
            tp_name: name("REQ"),
            tp_id: [0; 8],
        })))
        .unwrap();
    assert_eq!(v.primary_rc, PrimaryRc::OK);
    let Body::TpStarted(t) = v.body else { panic!() };
    t.tp_id
}

#[test]
fn allocate_send_receive() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    std::thread::scope(|s| {
        let resp = s.spawn(|| {
            let v = b
                .call(Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
                    tp_name: name("RESP"),
                    lu_alias: name("LU2"),
                    tp_id: [0; 8],
                    conv_id: 0,
                    sync_level: 0,
                    conv_type: 0,
                    user_id: [0; 10],
                    plu_alias: [0; 8],
                    mode_name: [0; 8],
                    pip: vec![],
                })))
                .unwrap();
            assert_eq!(v.primary_rc, PrimaryRc::OK);
            let Body::ReceiveAllocate(ra) = v.body else {
                panic!()
            };
            let conv = Conv {
                tp_id: ra.tp_id,
                conv_id: ra.conv_id,
            };
            let v = b
                .call(Verb::mapped(Body::ReceiveAndWait(Receive {
                    conv,
                    max_len: 100,
                    ..Default::default()
                })))
                .unwrap();
            assert_eq!(v.primary_rc, PrimaryRc::OK);
            let Body::ReceiveAndWait(r) = v.body else {
                panic!()
            };
            assert_eq!(r.data, b"hello");
            assert_eq!(r.what_rcvd, WhatRcvd::DATA_COMPLETE);
            let v = b
                .call(Verb::mapped(Body::ReceiveAndWait(Receive {
                    conv,
                    max_len: 100,
                    ..Default::default()
                })))
                .unwrap();
            let Body::ReceiveAndWait(r) = v.body else {
                panic!()
            };
            assert_eq!(r.what_rcvd, WhatRcvd::SEND);
            let v = b
                .call(Verb::mapped(Body::SendData(SendData {
                    conv,
                    send_type: values::SEND_DATA_DEALLOC_FLUSH,
                    data: b"bye".to_vec(),
                    rts_rcvd: false,
                })))
                .unwrap();
            assert_eq!(v.primary_rc, PrimaryRc::OK);
        });
        let tp = tp_started(&a);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let v = a
            .call(Verb::mapped(Body::Allocate(Allocate {
                tp_id: tp,
                conv_type: 1,
                sync_level: values::SYNC_NONE,
                rtn_ctl: 0,
                plu_alias: name("LU2"),
                mode_name: name("#INTER"),
                tp_name: name("RESP"),
                security: 0,
                pwd: [0; 10],
                user_id: [0; 10],
                pip: vec![],
                conv_id: 0,
                sense_data: 0,
            })))
            .unwrap();
        assert_eq!(v.primary_rc, PrimaryRc::OK);
        let Body::Allocate(al) = v.body else { panic!() };
        let conv = Conv {
            tp_id: tp,
            conv_id: al.conv_id,
        };
        let v = a
            .call(Verb::mapped(Body::SendData(SendData {
                conv,
                send_type: 0,
                data: b"hello".to_vec(),
                rts_rcvd: false,
            })))
            .unwrap();
        assert_eq!(v.primary_rc, PrimaryRc::OK);
        let v = a
            .call(Verb::mapped(Body::ReceiveAndWait(Receive {
                conv,
                max_len: 100,
                ..Default::default()
            })))
            .unwrap();
        assert_eq!(v.primary_rc, PrimaryRc::OK, "{v:?}");
        let Body::ReceiveAndWait(r) = v.body else {
            panic!()
        };
        assert_eq!(r.data, b"bye");
        let v = a
            .call(Verb::mapped(Body::ReceiveAndWait(Receive {
                conv,
                max_len: 100,
                ..Default::default()
            })))
            .unwrap();
        assert_eq!(v.primary_rc, PrimaryRc::DEALLOC_NORMAL);
        resp.join().unwrap();
    });
}
