//! Cross-check with an independent decoder (`docs/wire.md#checking-the-bytes`): our FID2 TH +
//! RH bytes, wrapped in 802.3 frames with LLC DSAP/SSAP `04` (SNA path
//! control), written to a pcap and decoded by Wireshark's SNA dissector.
//! Every TH and RH field tshark reports must be the one we encoded.
//!
//! Needs `tshark` (Debian: `DEBIAN_FRONTEND=noninteractive apt-get install -y
//! tshark`; checked with 4.0.17). Without it the test fails, unless
//! `APPC_TEST_ALLOW_MISSING` names `tshark` (see `support`).
//!
//! Linux only: the bytes do not depend on the platform, and a Windows build
//! under Wine cannot read a Linux program's output (Wine starts it, but the
//! pipes come back invalid), so there it would only ever skip.
#![cfg(not(windows))]

mod support;

use std::process::Command;

use appc_io::wire::{Flow, Frame, Lfsid, Request, Response, ResponseType, Rh, Rti, RuCategory, Th};

const FIELDS: [&str; 26] = [
    "sna.th.fid",
    "sna.th.mpf",
    "sna.th.odai",
    "sna.th.efi",
    "sna.th.daf",
    "sna.th.oaf",
    "sna.th.snf",
    "sna.rh.rri",
    "sna.rh.ru_category",
    "sna.rh.fi",
    "sna.rh.sdi",
    "sna.rh.bci",
    "sna.rh.eci",
    "sna.rh.dr1",
    "sna.rh.dr2",
    "sna.rh.eri",
    "sna.rh.rti",
    "sna.rh.qri",
    "sna.rh.pi",
    "sna.rh.bbi",
    "sna.rh.ebi",
    "sna.rh.cdi",
    "sna.rh.csi",
    "sna.rh.edi",
    "sna.rh.pdi",
    "sna.rh.cebi",
];

/// The values tshark should print for `frame`, in [`FIELDS`] order
/// (`None` where the field does not apply).
fn expected(frame: &Frame) -> Vec<Option<u32>> {
    let th = &frame.th;
    let mut v = vec![
        Some(2),
        Some(th.mpf as u32),
        Some(th.odai.into()),
        Some(u32::from(th.flow == Flow::Expedited)),
        Some(th.daf.into()),
        Some(th.oaf.into()),
        Some(th.snf.into()),
    ];
    let b = |x: bool| Some(u32::from(x));
    match frame.rh {
        Rh::Request(r) => v.extend([
            Some(0),
            Some(r.category as u32),
            b(r.fi),
            b(r.sdi),
            b(r.bci),
            b(r.eci),
            b(r.dr1),
            b(r.dr2),
            b(r.eri),
            None,
            b(r.qri),
            b(r.pi),
            b(r.bbi),
            b(r.ebi),
            b(r.cdi),
            b(r.csi),
            b(r.edi),
            b(r.pdi),
            b(r.cebi),
        ]),
        Rh::Response(r) => v.extend([
            Some(1),
            Some(r.category as u32),
            b(r.fi),
            b(r.rti == Rti::Negative),
            Some(1),
            Some(1),
            b(r.dr1),
            b(r.dr2),
            None,
            b(r.rti == Rti::Negative),
            b(r.qri),
            b(r.pi),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ]),
    }
    v
}

fn frames() -> Vec<Frame> {
    let th = |odai, flow, snf| {
        Th::new(
            Lfsid {
                odai,
                sidh: 0x12,
                sidl: 0x34,
            },
            flow,
            snf,
        )
    };
    let mut data = Request::new(RuCategory::Fmd, ResponseType::Rqe1);
    data.cdi = true;
    let mut attach = Request::new(RuCategory::Fmd, ResponseType::Rqe1);
    attach.fi = true;
    attach.bbi = true;
    attach.eci = false;
    let mut dealloc = Request::new(RuCategory::Fmd, ResponseType::Rqd3);
    dealloc.bci = false;
    dealloc.cebi = true;
    let mut odd = Request::new(RuCategory::Fmd, ResponseType::Rqe2);
    (odd.qri, odd.pi, odd.ebi, odd.csi, odd.edi, odd.pdi) = (true, true, true, true, true, true);
    vec![
        Frame {
            th: th(false, Flow::Normal, 1),
            rh: Rh::Request(attach),
            ru: vec![0x20, 0x05, 0x02, 0xFF],
        },
        Frame {
            th: th(true, Flow::Normal, 2),
            rh: Rh::Request(data),
            ru: vec![0x00, 0x04, 0x12, 0xFF],
        },
        Frame {
            th: th(false, Flow::Normal, 0xFFFF),
            rh: Rh::Request(dealloc),
            ru: vec![],
        },
        Frame {
            th: th(true, Flow::Normal, 3),
            rh: Rh::Request(odd),
            ru: vec![],
        },
        Frame {
            th: th(false, Flow::Normal, 2),
            rh: Rh::Response(Response::to(&data, Rti::Negative)),
            ru: vec![0x08, 0x46, 0x00, 0x00],
        },
        Frame {
            th: th(true, Flow::Normal, 3),
            rh: Rh::Response(Response::to(&dealloc, Rti::Positive)),
            ru: vec![],
        },
        Frame {
            th: th(false, Flow::Expedited, 0),
            rh: Rh::Request(Request::new(RuCategory::Dfc, ResponseType::Rqd1)),
            ru: vec![0xC9, 0x00, 0x01, 0x00, 0x01],
        },
        Frame {
            th: th(true, Flow::Expedited, 0),
            rh: Rh::Request(Request::new(RuCategory::Sc, ResponseType::Rqd1)),
            ru: vec![0x32, 0x01],
        },
    ]
}

/// A classic pcap (link type 1, Ethernet) with each PIU in an 802.3 frame
/// carrying LLC `04 04 03` (DSAP, SSAP, UI).
fn pcap(frames: &[Frame]) -> Vec<u8> {
    // Global header: magic, version 2.4, zone, accuracy, snaplen, link type.
    let mut out = 0xA1B2_C3D4u32.to_le_bytes().to_vec();
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    for word in [0u32, 0, 65_535, 1] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for frame in frames {
        let mut llc = vec![0x04, 0x04, 0x03];
        frame.encode_piu(&mut llc);
        let mut eth = vec![0x40, 0, 0, 0, 0, 1, 0x40, 0, 0, 0, 0, 2];
        eth.extend_from_slice(&(llc.len() as u16).to_be_bytes());
        eth.extend_from_slice(&llc);
        eth.resize(eth.len().max(60), 0);
        for word in [0u32, 0, eth.len() as u32, eth.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&eth);
    }
    out
}

fn parse(field: &str) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    Some(match field.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
        None => field.parse().unwrap(),
    })
}

#[test]
fn tshark_decodes_our_th_and_rh() {
    if let Err(e) = Command::new("tshark").arg("--version").output() {
        assert!(
            support::may_be_missing("tshark"),
            "tshark cannot run ({e}): install it \
             (DEBIAN_FRONTEND=noninteractive apt-get install -y tshark) or set \
             {}=tshark",
            support::ALLOW_MISSING_ENV
        );
        println!("skipped: tshark cannot run ({e}), and the environment allows it");
        return;
    }
    let frames = frames();
    let path = std::env::temp_dir().join(format!("appc-io-tshark-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&frames)).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=,"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), frames.len(), "{text}");
    for (frame, line) in frames.iter().zip(lines) {
        let got: Vec<Option<u32>> = line.split(',').map(parse).collect();
        assert_eq!(got, expected(frame), "{frame:?}\n{line}");
    }
}
