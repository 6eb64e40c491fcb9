//! The stack's settings, from the task's `config` in app.toml (handed to
//! the build as `VIREO_CONFIG`, `key=value` pairs separated by `;`):
//!
//! - `address = "10.0.2.15/24"`: the static address used when DHCP gives
//!   none within `dhcp-timeout-ms`;
//! - `gateway = "10.0.2.2"`: its default route;
//! - `dhcp = "off"`: use the static address at once;
//! - `dhcp-timeout-ms = "3000"`;
//! - `peer-timeout-ms = "60000"`: a connection from whose peer nothing
//!   has come for this long is aborted (the peer vanished: without it the
//!   stack would retransmit to it for ever, and hold the socket); an idle
//!   one is probed with keep-alives every quarter of it, which a live peer
//!   answers;
//! - `ports = "echo:tcp/7 …"`: who may bind which port (see
//!   [`crate::ports`]; the build reads it, these settings skip it).
//!
//! The build script parses the same text with this module and fails on a
//! mistake, so the task never meets one.

/// Parsed settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Static address and prefix length.
    pub address: ([u8; 4], u8),
    /// Static default gateway.
    pub gateway: Option<[u8; 4]>,
    /// Whether to ask DHCP first.
    pub dhcp: bool,
    /// How long to wait for a lease before falling back.
    pub dhcp_timeout_ms: u64,
    /// How long a connection's peer may stay silent — not acknowledging
    /// bytes sent to it, nor answering keep-alives — before the connection
    /// is aborted.
    pub peer_timeout_ms: u64,
}

impl Settings {
    /// How long an accepted connection may be idle before the stack asks
    /// its peer whether it is still there: a quarter of the peer timeout,
    /// so that a peer that is gone misses three probes before the abort,
    /// and one that is there answers well within it.
    pub fn keep_alive_ms(&self) -> u64 {
        (self.peer_timeout_ms / 4).max(1)
    }
}

impl Default for Settings {
    /// QEMU's user network: 10.0.2.15/24 via 10.0.2.2, DHCP first.
    fn default() -> Self {
        Settings {
            address: ([10, 0, 2, 15], 24),
            gateway: Some([10, 0, 2, 2]),
            dhcp: true,
            dhcp_timeout_ms: 3000,
            peer_timeout_ms: 60_000,
        }
    }
}

/// Why a setting was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BadSetting<'a> {
    /// The key.
    pub key: &'a str,
    /// The value given.
    pub value: &'a str,
}

impl BadSetting<'_> {
    /// What the key takes, for the message that refuses it.
    pub fn expected(&self) -> &'static str {
        match self.key {
            "address" => "an IPv4 address and prefix length, e.g. \"10.0.2.15/24\" (each part 0 to 255, the prefix 0 to 32)",
            "gateway" => "an IPv4 address, e.g. \"10.0.2.2\"",
            "dhcp" => "\"on\" or \"off\"",
            "dhcp-timeout-ms" => "a number of milliseconds, e.g. \"3000\"",
            "peer-timeout-ms" => "a number of milliseconds from 1 to 999999999 (11.5 days), e.g. \"60000\"",
            _ => "one of the keys address, gateway, dhcp, dhcp-timeout-ms, peer-timeout-ms, ports",
        }
    }
}

/// The longest `peer-timeout-ms` (9 digits, as `userlib::config::ms`
/// takes): smoltcp counts a timeout in microseconds and adds it to the
/// time as an `i64`, so a larger one overflowed — from 18446744073709552
/// ms `Duration::from_millis` panicked the stack at every accept (release
/// builds check overflow), and from about 9.2e15 ms the sum went negative
/// and every connection was aborted as timed out at once.
pub const MAX_PEER_TIMEOUT_MS: u64 = 999_999_999;

