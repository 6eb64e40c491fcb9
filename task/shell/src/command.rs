//! What a command line asks for: parsing only, no effects.
//!
//! Words are separated by spaces; numbers are decimal or `0x` hex. The text
//! of `blk <n> write <sector> <text>` is the rest of the line, inner spaces
//! included (the line's trailing spaces are not).

/// Most bytes `rng <len>` asks for (the shell's buffer).
pub const RNG_MAX: usize = 512;

/// A parsed command.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// An empty line: just prompt again.
    Empty,
    /// `help`
    Help,
    /// `help <command>`: that command's line of the list.
    HelpOn {
        /// The word asked about, as typed.
        command: &'a str,
    },
    /// `tasks`
    Tasks,
    /// `restarts`: the supervisor's log of recent restarts.
    Restarts,
    /// `devices`
    Devices,
    /// `blk <n> info`
    BlkInfo {
        /// Disk number: the task `blk<n>`.
        disk: u32,
    },
    /// `blk <n> read <sector>`
    BlkRead {
        /// Disk number.
        disk: u32,
        /// Sector to read.
        sector: u64,
    },
    /// `blk <n> write <sector> <text>`
    BlkWrite {
        /// Disk number.
        disk: u32,
        /// Sector to write.
        sector: u64,
        /// What to write at its start (the rest of the sector is zeroes).
        text: &'a str,
    },
    /// `rng <len>`
    Rng {
        /// Bytes to show, 1 to [`RNG_MAX`].
        len: usize,
    },
    /// `unbind <slot>`
    Unbind {
        /// The virtio-mmio slot.
        slot: u32,
    },
    /// `bind <slot>`
    Bind {
        /// The virtio-mmio slot.
        slot: u32,
    },
    /// `net`: the network stack and every NIC.
    Net,
    /// `fault <task>`
    Fault {
        /// The task's name.
        task: &'a str,
    },
    /// `restart <task>`
    Restart {
        /// The task's name.
        task: &'a str,
    },
    /// `ringbuf <task>`
    Ringbuf {
        /// The task's name.
        task: &'a str,
    },
}

/// Why a line is not a command.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// The first word is no command.
    Unknown(&'a str),
    /// A known command with the wrong words: its usage line.
    Usage(&'static str),
    /// A word where a number goes that is none, or one out of range: the
    /// word and the command's usage line.
    BadNumber(&'a str, &'static str),
}

/// Every command: its usage and what it does, for `help` and for usage
/// errors.
pub const HELP: [(&str, &str); 13] = [
    (
        "help [<command>]",
        "this list, or one command's line of it; `?` is the same",
    ),
    (
        "tasks",
        "every task: state, priority, generation, faults, throttles",
    ),
    (
        "restarts",
        "the last 16 restarts: when, task, generation, why",
    ),
    (
        "devices",
        "each virtio slot with a device: id, class, transport, state, driver",
    ),
    (
        "blk <n> info|read <sector>|write <sector> <text>",
        "disk <n> (task blk<n>); <text> starts the sector, zeros after (a line is at most 120 bytes)",
    ),
    ("rng <len>", "<len> random bytes (at most 512)"),
    ("unbind <slot>", "take the driver off a virtio slot"),
    ("bind <slot>", "make a slot available to drivers again"),
    ("net", "address, MAC, link and counters of every NIC"),
    (
        "restart <task>",
        "restart a task (a driver's device is reset first)",
    ),
    ("fault <task>", "fault a task (test images only)"),
    ("ringbuf <task>", "a task's trace rings, oldest entry first"),
    ("Ctrl-A X", "quit QEMU"),
];

const USAGE_HELP: &str = "help [<command>]";
const USAGE_BLK: &str = "blk <n> info | blk <n> read <sector> | blk <n> write <sector> <text>";
const USAGE_RNG: &str = "rng <len>   (1 to 512)";
const USAGE_UNBIND: &str = "unbind <slot>";
const USAGE_BIND: &str = "bind <slot>";
const USAGE_FAULT: &str = "fault <task>";
const USAGE_RESTART: &str = "restart <task>";
const USAGE_RINGBUF: &str = "ringbuf <task>";

/// Splits off the first word: `(word, rest)`, both trimmed of spaces.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(' ') {
        Some((w, rest)) => (w, rest.trim_start()),
        None => (s, ""),
    }
}

