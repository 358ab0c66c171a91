//! The version record both ends send first: `[01, major, minor, 02,
//! os-name…, 00]` (tag 01 = version, tag 02 = operating system name).
//!
//! Parsing is lenient, as the original's is: a record that is not a
//! version record leaves the version at 0.0 and the name empty, so an old
//! or foreign partner still gets its echo (only one-way mode depends on the
//! version, and falls back to echo for an old one).

/// The APING protocol version both our ends speak (the original's 2.40).
pub const OURS: Version = Version {
    major: 2,
    minor: 40,
};
/// The first version whose daemon answers CONFIRM with CONFIRMED (one-way).
pub const ONE_WAY: Version = Version { major: 2, minor: 2 };

const TAG_VERSION: u8 = 0x01;
const TAG_OS: u8 = 0x02;

/// A protocol version (`major.minor`, ordered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.major, self.minor)
    }
}

/// What a partner said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Partner {
    /// Its protocol version (0.0 if it sent none).
    pub version: Version,
    /// Its operating system (empty if it sent none).
    pub os: String,
}

/// The name this process reports: the OS it runs on and what it is.
pub fn os_name() -> String {
    format!("{} (appc TcpNode)", std::env::consts::OS)
}

/// Our version record.
pub fn encode(version: Version, os: &str) -> Vec<u8> {
    let mut record = vec![TAG_VERSION, version.major, version.minor, TAG_OS];
    record.extend(os.bytes().filter(|&b| b != 0));
    record.push(0);
    record
}

/// A partner's version record (see the module docs for what is accepted).
pub fn decode(record: &[u8]) -> Partner {
    let [TAG_VERSION, major, minor, rest @ ..] = record else {
        return Partner::default();
    };
    let os = match rest {
        [TAG_OS, name @ ..] => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        _ => String::new(),
    };
    Partner {
        version: Version {
            major: *major,
            minor: *minor,
        },
        os,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_has_the_documented_layout() {
        assert_eq!(encode(OURS, "os"), [1, 2, 40, 2, b'o', b's', 0]);
    }

    #[test]
    fn round_trip() {
        let partner = decode(&encode(OURS, &os_name()));
        assert_eq!(
            partner,
            Partner {
                version: OURS,
                os: os_name()
            }
        );
        assert!(partner.version >= ONE_WAY);
    }

    #[test]
    fn foreign_records_are_tolerated() {
        assert_eq!(decode(b""), Partner::default());
        assert_eq!(decode(b"hello"), Partner::default());
        assert_eq!(decode(&[1, 2]), Partner::default());
        let bare = decode(&[1, 2, 1]);
        assert_eq!(
            (bare.version, bare.os.as_str()),
            (Version { major: 2, minor: 1 }, "")
        );
        assert_eq!(decode(&[1, 2, 1, 2, b'x']).os, "x", "no terminator");
        assert!(decode(&[1, 2, 1]).version < ONE_WAY);
    }
}