fn ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for b in &mut out {
        *b = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

impl Settings {
    /// Parses `key=value;…` over the defaults. Unknown keys and bad values
    /// are errors (the build passes app.toml's text through unchecked).
    pub fn parse(text: &str) -> Result<Settings, BadSetting<'_>> {
        let mut s = Settings::default();
        for pair in text.split(';').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (key.trim(), value.trim());
            let bad = BadSetting { key, value };
            match key {
                "address" => {
                    let (a, p) = value.split_once('/').ok_or(bad)?;
                    let prefix: u8 = p.parse().map_err(|_| bad)?;
                    if prefix > 32 {
                        return Err(bad);
                    }
                    s.address = (ipv4(a).ok_or(bad)?, prefix);
                }
                "gateway" => s.gateway = Some(ipv4(value).ok_or(bad)?),
                "dhcp" => {
                    s.dhcp = match value {
                        "on" => true,
                        "off" => false,
                        _ => return Err(bad),
                    }
                }
                "dhcp-timeout-ms" => s.dhcp_timeout_ms = value.parse().map_err(|_| bad)?,
                "peer-timeout-ms" => match value.parse() {
                    Ok(ms)
                        if (1..=MAX_PEER_TIMEOUT_MS).contains(&ms) && !value.starts_with('+') =>
                    {
                        s.peer_timeout_ms = ms
                    }
                    _ => return Err(bad),
                },
                "ports" => {}
                _ => return Err(bad),
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::{BadSetting, Settings};

    /// A refusal says what the key takes (a user's "10.0.2.300/24" was
    /// only "not understood").
    #[test]
    fn a_refused_setting_says_what_its_key_takes() {
        for (text, takes) in [
            ("address=10.0.2.300/24", "an IPv4 address and prefix length"),
            ("gateway=banana", "an IPv4 address"),
            ("dhcp=maybe", "\"on\" or \"off\""),
            ("peer-timeout-ms=0", "from 1 to 999999999"),
            ("dchp=off", "one of the keys address"),
        ] {
            let e = Settings::parse(text).unwrap_err();
            assert!(e.expected().contains(takes), "{text}: {}", e.expected());
        }
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Settings::parse("").unwrap(), Settings::default());
        let s = Settings::parse("address=192.168.7.2/16; gateway=192.168.0.1;dhcp=off").unwrap();
        assert_eq!(s.address, ([192, 168, 7, 2], 16));
        assert_eq!(s.gateway, Some([192, 168, 0, 1]));
        assert!(!s.dhcp);
        let s =
            Settings::parse("dhcp=off;dhcp=on;dhcp-timeout-ms=1500;address=10.1.2.3/32").unwrap();
        assert!(s.dhcp);
        assert_eq!(s.dhcp_timeout_ms, 1500);
        assert_eq!(s.peer_timeout_ms, 60_000);
        assert_eq!(s.keep_alive_ms(), 15_000);
        assert_eq!(
            Settings::parse("peer-timeout-ms=2500")
                .unwrap()
                .peer_timeout_ms,
            2500
        );
        assert_eq!(s.address, ([10, 1, 2, 3], 32), "a /32 is an address too");
    }

    /// The longest peer timeout the stack takes is one smoltcp can count
    /// with: a connection a century into the run, its peer last heard now,
    /// is not timed out, and its keep-alive is a quarter of it.
    #[test]
    fn the_longest_peer_timeout_is_one_smoltcp_can_add() {
        use smoltcp::time::{Duration, Instant};
        let s = Settings::parse("peer-timeout-ms=999999999").unwrap();
        assert_eq!(s.peer_timeout_ms, super::MAX_PEER_TIMEOUT_MS);
        let now = Instant::from_secs(100i64 * 365 * 24 * 3600);
        let timeout = Duration::from_millis(s.peer_timeout_ms);
        assert!(now + timeout > now);
        assert!(now + Duration::from_millis(s.keep_alive_ms()) > now);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("address=10.0.2.300/24", "address"),
            ("address=10.0.2.3", "address"),
            ("address=10.0.2.3/33", "address"),
            ("gateway=1.2.3", "gateway"),
            ("dhcp=maybe", "dhcp"),
            ("peer-timeout-ms=0", "peer-timeout-ms"),
            ("peer-timeout-ms=soon", "peer-timeout-ms"),
            ("peer-timeout-ms=1000000000", "peer-timeout-ms"),
            ("peer-timeout-ms=10000000000000000", "peer-timeout-ms"),
            ("peer-timeout-ms=18446744073709551615", "peer-timeout-ms"),
            ("peer-timeout-ms=+5000", "peer-timeout-ms"),
            ("colour=blue", "colour"),
        ] {
            assert!(
                matches!(Settings::parse(text), Err(BadSetting { key: k, .. }) if k == key),
                "{text}"
            );
        }
    }
}
