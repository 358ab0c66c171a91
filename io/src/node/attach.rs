//! An attach between its APPC form ([`appc::Attach`]: blank-padded ASCII
//! names) and its wire form ([`wire::Attach`]: the FMH-5, EBCDIC).

use crate::appc::verbs::{name, values};
use crate::appc::Attach;
use crate::wire::{self, ebcdic, ConversationType, SecurityKind, SecuritySubfield, SyncLevel};

/// A blank- or zero-padded field without its padding.
fn trim(field: &[u8]) -> &[u8] {
    let end = field
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    &field[..end]
}

/// A padded ASCII field in EBCDIC, unpadded; `None` if it is not text the
/// code page has.
pub(crate) fn to_ebcdic(field: &[u8]) -> Option<Vec<u8>> {
    ebcdic::encode(std::str::from_utf8(trim(field)).ok()?).ok()
}

/// EBCDIC bytes as a blank-padded ASCII field.
pub(crate) fn from_ebcdic<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    ebcdic::decode(bytes).map(|text| name(&text))
}

/// The FMH-5 for an APPC attach; `None` if its TP name cannot be sent.
pub(crate) fn to_wire(a: &Attach) -> Option<wire::Attach> {
    let tp = to_ebcdic(&a.tp_name).filter(|tp| !tp.is_empty())?;
    let kind = if a.mapped {
        ConversationType::Mapped
    } else {
        ConversationType::Basic
    };
    let sync = match a.sync_level {
        values::SYNC_CONFIRM => SyncLevel::Confirm,
        values::SYNC_SYNCPT => SyncLevel::Syncpt,
        _ => SyncLevel::None,
    };
    let mut w = wire::Attach::new(kind, sync, &tp);
    let user = trim(&a.user_id);
    if !user.is_empty() {
        w.security.already_verified = true;
        w.security.subfields.push(SecuritySubfield {
            kind: SecurityKind::UserId,
            data: to_ebcdic(user)?,
        });
    }
    if !a.pip.is_empty() {
        w.pip = Some(vec![a.pip.clone()]);
    }
    Some(w)
}

/// The APPC attach an FMH-5 received on a session makes: `partner_lu`
/// (the session's partner) allocated it to `lu` (this node), in `mode`.
pub(crate) fn from_wire(wa: wire::Attach, partner_lu: [u8; 8], lu: &str, mode: [u8; 8]) -> Attach {
    Attach {
        tp_name: match ebcdic::decode(&wa.tp_name) {
            Some(tp) => name(&tp),
            None => [0; 64],
        },
        mapped: wa.conversation_type == ConversationType::Mapped,
        sync_level: match wa.sync_level {
            SyncLevel::None => values::SYNC_NONE,
            SyncLevel::Confirm => values::SYNC_CONFIRM,
            SyncLevel::Syncpt => values::SYNC_SYNCPT,
        },
        lu_alias: partner_lu,
        plu_alias: name(lu),
        mode_name: mode,
        user_id: wa
            .security
            .get(SecurityKind::UserId)
            .and_then(from_ebcdic::<10>)
            .unwrap_or([b' '; 10]),
        pip: wa.pip.map(|p| p.concat()).unwrap_or_default(),
    }
}
