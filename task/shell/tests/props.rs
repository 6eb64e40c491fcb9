//! Property tests: whatever bytes arrive on the UART, the line editor
//! never overflows and only ever hands over a line of at most its size,
//! in UTF-8; whatever line is typed, the command parser answers with a
//! command or an error, never a panic; whatever text another task wrote,
//! no control character but newline and no bidi format character
//! reaches the terminal; whatever block size and capacity a driver
//! reports, the block asked for holds the sector, fits the buffer and
//! lies on the disk, or the shell refuses without a panic.

use proptest::prelude::*;
use task_shell::block::{Span, SpanError, BLOCK_MAX, SECTOR};
use task_shell::command;
use task_shell::hexdump::{self, Row, WIDTH};
use task_shell::line::{Key, LineEditor};
use task_shell::shown::{Shown, ShownLine};
use task_shell::size::Size;

const N: usize = 64;

/// The bidirectional format characters (UAX #9, table 1), listed here
/// apart from the shell's own test of them.
const BIDI_FORMATS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_make_only_whole_lines(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut editor = LineEditor::<N>::new();
        for b in bytes {
            let key = editor.feed(b);
            let line = editor.line();
            prop_assert!(line.len() <= N);
            if key == Key::Submit {
                // What would run: a command or an error.
                let _ = command::parse(line);
                prop_assert!(!line.contains('\r') && !line.contains('\n'));
                editor.clear();
            } else if matches!(key, Key::Cancel | Key::Overlong | Key::NotUtf8) {
                editor.clear();
            }
        }
    }

    #[test]
    fn any_line_parses_or_is_refused(line in "[ -~\u{e9}\u{1f600}\t]{0,80}") {
        let _ = command::parse(&line);
    }

    #[test]
    fn command_words_with_any_arguments(
        word in prop::sample::select(vec![
            "help", "tasks", "restarts", "devices", "blk", "rng", "unbind", "bind", "net",
            "restart", "fault", "ringbuf",
        ]),
        args in prop::collection::vec(
            prop::sample::select(vec![
                "0", "1", "-1", "99999999999999999999", "0x10", "info", "read", "write", "",
                "18446744073709551615", "18446744073709551616", "\u{e9}", "blk0",
            ]),
            0..5,
        ),
    ) {
        let line = format!("{word} {}", args.join(" "));
        let _ = command::parse(&line);
    }

    #[test]
    fn any_size_reads_as_at_most_its_bytes(bytes in any::<u64>()) {
        let text = Size(bytes).to_string();
        let (number, unit) = text.split_once(' ').expect("a number and a unit");
        let scale: u64 = match unit {
            "bytes" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "PiB" => 1 << 50,
            "EiB" => 1 << 60,
            _ => panic!("unit {unit:?} in {text:?}"),
        };
        let value: f64 = number.parse().expect("a number");
        // Truncated, never rounded up: never more than the bytes there are
        // (within f64's precision), and within a hundredth of the unit.
        let shown = value * scale as f64;
        prop_assert!(shown <= bytes as f64 * (1.0 + 1e-12), "{text} for {bytes}");
        prop_assert!(bytes as f64 - shown < scale as f64 / 100.0 + 1.0, "{text} for {bytes}");
    }

    #[test]
    fn a_hexdump_shows_every_byte_or_says_it_repeats(data in prop::collection::vec(prop_oneof![19 => Just(0u8), 1 => any::<u8>()], 0..300)) {
        let mut rebuilt = Vec::new();
        let mut previous: Option<&[u8]> = None;
        let mut rows = hexdump::rows(&data).peekable();
        while let Some(row) = rows.next() {
            match row {
                Row::Bytes { offset, bytes } => {
                    // A repeated run ends where the next row shown begins.
                    while rebuilt.len() < offset {
                        let p = previous.expect("a repeat follows a row");
                        rebuilt.extend_from_slice(p);
                    }
                    prop_assert_eq!(offset, rebuilt.len());
                    prop_assert!(bytes.len() <= WIDTH);
                    rebuilt.extend_from_slice(bytes);
                    previous = Some(bytes);
                }
                Row::Repeat => prop_assert!(rows.peek().is_some(), "the last row is always shown"),
            }
        }
        prop_assert_eq!(&rebuilt, &data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever text a task wrote, the terminal gets no control character
    /// but newline (none at all from a field of one line), no bidi format
    /// character, and one character for each of the text's.
    #[test]
    fn text_from_tasks_reaches_the_terminal_without_controls(
        chars in prop::collection::vec(
            prop_oneof![
                any::<char>(),
                (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
                (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
                Just('\n'),
                (0x20u32..0x7f).prop_map(|c| char::from_u32(c).unwrap()),
                prop::sample::select(&BIDI_FORMATS[..]),
            ],
            0..64,
        )
    ) {
        let text: String = chars.into_iter().collect();
        let shown = Shown(&text).to_string();
        prop_assert!(shown.chars().all(|c| c == '\n' || !c.is_control()));
        prop_assert!(!shown.chars().any(|c| BIDI_FORMATS.contains(&c)), "{:?}", shown);
        prop_assert_eq!(shown.chars().count(), text.chars().count());
        // No UTF-8-encoded C1 control either (0xC2 then 0x80..=0x9F).
        prop_assert!(!shown.as_bytes().windows(2).any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1])));
        // A field of one line: not even a newline.
        let line = ShownLine(&text).to_string();
        prop_assert!(line.chars().all(|c| !c.is_control()));
        prop_assert!(!line.chars().any(|c| BIDI_FORMATS.contains(&c)), "{:?}", line);
        prop_assert_eq!(line.chars().count(), text.chars().count());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    /// Whatever a driver's `info` says, the shell asks for a whole block
    /// within its buffer that holds the sector and, for a sector on the
    /// disk, lies on the disk; a write changes the sector's 512 bytes and
    /// no other; or the block size is refused as too large or as no whole
    /// number of sectors, or the block as cut short by the disk's end.
    #[test]
    fn any_geometry_gives_a_block_holding_the_sector_or_a_refusal(
        sector in prop_oneof![0u64..300, any::<u64>(), (0u64..16).prop_map(|d| u64::MAX - d)],
        block_size in prop_oneof![
            (0u32..14).prop_map(|k| 1 << k),
            (0u32..32).prop_map(|k| 1 << k),
            0u32..10_000,
            any::<u32>(),
        ],
        capacity in prop_oneof![0u64..300, any::<u64>(), Just(u64::MAX)],
    ) {
        match Span::of(sector, block_size, capacity) {
            Ok(span) => {
                let sectors = (span.bytes() / SECTOR) as u64;
                prop_assert!(span.bytes() <= BLOCK_MAX && span.bytes() >= SECTOR);
                prop_assert_eq!(span.bytes() % SECTOR, 0);
                prop_assert_eq!(span.bytes(), (block_size as usize).max(SECTOR));
                prop_assert!(span.start() <= sector && sector - span.start() < sectors);
                prop_assert_eq!(span.start() % sectors, 0);
                if sector < capacity {
                    prop_assert!(span.start().checked_add(sectors).is_some_and(|end| end <= capacity));
                }
                let mut buf = [0x5a; BLOCK_MAX];
                let before = buf;
                prop_assert_eq!(span.put(&mut buf, b"x"), 1);
                let at = (sector - span.start()) as usize * SECTOR;
                prop_assert_eq!(span.sector(&buf), &buf[at..at + SECTOR]);
                prop_assert_eq!(&buf[at..at + 2], b"x\0");
                prop_assert_eq!(&buf[..at], &before[..at]);
                prop_assert_eq!(&buf[at + SECTOR..], &before[at + SECTOR..]);
                prop_assert_eq!(span.block(&mut buf).len(), span.bytes());
            }
            Err(SpanError::TooLarge { block_size: b }) => {
                prop_assert_eq!(b, block_size);
                prop_assert!(block_size as usize > BLOCK_MAX);
            }
            Err(SpanError::NotSectors { block_size: b }) => {
                prop_assert_eq!(b, block_size);
                prop_assert!(block_size as usize > SECTOR && !(block_size as usize).is_multiple_of(SECTOR));
            }
            Err(SpanError::CutShort { capacity: c, block_size: b }) => {
                prop_assert_eq!((c, b), (capacity, block_size));
                prop_assert!(sector < capacity && block_size as usize > SECTOR);
            }
        }
    }
}
