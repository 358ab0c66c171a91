//! Proptest strategies for the wire types.

use appc_io::wire::{
    gds::MAX_LL, Attach, Bind, ControlRu, ConversationType, ErrorDescription, Flow, Frame, Lfsid,
    Luw, Pacing, Request, Response, Rh, Rti, RuCategory, RuSize, Security, SecurityKind,
    SecuritySubfield, Sense, Signal, SyncLevel, Th, Unbind, UnbindType, UserDataSubfield,
};
use proptest::collection::vec;
use proptest::prelude::*;

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

pub fn category() -> impl Strategy<Value = RuCategory> {
    prop_oneof![
        Just(RuCategory::Fmd),
        Just(RuCategory::Nc),
        Just(RuCategory::Dfc),
        Just(RuCategory::Sc)
    ]
}

pub fn th() -> impl Strategy<Value = Th> {
    (any::<[u8; 2]>(), any::<bool>(), any::<bool>(), any::<u16>()).prop_map(
        |([sidh, sidl], odai, expedited, snf)| {
            let flow = if expedited {
                Flow::Expedited
            } else {
                Flow::Normal
            };
            Th::new(Lfsid { odai, sidh, sidl }, flow, snf)
        },
    )
}

pub fn request() -> impl Strategy<Value = Request> {
    (category(), any::<[bool; 18]>()).prop_map(|(category, b)| Request {
        category,
        fi: b[0],
        sdi: b[1],
        bci: b[2],
        eci: b[3],
        dr1: b[4],
        lcci: b[5],
        dr2: b[6],
        eri: b[7],
        rlwi: b[8],
        qri: b[9],
        pi: b[10],
        bbi: b[11],
        ebi: b[12],
        cdi: b[13],
        csi: b[14],
        edi: b[15],
        pdi: b[16],
        cebi: b[17],
    })
}

pub fn response() -> impl Strategy<Value = Response> {
    (category(), any::<[bool; 6]>()).prop_map(|(category, b)| Response {
        category,
        fi: b[0],
        dr1: b[1],
        dr2: b[2],
        rti: if b[3] { Rti::Negative } else { Rti::Positive },
        qri: b[4],
        pi: b[5],
    })
}

pub fn rh() -> impl Strategy<Value = Rh> {
    prop_oneof![
        request().prop_map(Rh::Request),
        response().prop_map(Rh::Response)
    ]
}

pub fn frame() -> impl Strategy<Value = Frame> {
    (th(), rh(), bytes(40)).prop_map(|(th, rh, ru)| Frame { th, rh, ru })
}

/// A sequence of whole length-prefixed fields (the FMH-5 trailing part).
fn lt_fields() -> impl Strategy<Value = Vec<u8>> {
    vec(bytes(10), 0..=2).prop_map(|fields| {
        fields
            .iter()
            .flat_map(|f| std::iter::once(f.len() as u8).chain(f.iter().copied()))
            .collect()
    })
}

pub fn attach() -> impl Strategy<Value = Attach> {
    let kind = prop_oneof![
        Just(SecurityKind::Profile),
        Just(SecurityKind::Password),
        Just(SecurityKind::UserId)
    ];
    let security = (
        any::<bool>(),
        0..4u8,
        any::<bool>(),
        vec((kind, bytes(20)), 0..=3),
    )
        .prop_map(
            |(already_verified, pv, password_substitute, subs)| Security {
                already_verified,
                persistent_verification: pv,
                password_substitute,
                subfields: subs
                    .into_iter()
                    .map(|(kind, data)| SecuritySubfield { kind, data })
                    .collect(),
            },
        );
    let luw = proptest::option::of((bytes(17), any::<[u8; 6]>(), any::<u16>()).prop_map(
        |(lu_name, instance, sequence)| Luw {
            lu_name,
            instance,
            sequence,
        },
    ));
    (
        prop_oneof![
            Just(ConversationType::Basic),
            Just(ConversationType::Mapped),
            Just(ConversationType::BasicFullDuplex),
            Just(ConversationType::MappedFullDuplex)
        ],
        prop_oneof![
            Just(SyncLevel::None),
            Just(SyncLevel::Confirm),
            Just(SyncLevel::Syncpt)
        ],
        vec(any::<u8>(), 1..=64),
        security,
        any::<bool>(),
        luw,
        bytes(20),
        lt_fields(),
        proptest::option::of(vec(bytes(30), 0..=3)),
    )
        .prop_map(
            |(
                conversation_type,
                sync_level,
                tp_name,
                security,
                xaid,
                luw,
                correlator,
                trailing,
                pip,
            )| {
                Attach {
                    conversation_type,
                    sync_level,
                    tp_name,
                    security,
                    xaid,
                    luw,
                    correlator,
                    trailing,
                    pip,
                }
            },
        )
}

