//! Property tests: whatever bytes a peer sends, the request reader answers
//! without panicking and only with what the head holds; whatever a task is
//! called, the page and the JSON carry its name as text, never as markup
//! or syntax.

use proptest::prelude::*;
use task_http::out::Out;
use task_http::request::{self, Reject, MAX_HEAD};
use task_http::status::{self, Name, Snapshot, TaskRow};

/// Codes `route` may give.
const CODES: [u16; 4] = [200, 404, 405, 501];

/// Request heads that are nearly right: a method, a target and a version
/// from small alphabets that include the awkward bytes, then headers.
fn near_requests() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "HEAD", "get", "POST", "BREW", "", "G ET"]);
    let target = prop::collection::vec(
        prop::sample::select(vec![
            "/", "a", "%", "%2F", "%61", "%zz", "?", "#", " ", "api", "status", "\u{e9}",
            "http://h", "*", "\t", "\0",
        ]),
        0..8,
    );
    let version = prop::sample::select(vec![
        "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1", "http/1.1",
    ]);
    let headers = prop::collection::vec(
        prop::sample::select(vec![
            "Host: x",
            "Host:",
            "X: y",
            ": z",
            "Host: a\r\nHost: b",
            "\t",
        ]),
        0..4,
    );
    let end = prop::sample::select(vec!["\r\n\r\n", "\n\n", "\r\n", ""]);
    (method, target, version, headers, end).prop_map(|(m, t, v, h, e)| {
        let mut s = format!("{m} {} {v}", t.concat());
        for line in h {
            s.push_str("\r\n");
            s.push_str(line);
        }
        s.push_str(e);
        s.into_bytes()
    })
}

/// What `parse` gives must come from the head: the method and target are
/// slices of it, and every verdict is one the server can answer.
fn check_parse(bytes: &[u8]) {
    match request::parse(bytes) {
        Ok(r) => {
            let head = String::from_utf8_lossy(bytes);
            assert!(!r.method.is_empty(), "an empty method accepted");
            assert!(head.contains(r.method), "{:?} is not in the head", r.method);
            assert!(head.contains(r.target), "{:?} is not in the head", r.target);
            let (code, _) = request::route(r.method, r.target);
            assert!(CODES.contains(&code), "route gave {code}");
        }
        // A full buffer with no end of head in it.
        Err(Reject::TooLarge) => {
            assert!(bytes.len() >= MAX_HEAD, "{} bytes too large", bytes.len())
        }
        Err(_) => {}
    }
}

fn name(raw: &[u8]) -> Name {
    let mut b = [0u8; 16];
    let n = raw.len().min(16);
    b[..n].copy_from_slice(&raw[..n]);
    Name::from_nul_padded(&b)
}

fn row(n: Name) -> TaskRow {
    TaskRow {
        name: n,
        state: "runnable",
        ..TaskRow::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_a_verdict(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        check_parse(&bytes);
    }

    #[test]
    fn nearly_right_heads_get_a_verdict(bytes in near_requests()) {
        check_parse(&bytes);
    }

    #[test]
    fn task_names_are_text_on_the_page_and_in_the_json(
        raw in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let weird = name(&raw);
        let plain = name(b"a");
        let markup = |n: Name| {
            let tasks = [row(n)];
            let snap = Snapshot { uptime_ms: 1, tasks: &tasks, devices: &[], restarts: &[], net: None };
            let mut page: Out<16384> = Out::new();
            status::html(&snap, &mut page).unwrap();
            let text = core::str::from_utf8(page.as_bytes()).unwrap().to_string();
            let mut json: Out<16384> = Out::new();
            status::json(&snap, &mut json).unwrap();
            (text, core::str::from_utf8(json.as_bytes()).unwrap().to_string())
        };
        let (page, json) = markup(weird);
        let (plain_page, _) = markup(plain);
        // The name adds no tags: as many `<` and `>` as with a plain name.
        for c in ['<', '>', '"'] {
            prop_assert_eq!(page.matches(c).count(), plain_page.matches(c).count());
        }
        // The JSON parses, and the name comes back as it was.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(v["tasks"][0]["name"].as_str(), Some(weird.as_str()));
    }
}