/// A decimal or `0x` hex number: only ASCII decimal digits, or `0x` (or
/// `0X`) and only hex digits; no sign, no empty digits, nothing else.
/// (`str::parse` and `from_str_radix` take a leading `+`, so `+5` and
/// `0x+1` were numbers while `+0x10` was not.)
pub fn number(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// `word` as a number that fits a `T`; a missing word is a usage error,
/// a word that is no such number says which.
fn numeric<'a, T: TryFrom<u64>>(word: &'a str, usage: &'static str) -> Result<T, ParseError<'a>> {
    if word.is_empty() {
        return Err(ParseError::Usage(usage));
    }
    number(word)
        .and_then(|n| T::try_from(n).ok())
        .ok_or(ParseError::BadNumber(word, usage))
}

/// The single number argument of `rest`, as a `T`.
fn one<'a, T: TryFrom<u64>>(rest: &'a str, usage: &'static str) -> Result<T, ParseError<'a>> {
    let (n, extra) = word(rest);
    if !extra.is_empty() {
        return Err(ParseError::Usage(usage));
    }
    numeric(n, usage)
}

/// Parses one line.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let (cmd, rest) = word(line.trim());
    let no_args = |c, usage| {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Usage(usage))
        }
    };
    match cmd {
        "" => Ok(Command::Empty),
        "help" | "?" => match word(rest) {
            ("", _) => Ok(Command::Help),
            (command, "") => Ok(Command::HelpOn { command }),
            _ => Err(ParseError::Usage(USAGE_HELP)),
        },
        "tasks" => no_args(Command::Tasks, "tasks   (no arguments)"),
        "restarts" => no_args(Command::Restarts, "restarts   (no arguments)"),
        "devices" => no_args(Command::Devices, "devices   (no arguments)"),
        "net" => no_args(Command::Net, "net   (no arguments)"),
        "blk" => blk(rest),
        "rng" => match one::<usize>(rest, USAGE_RNG)? {
            len @ 1..=RNG_MAX => Ok(Command::Rng { len }),
            _ => Err(ParseError::BadNumber(word(rest).0, USAGE_RNG)),
        },
        "unbind" => Ok(Command::Unbind {
            slot: one(rest, USAGE_UNBIND)?,
        }),
        "bind" => Ok(Command::Bind {
            slot: one(rest, USAGE_BIND)?,
        }),
        "fault" => match word(rest) {
            (task, "") if !task.is_empty() => Ok(Command::Fault { task }),
            _ => Err(ParseError::Usage(USAGE_FAULT)),
        },
        "restart" => match word(rest) {
            (task, "") if !task.is_empty() => Ok(Command::Restart { task }),
            _ => Err(ParseError::Usage(USAGE_RESTART)),
        },
        "ringbuf" => match word(rest) {
            (task, "") if !task.is_empty() => Ok(Command::Ringbuf { task }),
            _ => Err(ParseError::Usage(USAGE_RINGBUF)),
        },
        other => Err(ParseError::Unknown(other)),
    }
}

/// The line of [`HELP`] for the command `command` (`?` is `help`), if it
/// is one.
pub fn help_on(command: &str) -> Option<(&'static str, &'static str)> {
    let command = if command == "?" { "help" } else { command };
    HELP.iter()
        .copied()
        .find(|(usage, _)| usage.split(' ').next() == Some(command))
}

fn blk(rest: &str) -> Result<Command<'_>, ParseError<'_>> {
    let usage = ParseError::Usage(USAGE_BLK);
    let (disk, rest) = word(rest);
    let disk = numeric(disk, USAGE_BLK)?;
    let (op, rest) = word(rest);
    match op {
        "info" if rest.is_empty() => Ok(Command::BlkInfo { disk }),
        "read" => Ok(Command::BlkRead {
            disk,
            sector: one(rest, USAGE_BLK)?,
        }),
        "write" => {
            let (sector, text) = word(rest);
            let sector = numeric(sector, USAGE_BLK)?;
            if text.is_empty() {
                return Err(usage);
            }
            Ok(Command::BlkWrite { disk, sector, text })
        }
        _ => Err(usage),
    }
}

