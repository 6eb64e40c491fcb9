//! Per-task settings from app.toml, passed by `cargo xtask build` to the
//! build of one task as environment variables and read by the task crate
//! with `option_env!` at compile time (cargo rebuilds the crate when they
//! change).
//!
//! | variable            | app.toml key             | meaning                                   |
//! |---------------------|--------------------------|-------------------------------------------|
//! | `VIREO_DEADLINE_MS` | `tasks.<name>.deadline-ms` | drivers: how long a device may take over a request |
//! | `VIREO_CONFIG`      | `tasks.<name>.config`    | the task's own settings, `key=value` pairs joined by `;` ([`setting`]) |
//!
//! `cargo xtask build` refuses an app file whose values these readers
//! would not take: `deadline-ms` (see `build/xtask/src/config/check.rs`),
//! and each task crate's `config` keys and values, listed per crate in
//! `build/xtask/src/config/task_config.rs` (a crate not listed there may
//! not be given a `config`; `task-net` checks its own in its build
//! script). A crate that reads a new key must add it to that table. Only a
//! task built outside xtask can see a value that does not parse here, and
//! it falls back to the crate's default.

/// A duration in ms (a driver's `VIREO_DEADLINE_MS`, or a `config` value
/// such as the supervisor's `liveness-ms`), or `default` if the value is
/// missing or not 1 to 9 decimal digits, or is 0 (which xtask refuses):
/// use as `userlib::config::ms(option_env!("VIREO_DEADLINE_MS"), DEFAULT)`
/// or `userlib::config::ms(setting(option_env!("VIREO_CONFIG"), "key"),
/// DEFAULT)`.
pub const fn ms(value: Option<&str>, default: u64) -> u64 {
    let Some(text) = value else {
        return default;
    };
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 9 {
        return default;
    }
    let mut n = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        let d = bytes[i];
        if !d.is_ascii_digit() {
            return default;
        }
        n = n * 10 + (d - b'0') as u64;
        i += 1;
    }
    if n == 0 {
        default
    } else {
        n
    }
}

/// The value of `key` in a task's `VIREO_CONFIG` (`key=value` pairs
/// joined by `;`, string values possibly quoted): use as
/// `userlib::config::setting(option_env!("VIREO_CONFIG"), "key")`.
pub fn setting(config: Option<&'static str>, key: &str) -> Option<&'static str> {
    config?
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::{ms, setting};

    #[test]
    fn settings_are_found_by_key() {
        let c = Some("a=1;liveness-ms=5;name=\"x\"");
        assert_eq!(setting(c, "liveness-ms"), Some("5"));
        assert_eq!(setting(c, "name"), Some("x"));
        assert_eq!(setting(c, "b"), None);
        assert_eq!(setting(None, "a"), None);
        assert_eq!(ms(setting(c, "liveness-ms"), 100), 5);
    }

    #[test]
    fn parses_what_xtask_writes_and_falls_back_otherwise() {
        assert_eq!(ms(Some("250"), 1000), 250);
        assert_eq!(ms(None, 1000), 1000);
        for bad in ["", "0", "12a", "-5", "1234567890", " 5"] {
            assert_eq!(ms(Some(bad), 1000), 1000, "{bad:?}");
        }
    }
}
