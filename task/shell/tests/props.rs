//! Property tests: whatever bytes arrive on the UART, the line editor
//! never overflows and only ever hands over a line of at most its size,
//! in UTF-8; whatever line is typed, the command parser answers with a
//! command or an error, never a panic.

use proptest::prelude::*;
use task_shell::command;
use task_shell::line::{Key, LineEditor};

const N: usize = 64;

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
}
