//! LU names on the wire: network-qualified (`NETID.LU`) in the BINDs this
//! node sends, either way in the BINDs it accepts.
//!
//! An LU is known by its network's identifier and its name in that
//! network; a BIND carries both LUs' names, and an LU 6.2 stack that
//! checks them compares the network-qualified form. This node sends
//! `NETID.LU` for itself and for its partner (taken to be in its own
//! network: a partner alias names no network), and accepts a BIND that
//! names it as `NETID.LU` with its own NETID, or as a bare `LU` (older
//! peers send no network). Anything else names another LU, and the BIND
//! is refused.

/// This node's LU: its network and its name.
#[derive(Debug, Clone)]
pub(crate) struct LuName {
    netid: String,
    lu: String,
}

/// Whether `s` is a network identifier (or a network-local LU name): 1 to
/// 8 of `A-Z 0-9 $ # @`, not starting with a digit.
pub(crate) fn is_sna_name(s: &str) -> bool {
    (1..=8).contains(&s.len())
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "$#@".contains(c))
}

/// The LU part of a name that may be network-qualified.
pub(crate) fn unqualified(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, lu)| lu)
}

impl LuName {
    /// `name` as given to the node (`LU`, or `NETID.LU`, whose NETID then
    /// wins over `netid`).
    pub(crate) fn new(name: &str, netid: &str) -> Self {
        let (netid, lu) = name.rsplit_once('.').unwrap_or((netid, name));
        Self {
            netid: netid.to_owned(),
            lu: lu.to_owned(),
        }
    }

    /// `NETID.LU`.
    pub(crate) fn qualified(&self) -> String {
        format!("{}.{}", self.netid, self.lu)
    }

    /// `partner` (an alias, or already qualified) as a name in this
    /// node's network.
    pub(crate) fn partner(&self, partner: &str) -> String {
        if partner.contains('.') {
            partner.to_owned()
        } else {
            format!("{}.{partner}", self.netid)
        }
    }

    /// Whether a peer's `name` for an LU (qualified or not) is this one.
    pub(crate) fn is(&self, name: &str) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b.trim());
        match name.rsplit_once('.') {
            Some((netid, lu)) => same(&self.netid, netid) && same(&self.lu, lu),
            None => same(&self.lu, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_and_bare_names() {
        let me = LuName::new("LUB", "NETA");
        assert_eq!(me.qualified(), "NETA.LUB");
        assert!(me.is("NETA.LUB") && me.is("LUB") && me.is("lub"));
        assert!(!me.is("NETB.LUB") && !me.is("LUX") && !me.is("NETA.LUX"));
        assert_eq!(me.partner("LUA"), "NETA.LUA");
        assert_eq!(me.partner("NETB.LUA"), "NETB.LUA");
        let given = LuName::new("NETC.LUC", "NETA");
        assert_eq!(given.qualified(), "NETC.LUC");
        assert_eq!(unqualified("NETA.LUA"), "LUA");
        assert_eq!(unqualified("LUA"), "LUA");
    }

    #[test]
    fn sna_names() {
        assert!(is_sna_name("APPN") && is_sna_name("USIBM$#@") && is_sna_name("A1"));
        assert!(!is_sna_name("") && !is_sna_name("NINECHARS") && !is_sna_name("1A"));
        assert!(!is_sna_name("lower") && !is_sna_name("A.B"));
    }
}