#[cfg(test)]
mod tests {
    use super::{help_on, number, parse, Command, ParseError, HELP, USAGE_BLK, USAGE_RNG};

    #[test]
    fn simple_commands() {
        assert_eq!(parse(""), Ok(Command::Empty));
        assert_eq!(parse("   "), Ok(Command::Empty));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse(" tasks "), Ok(Command::Tasks));
        assert_eq!(parse("restarts"), Ok(Command::Restarts));
        assert_eq!(
            parse("restarts blk0"),
            Err(ParseError::Usage("restarts   (no arguments)"))
        );
        assert_eq!(parse("net"), Ok(Command::Net));
        assert_eq!(
            parse("net 0"),
            Err(ParseError::Usage("net   (no arguments)"))
        );
        assert_eq!(parse("devices"), Ok(Command::Devices));
        assert_eq!(parse("unbind 3"), Ok(Command::Unbind { slot: 3 }));
        assert_eq!(parse("bind 0x7"), Ok(Command::Bind { slot: 7 }));
        assert_eq!(parse("fault blk0"), Ok(Command::Fault { task: "blk0" }));
        assert_eq!(parse("restart rng0"), Ok(Command::Restart { task: "rng0" }));
        assert_eq!(parse("ringbuf blk0"), Ok(Command::Ringbuf { task: "blk0" }));
        assert_eq!(parse("rng 16"), Ok(Command::Rng { len: 16 }));
    }

    #[test]
    fn blk_commands() {
        assert_eq!(parse("blk 0 info"), Ok(Command::BlkInfo { disk: 0 }));
        assert_eq!(
            parse("blk 1 read 7"),
            Ok(Command::BlkRead { disk: 1, sector: 7 })
        );
        assert_eq!(
            parse("blk 0 write 7 hello"),
            Ok(Command::BlkWrite {
                disk: 0,
                sector: 7,
                text: "hello"
            })
        );
        assert_eq!(
            parse("blk  0  write  0x10  hello  world "),
            Ok(Command::BlkWrite {
                disk: 0,
                sector: 16,
                text: "hello  world"
            })
        );
        for bad in [
            "blk",
            "blk 0",
            "blk 0 info 3",
            "blk 0 read",
            "blk 0 write 7",
            "blk 0 erase 1",
        ] {
            assert_eq!(parse(bad), Err(ParseError::Usage(USAGE_BLK)), "{bad}");
        }
        // A word where a number goes is named.
        for (bad, word) in [
            ("blk x info", "x"),
            ("blk 0 read x", "x"),
            ("blk 0 read -1", "-1"),
            ("blk 0 read 99999999999999999999", "99999999999999999999"),
            ("blk 0 write 0xg hi", "0xg"),
            ("blk 4294967296 info", "4294967296"),
        ] {
            assert_eq!(
                parse(bad),
                Err(ParseError::BadNumber(word, USAGE_BLK)),
                "{bad}"
            );
        }
    }

    #[test]
    fn mistakes_name_the_usage_or_the_word() {
        assert_eq!(
            parse("frobnicate now"),
            Err(ParseError::Unknown("frobnicate"))
        );
        assert_eq!(parse("rng"), Err(ParseError::Usage(USAGE_RNG)));
        assert_eq!(parse("rng 0"), Err(ParseError::BadNumber("0", USAGE_RNG)));
        assert_eq!(
            parse("rng 513"),
            Err(ParseError::BadNumber("513", USAGE_RNG))
        );
        assert_eq!(
            parse("rng 99999999999999999999"),
            Err(ParseError::BadNumber("99999999999999999999", USAGE_RNG))
        );
        assert!(matches!(parse("unbind"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("unbind 1 2"), Err(ParseError::Usage(_))));
        assert!(matches!(
            parse("bind 0x1_0000_0000"),
            Err(ParseError::BadNumber("0x1_0000_0000", _))
        ));
        assert!(matches!(parse("fault"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("fault a b"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("restart"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("ringbuf"), Err(ParseError::Usage(_))));
        assert!(matches!(parse("ringbuf a b"), Err(ParseError::Usage(_))));
        // A command without arguments names itself in its usage.
        for cmd in ["tasks", "restarts", "devices", "net"] {
            let line = format!("{cmd} now");
            let usage = format!("{cmd}   (no arguments)");
            assert!(
                matches!(parse(&line), Err(ParseError::Usage(u)) if u == usage),
                "{line}"
            );
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number("0"), Some(0));
        assert_eq!(number("0x1f"), Some(31));
        assert_eq!(number("0X1F"), Some(31));
        assert_eq!(number("-1"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("0x"), None);
    }

    #[test]
    fn a_number_is_digits_only() {
        // `blk 0 read +5` read sector 5 and `0x+1` sector 1 (the std
        // parsers take a leading `+`), while `rng +0x10` was refused.
        for bad in [
            "+5", "0x+1", "-1", "0x", "0X", "", "+0x10", "0x-1", "-0x1", "٣", "0x٣", "1٣", "1_0",
            " 1", "1 ", "0x 1", "x1", "0b1", "1e3",
        ] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        assert_eq!(number("0x10"), Some(16));
        assert_eq!(number("0XfF"), Some(255));
        assert_eq!(number("16"), Some(16));
        assert_eq!(number("007"), Some(7));
        assert_eq!(number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(number("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(number("18446744073709551616"), None);
        assert_eq!(number("0x10000000000000000"), None);
        // Every command that takes a number refuses them alike.
        for word in ["+5", "0x+1", "+0x10", "٣"] {
            for (line, usage) in [
                (format!("blk 0 read {word}"), USAGE_BLK),
                (format!("blk 0 write {word} hi"), USAGE_BLK),
                (format!("blk {word} info"), USAGE_BLK),
                (format!("rng {word}"), USAGE_RNG),
                (format!("unbind {word}"), "unbind <slot>"),
                (format!("bind {word}"), "bind <slot>"),
            ] {
                assert_eq!(
                    parse(&line),
                    Err(ParseError::BadNumber(word, usage)),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn help_on_a_command_is_its_line() {
        // `help blk` answered "usage: help   (no arguments)", nothing
        // about blk. (`help me` once ran `help`: a word is now the
        // command asked about, and more words are refused.)
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("?"), Ok(Command::Help));
        assert_eq!(parse(" help  blk "), Ok(Command::HelpOn { command: "blk" }));
        assert_eq!(parse("? rng"), Ok(Command::HelpOn { command: "rng" }));
        for bad in ["help blk read", "? a b"] {
            assert_eq!(
                parse(bad),
                Err(ParseError::Usage("help [<command>]")),
                "{bad}"
            );
        }
        // Every command of the list has its line; `?` is `help`.
        for (usage, what) in HELP {
            let command = usage.split(' ').next().unwrap();
            assert_eq!(help_on(command), Some((usage, what)), "{command}");
        }
        assert_eq!(help_on("?"), Some(HELP[0]));
        for none in ["me", "", "BLK", "bl", "blk0", "<n>"] {
            assert_eq!(help_on(none), None, "{none:?}");
        }
    }

    #[test]
    fn help_lists_every_word_the_shell_takes() {
        // `?` ran `help` but the list did not name it. Each word that is
        // a command is the first word of a line, or named in backquotes.
        let words = HELP
            .iter()
            .map(|(usage, _)| usage.split(' ').next().unwrap());
        let others = [
            "?", "h", "ls", "ps", "exit", "quit", "reboot", "status", "version",
        ];
        for word in words.chain(others) {
            if matches!(parse(word), Err(ParseError::Unknown(_))) {
                continue;
            }
            let quoted = format!("`{word}`");
            assert!(
                HELP.iter()
                    .any(|(usage, what)| usage.split(' ').next() == Some(word)
                        || what.contains(&quoted)),
                "`{word}` is a command that `help` does not list"
            );
        }
    }

    #[test]
    fn help_says_devices_lists_only_slots_with_a_device() {
        // It said "every virtio slot", and listed only those with a
        // device: eight rows of nothing would bury the few there are.
        let (_, what) = help_on("devices").unwrap();
        assert!(what.starts_with("each virtio slot with a device"), "{what}");
    }
}
