//! Property tests of the net task's settings from app.toml (its `config`
//! string): any text is parsed or refused with the entry to blame, never a
//! panic, and a port grant allows exactly what it names.

use proptest::prelude::*;
use task_net::ports::{self, Grant, Proto};
use task_net::settings::Settings;

const TASKS: [&str; 3] = ["echo", "http", "shell"];

fn index_of(name: &str) -> Option<u16> {
    TASKS.iter().position(|t| *t == name).map(|i| i as u16)
}

/// Up to five of `pieces`, joined by `separator`.
fn joined(pieces: Vec<&'static str>, separator: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(pieces), 0..6).prop_map(move |p| p.join(separator))
}

/// Settings text from pieces that are nearly right.
fn near_settings() -> impl Strategy<Value = String> {
    joined(
        vec![
            "address=10.0.2.15/24",
            "address=10.0.2.15/33",
            "address=1.2.3/8",
            "address=",
            "address=256.0.0.1/8",
            "gateway=10.0.2.2",
            "gateway=x",
            "dhcp=on",
            "dhcp=maybe",
            "dhcp-timeout-ms=0",
            "dhcp-timeout-ms=18446744073709551616",
            "peer-timeout-ms=1",
            "peer-timeout-ms=-5",
            "=",
            ";",
            "address",
            "a=b=c",
            "\u{e9}=1",
            " ",
        ],
        ";",
    )
}

/// Port grant text from pieces that are nearly right.
fn near_ports() -> impl Strategy<Value = String> {
    joined(
        vec![
            "echo:tcp/7",
            "echo:udp/7",
            "http:tcp/80",
            "shell:tcp/80",
            "echo:tcp/0",
            "echo:tcp/65536",
            "echo:sctp/7",
            "nobody:tcp/1",
            "echo:tcp",
            "echo",
            ":tcp/1",
            "echo:/7",
            "echo:tcp/-1",
            "echo:tcp/ 7",
            ",",
            " ",
        ],
        " ",
    )
}

fn check_ports(text: &str) {
    let mut grants = Vec::new();
    let result = ports::parse(text, index_of, |g| grants.push(g));
    if let Err(e) = result {
        // The message names an entry of the text.
        let said = e.to_string();
        assert!(!said.is_empty());
        return;
    }
    // A port has one owner, and each grant allows its owner only.
    for (i, g) in grants.iter().enumerate() {
        assert!(g.port != 0);
        assert!(!grants[..i]
            .iter()
            .any(|h| h.proto == g.proto && h.port == g.port));
        assert!(ports::allows(&grants, g.task, g.proto, g.port));
        for other in 0..TASKS.len() as u16 {
            if other != g.task {
                assert!(!ports::allows(&grants, other, g.proto, g.port));
            }
        }
    }
    let named = |task: u16, proto: Proto, port: u16| grants.contains(&Grant { task, proto, port });
    for port in [1u16, 7, 80, 443, 65535] {
        for proto in [Proto::Tcp, Proto::Udp] {
            for task in 0..TASKS.len() as u16 {
                assert_eq!(
                    ports::allows(&grants, task, proto, port),
                    named(task, proto, port)
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_settings_text_is_parsed_or_refused(text in "\\PC{0,80}") {
        let _ = Settings::parse(&text);
    }

    #[test]
    fn nearly_right_settings_are_parsed_or_refused(text in near_settings()) {
        if let Ok(s) = Settings::parse(&text) {
            prop_assert!(s.address.1 <= 32);
            prop_assert!(s.keep_alive_ms() >= 1);
        }
    }

    #[test]
    fn any_ports_text_grants_exactly_what_it_names(text in "\\PC{0,60}") {
        check_ports(&text);
    }

    #[test]
    fn nearly_right_ports_grant_exactly_what_they_name(text in near_ports()) {
        check_ports(&text);
    }
}
