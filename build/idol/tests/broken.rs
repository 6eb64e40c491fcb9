//! Every kind of broken IDL file fails with a message that names the file,
//! the part (op or error enum) and what is wrong.
//!
//! Each file in `tests/broken/` starts with `// expect: <text>`: the error
//! message must contain that text.

use std::path::Path;

fn expectation(text: &str) -> &str {
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("// expect: "))
        .expect("a broken file starts with `// expect: <text>`")
}

#[test]
fn every_broken_file_is_refused_with_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the broken corpus went missing");
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expected = expectation(&text);
        match idol::parse_file(path) {
            Ok(_) => failures.push(format!("{}: accepted", path.display())),
            Err(e) => {
                let message = e.to_string();
                println!("{message}");
                if !message.starts_with(&path.display().to_string()) {
                    failures.push(format!("does not name the file: {message}"));
                }
                if !message.contains(expected) {
                    failures.push(format!("expected `{expected}` in: {message}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_syntax_error_inside_an_op_has_its_absolute_position() {
    let text = "Interface(\n    name: \"X\",\n    ops: {\n        \"a\": (),\n        \"b\": (\n            args: {\"x\": 5},\n        ),\n    },\n)\n";
    let e = idol::parse_str("x.idol", text).unwrap_err();
    assert_eq!(e.context.as_deref(), Some("op `b`"));
    assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let e = idol::parse_file("/nonexistent/x.idol").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.idol: cannot read"),
        "{e}"
    );
}

#[test]
fn generating_into_a_missing_directory_names_it() {
    let ping = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl/ping.idol");
    let e = idol::generate_client(&ping, "/nonexistent/out").unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot write /nonexistent/out/ping_client.rs"),
        "{e}"
    );
}

#[test]
fn ping_idl_is_valid_and_numbered_in_file_order() {
    let ping = idol::parse_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl/ping.idol"))
        .unwrap();
    let names: Vec<(&str, u16)> = ping
        .ops
        .iter()
        .map(|o| (o.name.as_str(), o.number))
        .collect();
    assert_eq!(
        names,
        [
            ("add", 1),
            ("sum", 2),
            ("fill", 3),
            ("status", 4),
            ("divide", 5),
            ("crash", 6),
            ("checksum", 7)
        ]
    );
    assert!(ping.ops[0].idempotent);
    assert_eq!(
        ping.errors[0].variants,
        [("DivideByZero".to_string(), 1), ("Overflow".to_string(), 2)]
    );
}

#[test]
fn generated_code_is_deterministic() {
    let ping = idol::parse_file(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../idl/ping.idol"))
        .unwrap();
    for generate in [idol::client_code, idol::server_code] {
        assert_eq!(generate(&ping, "ping.idol"), generate(&ping, "ping.idol"));
    }
}

#[test]
fn the_last_op_may_be_number_65535_and_no_later() {
    let one = "Interface(name: \"Top\", first_op: 65535, ops: { \"a\": () })";
    let iface = idol::parse_str("top.idol", one).expect("op 65535 is a 16-bit number");
    assert_eq!(iface.ops[0].number, u16::MAX);
    let two = "Interface(name: \"Top\", first_op: 65535, ops: { \"a\": (), \"b\": () })";
    let e = idol::parse_str("top.idol", two).unwrap_err();
    assert!(
        e.to_string().contains("operation numbers are 16 bits"),
        "{e}"
    );
}
