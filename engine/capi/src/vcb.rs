//! Rust mirrors of the VCBs the engine runs, field for field as in
//! `include/winappc.h` (and so as in the published header).
//!
//! Each mirror is `#[repr(C)]` with the C field names, so that the layout
//! test (`tests/c/layout_table.h`, read by this module's test) can check
//! every offset against the documented one. Two C structs share a mirror
//! where their layouts agree (a basic verb and its mapped form, whose
//! reserved byte sits where the basic one has `fill` or `err_type`); the
//! mapped DEALLOCATE is shorter than the basic one and has its own.
//!
//! Fields keep the VCB's representation: `opcode`, `primary_rc`,
//! `secondary_rc` and `what_rcvd` hold the big-endian ("flipped") form,
//! `unsigned long` is `u32` (the published header's LLP64 meaning), and
//! pointers are raw. The mirrors assume the 64-bit layout (natural
//! alignment); a 32-bit Windows build would need `packed(4)`, and the crate
//! refuses to build there rather than guess.

#[cfg(not(target_pointer_width = "64"))]
compile_error!("appc-capi's VCB mirrors are laid out for 64-bit targets");

/// Declares a `#[repr(C)]` mirror with the common header (and, for `conv`,
/// `tp_id` and `conv_id`) first, and `FIELDS`: each field's name and offset.
macro_rules! vcb {
    ($(#[$doc:meta])* $name:ident [$($c:literal),+] hdr { $($field:ident: $ty:ty),* $(,)? }) => {
        vcb!(@emit $(#[$doc])* $name [$($c),+] {
            opcode: u16, opext: u8, reserv2: u8, primary_rc: u16, secondary_rc: u32,
            $($field: $ty),*
        });
    };
    ($(#[$doc:meta])* $name:ident [$($c:literal),+] conv { $($field:ident: $ty:ty),* $(,)? }) => {
        vcb!(@emit $(#[$doc])* $name [$($c),+] {
            opcode: u16, opext: u8, reserv2: u8, primary_rc: u16, secondary_rc: u32,
            tp_id: [u8; 8], conv_id: u32,
            $($field: $ty),*
        });
    };
    (@emit $(#[$doc:meta])* $name:ident [$($c:literal),+] { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty),*
        }

        impl $name {
            /// The C structs this mirrors.
            #[cfg(test)]
            pub(crate) const C_NAMES: &'static [&'static str] = &[$($c),+];
            /// Every field's name and offset.
            #[cfg(test)]
            pub(crate) const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), ::std::mem::offset_of!($name, $field))),*];
        }
    };
}

vcb! {
    /// `struct appc_hdr`: what every VCB starts with.
    Hdr ["appc_hdr"] hdr {}
}

vcb! {
    /// `TP_STARTED`.
    TpStarted ["tp_started"] hdr { lu_alias: [u8; 8], tp_id: [u8; 8], tp_name: [u8; 64] }
}

vcb! {
    /// `RECEIVE_ALLOCATE`.
    ReceiveAllocate ["receive_allocate"] hdr {
        tp_name: [u8; 64], tp_id: [u8; 8], conv_id: u32, sync_level: u8, conv_type: u8,
        user_id: [u8; 10], lu_alias: [u8; 8], plu_alias: [u8; 8], mode_name: [u8; 8],
        reserv3: [u8; 2], conv_group_id: u32, fqplu_name: [u8; 17], reserv4: [u8; 5],
    }
}