pub fn error_description() -> impl Strategy<Value = ErrorDescription> {
    (any::<u32>(), any::<bool>()).prop_map(|(sense, log_follows)| ErrorDescription {
        sense: Sense(sense),
        log_follows,
    })
}

fn pacing() -> impl Strategy<Value = Pacing> {
    (any::<bool>(), 0..64u8).prop_map(|(flag, window)| Pacing { flag, window })
}

fn ru_size() -> impl Strategy<Value = RuSize> {
    (0x80..=0xFFu8).prop_map(|b| RuSize::from_byte(b).unwrap())
}

pub fn bind() -> impl Strategy<Value = Bind> {
    (
        (any::<bool>(), any::<[u8; 8]>(), any::<[u8; 5]>()),
        (pacing(), pacing(), pacing(), pacing(), ru_size(), ru_size()),
        (
            bytes(20),
            vec((any::<u8>(), bytes(10)), 0..=3),
            bytes(10),
            bytes(20),
            bytes(10),
        ),
    )
        .prop_map(
            |(
                (negotiable, raw, ps_characteristics),
                (ssp, srp, psp, prp, max_ru_secondary, max_ru_primary),
                (primary_lu_name, user_data, urc, secondary_lu_name, cv),
            )| Bind {
                negotiable,
                fm_profile: raw[0],
                ts_profile: raw[1],
                primary_fm_usage: raw[2],
                secondary_fm_usage: raw[3],
                common_fm_usage: raw[4],
                ts_usage: raw[5],
                secondary_send_pacing: ssp,
                secondary_receive_pacing: srp,
                max_ru_secondary,
                max_ru_primary,
                primary_send_pacing: psp,
                primary_receive_pacing: prp,
                ps_profile: raw[6],
                lu6_level: raw[7],
                ps_characteristics,
                primary_lu_name,
                user_data: user_data
                    .into_iter()
                    .map(|(key, data)| UserDataSubfield { key, data })
                    .collect(),
                urc,
                secondary_lu_name,
                control_vectors: if raw[5] & 0x02 != 0 { cv } else { Vec::new() },
            },
        )
}

pub fn control_ru() -> impl Strategy<Value = ControlRu> {
    prop_oneof![
        bind().prop_map(ControlRu::Bind),
        (any::<u8>(), proptest::option::of(any::<u32>())).prop_map(|(k, s)| {
            ControlRu::Unbind(Unbind {
                kind: UnbindType(k),
                sense: s.map(Sense),
            })
        }),
        any::<(u16, u16)>()
            .prop_map(|(code, extension)| ControlRu::Signal(Signal { code, extension })),
        any::<u32>().prop_map(ControlRu::Lustat),
        Just(ControlRu::Bis),
        Just(ControlRu::Rtr),
    ]
}

/// Logical records with (`true`) or without a GDS ID, and a segment limit
/// small enough to force segmentation now and then.
pub fn records() -> impl Strategy<Value = (bool, u16, Vec<(u16, Vec<u8>)>)> {
    (
        any::<bool>(),
        prop_oneof![5..40u16, Just(MAX_LL)],
        vec((any::<u16>(), bytes(100)), 0..6),
    )
}

/// Cut `bytes` at the given points (taken modulo its length, sorted).
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts {
        out.push(&bytes[start..c]);
        start = c;
    }
    out.push(&bytes[start..]);
    out
}