vcb! {
    /// `TP_ENDED`.
    TpEnded ["tp_ended"] hdr { tp_id: [u8; 8], r#type: u8 }
}

vcb! {
    /// `ALLOCATE` and `MC_ALLOCATE` (whose `conv_type` byte is reserved).
    Allocate ["allocate", "mc_allocate"] conv {
        conv_type: u8, sync_level: u8, reserv3: [u8; 2], rtn_ctl: u8, reserv4: u8,
        conv_group_id: u32, sense_data: u32, plu_alias: [u8; 8], mode_name: [u8; 8],
        tp_name: [u8; 64], security: u8, reserv5: [u8; 11], pwd: [u8; 10], user_id: [u8; 10],
        pip_dlen: u16, pip_dptr: *mut u8, reserv7: u8, fqplu_name: [u8; 17], reserv8: [u8; 8],
        proxy_user: *mut u16, proxy_domain: *mut u16, reserv9: [u8; 16],
    }
}

vcb! {
    /// `[MC_]SEND_CONVERSATION`.
    SendConversation ["send_conversation", "mc_send_conversation"] hdr {
        tp_id: [u8; 8], reserv3: [u8; 8], rtn_ctl: u8, reserv4: u8, conv_group_id: u32,
        sense_data: u32, plu_alias: [u8; 8], mode_name: [u8; 8], tp_name: [u8; 64],
        security: u8, reserv5: [u8; 11], pwd: [u8; 10], user_id: [u8; 10], pip_dlen: u16,
        pip_dptr: *mut u8, reserv6: u8, fqplu_name: [u8; 17], reserv7: [u8; 8], dlen: u16,
        dptr: *mut u8,
    }
}

vcb! {
    /// The verbs with nothing past `conv_id`: `[MC_]CONFIRMED`, `[MC_]FLUSH`,
    /// `[MC_]REQUEST_TO_SEND`.
    Conv ["confirmed", "mc_confirmed", "flush", "mc_flush", "request_to_send",
          "mc_request_to_send"] conv {}
}

vcb! {
    /// `[MC_]CONFIRM`.
    Confirm ["confirm", "mc_confirm"] conv { rts_rcvd: u8 }
}

vcb! {
    /// `[MC_]TEST_RTS`.
    TestRts ["test_rts", "mc_test_rts"] conv { reserv3: u8 }
}

vcb! {
    /// `[MC_]PREPARE_TO_RECEIVE`.
    PrepareToReceive ["prepare_to_receive", "mc_prepare_to_receive"] conv {
        ptr_type: u8, locks: u8,
    }
}

vcb! {
    /// Basic `DEALLOCATE`.
    Deallocate ["deallocate"] conv {
        reserv3: u8, dealloc_type: u8, log_dlen: u16, log_dptr: *mut u8,
    }
}

vcb! {
    /// `MC_DEALLOCATE` (no log data: shorter than the basic form).
    McDeallocate ["mc_deallocate"] conv {
        reserv3: u8, dealloc_type: u8, reserv4: [u8; 2], reserv5: [u8; 4],
    }
}

vcb! {
    /// `[MC_]RECEIVE_AND_WAIT` and `[MC_]RECEIVE_IMMEDIATE` (`fill` is
    /// reserved in the mapped forms).
    Receive ["receive_and_wait", "mc_receive_and_wait", "receive_immediate",
             "mc_receive_immediate"] conv {
        what_rcvd: u16, rtn_status: u8, fill: u8, rts_rcvd: u8, reserv4: u8, max_len: u16,
        dlen: u16, dptr: *mut u8, reserv5: [u8; 5],
    }
}

vcb! {
    /// `[MC_]RECEIVE_AND_POST`.
    ReceiveAndPost ["receive_and_post", "mc_receive_and_post"] conv {
        what_rcvd: u16, rtn_status: u8, fill: u8, rts_rcvd: u8, reserv4: u8, max_len: u16,
        dlen: u16, dptr: *mut u8, sema: *mut u8, reserv5: u8,
    }
}

vcb! {
    /// `[MC_]SEND_DATA`.
    SendData ["send_data", "mc_send_data"] conv {
        rts_rcvd: u8, reserv3: u8, dlen: u16, dptr: *mut u8, r#type: u8, reserv4: u8,
    }
}

vcb! {
    /// `[MC_]SEND_ERROR` (`err_type` is reserved in the mapped form).
    SendError ["send_error", "mc_send_error"] conv {
        rts_rcvd: u8, err_type: u8, err_dir: u8, reserv3: u8, log_dlen: u16,
        log_dptr: *mut u8,
    }
}

vcb! {
    /// `[MC_]TEST_RTS_AND_POST`.
    TestRtsAndPost ["test_rts_and_post", "mc_test_rts_and_post"] conv {
        reserv3: u8, handle: u32,
    }
}

vcb! {
    /// `[MC_]POST_ON_RECEIPT` (`fill` is reserved in the mapped form; the
    /// header calls the byte after `opext` `reserv1`).
    PostOnReceipt ["post_on_receipt", "mc_post_on_receipt"] conv {
        reserv2b: u16, fill: u8, reserv4: u8, max_len: u16, reserv5: u16,
        reserv6: *mut u8, reserv7: [u8; 5], sema: u32,
    }
}

vcb! {
    /// `[MC_]GET_ATTRIBUTES`.
    GetAttributes ["get_attributes", "mc_get_attributes"] conv {
        reserv3: u8, sync_level: u8, mode_name: [u8; 8], net_name: [u8; 8], lu_name: [u8; 8],
        lu_alias: [u8; 8], plu_alias: [u8; 8], plu_un_name: [u8; 8], reserv4: [u8; 2],
        fqplu_name: [u8; 17], reserv5: u8, user_id: [u8; 10], conv_group_id: u32,
        conv_corr_len: u8, conv_corr: [u8; 8], reserv6: [u8; 13],
    }
}

vcb! {
    /// `GET_TYPE`.
    GetType ["get_type"] conv { conv_type: u8 }
}

vcb! {
    /// `GET_STATE`.
    GetState ["get_state"] conv { conv_state: u8 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The documented layouts, shared with the C layout test.
    const TABLE: &str = include_str!("../tests/c/layout_table.h");

    struct Mirror {
        c_names: &'static [&'static str],
        fields: &'static [(&'static str, usize)],
        size: usize,
    }

    macro_rules! mirrors {
        ($($ty:ident),*) => {
            vec![$(Mirror {
                c_names: $ty::C_NAMES,
                fields: $ty::FIELDS,
                size: std::mem::size_of::<$ty>(),
            }),*]
        };
    }

    /// `NAME(a, b, ...)` lines of the table, split.
    fn entries(kind: &str) -> Vec<Vec<&'static str>> {
        TABLE
            .lines()
            .filter_map(|line| line.strip_prefix(kind)?.strip_prefix('('))
            .map(|rest| rest.trim_end_matches(')').split(", ").collect())
            .collect()
    }

    #[test]
    fn every_mirror_has_the_documented_size_and_offsets() {
        let sizes: HashMap<&str, usize> = entries("SIZE")
            .iter()
            .map(|e| (e[0], e[1].parse().unwrap()))
            .collect();
        let fields = entries("FIELD");
        let mut checked = 0;
        for mirror in mirrors!(
            Hdr,
            TpStarted,
            ReceiveAllocate,
            TpEnded,
            Allocate,
            SendConversation,
            Conv,
            Confirm,
            TestRts,
            PrepareToReceive,
            Deallocate,
            McDeallocate,
            Receive,
            ReceiveAndPost,
            SendData,
            SendError,
            TestRtsAndPost,
            PostOnReceipt,
            GetAttributes,
            GetType,
            GetState
        ) {
            for c in mirror.c_names {
                assert_eq!(sizes.get(c), Some(&mirror.size), "sizeof(struct {c})");
                for entry in fields.iter().filter(|e| e[0] == *c) {
                    let offset: usize = entry[2].parse().unwrap();
                    let name = if entry[1] == "type" {
                        "r#type"
                    } else {
                        entry[1]
                    };
                    let found = mirror.fields.iter().find(|(f, _)| *f == name);
                    assert_eq!(
                        found.map(|(_, o)| *o),
                        Some(offset),
                        "offsetof({c}, {name})"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 300, "only {checked} offsets checked");
    }
}
